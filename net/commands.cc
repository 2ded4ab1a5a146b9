// The Redis command set Fanout serves: one table of commands (name, arity, handler, ACL right,
// where their channel arguments are), and the dispatch that checks arity, authentication, ACL
// rights and RESP2's subscribed context in Redis's order (server.c, processCommand). Replies
// follow Redis 7.0 byte for byte where Redis specifies them (tests/compat checks them against a
// real redis-server). The handlers are in pubsub_commands.cc, connection_commands.cc and info.cc.
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

// What ACL rules can grant: every command, and every subcommand of those that have them, in
// Redis 7.0's categories (the @category tables of Redis's commands/*.json).
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
    {"client|list", kAdmin | kAclConnection}, {"client|kill", kAdmin | kAclConnection},
    {"client|pause", kAdmin | kAclConnection}, {"client|unpause", kAdmin | kAclConnection},
    {"client|unblock", kAdmin | kAclConnection}, {"client|getredir", kConnSlow},
    {"client|trackinginfo", kConnSlow}, {"client|tracking", kConnSlow},
    {"client|caching", kConnSlow},   {"client|help", kConnSlow},
    {"config|help", kAclSlow},       {"command|help", kConnSlow},
    {"acl|help", kAclSlow},
    {"latency|latest", kAdmin},      {"latency|history", kAdmin},
    {"latency|reset", kAdmin},       {"latency|doctor", kAdmin},
    {"latency|graph", kAdmin},       {"latency|histogram", kAdmin},
    {"latency|help", kAclSlow},      {"slowlog|get", kAdmin},
    {"slowlog|len", kAdmin},         {"slowlog|reset", kAdmin},
    {"slowlog|help", kAclSlow},
    {"multi", kAclFast | kAclTransaction}, {"exec", kAclSlow | kAclTransaction},
    {"discard", kAclFast | kAclTransaction},
    {"fanout|topchannels", kAclAdmin | kAclSlow}, {"fanout|help", kAclSlow},
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

// Which arguments name channels, for ACL channel rights (Redis's key specs, for channels).
enum class Channels : uint8_t { kNone, kFirst, kAll, kAllPatterns };

using Args = std::span<const std::string_view>;

// Every command and subcommand Redis 7.0 has, sorted by name, with its arity: for answering a
// command Fanout does not have as Redis would, and for checking subcommands before anything else.
struct RedisCommand {
  std::string_view name;  // lowercase; "client|list" for a subcommand
  int arity;              // N exact, -N at least N
};
constexpr RedisCommand kRedisCommands[] = {
#include "net/redis_commands.inc"
};
// Fanout's subcommands that Redis has only from 7.2, and Fanout's own command's.
constexpr RedisCommand kLaterSubcommands[] = {
    {"client|no-touch", 3}, {"client|setinfo", 4}, {"fanout|topchannels", -2}, {"fanout|help", 2}};

const RedisCommand* find_redis_command(std::string_view lower) {
  auto it = std::lower_bound(std::begin(kRedisCommands), std::end(kRedisCommands), lower,
                             [](const RedisCommand& a, std::string_view b) { return a.name < b; });
  if (it != std::end(kRedisCommands) && it->name == lower) return &*it;
  for (const RedisCommand& r : kLaterSubcommands) {
    if (r.name == lower) return &r;
  }
  return nullptr;
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

// Commands whose reply may come in a later iteration (ChannelWalk, net/admin.h): refused inside
// MULTI, whose EXEC answers in one go.
bool answers_later(std::string_view full) {
  return full == "pubsub|channels" || full == "pubsub|shardchannels" || full == "client|list" ||
         full == "client|kill" || full == "config|resetstat" || full == "fanout|topchannels";
}

constexpr std::string_view kSubscribedContext =
    "': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context";

}  // namespace

// One command: its name, Redis's arity (N exact, -N at least N), whether RESP2's subscribed
// mode allows it, its ACL right (index in kAclCatalog, or kAclExempt / kAclBySubcommand), which
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

// The ACL right a command needs, and its Redis full name ("client|id") for errors: for commands
// with subcommands, the subcommand's. -1 when none applies (exempt, or an unknown subcommand,
// which the command itself reports).
int command_right(const Spec& spec, Args args, std::string* full) {
  *full = std::string(spec.name);
  if (spec.acl != kAclBySubcommand) return spec.acl;
  if (spec.name == "command" && args.size() == 1) return acl_index("command|list");
  std::string sub = lowercase(*full + "|" + std::string(args[1]));
  int right = acl_index(sub);
  if (right >= 0) *full = std::move(sub);
  return right;
}

// Why the user may not run this command (Redis's NOPERM), or empty. The command's own right
// first, then its channels.
std::string acl_refusal(const AclUser& u, const Spec& spec, Args args, int right, const std::string& full) {
  if (right >= 0 && !u.can_run(static_cast<size_t>(right))) {
    return sanitize("NOPERM this user has no permissions to run the '" + full + "' command");
  }
  if (u.all_channels || spec.channels == Channels::kNone) return {};
  size_t last = spec.channels == Channels::kFirst ? 1 : args.size() - 1;
  for (size_t i = 1; i <= last; ++i) {
    if (!u.can_access(args[i], spec.channels == Channels::kAllPatterns)) {
      return "NOPERM this user has no permissions to access one of the channels used as arguments";
    }
  }
  return {};
}

}  // namespace

std::span<const AclCommandInfo> server_acl_catalog() { return kAclCatalog; }

namespace {

// Stat slots (INFO commandstats): every command of the table, then every subcommand of the ACL
// catalog ("client|list").
const std::vector<std::string_view>& stat_names() {
  static const std::vector<std::string_view> names = [] {
    std::vector<std::string_view> v;
    for (const CommandSpec& s : CommandTable::kCommands) v.push_back(s.name);
    for (const AclCommandInfo& a : kAclCatalog) {
      if (a.name.find('|') != std::string_view::npos) v.push_back(a.name);
    }
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
  if (c->user == nullptr && spec->acl != kAclExempt) {
    stat.rejected_calls.add();
    reject(c, "NOAUTH Authentication required.", spec);
    return true;
  }
  const bool check_acl = spec->acl != kAclExempt && !c->user->all_rights;
  if (check_acl) {
    std::string name;
    int right = command_right(*spec, args, &name);
    if (std::string refusal = acl_refusal(*c->user, *spec, args, right, name); !refusal.empty()) {
      stats_->acl_denied.add();
      stat.rejected_calls.add();
      reject(c, refusal, spec);
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

}  // namespace fanout
