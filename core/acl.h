// Users and their rights, written as Redis ACL rules (the part of them that concerns a pub/sub
// server): who may sign in with which password, which commands and subcommands each may run,
// and which channels each may publish to and subscribe to, by glob (Redis's "&pattern"). A user
// with "+publish &news.*" may publish to news.sports; one with "+subscribe +psubscribe &news.*"
// may subscribe to news.sports or psubscribe to "news.*" (a pattern must equal a granted one, as
// in Redis); granting one right and not the other is how publishers and subscribers are kept
// apart.
//
// Built once at start (an ACL file, --requirepass) and read-only afterwards, so every shard reads
// it without synchronisation. Pure: the caller reads the file.
#pragma once

#include <bitset>
#include <cstdint>
#include <deque>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/sha256.h"

namespace fanout {

// Redis's command categories that a pub/sub server's commands belong to.
enum AclCategory : uint32_t {
  kAclPubsub = 1u << 0,
  kAclConnection = 1u << 1,
  kAclFast = 1u << 2,
  kAclSlow = 1u << 3,
  kAclAdmin = 1u << 4,
  kAclDangerous = 1u << 5,
  kAclTransaction = 1u << 6,
};

// One command a server offers, for rules to name: "publish", or "pubsub|channels" for a
// subcommand (a rule "+pubsub" grants every "pubsub|..." entry).
struct AclCommandInfo {
  std::string_view name;
  uint32_t categories;
};

constexpr size_t kAclMaxCommands = 128;

struct AclUser {
  std::string name;
  bool enabled = false;
  bool nopass = false;
  std::vector<Sha256Digest> passwords;
  bool all_channels = false;
  std::vector<std::string> channel_patterns;
  std::bitset<kAclMaxCommands> commands;  // by index in the server's catalog
  bool all_rights = false;  // every command and every channel: nothing to check per command

  bool check_password(std::string_view password) const;
  bool can_run(size_t command) const { return commands.test(command); }
  // PUBLISH and SUBSCRIBE name a channel, which must match one of the user's patterns;
  // PSUBSCRIBE names a pattern, which must equal one of them.
  bool can_access(std::string_view name, bool is_pattern) const;
};

class Acl {
 public:
  // Starts with Redis's default user: "on nopass ~* &* +@all".
  explicit Acl(std::span<const AclCommandInfo> catalog);

  // Applies an ACL file: lines "user <name> <rule>...", blank lines and '#' comments. Each user
  // it names starts from "reset". False with *err ("line 3: ...") on the first bad line. Rules a
  // pub/sub server has no use for (key patterns, commands it does not have) are accepted and
  // described in *notes.
  bool load(std::string_view text, std::string* err, std::vector<std::string>* notes);
  // Applies rules to a user, creating it (from "reset") if new. False with *err.
  bool set_user(std::string_view name, std::span<const std::string> rules, std::string* err,
                std::vector<std::string>* notes);

  const AclUser* find(std::string_view name) const;
  // The user a new connection is signed in as: default, if it is on and takes no password.
  // Null means the client must AUTH first.
  const AclUser* initial_user() const;
  // A catalog index for "publish" or "pubsub|channels" (lower case), or -1.
  int command_index(std::string_view full_name) const;
  size_t users() const { return users_.size(); }

 private:
  bool apply(AclUser* u, std::string_view rule, std::string* err, std::vector<std::string>* notes);
  AclUser* find_mutable(std::string_view name);

  std::vector<AclCommandInfo> catalog_;
  std::deque<AclUser> users_;  // stable addresses: connections point at their user
};

}  // namespace fanout
