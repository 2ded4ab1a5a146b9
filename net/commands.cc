// The Redis command set Fanout serves: one table of commands (name, arity, handler, ACL right,
// where their channel arguments are), and the dispatch that checks arity, authentication, ACL
// rights and RESP2's subscribed context in Redis's order (server.c, processCommand). Replies
// follow Redis 7.0 byte for byte where Redis specifies them (tests/compat checks them against a
// real redis-server). The handlers are in pubsub_commands.cc, connection_commands.cc and info.cc.
#include <string>

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

}  // namespace

struct CommandTable {
  using Handler = bool (*)(ShardCore& s, Conn* c, Args args);  // false: blocked, run it again later
  struct Spec {
    std::string_view name;
    int arity;       // Redis convention: N exact, -N at least N
    bool pubsub_ok;  // allowed in RESP2 subscribed mode
    int acl;         // index in kAclCatalog, or kAclExempt / kAclBySubcommand
    Channels channels;
    Handler run;
  };
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
       [](ShardCore& s, Conn* c, Args a) { return s.cmd_quit(c), true; }},
      {"reset", 1, true, kAclExempt, Channels::kNone,
       [](ShardCore& s, Conn* c, Args a) { return s.cmd_reset(c), true; }},
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

void ShardCore::reply_error(Conn* c, std::string_view msg) {
  resp::error(c->out, msg);
  mark_pending(c);
}

bool ShardCore::execute(Conn* c, Args args) {
  const Spec* spec = CommandTable::find(args[0]);
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
  const bool check_acl = spec->acl != kAclExempt && !c->user->all_rights;
  const bool subscribed_context = c->proto == 2 && c->pubsub_mode() && !spec->pubsub_ok;
  if (check_acl || subscribed_context) {
    std::string full;
    int right = command_right(*spec, args, &full);
    if (check_acl) {
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
  if (!spec->run(*this, c, args)) return false;
  mark_pending(c);
  return true;
}

}  // namespace fanout
