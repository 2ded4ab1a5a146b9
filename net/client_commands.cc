// CLIENT, with Redis 7.0's subcommands, replies and errors (networking.c clientCommand):
// ID, SETNAME, GETNAME, SETINFO, INFO, LIST, KILL, REPLY, NO-EVICT, NO-TOUCH, PAUSE, UNPAUSE,
// UNBLOCK, GETREDIR, TRACKINGINFO, TRACKING, CACHING, HELP. LIST and KILL see the clients of every
// shard (net/admin.h).
#include <string>

#include "core/resp_writer.h"
#include "net/command_util.h"
#include "net/log.h"
#include "net/shard_core.h"
#include "net/socket.h"

namespace fanout {

void look_up_addresses(Conn* c) {
  if (c->addr.empty()) c->addr = socket_endpoint(c->fd, false);
  if (c->laddr.empty()) c->laddr = socket_endpoint(c->fd, true);
}

LogClient ShardCore::log_client(Conn* c) {
  look_up_addresses(c);
  return {c->client_id, c->addr, c->name, c->user ? std::string_view(c->user->name) : std::string_view()};
}

namespace {

using Args = std::span<const std::string_view>;

// CLIENT LIST's argv-mem for the client running `args`: their bytes, as Redis counts them.
size_t argv_bytes(Args args) {
  size_t n = 0;
  for (std::string_view a : args) n += a.size();
  return n;
}

// Redis's getClientTypeByName, for the types Fanout can have.
bool parse_client_type(std::string_view name, ClientFilter::Type* t) {
  if (iequals(name, "normal")) {
    *t = ClientFilter::Type::kNormal;
  } else if (iequals(name, "pubsub")) {
    *t = ClientFilter::Type::kPubsub;
  } else if (iequals(name, "replica") || iequals(name, "slave") || iequals(name, "master")) {
    *t = ClientFilter::Type::kNone;  // Fanout has no replication links
  } else {
    return false;
  }
  return true;
}

// Redis's CLIENT HELP, for the subcommands Fanout has.
constexpr const char* kClientHelp[] = {
    "CLIENT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "GETNAME",
    "    Return the name of the current connection.",
    "ID",
    "    Return the ID of the current connection.",
    "INFO",
    "    Return information about the current client connection.",
    "KILL <ip:port>",
    "    Kill connection made from <ip:port>.",
    "KILL <option> <value> [<option> <value> [...]]",
    "    Kill connections. Options are:",
    "    * ADDR (<ip:port>|<unixsocket>:0)",
    "      Kill connections made from the specified address",
    "    * LADDR (<ip:port>|<unixsocket>:0)",
    "      Kill connections made to specified local address",
    "    * TYPE (NORMAL|MASTER|REPLICA|PUBSUB)",
    "      Kill connections by type.",
    "    * USER <username>",
    "      Kill connections authenticated by <username>.",
    "    * SKIPME (YES|NO)",
    "      Skip killing current connection (default: yes).",
    "    * ID <client-id>",
    "      Kill connections by client id.",
    "    * MAXAGE <maxage>",
    "      Kill connections older than the specified age.",
    "LIST [options ...]",
    "    Return information about client connections. Options:",
    "    * TYPE (NORMAL|MASTER|REPLICA|PUBSUB)",
    "      Return clients of specified type.",
    "    * ID <client-id> [<client-id> ...]",
    "      Return clients of specified IDs only.",
    "REPLY (ON|OFF|SKIP)",
    "    Control the replies sent to the current connection.",
    "SETNAME <name>",
    "    Assign the name <name> to the current connection.",
    "SETINFO <option> <value>",
    "    Set client meta attr. Options are:",
    "    * LIB-NAME: the client lib name.",
    "    * LIB-VER: the client lib version.",
    "NO-EVICT (ON|OFF)",
    "    Protect current client connection from eviction.",
    "NO-TOUCH (ON|OFF)",
    "    Will not touch LRU/LFU stats when this mode is on.",
    "HELP",
    "    Prints this help.",
};

}  // namespace

void ShardCore::reply_help(Conn* c, std::span<const char* const> lines) {
  resp::array(c->out, lines.size());
  for (const char* l : lines) resp::simple(c->out, l);
}

std::string ShardCore::client_info_line(Conn* c, size_t argv_mem) {
  look_up_addresses(c);
  std::string flags;
  if (c->pubsub_mode()) flags += 'P';
  if (c->multi) flags += 'x';
  if (c->blocked) flags += 'b';
  if (c->close_after_flush) flags += 'c';
  if (c->local) flags += 'U';
  if (flags.empty()) flags = "N";
  const size_t multi_mem = c->multi ? c->multi->bytes : 0;
  const size_t tot_mem = sizeof(Conn) + c->in.capacity() + c->out.bytes() + multi_mem + argv_mem +
                         (c->tls ? c->tls->buffered() : 0);
  std::string events = c->want_recv ? "r" : "";
  if (c->pending || c->send_inflight) events += 'w';
  std::string s;
  s.reserve(384);
  auto field = [&](std::string_view name, auto value) {
    if (!s.empty()) s += ' ';
    s += name;
    s += '=';
    if constexpr (std::is_convertible_v<decltype(value), std::string_view>) {
      s += std::string_view(value);
    } else {
      s += std::to_string(value);
    }
  };
  // Redis 7.0's fields in its order (networking.c catClientInfoString), then Fanout's own.
  field("id", c->client_id);
  field("addr", c->addr);
  field("laddr", c->laddr);
  field("fd", c->fd);
  field("name", c->name);
  field("age", (now_ms_ - c->created_ms) / 1000);
  field("idle", (now_ms_ - c->last_input_ms) / 1000);
  field("flags", flags);
  field("db", 0);
  field("sub", c->channels.size());
  field("psub", c->patterns.size());
  field("ssub", c->shard_channels.size());
  field("multi", c->multi ? static_cast<int64_t>(c->multi->commands.size()) : int64_t{-1});
  field("qbuf", c->in.size());
  field("qbuf-free", c->in.capacity() - c->in.size());
  field("argv-mem", argv_mem);
  field("multi-mem", multi_mem);
  field("rbs", 0);  // no per-client reply buffer: replies go straight into the queue (oll, omem)
  field("rbp", 0);
  field("obl", 0);
  field("oll", c->out.entries());
  field("omem", c->out.bytes());
  field("tot-mem", tot_mem);
  field("events", events);
  field("cmd", c->last_cmd);
  field("user", c->user ? std::string_view(c->user->name) : std::string_view("default"));
  field("redir", -1);
  field("resp", c->proto);
  field("shard", id_);
  field("backend", cfg_.backend);
  field("omsgs", c->out.messages());
  // How its records are encrypted: no (plaintext), userspace, kernel.
  field("tls", tls_mode_name(c->tls ? c->tls->mode() : TlsMode::kNone));
  return s;
}

bool ShardCore::client_matches(Conn* c, const ClientFilter& f) {
  using Type = ClientFilter::Type;
  if (f.type == Type::kNone) return false;
  if (f.type == Type::kPubsub && !c->pubsub_mode()) return false;
  if (f.type == Type::kNormal && c->pubsub_mode()) return false;
  if (!f.ids.empty() && std::find(f.ids.begin(), f.ids.end(), c->client_id) == f.ids.end()) return false;
  if (f.user && (c->user != nullptr ? std::string_view(c->user->name) : "default") != *f.user) return false;
  if (f.addr || f.laddr) look_up_addresses(c);
  if (f.addr && c->addr != *f.addr) return false;
  if (f.laddr && c->laddr != *f.laddr) return false;
  if (f.max_age_s && (now_ms_ - c->created_ms) / 1000 <= *f.max_age_s) return false;
  return true;
}

void ShardCore::run_admin_part(AdminRequest& r) {
  if (r.op == AdminRequest::Op::kResetStats) {
    reset_stats();
    return;
  }
  if (r.op == AdminRequest::Op::kConfigSet) {
    apply_config(*r.config, r.config_version);
    if (r.acl) apply_acl(r.acl, r.acl_version, &r);  // CONFIG SET requirepass
    return;
  }
  if (r.op == AdminRequest::Op::kAclChange) {
    apply_acl(r.acl, r.acl_version, &r);
    return;
  }
  for (auto& owned : conns_) {
    Conn* c = owned.get();
    // The metrics endpoint's connections and the NATS link are not Redis clients.
    if (c == nullptr || c->closing() || c->http || c->upstream_link || !client_matches(c, r.filter)) continue;
    const bool asker = id_ == r.origin && c->id() == r.asker;
    if (r.op == AdminRequest::Op::kClientList) {
      r.parts[id_] += client_info_line(c, asker ? r.asker_argv_mem : 0);
      r.parts[id_] += '\n';
    } else if (asker) {
      if (r.filter.skip_me) continue;
      r.kill_asker = true;  // closed once it has its reply
      ++r.killed[id_];
    } else {
      close_conn(c, "CLIENT KILL");
      ++r.killed[id_];
    }
  }
}

void ShardCore::start_admin(Conn* c, std::unique_ptr<AdminRequest> r) {
  const int n = shared_->nshards;
  r->origin = id_;
  r->has_asker = c != nullptr;
  if (c != nullptr) {
    r->asker = c->id();
    r->muted = c->out.replies_muted();
  }
  r->parts.assign(n, {});
  r->killed.assign(n, 0);
  run_admin_part(*r);
  r->outstanding = n - 1;
  AdminRequest* req = r.get();
  admin_.push_back(std::move(r));
  if (n == 1) {
    finish_admin(req);
    return;
  }
  if (c != nullptr) {
    c->admin = req;
    set_want_recv(c, false);  // later commands wait for this reply
  }
  for (int s = 0; s < n; ++s) {
    if (s != id_) send_admin(s, MailItem::kAdmin, req);
  }
}

void ShardCore::finish_admin(AdminRequest* r) {
  if (!r->has_asker && !r->acl_log.empty()) LOG_OK("%s", r->acl_log.c_str());
  Conn* c = r->has_asker ? lookup(r->asker) : nullptr;
  if (c != nullptr && !c->closing()) {
    {
      OutboundQueue::MuteScope as_command(c->out, r->muted);
      if (r->op == AdminRequest::Op::kResetStats || r->op == AdminRequest::Op::kConfigSet) {
        resp::simple(c->out, "OK");
      } else if (r->op == AdminRequest::Op::kAclChange) {
        if (r->acl_integer_reply) {
          resp::integer(c->out, r->acl_count);
        } else {
          resp::simple(c->out, "OK");
        }
      } else if (r->op == AdminRequest::Op::kClientList) {
        std::string all;
        for (const std::string& p : r->parts) all += p;
        resp::verbatim(c->out, all, c->proto);
      } else {
        uint64_t killed = 0;
        for (uint64_t k : r->killed) killed += k;
        if (!r->old_kill_form) {
          resp::integer(c->out, static_cast<int64_t>(killed));
        } else if (killed == 0) {
          reply_error(c, "ERR No such client");  // counted in errorstats, as every error reply
        } else {
          resp::simple(c->out, "OK");
        }
      }
    }
    mark_pending(c);
    const bool waited = c->admin == r;
    c->admin = nullptr;
    if (r->kill_asker) {
      close_after_reply(c);
    } else if (waited) {
      process_buffered(c);  // the commands that waited behind the reply
      resume_input(c);
    }
  }
  std::erase_if(admin_, [r](const std::unique_ptr<AdminRequest>& p) { return p.get() == r; });
}

void ShardCore::cmd_client(Conn* c, Args args) {
  std::string_view sub = args[1];
  const size_t argc = args.size();
  if (iequals(sub, "id")) {
    if (argc != 2) return reply_error(c, wrong_args("client|id"));
    resp::integer(c->out, static_cast<int64_t>(c->client_id));
  } else if (iequals(sub, "setname")) {
    if (argc != 3) return reply_error(c, wrong_args("client|setname"));
    if (!valid_client_name(args[2])) {
      return reply_error(c, "ERR Client names cannot contain spaces, newlines or special characters.");
    }
    c->name.assign(args[2]);
    resp::simple(c->out, "OK");
  } else if (iequals(sub, "getname")) {
    if (argc != 2) return reply_error(c, wrong_args("client|getname"));
    if (c->name.empty()) {
      resp::null(c->out, c->proto);
    } else {
      resp::bulk(c->out, c->name);
    }
  } else if (iequals(sub, "setinfo")) {
    if (argc != 4) return reply_error(c, wrong_args("client|setinfo"));
    if (!iequals(args[2], "lib-name") && !iequals(args[2], "lib-ver")) {
      return reply_error(c, "ERR Unrecognized option '" + sanitize(std::string(args[2])) + "'");
    }
    resp::simple(c->out, "OK");
  } else if (iequals(sub, "info")) {
    if (argc != 2) return reply_error(c, wrong_args("client|info"));
    resp::verbatim(c->out, client_info_line(c, argv_bytes(args)) + "\n", c->proto);
  } else if (iequals(sub, "list")) {
    client_list(c, args);
  } else if (iequals(sub, "kill")) {
    client_kill(c, args);
  } else if (iequals(sub, "reply")) {
    if (argc != 3) return reply_error(c, wrong_args("client|reply"));
    if (iequals(args[2], "on")) {
      c->reply_off = c->reply_skip_next = c->reply_skipping = false;
      c->out.set_replies_muted(false);
      resp::simple(c->out, "OK");
    } else if (iequals(args[2], "off")) {
      c->reply_off = true;  // no reply to this one either (Redis: the flag is set first)
      c->out.set_replies_muted(true);
    } else if (iequals(args[2], "skip")) {
      // No reply (Redis sends none); the command after this one is muted (after_command), even
      // when this one runs inside EXEC.
      if (!c->reply_off) c->reply_skip_next = true;
    } else {
      reply_error(c, "ERR syntax error");
    }
  } else if (iequals(sub, "no-evict") || iequals(sub, "no-touch")) {
    if (argc != 3) return reply_error(c, wrong_args(iequals(sub, "no-evict") ? "client|no-evict" : "client|no-touch"));
    if (!iequals(args[2], "on") && !iequals(args[2], "off")) return reply_error(c, "ERR syntax error");
    resp::simple(c->out, "OK");  // Fanout never evicts clients for memory; nothing to touch
  } else if (iequals(sub, "pause")) {
    if (argc < 3 || argc > 4) return reply_error(c, wrong_args("client|pause"));
    reply_error(c, "ERR CLIENT PAUSE is not supported by Fanout (a pub/sub relay has no failover to pause for)");
  } else if (iequals(sub, "unpause")) {
    if (argc != 2) return reply_error(c, wrong_args("client|unpause"));
    resp::simple(c->out, "OK");  // nothing is ever paused
  } else if (iequals(sub, "unblock")) {
    if (argc < 3 || argc > 4) return reply_error(c, wrong_args("client|unblock"));
    long long id;
    if (!parse_ll(args[2], &id)) return reply_error(c, "ERR value is not an integer or out of range");
    if (argc == 4 && !iequals(args[3], "timeout") && !iequals(args[3], "error")) {
      return reply_error(c, "ERR CLIENT UNBLOCK reason should be TIMEOUT or ERROR");
    }
    resp::integer(c->out, 0);  // no client is in a Redis blocking command
  } else if (iequals(sub, "getredir")) {
    if (argc != 2) return reply_error(c, wrong_args("client|getredir"));
    resp::integer(c->out, -1);  // tracking is off
  } else if (iequals(sub, "trackinginfo")) {
    if (argc != 2) return reply_error(c, wrong_args("client|trackinginfo"));
    resp::map(c->out, 3, c->proto);
    resp::bulk(c->out, "flags");
    resp::set(c->out, 1, c->proto);
    resp::bulk(c->out, "off");
    resp::bulk(c->out, "redirect");
    resp::integer(c->out, -1);
    resp::bulk(c->out, "prefixes");
    resp::array(c->out, 0);
  } else if (iequals(sub, "tracking") || iequals(sub, "caching")) {
    if (argc < 3) return reply_error(c, wrong_args(iequals(sub, "tracking") ? "client|tracking" : "client|caching"));
    reply_error(c, "ERR client-side caching is not supported by Fanout (it has no keys)");
  } else if (iequals(sub, "help")) {
    if (argc != 2) return reply_error(c, wrong_args("client|help"));
    reply_help(c, kClientHelp);
  } else {
    reply_error(c, unknown_subcommand(sub, "CLIENT"));
  }
}

// CLIENT LIST [TYPE normal|master|replica|pubsub] [ID id [id ...]] (Redis 7.0).
void ShardCore::client_list(Conn* c, Args args) {
  auto r = std::make_unique<AdminRequest>();
  r->op = AdminRequest::Op::kClientList;
  r->asker_argv_mem = argv_bytes(args);
  for (size_t i = 2; i < args.size();) {
    if (iequals(args[i], "type") && i + 2 == args.size()) {
      if (!parse_client_type(args[i + 1], &r->filter.type)) {
        return reply_error(c, "ERR Unknown client type '" + sanitize(std::string(args[i + 1])) + "'");
      }
      i += 2;
    } else if (iequals(args[i], "id") && i + 1 < args.size()) {
      for (size_t j = i + 1; j < args.size(); ++j) {
        long long id;
        if (!parse_ll(args[j], &id)) return reply_error(c, "ERR Invalid client ID");
        r->filter.ids.push_back(static_cast<uint64_t>(id));  // 0 and negative ids match no client
      }
      i = args.size();
    } else {
      return reply_error(c, "ERR syntax error");
    }
  }
  start_admin(c, std::move(r));
}

// CLIENT KILL ip:port, or CLIENT KILL <filter> <value> ... (Redis 7.0 networking.c, with
// Redis 7.4's MAXAGE): the old form answers +OK or "No such client" and may kill the caller;
// the new form answers the number killed and skips the caller unless SKIPME no.
void ShardCore::client_kill(Conn* c, Args args) {
  auto r = std::make_unique<AdminRequest>();
  r->op = AdminRequest::Op::kClientKill;
  ClientFilter& f = r->filter;
  if (args.size() == 3) {
    r->old_kill_form = true;
    f.addr.emplace(args[2]);
    f.skip_me = false;
  } else if (args.size() > 3 && args.size() % 2 == 0) {
    for (size_t i = 2; i < args.size(); i += 2) {
      std::string_view opt = args[i], val = args[i + 1];
      long long n;
      if (iequals(opt, "id")) {
        if (!parse_ll(val, &n) || n <= 0) return reply_error(c, "ERR client-id should be greater than 0");
        f.ids.assign(1, static_cast<uint64_t>(n));  // the last ID given, as Redis 7.0 keeps one
      } else if (iequals(opt, "type")) {
        if (!parse_client_type(val, &f.type)) {
          return reply_error(c, "ERR Unknown client type '" + sanitize(std::string(val)) + "'");
        }
      } else if (iequals(opt, "addr")) {
        f.addr.emplace(val);
      } else if (iequals(opt, "laddr")) {
        f.laddr.emplace(val);
      } else if (iequals(opt, "user")) {
        if (acl_->find(val) == nullptr) {
          return reply_error(c, "ERR No such user '" + sanitize(std::string(val)) + "'");
        }
        f.user.emplace(val);
      } else if (iequals(opt, "skipme")) {
        if (iequals(val, "yes")) {
          f.skip_me = true;
        } else if (iequals(val, "no")) {
          f.skip_me = false;
        } else {
          return reply_error(c, "ERR syntax error");
        }
      } else if (iequals(opt, "maxage")) {
        if (!parse_ll(val, &n) || n < 0) return reply_error(c, "ERR syntax error");
        f.max_age_s = n;
      } else {
        return reply_error(c, "ERR syntax error");
      }
    }
  } else {
    return reply_error(c, args.size() == 2 ? wrong_args("client|kill") : "ERR syntax error");
  }
  start_admin(c, std::move(r));
}

}  // namespace fanout
