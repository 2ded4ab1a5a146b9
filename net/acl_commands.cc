// ACL, with Redis 7.0's subcommands, replies and errors (acl.c aclCommand): CAT, DELUSER, DRYRUN,
// GETUSER, GENPASS, LIST, LOAD, LOG, SAVE, SETUSER, USERS, WHOAMI, HELP; and how a change of the
// rules reaches every shard (net/acl_authority.h): the shard that changed them sends the new
// snapshot to the others as a command every shard answers (net/admin.h), each swaps it in at a
// loop boundary and closes the clients Redis would, and the client that asked is answered once
// all have.
#include <sys/random.h>

#include <cctype>
#include <cerrno>
#include <cstdio>
#include <string>

#include "core/resp_writer.h"
#include "net/command_util.h"
#include "net/log.h"
#include "net/shard_core.h"

namespace fanout {
namespace {

using Args = std::span<const std::string_view>;

// Redis 7.0's ACL HELP, for the subcommands Fanout has (all of Redis's).
constexpr const char* kAclHelp[] = {
    "ACL <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "CAT [<category>]",
    "    List all commands that belong to <category>, or all command categories",
    "    when no category is specified.",
    "DELUSER <username> [<username> ...]",
    "    Delete a list of users.",
    "DRYRUN <username> <command> [<arg> ...]",
    "    Returns whether the user can execute the given command without executing the command.",
    "GETUSER <username>",
    "    Get the user's details.",
    "GENPASS [<bits>]",
    "    Generate a secure 256-bit user password. The optional `bits` argument can",
    "    be used to specify a different size.",
    "LIST",
    "    Show users details in config file format.",
    "LOAD",
    "    Reload users from the ACL file.",
    "LOG [<count> | RESET]",
    "    Show the ACL log entries.",
    "SAVE",
    "    Save the current config to the ACL file.",
    "SETUSER <username> <attribute> [<attribute> ...]",
    "    Create or modify a user with the specified attributes.",
    "USERS",
    "    List all the registered usernames.",
    "WHOAMI",
    "    Return the current connection username.",
    "HELP",
    "    Prints this help.",
};

constexpr std::string_view kNoAclFile =
    "ERR This Redis instance is not configured to use an ACL file. You may want to specify users via the ACL "
    "SETUSER command and then issue a CONFIG REWRITE (assuming you have a Redis configuration file set) in order to "
    "store users in the Redis configuration.";

// Redis's addReplySubcommandSyntaxError.
std::string subcommand_syntax_error(Args args) {
  std::string cmd(args[0]);
  for (char& ch : cmd) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
  return sanitize("ERR unknown subcommand or wrong number of arguments for '" +
                  std::string(args[1].substr(0, 128)) + "'. Try " + cmd + " HELP.");
}

// Redis's ACLStringHasSpaces.
bool has_spaces(std::string_view s) {
  for (char ch : s) {
    if (ch == ' ' || (ch >= '\t' && ch <= '\r') || ch == '\0') return true;
  }
  return false;
}

// Redis's addReplyDouble: "%.17g", as a bulk string in RESP2.
template <class Out>
void reply_double(Out& out, double d, int proto) {
  char buf[64];
  int n = std::snprintf(buf, sizeof(buf), "%.17g", d);
  if (proto == resp::kResp3) {
    out.append(",", 1);
    out.append(buf, static_cast<size_t>(n));
    out.append("\r\n", 2);
  } else {
    resp::bulk(out, std::string_view(buf, static_cast<size_t>(n)));
  }
}

}  // namespace

void ShardCore::cmd_acl(Conn* c, Args args) {
  const std::string_view sub = args[1];
  const size_t argc = args.size();
  if (iequals(sub, "setuser")) {
    const std::string_view name = args[2];
    if (has_spaces(name)) return reply_error(c, "ERR Usernames can't contain spaces or null characters");
    std::vector<std::string> rules(args.begin() + 3, args.end());
    change_acl(c, [name = std::string(name), rules = std::move(rules)](AclSources&, Acl& acl, int64_t*) {
      return acl.set_user(name, rules);
    });
  } else if (iequals(sub, "deluser")) {
    for (size_t i = 2; i < argc; ++i) {
      if (args[i] == "default") return reply_error(c, "ERR The 'default' user cannot be removed");
    }
    std::vector<std::string> names(args.begin() + 2, args.end());
    change_acl(
        c,
        [names = std::move(names)](AclSources&, Acl& acl, int64_t* count) {
          *count = 0;
          for (const std::string& n : names) *count += acl.del_user(n);
          return std::string();
        },
        /*integer_reply=*/true);
  } else if (iequals(sub, "getuser")) {
    acl_getuser(c, args[2]);
  } else if (iequals(sub, "list") || iequals(sub, "users")) {
    const bool names_only = iequals(sub, "users");
    resp::array(c->out, acl_->users().size());
    for (const auto& [name, u] : acl_->users()) {
      if (names_only) {
        resp::bulk(c->out, name);
      } else {
        resp::bulk(c->out, "user " + name + " " + acl_->describe(u));
      }
    }
  } else if (iequals(sub, "whoami")) {
    resp::bulk(c->out, c->user != nullptr ? std::string_view(c->user->name) : "default");
  } else if ((iequals(sub, "load") || iequals(sub, "save")) && shared_->acl.aclfile().empty()) {
    reply_error(c, kNoAclFile);
  } else if (iequals(sub, "load")) {
    change_acl(c, AclAuthority::reload());
  } else if (iequals(sub, "save")) {
    if (std::string err = shared_->acl.save(); !err.empty()) {
      LOG_WARN("ACL SAVE: %s", err.c_str());
      return reply_error(c, "ERR There was an error trying to save the ACLs. Please check the server logs for more "
                            "information");
    }
    resp::simple(c->out, "OK");
  } else if (iequals(sub, "cat") && argc <= 3) {
    acl_cat(c, args);
  } else if (iequals(sub, "genpass") && argc <= 3) {
    long long bits = 256;
    if (argc == 3 && !parse_ll(args[2], &bits)) return reply_error(c, "ERR value is not an integer or out of range");
    constexpr long long kMaxBits = 4096;
    if (bits <= 0 || bits > kMaxBits) {
      return reply_error(c, "ERR ACL GENPASS argument must be the number of bits for the output password, a "
                            "positive number up to 4096");
    }
    unsigned char random[kMaxBits / 8];
    const size_t chars = static_cast<size_t>((bits + 3) / 4);
    const size_t need = (chars + 1) / 2;
    for (size_t got = 0; got < need;) {
      ssize_t n = getrandom(random + got, need - got, 0);
      if (n < 0 && errno != EINTR) return reply_error(c, "ERR no random bytes from the kernel");
      if (n > 0) got += static_cast<size_t>(n);
    }
    static constexpr char kHex[] = "0123456789abcdef";
    std::string pass;
    for (size_t i = 0; i < chars; ++i) pass += kHex[(random[i / 2] >> (i % 2 ? 0 : 4)) & 15];
    resp::bulk(c->out, pass);
  } else if (iequals(sub, "log") && argc <= 3) {
    acl_log(c, args);
  } else if (iequals(sub, "dryrun")) {
    acl_dryrun(c, args);
  } else if (iequals(sub, "help") && argc == 2) {
    reply_help(c, kAclHelp);
  } else {
    reply_error(c, subcommand_syntax_error(args));
  }
}

void ShardCore::acl_getuser(Conn* c, std::string_view name) {
  const AclUser* u = acl_->find(name);
  if (u == nullptr) return resp::null(c->out, c->proto);
  // Redis 7.0: flags (a set), passwords (hashes), the root selector's commands, keys and
  // channels, and the other selectors (none here).
  resp::map(c->out, 6, c->proto);
  resp::bulk(c->out, "flags");
  std::vector<std::string_view> flags = {u->enabled ? "on" : "off"};
  if (u->nopass) flags.push_back("nopass");
  if (u->sanitize == AclUser::Sanitize::kSkip) flags.push_back("skip-sanitize-payload");
  if (u->sanitize == AclUser::Sanitize::kSanitize) flags.push_back("sanitize-payload");
  resp::set(c->out, flags.size(), c->proto);
  for (std::string_view f : flags) resp::bulk(c->out, f);
  resp::bulk(c->out, "passwords");
  resp::array(c->out, u->passwords.size());
  for (const Sha256Digest& p : u->passwords) resp::bulk(c->out, to_hex(p));
  resp::bulk(c->out, "commands");
  resp::bulk(c->out, acl_->describe_commands(*u));
  resp::bulk(c->out, "keys");
  resp::bulk(c->out, Acl::describe_keys(*u));
  resp::bulk(c->out, "channels");
  resp::bulk(c->out, Acl::describe_channels(*u));
  resp::bulk(c->out, "selectors");
  resp::array(c->out, 0);
}

void ShardCore::acl_cat(Conn* c, Args args) {
  if (args.size() == 2) {
    resp::array(c->out, acl_category_names().size());
    for (std::string_view name : acl_category_names()) resp::bulk(c->out, name);
    return;
  }
  const uint32_t bit = acl_category_bit(args[2]);
  if (bit == 0) return reply_error(c, sanitize("ERR Unknown category '" + std::string(args[2].substr(0, 128)) + "'"));
  // The commands of the category Fanout runs (Redis lists all of its own).
  std::vector<std::string_view> names;
  for (const AclCommandInfo& info : acl_->catalog()) {
    if ((info.categories & bit) && acl_cat_lists(info.name)) names.push_back(info.name);
  }
  resp::array(c->out, names.size());
  for (std::string_view n : names) resp::bulk(c->out, n);
}

void ShardCore::acl_log(Conn* c, Args args) {
  long long count = 10;
  if (args.size() == 3) {
    if (iequals(args[2], "reset")) {
      {
        std::lock_guard<std::mutex> lock(shared_->acl_log_mu);
        shared_->acl_log.reset();
      }
      return resp::simple(c->out, "OK");
    }
    if (!parse_ll(args[2], &count)) return reply_error(c, "ERR value is not an integer or out of range");
    if (count < 0) count = 0;
  }
  std::vector<AclLogEntry> entries;
  {
    std::lock_guard<std::mutex> lock(shared_->acl_log_mu);
    const auto& all = shared_->acl_log.entries();
    const size_t n = std::min(all.size(), static_cast<size_t>(count));
    entries.assign(all.begin(), all.begin() + static_cast<std::ptrdiff_t>(n));
  }
  resp::array(c->out, entries.size());
  for (const AclLogEntry& e : entries) {
    resp::map(c->out, 7, c->proto);
    resp::bulk(c->out, "count");
    resp::integer(c->out, static_cast<int64_t>(e.count));
    resp::bulk(c->out, "reason");
    resp::bulk(c->out, AclLogEntry::reason_name(e.reason));
    resp::bulk(c->out, "context");
    resp::bulk(c->out, AclLogEntry::context_name(e.context));
    resp::bulk(c->out, "object");
    resp::bulk(c->out, e.object);
    resp::bulk(c->out, "username");
    resp::bulk(c->out, e.username);
    resp::bulk(c->out, "age-seconds");
    reply_double(c->out, static_cast<double>(std::max<int64_t>(0, now_ms_ - e.ctime_ms)) / 1000, c->proto);
    resp::bulk(c->out, "client-info");
    resp::bulk(c->out, e.client_info);
  }
}

void ShardCore::log_acl_denial(Conn* c, AclLogEntry::Reason reason, std::string_view object, std::string_view user,
                               Args args) {
  AclLogEntry e;
  e.reason = reason;
  e.context = c->multi || exec_running_ ? AclLogEntry::Context::kMulti : AclLogEntry::Context::kToplevel;
  e.object.assign(object);
  e.username.assign(user);
  e.ctime_ms = now_ms_;
  size_t argv_mem = 0;
  for (std::string_view a : args) argv_mem += a.size();
  e.client_info = client_info_line(c, argv_mem);
  std::lock_guard<std::mutex> lock(shared_->acl_log_mu);
  shared_->acl_log.add(std::move(e));
}

void ShardCore::change_acl(Conn* c, const AclAuthority::Edit& edit, bool integer_reply) {
  AclAuthority::Change change = shared_->acl.change(edit);
  if (!change.error.empty()) return reply_error(c, sanitize("ERR " + change.error));
  publish_acl(c, std::move(change), integer_reply, {});
}

void ShardCore::publish_acl(Conn* c, AclAuthority::Change change, bool integer_reply, std::string done) {
  auto r = std::make_unique<AdminRequest>();
  r->op = AdminRequest::Op::kAclChange;
  r->acl = std::move(change.rules);
  r->acl_version = change.version;
  r->acl_count = change.count;
  r->acl_integer_reply = integer_reply;
  r->acl_log = std::move(done);
  start_admin(c, std::move(r));
}

void ShardCore::reload_acl_on_signal() {
  const std::string path = shared_->acl.aclfile();
  if (path.empty()) {
    // With a TLS port the signal reloaded the certificate (logged by the broker): no warning.
    if (shared_->tls_port == 0) {
      LOG_WARN("SIGHUP: no --aclfile is configured: nothing to reload");
    } else {
      LOG_DEBUG("SIGHUP: no --aclfile is configured: nothing to reload");
    }
    return;
  }
  AclAuthority::Change change = shared_->acl.change(AclAuthority::reload());
  if (!change.error.empty()) {
    LOG_ERROR("SIGHUP: the ACL rules stay as they were: reloading %s failed: %s", path.c_str(), change.error.c_str());
    return;
  }
  const std::string done = "SIGHUP: ACL rules reloaded from " + path + ": " + std::to_string(change.count) + " users";
  publish_acl(nullptr, std::move(change), false, done);
}

void ShardCore::apply_acl(const std::shared_ptr<const Acl>& rules, uint64_t version, AdminRequest* r) {
  if (version <= acl_version_) return;
  for (auto& owned : conns_) {
    Conn* c = owned.get();
    if (c == nullptr || c->user == nullptr) continue;
    const AclUser* before = c->user;
    c->user = nullptr;  // never left pointing into the rules being replaced
    if (c->closing()) continue;
    const AclUser* now = rules->find(before->name);
    bool revoked = now == nullptr || now->incarnation != before->incarnation;
    if (!revoked && c->pubsub_mode() && now->channels_shrunk_from(*before)) {
      for (const auto& [name, sub] : c->patterns) revoked |= !now->can_access(name, true);
      for (const auto& [name, sub] : c->channels) revoked |= !now->can_access(name, false);
      for (const auto& [name, sub] : c->shard_channels) revoked |= !now->can_access(name, false);
    }
    if (!revoked) {
      c->user = now;
    } else if (r != nullptr && r->has_asker && id_ == r->origin && c->id() == r->asker) {
      r->kill_asker = true;  // closed once it has its reply
    } else {
      close_conn(c, now == nullptr ? "ACL: its user was deleted" : "ACL: its user's rights changed");
    }
  }
  acl_ = rules;
  acl_version_ = version;
}

}  // namespace fanout
