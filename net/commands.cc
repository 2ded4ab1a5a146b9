// The Redis command set Fanout serves: one table of commands (name, arity, handler, ACL right,
// where their channel arguments are), and the dispatch that checks arity, authentication, ACL
// rights and RESP2's subscribed context in Redis's order (server.c, processCommand). Replies
// follow Redis 7.0 byte for byte where Redis specifies them (tests/compat checks them against a
// real redis-server). The handlers are in pubsub_commands.cc, connection_commands.cc,
// client_commands.cc, cluster_commands.cc, fanout_commands.cc and info.cc.
#include <algorithm>
#include <cctype>
#include <chrono>
#include <string>
#include <vector>

#include "core/resp_writer.h"
#include "net/command_util.h"
#include "net/shard_core.h"

namespace fanout {
namespace {

// Which arguments name channels, for ACL channel rights (Redis's key specs, for channels).
enum class Channels : uint8_t { kNone, kFirst, kAll, kAllPatterns };

using Args = std::span<const std::string_view>;

// Every command and subcommand Redis 7.0 has, sorted by name, with its arity and ACL categories:
// for answering a command Fanout does not have as Redis would, for checking subcommands before
// anything else, and as the catalog ACL rules name commands from (core/acl.h).
struct RedisCommand {
  std::string_view name;  // lowercase; "client|list" for a subcommand
  int arity;              // N exact, -N at least N
  uint32_t categories;    // AclCategory bits
};
constexpr RedisCommand kRedisCommands[] = {
#include "net/redis_commands.inc"
};
// Fanout's subcommands that Redis has only from 7.2 (with 7.2's categories), and Fanout's own
// command's (FANOUT TOPCHANNELS: @admin, as CLIENT LIST is).
constexpr RedisCommand kLaterSubcommands[] = {{"client|no-touch", 3, kAclSlow | kAclConnection},
                                              {"client|setinfo", 4, kAclSlow | kAclConnection},
                                              {"fanout", -2, kAclSlow},
                                              {"fanout|topchannels", -2, kAclAdmin | kAclSlow | kAclDangerous},
                                              {"fanout|help", 2, kAclSlow}};

// A command's index in the ACL catalog (kRedisCommands, then kLaterSubcommands), or -1.
constexpr int acl_index(std::string_view name) {
  for (size_t i = 0; i < std::size(kRedisCommands); ++i) {
    if (kRedisCommands[i].name == name) return static_cast<int>(i);
  }
  for (size_t i = 0; i < std::size(kLaterSubcommands); ++i) {
    if (kLaterSubcommands[i].name == name) return static_cast<int>(std::size(kRedisCommands) + i);
  }
  return -1;
}
// CmdSpec::acl for commands that are always allowed (signing in and out), and for commands
// whose right is per subcommand.
constexpr int kAclExempt = -1, kAclBySubcommand = -2;

// The subcommands Fanout implements (the others of its commands answer an error): ACL CAT lists
// them, and INFO commandstats counts each apart.
constexpr std::string_view kServedSubcommands[] = {
    "pubsub|channels", "pubsub|numsub", "pubsub|numpat", "pubsub|shardchannels", "pubsub|shardnumsub",
    "pubsub|help", "client|id", "client|setname", "client|getname", "client|setinfo", "client|info",
    "client|no-evict", "client|no-touch", "client|reply", "config|get", "config|resetstat", "command|count",
    "command|docs", "command|info", "command|list", "acl|whoami", "client|list", "client|kill", "client|pause",
    "client|unpause", "client|unblock", "client|getredir", "client|trackinginfo", "client|tracking",
    "client|caching", "client|help", "config|help", "command|help", "acl|help", "latency|latest",
    "latency|history", "latency|reset", "latency|doctor", "latency|graph", "latency|histogram", "latency|help",
    "slowlog|get", "slowlog|len", "slowlog|reset", "slowlog|help", "acl|cat", "acl|deluser", "acl|getuser",
    "acl|list", "acl|load", "acl|log", "acl|save", "acl|setuser", "acl|users", "acl|genpass", "acl|dryrun",
    "config|set", "config|rewrite", "fanout|topchannels", "fanout|help", "cluster|slots", "cluster|shards",
    "cluster|nodes", "cluster|info", "cluster|myid", "cluster|keyslot", "cluster|countkeysinslot",
    "cluster|getkeysinslot", "cluster|links", "cluster|replicas", "cluster|slaves", "cluster|count-failure-reports",
    "cluster|help",
};

const RedisCommand* find_redis_command(std::string_view lower) {
  auto it = std::lower_bound(std::begin(kRedisCommands), std::end(kRedisCommands), lower,
                             [](const RedisCommand& a, std::string_view b) { return a.name < b; });
  if (it != std::end(kRedisCommands) && it->name == lower) return &*it;
  for (const RedisCommand& r : kLaterSubcommands) {
    if (r.name == lower) return &r;
  }
  return nullptr;
}

// The ACL catalog index of a command found by find_redis_command (or named by check_shape).
int catalog_index(std::string_view lower) {
  const RedisCommand* r = find_redis_command(lower);
  if (r == nullptr) return -1;
  if (r >= std::begin(kRedisCommands) && r < std::end(kRedisCommands)) return static_cast<int>(r - kRedisCommands);
  return static_cast<int>(std::size(kRedisCommands) + (r - kLaterSubcommands));
}

// Whether Redis's command `lower` has subcommands ("client" has "client|...").
bool has_subcommands(std::string_view lower) {
  std::string prefix = std::string(lower) + "|";
  auto it = std::lower_bound(std::begin(kRedisCommands), std::end(kRedisCommands), prefix,
                             [](const RedisCommand& a, std::string_view b) { return a.name < b; });
  return it != std::end(kRedisCommands) && it->name.starts_with(prefix);
}

bool arity_ok(int arity, size_t argc) {
  return arity > 0 ? argc == static_cast<size_t>(arity) : argc >= static_cast<size_t>(-arity);
}

std::string uppercase(std::string_view s) {
  std::string u(s);
  for (char& ch : u) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
  return u;
}

// Redis's checks before anything else (server.c processCommand, lookupCommand): a command with
// subcommands needs a known one, then the arity of what was found. Sets *full to the static name
// ("client|list"). `container`: the command has subcommands (known from Fanout's table, so the hot
// commands never search Redis's). Returns the error, or empty.
std::string check_shape(std::string_view lower, int top_arity, bool container, Args args, std::string_view* full) {
  if (!arity_ok(top_arity, args.size())) return wrong_args(lower);
  if (args.size() < 2 || !container) return {};
  std::string sub = std::string(lower) + "|" + lowercase(args[1]);
  const RedisCommand* r = find_redis_command(sub);
  if (r == nullptr) return unknown_subcommand(args[1], uppercase(lower));
  *full = r->name;
  if (!arity_ok(r->arity, args.size())) return wrong_args(r->name);
  return {};
}

// Commands whose reply may come in a later iteration (ChannelWalk, net/admin.h, ACL changes): refused inside
// MULTI, whose EXEC answers in one go.
bool answers_later(std::string_view full) {
  return full == "pubsub|channels" || full == "pubsub|shardchannels" || full == "client|list" ||
         full == "client|kill" || full == "config|resetstat" || full == "config|set" || full == "acl|setuser" ||
         full == "acl|deluser" || full == "acl|load" || full == "fanout|topchannels";
}

constexpr std::string_view kSubscribedContext =
    "': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context";

}  // namespace

// One command: its name, Redis's arity (N exact, -N at least N), whether RESP2's subscribed
// mode allows it, its ACL right (index in server_acl_catalog(), or kAclExempt / kAclBySubcommand), which
// arguments are channels, and its handler (false: blocked, run it again later).
struct CommandSpec {
  using Handler = bool (*)(ShardCore& s, Conn* c, std::span<const std::string_view> args);
  std::string_view name;
  int arity;
  bool pubsub_ok;
  int acl;
  Channels channels;
  Handler run;
  bool immediate = false;  // runs at once inside MULTI (MULTI, EXEC, DISCARD, QUIT, RESET)
};

struct CommandTable {
  using Spec = CommandSpec;
  // PUBLISH is the hot command: it is first.
  static constexpr Spec kCommands[] = {
      {"publish", 3, false, acl_index("publish"), Channels::kFirst,
       [](ShardCore& s, Conn* c, Args a) { return s.cmd_publish(c, TopicKind::kChannel, a); }},
      {"spublish", 3, false, acl_index("spublish"), Channels::kFirst,
       [](ShardCore& s, Conn* c, Args a) { return s.cmd_publish(c, TopicKind::kShardChannel, a); }},
      {"subscribe", -2, true, acl_index("subscribe"), Channels::kAll,
       [](ShardCore& s, Conn* c, Args a) { return s.cmd_subscribe(c, TopicKind::kChannel, a), true; }},
      {"unsubscribe", -1, true, acl_index("unsubscribe"), Channels::kNone,
       [](ShardCore& s, Conn* c, Args a) { return s.cmd_unsubscribe(c, TopicKind::kChannel, a), true; }},
      {"psubscribe", -2, true, acl_index("psubscribe"), Channels::kAllPatterns,
       [](ShardCore& s, Conn* c, Args a) { return s.cmd_subscribe(c, TopicKind::kPattern, a), true; }},
      {"punsubscribe", -1, true, acl_index("punsubscribe"), Channels::kNone,
       [](ShardCore& s, Conn* c, Args a) { return s.cmd_unsubscribe(c, TopicKind::kPattern, a), true; }},
      {"ssubscribe", -2, true, acl_index("ssubscribe"), Channels::kAll,
       [](ShardCore& s, Conn* c, Args a) { return s.cmd_subscribe(c, TopicKind::kShardChannel, a), true; }},
      {"sunsubscribe", -1, true, acl_index("sunsubscribe"), Channels::kNone,
       [](ShardCore& s, Conn* c, Args a) { return s.cmd_unsubscribe(c, TopicKind::kShardChannel, a), true; }},
      {"pubsub", -2, false, kAclBySubcommand, Channels::kNone,
       [](ShardCore& s, Conn* c, Args a) { return s.cmd_pubsub(c, a), true; }},
      {"ping", -1, true, acl_index("ping"), Channels::kNone,
       [](ShardCore& s, Conn* c, Args a) { return s.cmd_ping(c, a), true; }},
      {"echo", 2, false, acl_index("echo"), Channels::kNone,
       [](ShardCore& s, Conn* c, Args a) { return resp::bulk(c->out, a[1]), true; }},
      {"quit", -1, true, kAclExempt, Channels::kNone,
       [](ShardCore& s, Conn* c, Args a) { return s.cmd_quit(c), true; }, true},
      {"reset", 1, true, kAclExempt, Channels::kNone,
       [](ShardCore& s, Conn* c, Args a) { return s.cmd_reset(c), true; }, true},
      {"multi", 1, false, acl_index("multi"), Channels::kNone,
       [](ShardCore& s, Conn* c, Args a) { return s.cmd_multi(c), true; }, true},
      {"exec", 1, false, acl_index("exec"), Channels::kNone,
       [](ShardCore& s, Conn* c, Args a) { return s.cmd_exec(c), true; }, true},
      {"discard", 1, false, acl_index("discard"), Channels::kNone,
       [](ShardCore& s, Conn* c, Args a) { return s.cmd_discard(c), true; }, true},
      {"hello", -1, false, kAclExempt, Channels::kNone,
       [](ShardCore& s, Conn* c, Args a) { return s.cmd_hello(c, a), true; }},
      {"auth", -2, false, kAclExempt, Channels::kNone,
       [](ShardCore& s, Conn* c, Args a) { return s.cmd_auth(c, a), true; }},
      {"select", 2, false, acl_index("select"), Channels::kNone,
       [](ShardCore& s, Conn* c, Args a) { return s.cmd_select(c, a), true; }},
      {"client", -2, false, kAclBySubcommand, Channels::kNone,
       [](ShardCore& s, Conn* c, Args a) { return s.cmd_client(c, a), true; }},
      {"info", -1, false, acl_index("info"), Channels::kNone,
       [](ShardCore& s, Conn* c, Args a) { return s.cmd_info(c, a), true; }},
      {"config", -2, false, kAclBySubcommand, Channels::kNone,
       [](ShardCore& s, Conn* c, Args a) { return s.cmd_config(c, a), true; }},
      {"command", -1, false, kAclBySubcommand, Channels::kNone,
       [](ShardCore& s, Conn* c, Args a) { return s.cmd_command(c, a), true; }},
      {"acl", -2, false, kAclBySubcommand, Channels::kNone,
       [](ShardCore& s, Conn* c, Args a) { return s.cmd_acl(c, a), true; }},
      {"latency", -2, false, kAclBySubcommand, Channels::kNone,
       [](ShardCore& s, Conn* c, Args a) { return s.cmd_latency(c, a), true; }},
      {"slowlog", -2, false, kAclBySubcommand, Channels::kNone,
       [](ShardCore& s, Conn* c, Args a) { return s.cmd_slowlog(c, a), true; }},
      {"fanout", -2, false, kAclBySubcommand, Channels::kNone,
       [](ShardCore& s, Conn* c, Args a) { return s.cmd_fanout(c, a), true; }},
      {"cluster", -2, false, kAclBySubcommand, Channels::kNone,
       [](ShardCore& s, Conn* c, Args a) { return s.cmd_cluster(c, a), true; }},
      {"readonly", 1, false, acl_index("readonly"), Channels::kNone,
       [](ShardCore& s, Conn* c, Args) { return s.cmd_readonly(c), true; }},
      {"readwrite", 1, false, acl_index("readwrite"), Channels::kNone,
       [](ShardCore& s, Conn* c, Args) { return s.cmd_readonly(c), true; }},
  };

  static const Spec* find(std::string_view name) {
    for (const Spec& s : kCommands) {
      if (iequals(s.name, name)) return &s;
    }
    return nullptr;
  }
};

namespace {

using Spec = CommandTable::Spec;

std::string unknown_command(Args args) {
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

// The ACL right a command found as `spec` and named `full` (check_shape's name: "client|id" for
// a subcommand, the container's own name without one) needs: its catalog index, or -1 for the
// commands every user may run.
int command_right(const Spec& spec, std::string_view full) {
  return spec.acl == kAclBySubcommand ? catalog_index(full) : spec.acl;
}

// What denies the user a command (Redis's ACLCheckAllUserCommandPerm without keys): its right
// (or the first argument it allows), then its channels.
struct AclVerdict {
  bool denied = false;
  AclLogEntry::Reason reason = AclLogEntry::Reason::kCommand;
  size_t arg = 0;  // kChannel: the argument refused
};
AclVerdict acl_check(const AclUser& u, const Spec& spec, Args args, int right) {
  AclVerdict v;
  if (right >= 0 && !u.can_run(static_cast<size_t>(right)) &&
      (args.size() < 2 || !u.can_run(static_cast<size_t>(right), args[1]))) {
    v.denied = true;
    return v;
  }
  if (u.all_channels || spec.channels == Channels::kNone) return v;
  size_t last = spec.channels == Channels::kFirst ? 1 : args.size() - 1;
  for (size_t i = 1; i <= last; ++i) {
    if (!u.can_access(args[i], spec.channels == Channels::kAllPatterns)) {
      v = {true, AclLogEntry::Reason::kChannel, i};
      return v;
    }
  }
  return v;
}

// Redis's NOPERM errors: processCommand's, and execCommand's for a queued command the rules no
// longer allow.
std::string acl_error(const AclVerdict& v, std::string_view full, bool queued) {
  const bool channel = v.reason == AclLogEntry::Reason::kChannel;
  if (queued) {
    return std::string("NOPERM ACLs rules changed between the moment the transaction was accumulated and the EXEC "
                       "call. This command is no longer allowed for the following reason: ") +
           (channel ? "no permission to access one of the channels used as arguments"
                    : "no permission to execute the command or subcommand");
  }
  if (channel) return "NOPERM this user has no permissions to access one of the channels used as arguments";
  return sanitize("NOPERM this user has no permissions to run the '" + std::string(full) + "' command");
}

}  // namespace

std::span<const AclCommandInfo> server_acl_catalog() {
  // Every Redis command: a rule may name any, and a command with subcommands Fanout runs
  // (CLIENT, CONFIG...) has all of its subcommands served, so that all_rights is never true for
  // a user denied one Fanout answers.
  static const std::vector<AclCommandInfo> catalog = [] {
    std::vector<AclCommandInfo> v;
    auto add = [&](const RedisCommand& r) {
      const std::string_view top = r.name.substr(0, r.name.find('|'));
      v.push_back({r.name, r.categories, CommandTable::find(top) != nullptr});
    };
    for (const RedisCommand& r : kRedisCommands) add(r);
    for (const RedisCommand& r : kLaterSubcommands) add(r);
    return v;
  }();
  return catalog;
}

bool acl_cat_lists(std::string_view name) {
  if (name.find('|') == std::string_view::npos) return CommandTable::find(name) != nullptr;
  return std::find(std::begin(kServedSubcommands), std::end(kServedSubcommands), name) != std::end(kServedSubcommands);
}


namespace {

// Stat slots (INFO commandstats): every command of the table, then every subcommand Fanout
// implements ("client|list").
const std::vector<std::string_view>& stat_names() {
  static const std::vector<std::string_view> names = [] {
    std::vector<std::string_view> v;
    for (const CommandSpec& s : CommandTable::kCommands) v.push_back(s.name);
    for (std::string_view sub : kServedSubcommands) v.push_back(sub);
    return v;
  }();
  return names;
}

// The slot of a command found as `spec` and named `full` (its subcommand's name, if any).
size_t stat_slot(const CommandSpec* spec, std::string_view full) {
  const size_t top = static_cast<size_t>(spec - CommandTable::kCommands);
  if (full.data() == spec->name.data()) return top;
  const auto& names = stat_names();
  for (size_t i = std::size(CommandTable::kCommands); i < names.size(); ++i) {
    if (names[i] == full) return i;
  }
  return top;  // a subcommand INFO does not list apart
}

}  // namespace

std::span<const std::string_view> command_stat_names() { return stat_names(); }

void ShardCore::reply_error(Conn* c, std::string_view msg) {
  resp::error(c->out, msg);
  mark_pending(c);
  // INFO errorstats: by the error's first word, as Redis counts them (server.c incrementErrorCount).
  stats_->total_error_replies.add();
  const std::string_view code = msg.substr(0, msg.find(' '));
  size_t i = 0;
  while (i + 1 < std::size(kErrorCodes) && kErrorCodes[i] != code) ++i;
  stats_->errors[i].add();
}

void ShardCore::reject(Conn* c, std::string_view msg, const CommandSpec* spec) {
  if (spec != nullptr && spec->name == "exec") {
    // Redis's execCommandAbort: a refused EXEC discards the transaction (if any) and says why.
    c->multi.reset();
    if (msg.starts_with("ERR ")) msg.remove_prefix(4);
    reply_error(c, "EXECABORT Transaction discarded because of: " + std::string(msg));
    return;
  }
  if (c->multi) c->multi->aborted = true;  // Redis's flagTransaction: EXEC then answers EXECABORT
  reply_error(c, msg);
}

bool ShardCore::execute(Conn* c, Args args, bool queued) {
  const Spec* spec = CommandTable::find(args[0]);
  if (spec == nullptr) {
    reject_unknown(c, args);
    return true;
  }
  std::string_view full = spec->name;
  if (std::string shape = check_shape(spec->name, spec->arity, spec->acl == kAclBySubcommand, args, &full); !shape.empty()) {
    // Redis counts a call it refused under the command it found (none for an unknown subcommand).
    if (!shape.starts_with("ERR unknown subcommand")) stats_->commands[stat_slot(spec, full)].rejected_calls.add();
    reject(c, shape, spec);
    return true;
  }
  c->last_cmd = full;
  CommandStat& stat = stats_->commands[stat_slot(spec, full)];
  // A client that has not signed in runs as the default user while that user takes no password
  // (Redis's authRequired(), asked at every command: it needs AUTH again if the default user
  // gets a password).
  const AclUser* user = c->user;
  if (user == nullptr && spec->acl != kAclExempt && (user = acl_->initial_user()) == nullptr) {
    stat.rejected_calls.add();
    reject(c, "NOAUTH Authentication required.", spec);
    return true;
  }
  const bool check_acl = spec->acl != kAclExempt && !user->all_rights;
  if (check_acl) {
    if (AclVerdict v = acl_check(*user, *spec, args, command_right(*spec, full)); v.denied) {
      stats_->acl_denied.add();
      stat.rejected_calls.add();
      log_acl_denial(c, v.reason, v.reason == AclLogEntry::Reason::kChannel ? args[v.arg] : full, user->name, args);
      reject(c, acl_error(v, full, queued), spec);
      return true;
    }
  }
  // Inside EXEC only ACL rights are checked again (Redis's execCommand): the subscribed context
  // was checked when the command was queued, and a SUBSCRIBE earlier in the same EXEC does not
  // refuse the PUBLISH after it.
  if (!queued && c->proto == 2 && c->pubsub_mode() && !spec->pubsub_ok) {
    stat.rejected_calls.add();
    reject(c, "ERR Can't execute '" + std::string(full) + std::string(kSubscribedContext), spec);
    return true;
  }
  if (c->multi && !spec->immediate) {
    queue_in_transaction(c, args, answers_later(full));
    mark_pending(c);
    return true;
  }
  const uint64_t errors_before = stats_->total_error_replies.get();
  const auto start = std::chrono::steady_clock::now();
  if (!spec->run(*this, c, args)) return false;  // counted when it runs
  const uint64_t us = static_cast<uint64_t>(
      std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - start).count());
  stat.calls.add();
  stat.usec.add(us);
  if (stats_->total_error_replies.get() != errors_before) stat.failed_calls.add();
  LatencyHistogram* h = stat.latency.load(std::memory_order_relaxed);
  if (h == nullptr) {
    h = new LatencyHistogram();
    stat.latency.store(h, std::memory_order_release);
  }
  h->record(us);
  mark_pending(c);
  return true;
}

void ShardCore::reject_unknown(Conn* c, Args args) {
  // Outside RESP2's subscribed context a command Fanout does not have is unknown, as any command
  // Redis does not have is there; inside it, one Redis has gets Redis's answer for it.
  const std::string lower = lowercase(args[0]);
  const RedisCommand* r = c->proto == 2 && c->pubsub_mode() ? find_redis_command(lower) : nullptr;
  if (r == nullptr) {
    reject(c, unknown_command(args));
    return;
  }
  std::string_view full = r->name;
  if (std::string shape = check_shape(r->name, r->arity, has_subcommands(r->name), args, &full); !shape.empty()) {
    reject(c, shape);
    return;
  }
  reject(c, "ERR Can't execute '" + std::string(full) + std::string(kSubscribedContext));
}

// ACL DRYRUN <username> <command> [<arg> ...] (Redis 7.0's acl.c): whether the user could run the
// command, checked as execute() checks it. Commands Fanout does not run are not found.
void ShardCore::acl_dryrun(Conn* c, Args args) {
  const AclUser* u = acl_->find(args[2]);
  if (u == nullptr) return reply_error(c, sanitize("ERR User '" + std::string(args[2]) + "' not found"));
  const Args command = args.subspan(3);
  const Spec* spec = CommandTable::find(command[0]);
  std::string_view full = spec != nullptr ? spec->name : std::string_view();
  int arity = spec != nullptr ? spec->arity : 0;
  if (spec != nullptr && spec->acl == kAclBySubcommand && command.size() >= 2) {
    // Redis's lookupCommand: the subcommand named, which must exist.
    const RedisCommand* r = find_redis_command(std::string(spec->name) + "|" + lowercase(command[1]));
    if (r == nullptr) spec = nullptr;
    if (r != nullptr) full = r->name, arity = r->arity;
  }
  if (spec == nullptr) return reply_error(c, sanitize("ERR Command '" + std::string(command[0]) + "' not found"));
  if (!arity_ok(arity, command.size())) return reply_error(c, wrong_args(full));
  const AclVerdict v = spec->acl == kAclExempt ? AclVerdict() : acl_check(*u, *spec, command, command_right(*spec, full));
  if (!v.denied) return resp::simple(c->out, "OK");
  if (v.reason == AclLogEntry::Reason::kChannel) {
    return resp::bulk(c->out, "This user has no permissions to access the '" + std::string(command[v.arg]) + "' channel");
  }
  resp::bulk(c->out, "This user has no permissions to run the '" + std::string(full) + "' command");
}

}  // namespace fanout
