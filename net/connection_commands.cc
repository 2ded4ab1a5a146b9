// The connection commands: PING, QUIT, RESET, HELLO, AUTH, SELECT, CONFIG, COMMAND, LATENCY and
// SLOWLOG, with Redis 7.0's replies (networking.c, server.c, acl.c).
#include <algorithm>
#include <mutex>
#include <string>

#include "core/glob.h"
#include "core/resp_value.h"
#include "core/resp_writer.h"
#include "net/command_util.h"
#include "net/log.h"
#include "net/shard_core.h"
#include "net/socket.h"

namespace fanout {
namespace {

// Redis 7.0's HELP lines for the subcommands Fanout has.
constexpr const char* kConfigHelp[] = {
    "CONFIG <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "GET <pattern>",
    "    Return parameters matching the glob-like <pattern> and their values.",
    "SET <directive> <value>",
    "    Set the configuration <directive> to <value>.",
    "RESETSTAT",
    "    Reset statistics reported by the INFO command.",
    "REWRITE",
    "    Rewrite the configuration file.",
    "HELP",
    "    Prints this help.",
};
constexpr const char* kCommandHelp[] = {
    "COMMAND <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "(no subcommand)",
    "    Return details about all Redis commands.",
    "COUNT",
    "    Return the total number of commands in this Redis server.",
    "LIST",
    "    Return a list of all commands in this Redis server.",
    "INFO [<command-name> ...]",
    "    Return details about multiple Redis commands.",
    "    If no command names are given, documentation details for all",
    "    commands are returned.",
    "DOCS [<command-name> ...]",
    "    Return documentation details about multiple Redis commands.",
    "    If no command names are given, documentation details for all",
    "    commands are returned.",
    "HELP",
    "    Prints this help.",
};

constexpr const char* kLatencyHelp[] = {
    "LATENCY <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "DOCTOR",
    "    Return a human readable latency analysis report.",
    "GRAPH <event>",
    "    Return an ASCII latency graph for the <event> class.",
    "HISTORY <event>",
    "    Return time-latency samples for the <event> class.",
    "LATEST",
    "    Return the latest latency samples for all events.",
    "RESET [<event> ...]",
    "    Reset latency data of one or more <event> classes.",
    "    (default: reset all data for all event classes)",
    "HISTOGRAM [COMMAND ...]",
    "    Return a cumulative distribution of latencies in the format of a histogram for the specified command names.",
    "    If no commands are specified then all histograms are replied.",
    "HELP",
    "    Prints this help.",
};
constexpr const char* kSlowlogHelp[] = {
    "SLOWLOG <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "GET [<count>]",
    "    Return top <count> entries from the slowlog (default: 10, -1 mean all).",
    "    Entries are made of:",
    "    id, timestamp, time in microseconds, arguments array, client IP and port,",
    "    client name",
    "LEN",
    "    Return the length of the slowlog.",
    "RESET",
    "    Reset the slowlog.",
    "HELP",
    "    Prints this help.",
};

}  // namespace

void ShardCore::cmd_ping(Conn* c, std::span<const std::string_view> args) {
  if (args.size() > 2) {
    reply_error(c, wrong_args("ping"));
  } else if (c->proto == 2 && c->pubsub_mode()) {
    // Redis replies to PING in RESP2 subscribed mode with a "pong" push-like array.
    resp::array(c->out, 2);
    resp::bulk(c->out, "pong");
    resp::bulk(c->out, args.size() == 2 ? args[1] : std::string_view());
  } else if (args.size() == 2) {
    resp::bulk(c->out, args[1]);
  } else {
    resp::simple(c->out, "PONG");
  }
}

void ShardCore::cmd_quit(Conn* c) {
  resp::simple(c->out, "OK");
  close_after_reply(c);
}

void ShardCore::cmd_auth(Conn* c, std::span<const std::string_view> args) {
  size_t argc = args.size();
  if (argc > 3) {
    reply_error(c, "ERR syntax error");  // Redis's authCommand
  } else if (argc == 2 && acl_->find("default")->nopass) {
    reply_error(c, "ERR AUTH <password> called without any password configured for the "
                   "default user. Are you sure your configuration is correct?");
  } else if (check_auth(c, args[0], argc == 3 ? args[1] : "default", args[argc - 1])) {
    resp::simple(c->out, "OK");
  }
}

void ShardCore::cmd_select(Conn* c, std::span<const std::string_view> args) {
  // Pub/sub is independent of the database, as in Redis: accept Redis's default 16.
  long long db;
  if (!parse_ll(args[1], &db)) {
    reply_error(c, "ERR value is not an integer or out of range");
  } else if (db < 0 || db >= 16) {
    reply_error(c, "ERR DB index is out of range");
  } else {
    resp::simple(c->out, "OK");
  }
}

void ShardCore::hello_reply(Conn* c) {
  resp::map(c->out, 7, c->proto);
  resp::bulk(c->out, "server");
  resp::bulk(c->out, "fanout");
  resp::bulk(c->out, "version");
  resp::bulk(c->out, "7.0.0");
  resp::bulk(c->out, "proto");
  resp::integer(c->out, c->proto);
  resp::bulk(c->out, "id");
  resp::integer(c->out, static_cast<int64_t>(c->client_id));
  resp::bulk(c->out, "mode");
  resp::bulk(c->out, cfg_.cluster_enabled ? "cluster" : "standalone");  // as Redis in cluster mode
  resp::bulk(c->out, "role");
  resp::bulk(c->out, "master");
  resp::bulk(c->out, "modules");
  resp::array(c->out, 0);
}

void ShardCore::cmd_hello(Conn* c, std::span<const std::string_view> args) {
  int proto = c->proto;
  if (args.size() >= 2) {
    long long v;
    if (!parse_ll(args[1], &v)) {
      reply_error(c, "ERR Protocol version is not an integer or out of range");
      return;
    }
    if (v < 2 || v > 3) {
      reply_error(c, "NOPROTO unsupported protocol version");
      return;
    }
    proto = static_cast<int>(v);
  }
  std::string_view name;
  bool set_name = false;
  for (size_t i = 2; i < args.size(); ++i) {
    size_t more = args.size() - i - 1;
    if (iequals(args[i], "auth") && more >= 2) {
      if (!check_auth(c, args[0], args[i + 1], args[i + 2])) return;
      i += 2;
    } else if (iequals(args[i], "setname") && more >= 1) {
      name = args[i + 1];
      set_name = true;
      ++i;
    } else {
      reply_error(c, "ERR Syntax error in HELLO option '" + sanitize(std::string(args[i])) + "'");
      return;
    }
  }
  if (c->user == nullptr) {  // Redis asks whether the client signed in, not whether it must
    reply_error(c, "NOAUTH HELLO must be called with the client already authenticated, otherwise the "
                   "HELLO AUTH <user> <pass> option can be used to authenticate the client and select "
                   "the RESP protocol version at the same time");
    return;
  }
  if (set_name && !valid_client_name(name)) {
    reply_error(c, "ERR Client names cannot contain spaces, newlines or special characters.");
    return;
  }
  if (set_name) c->name.assign(name);
  c->proto = proto;
  hello_reply(c);
}

void ShardCore::cmd_config(Conn* c, std::span<const std::string_view> args) {
  if (iequals(args[1], "get")) {
    // Redis 7.0's CONFIG GET pattern [pattern ...]: every parameter matching any pattern (glob,
    // case-insensitive), once, as name/value pairs (a map in RESP3).
    std::vector<std::string> patterns;
    for (size_t i = 2; i < args.size(); ++i) patterns.push_back(lowercase(args[i]));
    std::vector<std::pair<std::string, std::string>> hits;
    for (auto& [name, value] : config_parameters(cfg_)) {
      for (size_t i = 0; i < patterns.size(); ++i) {
        if (glob_match(patterns[i], name)) {
          // A name asked for without wildcards comes back as it was spelled (Redis 7.0).
          const bool literal = patterns[i].find_first_of("*?[\\") == std::string::npos;
          hits.emplace_back(literal ? std::string(args[i + 2]) : name, value);
          break;
        }
      }
    }
    resp::map(c->out, hits.size(), c->proto);
    for (const auto& [name, value] : hits) {
      resp::bulk(c->out, name);
      resp::bulk(c->out, value);
    }
  } else if (iequals(args[1], "set")) {
    config_set(c, args);
  } else if (iequals(args[1], "rewrite")) {
    config_rewrite(c);
  } else if (iequals(args[1], "resetstat")) {
    auto r = std::make_unique<AdminRequest>();
    r->op = AdminRequest::Op::kResetStats;
    start_admin(c, std::move(r));
  } else if (iequals(args[1], "help")) {
    reply_help(c, kConfigHelp);
  } else {
    reply_error(c, unknown_subcommand(args[1], "CONFIG"));
  }
}

// Redis 7.0's CONFIG SET (config.c configSetCommand): one or more parameter/value pairs, applied
// all or none; errors as Redis words them. Validated and stored under SharedState::config_mu, then
// handed to every shard (net/admin.h); +OK once every shard runs with it.
void ShardCore::config_set(Conn* c, std::span<const std::string_view> args) {
  if (args.size() < 4) return reply_error(c, wrong_args("config|set"));
  if (args.size() % 2 != 0) return reply_error(c, "ERR syntax error");
  auto failed = [](std::string_view name, const std::string& why) {
    return "ERR CONFIG SET failed (possibly related to argument '" + sanitize(std::string(name)) + "') - " + why;
  };
  // As Redis: every name is checked (unknown, duplicate, immutable) before any value.
  std::vector<std::string> seen;
  std::vector<size_t> to_apply;
  for (size_t i = 2; i < args.size(); i += 2) {
    const std::string name = lowercase(args[i]);
    const Setting* s = find_setting(name);
    if (std::find(seen.begin(), seen.end(), s ? s->name : name) != seen.end()) {
      return reply_error(c, failed(args[i], "duplicate parameter"));
    }
    seen.push_back(s ? s->name : name);
    const bool composite = name == "client-output-buffer-limit" || name == "loglevel";
    if (s == nullptr && !composite) {
      // Redis's parameters that mean "off" here (save, appendonly...): their off value is what
      // Fanout has, so setting it is a no-op; anything else Fanout cannot do.
      if (std::optional<std::string_view> off = redis_off_value(name)) {
        if (lowercase(args[i + 1]) == *off) continue;
        return reply_error(c, failed(args[i], "Fanout keeps nothing to save, evict or replicate: only '" +
                                                  std::string(*off) + "' is accepted"));
      }
      return reply_error(c, "ERR Unknown option or number of arguments for CONFIG SET - '" +
                                sanitize(std::string(args[i])) + "'");
    }
    if (s != nullptr && !s->live) return reply_error(c, failed(args[i], "can't set immutable config"));
    to_apply.push_back(i);
  }
  std::unique_lock<std::mutex> lock(shared_->config_mu);
  ServerConfig next = shared_->config;
  for (size_t i : to_apply) {
    const std::string value(args[i + 1]);
    std::string err;
    if (apply_directive(next, lowercase(args[i]), std::span(&value, 1), DirectiveSource::kConfigSet, &err) !=
        Applied::kSet) {
      return reply_error(c, failed(args[i], err));
    }
  }
  if (to_apply.empty()) return resp::simple(c->out, "OK");  // only off values that are off already
  if (std::string err = validate_config(next); !err.empty()) return reply_error(c, failed(args[2], err));
  if (next.max_clients != shared_->config.max_clients) {
    // As Redis's updateMaxclients: the descriptor limit must hold the new number of clients.
    const uint64_t reserved = shared_->reserved_descriptors;
    const uint64_t limit = raise_descriptor_limit(next.max_clients + reserved);
    if (limit < next.max_clients + reserved) {
      return reply_error(c, failed("maxclients", "The operating system is not able to handle the specified number "
                                                 "of clients, try with " + std::to_string(limit > reserved ? limit - reserved : 0)));
    }
  }
  // requirepass is one of the ACL rules' sources: changed there, as Redis's CONFIG SET requirepass
  // sets the default user's password (ACL's "resetpass >password", or nopass). aclfile is
  // immutable, as in Redis: a client must not be able to point ACL SAVE and LOAD at any file.
  AclAuthority::Change acl_change;
  if (next.requirepass != shared_->config.requirepass) {
    acl_change = shared_->acl.change(AclAuthority::set_requirepass(next.requirepass));
    if (!acl_change.error.empty()) return reply_error(c, failed("requirepass", acl_change.error));
  }
  // The TLS settings, as Redis's applyTlsCfg: a new context for new connections, built from the
  // files now (on this thread, as Redis reads them on its main thread); open connections keep theirs.
  // Any TLS setting given (by any of its names) rebuilds it, even with the same value: the same
  // path with new files is how operators rotate a certificate in Redis. Only a CONFIG SET that
  // names one can change what the context is built from.
  bool tls_named = false;
  for (size_t i : to_apply) {
    const Setting* s = find_setting(args[i]);
    tls_named |= s != nullptr && std::string_view(s->name).starts_with("tls-");
  }
  if (shared_->tls_port != 0 && tls_named) {
    std::string err, warning;
    std::shared_ptr<TlsContext> tls = TlsContext::build(next, &err, &warning);
    if (!tls) {
      LOG_WARN("CONFIG SET: the TLS settings stay as they were: %s", err.c_str()).field("shard", id_);
      return reply_error(c, failed(args[2], "Unable to update TLS configuration. Check server logs."));
    }
    if (!warning.empty()) LOG_WARN("TLS: %s", warning.c_str());
    LOG_INFO("CONFIG SET: TLS reconfigured: certificate %s (valid until %s)", tls->subject().c_str(),
             tls->not_after().c_str())
        .field("shard", id_);
    shared_->tls.set(std::move(tls));
  }
  shared_->config = next;
  auto r = std::make_unique<AdminRequest>();
  r->op = AdminRequest::Op::kConfigSet;
  r->acl = std::move(acl_change.rules);
  r->acl_version = acl_change.version;
  r->config = std::make_shared<const ServerConfig>(std::move(next));
  r->config_version = ++shared_->config_version;
  lock.unlock();
  start_admin(c, std::move(r));
}

// Redis's CONFIG REWRITE (config.c rewriteConfig): the file fanoutd started from, rewritten with
// the configuration as CONFIG SET left it. Writes (and fsyncs) on this shard's thread, as Redis
// does on its main thread: an operator's command, not a data path.
void ShardCore::config_rewrite(Conn* c) {
  // Held through the write: two CONFIG REWRITEs (or one and a CONFIG SET) on two shards must not
  // interleave, or the file could end with the older configuration.
  std::lock_guard<std::mutex> lock(shared_->config_mu);
  const ServerConfig& now = shared_->config;
  if (std::string err = rewrite_config_file(now); !err.empty()) {
    LOG_WARN("CONFIG REWRITE failed: %s", err.c_str());
    return reply_error(c, "ERR " + err);
  }
  LOG_INFO("CONFIG REWRITE executed with success: %s", now.config_file.c_str());
  resp::simple(c->out, "OK");
}

namespace {

// Redis 7.0.15's own COMMAND INFO and COMMAND DOCS bytes for the commands Fanout has (with the
// subcommands it has), generated by tools/gen_command_docs.py.
struct CommandDoc {
  std::string_view name, info2, docs2, info3, docs3;
};
constexpr CommandDoc kCommandDocs[] = {
#include "net/command_docs.inc"
};

const CommandDoc* find_command_doc(std::string_view name) {
  const std::string n = lowercase(name);
  for (const CommandDoc& d : kCommandDocs) {
    if (d.name == n) return &d;
  }
  return nullptr;
}

// COMMAND LIST's names (commands and "command|subcommand"), each with its ACL categories as Redis
// lists them ("@pubsub"), read once from the RESP2 COMMAND INFO entries.
struct ListedCommand {
  std::string name;
  std::vector<std::string> categories;
};
const std::vector<ListedCommand>& listed_commands() {
  static const std::vector<ListedCommand> list = [] {
    std::vector<ListedCommand> out;
    auto add = [&](const RespValue& entry) {
      ListedCommand l{entry.elements[0].str, {}};
      for (const RespValue& c : entry.elements[6].elements) l.categories.push_back(c.str);
      out.push_back(std::move(l));
    };
    for (const CommandDoc& d : kCommandDocs) {
      RespValue v;
      std::string err;
      parse_resp_value(d.info2.data(), d.info2.size(), &v, &err);
      add(v);
      for (const RespValue& sub : v.elements[9].elements) add(sub);
    }
    return out;
  }();
  return list;
}

}  // namespace

// Redis 7.0's COMMAND (server.c commandCommand and friends), describing the commands Fanout has
// with Redis's own metadata for them; COMMAND COUNT counts them.
void ShardCore::cmd_command(Conn* c, std::span<const std::string_view> args) {
  const bool resp3 = c->proto == 3;
  auto info = [&](const CommandDoc& d) { c->out.append(resp3 ? d.info3 : d.info2); };
  if (args.size() == 1 || (iequals(args[1], "info") && args.size() == 2)) {
    resp::array(c->out, std::size(kCommandDocs));
    for (const CommandDoc& d : kCommandDocs) info(d);
  } else if (iequals(args[1], "help")) {
    reply_help(c, kCommandHelp);
  } else if (iequals(args[1], "count")) {
    resp::integer(c->out, static_cast<int64_t>(std::size(kCommandDocs)));
  } else if (iequals(args[1], "info")) {
    resp::array(c->out, args.size() - 2);
    for (size_t i = 2; i < args.size(); ++i) {
      if (const CommandDoc* d = find_command_doc(args[i])) {
        info(*d);
      } else {
        resp::null(c->out, c->proto);
      }
    }
  } else if (iequals(args[1], "docs")) {
    std::vector<const CommandDoc*> docs;
    if (args.size() == 2) {
      for (const CommandDoc& d : kCommandDocs) docs.push_back(&d);
    } else {
      for (size_t i = 2; i < args.size(); ++i) {
        if (const CommandDoc* d = find_command_doc(args[i])) docs.push_back(d);
      }
    }
    resp::map(c->out, docs.size(), c->proto);
    for (const CommandDoc* d : docs) {
      resp::bulk(c->out, d->name);
      c->out.append(resp3 ? d->docs3 : d->docs2);
    }
  } else if (iequals(args[1], "list")) {
    // COMMAND LIST [FILTERBY MODULE name | ACLCAT category | PATTERN pattern].
    std::string_view by, what;
    if (args.size() == 5 && iequals(args[2], "filterby")) {
      by = args[3];
      what = args[4];
    } else if (args.size() != 2) {
      return reply_error(c, "ERR syntax error");
    }
    if (!by.empty() && !iequals(by, "module") && !iequals(by, "aclcat") && !iequals(by, "pattern")) {
      return reply_error(c, "ERR syntax error");
    }
    std::vector<std::string_view> names;
    const std::string category = "@" + lowercase(what);
    for (const ListedCommand& l : listed_commands()) {
      if (iequals(by, "module")) break;  // no modules
      if (iequals(by, "aclcat") && std::find(l.categories.begin(), l.categories.end(), category) == l.categories.end()) {
        continue;
      }
      if (iequals(by, "pattern") && !glob_match(lowercase(what), l.name)) continue;
      names.push_back(l.name);
    }
    resp::array(c->out, names.size());
    for (std::string_view n : names) resp::bulk(c->out, n);
  } else if (iequals(args[1], "getkeys") || iequals(args[1], "getkeysandflags")) {
    // Redis's answers: none of Fanout's commands has key arguments.
    reply_error(c, find_command_doc(args[2]) ? "ERR The command has no key arguments" : "ERR Invalid command specified");
  } else {
    reply_error(c, unknown_subcommand(args[1], "COMMAND"));
  }
}

void ShardCore::cmd_latency(Conn* c, std::span<const std::string_view> args) {
  std::string_view sub = args[1];
  if (iequals(sub, "latest") || iequals(sub, "history")) {
    resp::array(c->out, 0);  // no latency events recorded
  } else if (iequals(sub, "reset")) {
    resp::integer(c->out, 0);
  } else if (iequals(sub, "histogram")) {
    latency_histogram(c, args);
  } else if (iequals(sub, "graph")) {
    reply_error(c, "ERR No samples available for event '" + sanitize(std::string(args[2])) + "'");
  } else if (iequals(sub, "doctor")) {
    resp::verbatim(c->out,
                   "Fanout does not record Redis's latency events; per-command latency percentiles "
                   "are in INFO latencystats, and loop stalls in INFO backend (loop_busy_max_us, "
                   "loop_iterations_over_1ms).\n",
                   c->proto);
  } else if (iequals(sub, "help")) {
    reply_help(c, kLatencyHelp);
  } else {
    reply_error(c, unknown_subcommand(sub, "LATENCY"));
  }
}

void ShardCore::cmd_slowlog(Conn* c, std::span<const std::string_view> args) {
  std::string_view sub = args[1];
  if (iequals(sub, "get")) {
    long long n;
    if (args.size() == 3 && (!parse_ll(args[2], &n) || n < -1)) {
      return reply_error(c, "ERR count should be greater than or equal to -1");
    }
    resp::array(c->out, 0);  // no slow log is kept
  } else if (iequals(sub, "len")) {
    resp::integer(c->out, 0);
  } else if (iequals(sub, "reset")) {
    resp::simple(c->out, "OK");
  } else if (iequals(sub, "help")) {
    reply_help(c, kSlowlogHelp);
  } else {
    reply_error(c, unknown_subcommand(sub, "SLOWLOG"));
  }
}

void ShardCore::cmd_reset(Conn* c) {
  // Redis's RESET (networking.c resetCommand): discards MULTI, replies on again, unsubscribes,
  // signs out, RESP2, no name.
  // CLIENT REPLY OFF and a pending SKIP end; a SKIP in force mutes this very reply, as in Redis.
  c->multi.reset();
  c->reply_off = c->reply_skip_next = false;
  c->out.set_replies_muted(c->reply_skipping);
  unsubscribe_all(c);
  c->user = acl_->initial_user();  // as Redis: RESET signs the client out
  c->proto = 2;
  c->name.clear();
  resp::simple(c->out, "RESET");
}

bool ShardCore::check_auth(Conn* c, std::string_view command, std::string_view user, std::string_view pass) {
  // Passwords are compared as SHA-256 digests, in time independent of where they differ.
  const AclUser* u = acl_->find(user);
  if (u && u->enabled && u->check_password(pass)) {
    c->user = u;
    return true;
  }
  const std::string_view args[] = {command};  // the password is not counted, as Redis redacts it
  log_acl_denial(c, AclLogEntry::Reason::kAuth, command, user, args);
  reply_error(c, "WRONGPASS invalid username-password pair or user is disabled.");
  stats_->auth_failures.add();
  if (auth_failing_.hit(now_ms_)) {
    LOG_WARN("authentication failed (logged once until a quiet second; INFO auth_failures counts them)")
        .field("shard", id_)
        .client(log_client(c))
        .field("username", user);
  }
  // Guessing is rate-limited: a client gets kAuthTries failures, and while this shard sees more
  // than kAuthBurst failures in a second, every failing client is closed at its first.
  constexpr int kAuthTries = 3, kAuthBurst = 100;
  if (now_ms_ - auth_window_ms_ >= 1000) {
    auth_window_ms_ = now_ms_;
    auth_window_failures_ = 0;
  }
  ++auth_window_failures_;
  if (++c->auth_failures >= kAuthTries || auth_window_failures_ > kAuthBurst) {
    stats_->auth_failure_closes.add();
    close_after_reply(c);
  }
  return false;
}

}  // namespace fanout
