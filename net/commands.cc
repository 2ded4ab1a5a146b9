// The Redis pub/sub command set, as ShardCore methods. Replies follow Redis 7.0 byte for byte
// where Redis specifies them (checked against a real redis-server in tests/compat).
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <set>
#include <string>

#include "core/glob.h"
#include "core/resp_writer.h"
#include "net/log.h"
#include "net/shard_core.h"

namespace fanout {
namespace {

enum class Cmd {
  kUnknown, kPublish, kSPublish, kSubscribe, kUnsubscribe, kPSubscribe, kPUnsubscribe,
  kSSubscribe, kSUnsubscribe, kPubsub, kPing, kEcho, kQuit, kReset, kHello, kAuth, kSelect,
  kClient, kInfo, kConfig, kCommand, kAcl,
};

// What ACL rules can grant: every command, and every subcommand of those that have them, in
// Redis 7.0's categories.
constexpr uint32_t kPubsubFast = kAclPubsub | kAclFast, kPubsubSlow = kAclPubsub | kAclSlow,
                   kConnFast = kAclConnection | kAclFast, kConnSlow = kAclConnection | kAclSlow,
                   kAdmin = kAclAdmin | kAclSlow | kAclDangerous;
constexpr AclCommandInfo kAclCatalog[] = {
    {"publish", kPubsubFast},        {"spublish", kPubsubFast},
    {"subscribe", kPubsubSlow},      {"unsubscribe", kPubsubSlow},
    {"psubscribe", kPubsubSlow},     {"punsubscribe", kPubsubSlow},
    {"ssubscribe", kPubsubSlow},     {"sunsubscribe", kPubsubSlow},
    {"pubsub|channels", kPubsubSlow}, {"pubsub|numsub", kPubsubSlow},
    {"pubsub|numpat", kPubsubSlow},  {"pubsub|shardchannels", kPubsubSlow},
    {"pubsub|shardnumsub", kPubsubSlow}, {"pubsub|help", kAclSlow},
    {"ping", kConnFast},             {"echo", kConnFast},
    {"select", kConnFast},           {"client|id", kConnSlow},
    {"client|setname", kConnSlow},   {"client|getname", kConnSlow},
    {"client|setinfo", kConnSlow},   {"client|info", kConnSlow},
    {"client|no-evict", kConnSlow | kAclAdmin | kAclDangerous},
    {"client|no-touch", kConnSlow},  {"client|reply", kConnSlow},
    {"info", kAclSlow | kAclDangerous}, {"config|get", kAdmin},
    {"config|resetstat", kAdmin},    {"command|count", kConnSlow},
    {"command|docs", kConnSlow},     {"command|info", kConnSlow},
    {"command|list", kConnSlow},     {"acl|whoami", kAclSlow},
};

constexpr int acl_index(std::string_view name) {
  for (size_t i = 0; i < std::size(kAclCatalog); ++i) {
    if (kAclCatalog[i].name == name) return static_cast<int>(i);
  }
  return -1;
}
// CmdSpec::acl for commands that are always allowed (signing in and out), and for commands
// whose right is per subcommand.
constexpr int kAclExempt = -1, kAclBySubcommand = -2;

struct CmdSpec {
  std::string_view name;
  Cmd cmd;
  int arity;  // Redis convention: N exact, -N at least N
  bool pubsub_ok;  // allowed in RESP2 subscribed mode
  int acl;         // index in kAclCatalog, or kAclExempt / kAclBySubcommand
};

constexpr CmdSpec kCommands[] = {
    {"publish", Cmd::kPublish, 3, false, acl_index("publish")},
    {"spublish", Cmd::kSPublish, 3, false, acl_index("spublish")},
    {"subscribe", Cmd::kSubscribe, -2, true, acl_index("subscribe")},
    {"unsubscribe", Cmd::kUnsubscribe, -1, true, acl_index("unsubscribe")},
    {"psubscribe", Cmd::kPSubscribe, -2, true, acl_index("psubscribe")},
    {"punsubscribe", Cmd::kPUnsubscribe, -1, true, acl_index("punsubscribe")},
    {"ssubscribe", Cmd::kSSubscribe, -2, true, acl_index("ssubscribe")},
    {"sunsubscribe", Cmd::kSUnsubscribe, -1, true, acl_index("sunsubscribe")},
    {"pubsub", Cmd::kPubsub, -2, false, kAclBySubcommand},
    {"ping", Cmd::kPing, -1, true, acl_index("ping")},
    {"echo", Cmd::kEcho, 2, false, acl_index("echo")},
    {"quit", Cmd::kQuit, -1, true, kAclExempt},
    {"reset", Cmd::kReset, 1, true, kAclExempt},
    {"hello", Cmd::kHello, -1, false, kAclExempt},
    {"auth", Cmd::kAuth, -2, false, kAclExempt},
    {"select", Cmd::kSelect, 2, false, acl_index("select")},
    {"client", Cmd::kClient, -2, false, kAclBySubcommand},
    {"info", Cmd::kInfo, -1, false, acl_index("info")},
    {"config", Cmd::kConfig, -2, false, kAclBySubcommand},
    {"command", Cmd::kCommand, -1, false, kAclBySubcommand},
    {"acl", Cmd::kAcl, -2, false, kAclBySubcommand},
};

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    char x = a[i], y = b[i];
    if (x >= 'A' && x <= 'Z') x = static_cast<char>(x + 32);
    if (y >= 'A' && y <= 'Z') y = static_cast<char>(y + 32);
    if (x != y) return false;
  }
  return true;
}

const CmdSpec* find_command(std::string_view name) {
  // PUBLISH is the hot command: it is first.
  for (const CmdSpec& s : kCommands) {
    if (iequals(s.name, name)) return &s;
  }
  return nullptr;
}

bool parse_ll(std::string_view s, long long* out) {
  if (s.empty()) return false;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), *out);
  return ec == std::errc() && p == s.data() + s.size();
}

// Redis's rejectCommandFormat: error text never carries CR or LF.
std::string sanitize(std::string s) {
  std::replace(s.begin(), s.end(), '\r', ' ');
  std::replace(s.begin(), s.end(), '\n', ' ');
  return s;
}

std::string unknown_command(std::span<const std::string_view> args) {
  std::string a;
  for (size_t i = 1; i < args.size() && a.size() < 128; ++i) {
    size_t room = 128 - a.size();
    a += "'";
    a.append(args[i].substr(0, room));
    a += "' ";
  }
  return sanitize("ERR unknown command '" + std::string(args[0].substr(0, 128)) +
                  "', with args beginning with: " + a);
}

std::string wrong_args(std::string_view cmd) {
  return "ERR wrong number of arguments for '" + std::string(cmd) + "' command";
}

bool valid_client_name(std::string_view n) {
  for (char ch : n) {
    if (ch < '!' || ch > '~') return false;
  }
  return true;
}

ClientSubs* subs_of(Conn* c, TopicKind kind) {
  switch (kind) {
    case TopicKind::kChannel: return &c->channels;
    case TopicKind::kPattern: return &c->patterns;
    case TopicKind::kShardChannel: return &c->shard_channels;
  }
  return nullptr;
}

}  // namespace

std::span<const AclCommandInfo> server_acl_catalog() { return kAclCatalog; }

namespace {

// The ACL right a command needs, and its Redis full name ("client|id") for errors: for commands
// with subcommands, the subcommand's. -1 when none applies (exempt, or an unknown subcommand,
// which the command itself reports).
int command_right(const CmdSpec& spec, std::span<const std::string_view> args, std::string* full) {
  *full = std::string(spec.name);
  if (spec.acl != kAclBySubcommand) return spec.acl;
  if (spec.cmd == Cmd::kCommand && args.size() == 1) return acl_index("command|list");
  std::string sub = *full + "|" + std::string(args[1]);
  for (char& ch : sub) {
    if (ch >= 'A' && ch <= 'Z') ch = static_cast<char>(ch + 32);
  }
  int right = acl_index(sub);
  if (right >= 0) *full = std::move(sub);
  return right;
}

// Why the user may not run this command (Redis's NOPERM), or empty. The command's own right
// first, then its channels.
std::string acl_refusal(const AclUser& u, const CmdSpec& spec, std::span<const std::string_view> args,
                        int right, const std::string& full) {
  if (right >= 0 && !u.can_run(static_cast<size_t>(right))) {
    return sanitize("NOPERM this user has no permissions to run the '" + full + "' command");
  }
  if (u.all_channels) return {};
  size_t first = 1, last = 0;  // the arguments that name channels (or patterns)
  switch (spec.cmd) {
    case Cmd::kPublish:
    case Cmd::kSPublish: last = 1; break;
    case Cmd::kSubscribe:
    case Cmd::kSSubscribe:
    case Cmd::kPSubscribe: last = args.size() - 1; break;
    default: break;
  }
  for (size_t i = first; i <= last; ++i) {
    if (!u.can_access(args[i], spec.cmd == Cmd::kPSubscribe)) {
      return "NOPERM this user has no permissions to access one of the channels used as arguments";
    }
  }
  return {};
}

}  // namespace

bool ShardCore::execute(Conn* c, std::span<const std::string_view> args) {
  const CmdSpec* spec = find_command(args[0]);
  if (spec == nullptr) {
    reply_error(c, unknown_command(args));
    return true;
  }
  int argc = static_cast<int>(args.size());
  if ((spec->arity > 0 && argc != spec->arity) || (spec->arity < 0 && argc < -spec->arity)) {
    reply_error(c, wrong_args(spec->name));
    return true;
  }
  if (c->user == nullptr && spec->acl != kAclExempt) {
    reply_error(c, "NOAUTH Authentication required.");
    return true;
  }
  const bool subscribed_context = c->proto == 2 && c->pubsub_mode() && !spec->pubsub_ok;
  if ((spec->acl != kAclExempt && !c->user->all_rights) || subscribed_context) {
    std::string full;
    int right = command_right(*spec, args, &full);
    if (spec->acl != kAclExempt && !c->user->all_rights) {
      if (std::string refusal = acl_refusal(*c->user, *spec, args, right, full); !refusal.empty()) {
        stats_->acl_denied.add();
        reply_error(c, refusal);
        return true;
      }
    }
    if (subscribed_context) {
      reply_error(c, "ERR Can't execute '" + sanitize(full) +
                       "': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are "
                       "allowed in this context");
      return true;
    }
  }
  switch (spec->cmd) {
    case Cmd::kPublish:
    case Cmd::kSPublish: {
      int64_t n = publish(spec->cmd == Cmd::kPublish ? TopicKind::kChannel : TopicKind::kShardChannel,
                          args[1], args[2]);
      if (n < 0) return false;
      resp::integer(c->out, n);
      break;
    }
    case Cmd::kSubscribe: cmd_subscribe(c, TopicKind::kChannel, args); break;
    case Cmd::kPSubscribe: cmd_subscribe(c, TopicKind::kPattern, args); break;
    case Cmd::kSSubscribe: cmd_subscribe(c, TopicKind::kShardChannel, args); break;
    case Cmd::kUnsubscribe: cmd_unsubscribe(c, TopicKind::kChannel, args); break;
    case Cmd::kPUnsubscribe: cmd_unsubscribe(c, TopicKind::kPattern, args); break;
    case Cmd::kSUnsubscribe: cmd_unsubscribe(c, TopicKind::kShardChannel, args); break;
    case Cmd::kPubsub: cmd_pubsub(c, args); break;
    case Cmd::kPing:
      if (argc > 2) {
        reply_error(c, wrong_args("ping"));
      } else if (c->proto == 2 && c->pubsub_mode()) {
        resp::array(c->out, 2);
        resp::bulk(c->out, "pong");
        resp::bulk(c->out, argc == 2 ? args[1] : std::string_view());
      } else if (argc == 2) {
        resp::bulk(c->out, args[1]);
      } else {
        resp::simple(c->out, "PONG");
      }
      break;
    case Cmd::kEcho: resp::bulk(c->out, args[1]); break;
    case Cmd::kQuit:
      resp::simple(c->out, "OK");
      c->close_after_flush = true;
      set_want_recv(c, false);
      break;
    case Cmd::kReset: cmd_reset(c); break;
    case Cmd::kHello: cmd_hello(c, args); break;
    case Cmd::kAuth:
      if (argc > 3) {
        reply_error(c, wrong_args("auth"));
      } else if (argc == 2 && shared_->acl.find("default")->nopass) {
        reply_error(c, "ERR AUTH <password> called without any password configured for the "
                       "default user. Are you sure your configuration is correct?");
      } else if (check_auth(c, argc == 3 ? args[1] : "default", args[argc - 1])) {
        resp::simple(c->out, "OK");
      }
      break;
    case Cmd::kSelect: {
      // Pub/sub is independent of the database, as in Redis: accept Redis's default 16.
      long long db;
      if (!parse_ll(args[1], &db)) {
        reply_error(c, "ERR value is not an integer or out of range");
      } else if (db < 0 || db >= 16) {
        reply_error(c, "ERR DB index is out of range");
      } else {
        resp::simple(c->out, "OK");
      }
      break;
    }
    case Cmd::kClient: cmd_client(c, args); break;
    case Cmd::kInfo: cmd_info(c, args); break;
    case Cmd::kConfig:
      if (iequals(args[1], "get")) {
        if (argc < 3) {
          reply_error(c, wrong_args("config|get"));
        } else {
          resp::map(c->out, 0, c->proto);  // no Redis configuration to report
        }
      } else if (iequals(args[1], "resetstat")) {
        resp::simple(c->out, "OK");
      } else {
        reply_error(c, "ERR unknown subcommand '" + sanitize(std::string(args[1])) + "'. Try CONFIG HELP.");
      }
      break;
    case Cmd::kCommand:
      if (argc >= 2 && iequals(args[1], "count")) {
        resp::integer(c->out, 0);
      } else if (argc >= 2 && iequals(args[1], "docs")) {
        resp::map(c->out, 0, c->proto);
      } else {
        resp::array(c->out, 0);
      }
      break;
    case Cmd::kAcl:
      if (iequals(args[1], "whoami") && argc == 2) {
        resp::bulk(c->out, c->user->name);
      } else if (iequals(args[1], "whoami")) {
        reply_error(c, wrong_args("acl|whoami"));
      } else {
        reply_error(c, "ERR unknown subcommand '" + sanitize(std::string(args[1])) + "'. Try ACL HELP.");
      }
      break;
    case Cmd::kUnknown: break;
  }
  mark_pending(c);
  return true;
}

void ShardCore::subscription_reply(Conn* c, std::string_view kind, std::string_view name,
                                   bool null_name, size_t count) {
  resp::push(c->out, 3, c->proto);
  resp::bulk(c->out, kind);
  if (null_name) {
    resp::null(c->out, c->proto);
  } else {
    resp::bulk(c->out, name);
  }
  resp::integer(c->out, static_cast<int64_t>(count));
}

void ShardCore::cmd_subscribe(Conn* c, TopicKind kind, std::span<const std::string_view> args) {
  ClientSubs* subs = subs_of(c, kind);
  std::string_view verb = kind == TopicKind::kChannel   ? "subscribe"
                          : kind == TopicKind::kPattern ? "psubscribe"
                                                        : "ssubscribe";
  for (size_t i = 1; i < args.size(); ++i) {
    // A name over a limit gets an error in its place; the others are still subscribed, so the
    // client gets one reply per name as it expects.
    if (subs->find(std::string(args[i])) == subs->end()) {
      if (std::string refusal = subscription_refusal(c, kind, args[i]); !refusal.empty()) {
        stats_->subscriptions_refused.add();
        reply_error(c, refusal);
        continue;
      }
    }
    table_.subscribe(kind, args[i], c, subs);
    size_t count = kind == TopicKind::kShardChannel ? c->shard_channels.size() : c->subscriptions();
    subscription_reply(c, verb, args[i], false, count);
  }
  update_topic_gauges();
}

std::string ShardCore::subscription_refusal(const Conn* c, TopicKind kind, std::string_view name) const {
  auto too = [](const char* what, size_t limit, const char* flag) {
    return "ERR " + std::string(what) + " (" + std::to_string(limit) + ", " + flag + ")";
  };
  if (kind == TopicKind::kPattern) {
    if (c->patterns.size() >= cfg_.max_patterns_per_client) {
      return too("too many patterns subscribed by this client", cfg_.max_patterns_per_client,
                 "--max-patterns-per-client");
    }
    if (name.size() > cfg_.max_pattern_len) {
      return too("pattern too long", cfg_.max_pattern_len, "--max-pattern-len");
    }
    if (glob_wildcards(name) > cfg_.max_pattern_wildcards) {
      return too("pattern has too many wildcards", cfg_.max_pattern_wildcards, "--max-pattern-wildcards");
    }
    return {};
  }
  if (c->channels.size() + c->shard_channels.size() >= cfg_.max_channels_per_client) {
    return too("too many channels subscribed by this client", cfg_.max_channels_per_client,
               "--max-channels-per-client");
  }
  if (name.size() > cfg_.max_channel_len) {
    return too("channel name too long", cfg_.max_channel_len, "--max-channel-len");
  }
  return {};
}

void ShardCore::cmd_unsubscribe(Conn* c, TopicKind kind, std::span<const std::string_view> args) {
  ClientSubs* subs = subs_of(c, kind);
  std::string_view verb = kind == TopicKind::kChannel   ? "unsubscribe"
                          : kind == TopicKind::kPattern ? "punsubscribe"
                                                        : "sunsubscribe";
  auto count = [&] {
    return kind == TopicKind::kShardChannel ? c->shard_channels.size() : c->subscriptions();
  };
  if (args.size() == 1) {
    if (subs->empty()) {
      subscription_reply(c, verb, {}, true, count());
    }
    while (!subs->empty()) {
      auto it = subs->begin();
      std::string name = it->first;
      table_.unsubscribe(it, subs);
      subscription_reply(c, verb, name, false, count());
    }
  } else {
    for (size_t i = 1; i < args.size(); ++i) {
      table_.unsubscribe(kind, args[i], subs);
      subscription_reply(c, verb, args[i], false, count());
    }
  }
  update_topic_gauges();
}

void ShardCore::cmd_pubsub(Conn* c, std::span<const std::string_view> args) {
  std::string_view sub = args[1];
  size_t argc = args.size();
  const int n = shared_->nshards;
  if (iequals(sub, "channels") || iequals(sub, "shardchannels")) {
    bool shard = iequals(sub, "shardchannels");
    if (argc > 3) {
      reply_error(c, wrong_args(shard ? "pubsub|shardchannels" : "pubsub|channels"));
      return;
    }
    std::set<std::string> names;
    TopicKind kind = shard ? TopicKind::kShardChannel : TopicKind::kChannel;
    for (int s = 0; s < n; ++s) {
      shared_->tables[s]->for_each(kind, [&](const std::string& key, uint32_t) {
        if (argc == 2 || glob_match(args[2], key)) names.insert(key);
      });
    }
    resp::array(c->out, names.size());
    for (const auto& k : names) resp::bulk(c->out, k);
  } else if (iequals(sub, "numsub") || iequals(sub, "shardnumsub")) {
    TopicKind kind = iequals(sub, "numsub") ? TopicKind::kChannel : TopicKind::kShardChannel;
    resp::map(c->out, argc - 2, c->proto);
    for (size_t i = 2; i < argc; ++i) {
      uint64_t total = 0;
      for (int s = 0; s < n; ++s) total += shared_->tables[s]->count_channel(kind, args[i]);
      resp::bulk(c->out, args[i]);
      resp::integer(c->out, static_cast<int64_t>(total));
    }
  } else if (iequals(sub, "numpat")) {
    if (argc != 2) {
      reply_error(c, wrong_args("pubsub|numpat"));
      return;
    }
    std::set<std::string> pats;
    for (int s = 0; s < n; ++s) {
      shared_->tables[s]->for_each(TopicKind::kPattern,
                                   [&](const std::string& key, uint32_t) { pats.insert(key); });
    }
    resp::integer(c->out, static_cast<int64_t>(pats.size()));
  } else {
    reply_error(c, "ERR unknown subcommand '" + sanitize(std::string(sub)) + "'. Try PUBSUB HELP.");
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
  resp::bulk(c->out, "standalone");
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
      if (!check_auth(c, args[i + 1], args[i + 2])) return;
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
  if (c->user == nullptr) {
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

void ShardCore::cmd_client(Conn* c, std::span<const std::string_view> args) {
  std::string_view sub = args[1];
  size_t argc = args.size();
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
    std::string s = "id=" + std::to_string(c->client_id) + " name=" + c->name +
                    " user=" + (c->user ? c->user->name : std::string()) +
                    " age=" + std::to_string((now_ms_ - c->created_ms) / 1000) +
                    " sub=" + std::to_string(c->channels.size()) +
                    " psub=" + std::to_string(c->patterns.size()) +
                    " ssub=" + std::to_string(c->shard_channels.size()) +
                    " omem=" + std::to_string(c->out.bytes()) +
                    " resp=" + std::to_string(c->proto) + " shard=" + std::to_string(id_) + "\n";
    resp::verbatim(c->out, s, c->proto);
  } else if (iequals(sub, "no-evict") || iequals(sub, "no-touch") || iequals(sub, "reply")) {
    resp::simple(c->out, "OK");
  } else {
    reply_error(c, "ERR unknown subcommand '" + sanitize(std::string(sub)) + "'. Try CLIENT HELP.");
  }
}

bool ShardCore::check_auth(Conn* c, std::string_view user, std::string_view pass) {
  // Passwords are compared as SHA-256 digests, in time independent of where they differ.
  const AclUser* u = shared_->acl.find(user);
  if (u && u->enabled && u->check_password(pass)) {
    c->user = u;
    return true;
  }
  reply_error(c, "WRONGPASS invalid username-password pair or user is disabled.");
  stats_->auth_failures.add();
  // Guessing is rate-limited: a client gets kAuthTries failures, and while this shard sees more
  // than kAuthBurst failures in a second, every failing client is closed at its first.
  constexpr int kAuthTries = 3, kAuthBurst = 100;
  if (now_ms_ - auth_window_ms_ >= 1000) {
    auth_window_ms_ = now_ms_;
    if (auth_window_failures_ > kAuthBurst) {
      LOG_WARN("shard %d: %d failed AUTH attempts in a second", id_, auth_window_failures_);
    }
    auth_window_failures_ = 0;
  }
  ++auth_window_failures_;
  if (++c->auth_failures >= kAuthTries || auth_window_failures_ > kAuthBurst) {
    stats_->auth_closes.add();
    c->close_after_flush = true;
    set_want_recv(c, false);
  }
  return false;
}

void ShardCore::cmd_reset(Conn* c) {
  unsubscribe_all(c);
  c->user = shared_->acl.initial_user();  // as Redis: RESET signs the client out
  c->proto = 2;
  c->name.clear();
  resp::simple(c->out, "RESET");
}

void ShardCore::cmd_info(Conn* c, std::span<const std::string_view> args) {
  auto want = [&](std::string_view section) {
    if (args.size() < 2) return true;
    for (size_t i = 1; i < args.size(); ++i) {
      if (iequals(args[i], section) || iequals(args[i], "all") || iequals(args[i], "everything") ||
          iequals(args[i], "default")) {
        return true;
      }
    }
    return false;
  };
  const int n = shared_->nshards;
  auto sum = [&](Counter ShardStats::*f) {
    uint64_t t = 0;
    for (int s = 0; s < n; ++s) t += (shared_->stats[s].*f).get();
    return t;
  };
  auto unique = [&](TopicKind kind) {
    std::set<std::string> keys;
    for (int s = 0; s < n; ++s) {
      shared_->tables[s]->for_each(kind, [&](const std::string& k, uint32_t) { keys.insert(k); });
    }
    return keys.size();
  };
  std::string o;
  auto line = [&](std::string_view k, uint64_t v) {
    o.append(k);
    o += ':';
    o += std::to_string(v);
    o += "\r\n";
  };
  auto sline = [&](std::string_view k, std::string_view v) {
    o.append(k);
    o += ':';
    o.append(v);
    o += "\r\n";
  };
  if (want("server")) {
    o += "# Server\r\n";
    sline("redis_version", "7.0.0");
    sline("fanout_version", "0.1.0");
    sline("redis_mode", "standalone");
    sline("os", "Linux");
    sline("multiplexing_api", shared_->backend_name);
    sline("arch_bits", "64");
    line("process_id", static_cast<uint64_t>(getpid()));
    line("tcp_port", static_cast<uint64_t>(shared_->port));
    line("uptime_in_seconds", static_cast<uint64_t>((now_ms_ - shared_->start_ms) / 1000));
    line("shards", static_cast<uint64_t>(n));
    sline("backend", shared_->backend_name);
    o += "\r\n";
  }
  if (want("clients")) {
    o += "# Clients\r\n";
    line("connected_clients", shared_->clients.load(std::memory_order_relaxed));
    line("maxclients", cfg_.max_clients);
    o += "\r\n";
  }
  if (want("memory")) {
    o += "# Memory\r\n";
    line("queued_output_bytes", sum(&ShardStats::queued_bytes));
    line("max_queued_bytes", cfg_.max_queued_bytes);
    line("client_output_hard_limit", cfg_.output.hard_bytes);
    line("client_output_soft_limit", cfg_.output.soft_bytes);
    line("client_output_soft_seconds", static_cast<uint64_t>(cfg_.output.soft_ms / 1000));
    line("client_output_max_messages", cfg_.output.max_messages);
    o += "\r\n";
  }
  if (want("stats")) {
    o += "# Stats\r\n";
    line("total_connections_received", sum(&ShardStats::connections_accepted));
    line("rejected_connections", sum(&ShardStats::rejected_max_clients));
    line("accept_errors", sum(&ShardStats::accept_errors));
    line("pubsub_channels", unique(TopicKind::kChannel));
    line("pubsub_patterns", unique(TopicKind::kPattern));
    line("pubsub_shardchannels", unique(TopicKind::kShardChannel));
    line("messages_published", sum(&ShardStats::published));
    line("messages_delivered", sum(&ShardStats::delivered));
    line("messages_forwarded", sum(&ShardStats::forwarded));
    line("total_net_output_bytes", sum(&ShardStats::bytes_sent));
    line("protocol_errors", sum(&ShardStats::protocol_errors));
    line("query_buffer_closes", sum(&ShardStats::query_buffer_closes));
    line("idle_timeouts", sum(&ShardStats::idle_timeouts));
    line("request_timeouts", sum(&ShardStats::request_timeouts));
    line("auth_failures", sum(&ShardStats::auth_failures));
    line("auth_failure_closes", sum(&ShardStats::auth_closes));
    line("subscriptions_refused", sum(&ShardStats::subscriptions_refused));
    line("acl_denied", sum(&ShardStats::acl_denied));
    line("send_errors", sum(&ShardStats::send_errors));
    line("blocked_on_mailbox", sum(&ShardStats::blocked_on_mailbox));
    o += "\r\n";
  }
  if (want("backpressure")) {
    o += "# Backpressure\r\n";
    sline("output_policy", policy_name(cfg_.output.policy));
    line("overflow_hard", sum(&ShardStats::overflow_hard));
    line("overflow_soft", sum(&ShardStats::overflow_soft));
    line("overflow_messages", sum(&ShardStats::overflow_messages));
    line("overflow_total_cap", sum(&ShardStats::overflow_cap));
    line("slow_disconnected", sum(&ShardStats::disconnected));
    line("dropped_newest", sum(&ShardStats::dropped_newest));
    line("dropped_oldest", sum(&ShardStats::dropped_oldest));
    // deliveries_due = deliveries_sent + dropped_newest + dropped_oldest + deliveries_discarded
    // + deliveries_queued (DeliveryTotals).
    DeliveryTotals d = shared_->deliveries();
    line("deliveries_due", d.due);
    line("deliveries_sent", d.sent);
    line("deliveries_discarded", d.discarded);
    line("deliveries_queued", d.queued);
    o += "\r\n";
  }
  if (want("backend")) {
    auto ratio = [&](const char* name, uint64_t num, uint64_t den) {
      uint64_t x100 = den ? num * 100 / den : 0;
      o += std::string(name) + ":" + std::to_string(x100 / 100) + "." + (x100 % 100 < 10 ? "0" : "") +
           std::to_string(x100 % 100) + "\r\n";
    };
    o += "# Backend\r\n";
    sline("backend", shared_->backend_name);
    if (!shared_->backend_setup.empty()) sline("io_uring_setup", shared_->backend_setup);
    uint64_t sendmsg = sum(&ShardStats::sendmsg_calls), recv = sum(&ShardStats::recv_calls),
             waits = sum(&ShardStats::wait_calls), ctl = sum(&ShardStats::ctl_calls),
             accepts = sum(&ShardStats::accept_calls), enters = sum(&ShardStats::enter_calls),
             registers = sum(&ShardStats::register_calls);
    line("loop_iterations", sum(&ShardStats::loop_iterations));
    // Syscalls the backend made for I/O: on epoll every sendmsg, recv, accept4, epoll_wait and
    // epoll_ctl; on io_uring every io_uring_enter (its recv_calls count multishot arms, not
    // syscalls) and io_uring_register (registered-file updates, one per connection opened and
    // one per connection closed).
    bool uring = enters != 0;
    line("syscalls", uring ? enters + registers : sendmsg + recv + waits + ctl + accepts);
    line("sendmsg_calls", sendmsg);
    line("recv_calls", recv);
    line("accept_calls", accepts);
    line("wait_calls", waits);
    line("epoll_ctl_calls", ctl);
    line("io_uring_enter_calls", enters);
    line("io_uring_register_calls", registers);
    line("sends_submitted", sum(&ShardStats::sends_submitted));
    line("sends_completed", sum(&ShardStats::sends_completed));
    line("short_sends", sum(&ShardStats::short_sends));
    line("send_eagain", sum(&ShardStats::eagain));
    line("completions", sum(&ShardStats::completions));
    line("cq_overflows", sum(&ShardStats::cq_overflows));
    line("recv_buffers_exhausted", sum(&ShardStats::buffers_exhausted));
    line("stale_completions", sum(&ShardStats::stale_completions));
    uint64_t sends = sum(&ShardStats::sends_completed);
    ratio("messages_per_send", sum(&ShardStats::delivered), sends);
    ratio("bytes_per_send", sum(&ShardStats::bytes_sent), sends);
    ratio("completions_per_wait", sum(&ShardStats::completions), waits);
    ratio("completions_per_enter", sum(&ShardStats::completions), enters);  // io_uring only
    o += "\r\n";
  }
  if (want("shards")) {
    o += "# Shards\r\n";
    for (int s = 0; s < n; ++s) {
      const ShardStats& st = shared_->stats[s];
      o += "shard" + std::to_string(s) + ":clients=" + std::to_string(st.clients.get()) +
           ",channels=" + std::to_string(st.channels.get()) +
           ",patterns=" + std::to_string(st.patterns.get()) +
           ",published=" + std::to_string(st.published.get()) +
           ",delivered=" + std::to_string(st.delivered.get()) +
           ",queued_bytes=" + std::to_string(st.queued_bytes.get()) + "\r\n";
    }
    o += "\r\n";
  }
  if (o.size() >= 2) o.resize(o.size() - 2);  // Redis ends without the final blank line
  resp::verbatim(c->out, o, c->proto);
}

}  // namespace fanout
