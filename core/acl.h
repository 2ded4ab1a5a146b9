// Users and their rights, written as Redis ACL rules (Redis 7.0's acl.c, whose rule syntax,
// descriptions and error texts this follows): who may sign in with which password, which
// commands and subcommands each may run, and which channels each may publish to and subscribe
// to, by glob (Redis's "&pattern"). A user with "+publish &news.*" may publish to news.sports;
// one with "+subscribe +psubscribe &news.*" may subscribe to news.sports or psubscribe to
// "news.*" (a pattern must equal a granted one, as in Redis); granting one right and not the
// other is how publishers and subscribers are kept apart.
//
// Rules name commands from a catalog: every command and subcommand of Redis 7.0 with its
// categories (so "+get" or "-@keyspace" is accepted, kept and described as Redis would, and
// "+nosuch" is refused as Redis refuses it), each marked if this server runs it. Key patterns
// ("~k*", "%R~k*", allkeys) are kept and described, never checked: a pub/sub server has no keys.
// Selectors ("(...)") are refused.
//
// An Acl is a value: the server builds one, publishes it as an immutable snapshot and replaces
// it whole on ACL SETUSER, DELUSER or LOAD (net/acl_authority.h). Pure: the caller reads files.
// Thread: any, one at a time; a const Acl may be read from any number of threads.
#pragma once

#include <bitset>
#include <cstdint>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/sha256.h"

namespace fanout {

// Redis's command categories, in Redis's order (acl.c ACLCommandCategories: ACL CAT lists them
// so, and ACL LIST's descriptions try them in this order).
enum AclCategory : uint32_t {
  kAclKeyspace = 1u << 0,
  kAclRead = 1u << 1,
  kAclWrite = 1u << 2,
  kAclSet = 1u << 3,
  kAclSortedset = 1u << 4,
  kAclList = 1u << 5,
  kAclHash = 1u << 6,
  kAclString = 1u << 7,
  kAclBitmap = 1u << 8,
  kAclHyperloglog = 1u << 9,
  kAclGeo = 1u << 10,
  kAclStream = 1u << 11,
  kAclPubsub = 1u << 12,
  kAclAdmin = 1u << 13,
  kAclFast = 1u << 14,
  kAclSlow = 1u << 15,
  kAclBlocking = 1u << 16,
  kAclDangerous = 1u << 17,
  kAclConnection = 1u << 18,
  kAclTransaction = 1u << 19,
  kAclScripting = 1u << 20,
};
// The categories' names ("keyspace" ... "scripting"), bit i named by entry i.
std::span<const std::string_view> acl_category_names();
// A category's bit by name (any case), or 0.
uint32_t acl_category_bit(std::string_view name);

// One command or subcommand rules may name: "publish", or "client|list" for a subcommand (the
// entry "client" is the container: "+client" grants every "client|..." entry too).
struct AclCommandInfo {
  std::string_view name;  // lower case
  uint32_t categories;    // AclCategory bits
  bool served = false;    // this server runs it: ACL CAT lists it, all_rights covers it
};

constexpr size_t kAclMaxCommands = 512;

// Which catalog entries a user may run, and whether its rules start from +@all (Redis's
// reserved "future commands" bit: its description then starts "+@all", else "-@all").
struct AclCommandBits {
  std::bitset<kAclMaxCommands> bits;
  bool all = false;
};

// A key pattern, kept to be described ("~k*", "%R~k*", "%W~k*"): nothing is checked against it.
struct AclKeyPattern {
  static constexpr uint8_t kRead = 1, kWrite = 2;
  std::string pattern;
  uint8_t flags = kRead | kWrite;
};

struct AclUser {
  enum class Sanitize : uint8_t { kUnset, kSanitize, kSkip };  // sanitize-payload flags (RESTORE)

  std::string name;
  bool enabled = false;
  bool nopass = false;
  Sanitize sanitize = Sanitize::kUnset;
  std::vector<Sha256Digest> passwords;  // in the order added, as ACL LIST shows them
  bool all_keys = false;
  std::vector<AclKeyPattern> key_patterns;
  bool all_channels = false;
  std::vector<std::string> channel_patterns;
  AclCommandBits commands;  // by index in the catalog
  // Redis's allowed first arguments of an otherwise denied command without subcommands
  // ("+select|0"), by catalog index.
  std::vector<std::pair<uint16_t, std::vector<std::string>>> first_args;
  // Which creation of this name the user is: a user deleted and created again is another one, so
  // the clients signed in as the first are closed (net/shard_core apply_acl).
  uint64_t incarnation = 0;
  bool all_rights = false;  // every command this server runs and every channel: nothing to check
  // The command rules as ACL LIST describes them (Acl::describe_commands), found when the user
  // changes (Redis caches its description too): ACL LIST of many users costs no search.
  std::string command_rules;

  bool check_password(std::string_view password) const;
  bool can_run(size_t command) const { return commands.bits.test(command); }
  // can_run, or Redis's first-argument allowance (case-insensitive) for `first_arg`.
  bool can_run(size_t command, std::string_view first_arg) const;
  // PUBLISH and SUBSCRIBE name a channel, which must match one of the user's patterns;
  // PSUBSCRIBE names a pattern, which must equal one of them.
  bool can_access(std::string_view name, bool is_pattern) const;
  // Whether a subscriber signed in as `before` may have lost a channel by becoming this user
  // (Redis's ACLKillPubsubClientsIfNeeded: false when this user has every channel, or every
  // pattern `before` had, so no subscription needs checking).
  bool channels_shrunk_from(const AclUser& before) const;
};

class Acl {
 public:
  // Starts with Redis's default user: "on nopass ~* &* +@all". The catalog (at most
  // kAclMaxCommands entries, a container before its subcommands) is copied.
  explicit Acl(std::span<const AclCommandInfo> catalog);

  // ACL SETUSER name rule...: Redis's ACLStringSetUser. Creates the user if new (off, no
  // password, no channels, no commands), applies every rule to a copy and keeps it only if all
  // are valid. Returns "" or Redis's error ("Error in ACL SETUSER modifier '+x': Unknown command
  // or category name in ACL"), without the "ERR " prefix. The name is not checked (the caller
  // refuses spaces, as Redis's ACL SETUSER does).
  std::string set_user(std::string_view name, std::span<const std::string_view> rules);
  std::string set_user(std::string_view name, std::span<const std::string> rules);
  // ACL DELUSER for one name: false if there is none. The default user cannot be deleted (the
  // caller refuses it, as Redis does).
  bool del_user(std::string_view name);
  // Redis's ACLLoadFromFile: replaces every user with those of an ACL file's text (lines "user
  // <name> <rule>...", blank lines; Fanout also skips lines starting with '#'), each starting
  // from nothing, then adds the default user if the file has none (and add_default). On any
  // error nothing changes
  // and the return value lists every problem as Redis does ("<filename>:3: Syntax error. ...
  // WARNING: ACL errors detected, no change to the previously active ACL rules was
  // performed"); "" on success.
  std::string load_file(std::string_view text, std::string_view filename, bool add_default = true);
  // Replaces (or adds) each user of `other`, as they are there.
  void replace_users(const Acl& other);
  // Each user here named as one in `before` takes its incarnation, so its clients stay signed in
  // (ACL LOAD of a file that still has their user). New users take incarnations above all of
  // before's.
  void keep_incarnations(const Acl& before);
  // Redis's ACLUpdateDefaultUserPassword (requirepass): the default user's passwords become
  // `password`, or nopass when it is empty.
  void set_default_password(std::string_view password);

  const AclUser* find(std::string_view name) const;
  // The user a new connection is signed in as: default, if it is on and takes no password.
  // Null means the client must AUTH first.
  const AclUser* initial_user() const;
  // The users by name, in byte order (as Redis's ACL LIST and USERS list them).
  const std::map<std::string, AclUser, std::less<>>& users() const { return users_; }
  // A catalog index for "publish" or "pubsub|channels" (lower case), or -1.
  int command_index(std::string_view full_name) const;
  std::span<const AclCommandInfo> catalog() const { return catalog_->infos; }

  // ACL LIST's description of a user (after "user <name> "): Redis's ACLDescribeUser, with its
  // command rules found as Redis finds them (the categories that fit best, then single
  // commands; those come in catalog order, where Redis's order is its hash table's).
  std::string describe(const AclUser& u) const;
  // ACL GETUSER's "commands", "keys" and "channels".
  static const std::string& describe_commands(const AclUser& u) { return u.command_rules; }
  static std::string describe_keys(const AclUser& u);
  static std::string describe_channels(const AclUser& u);
  // ACL SAVE's file: "user <name> <description>\n" for every user, in byte order of names.
  std::string file_text() const;

 private:
  struct Catalog {
    std::vector<AclCommandInfo> infos;
    std::vector<std::string> names;       // owned copies of infos[i].name
    std::vector<int> parent;              // container index, or -1
    std::vector<std::vector<uint16_t>> children;
    std::vector<uint16_t> top;            // commands without a container
    std::bitset<kAclMaxCommands> served;  // infos[i].served
    std::vector<std::vector<uint16_t>> in_category;  // by category bit number: the entries in it
  };
  enum class RuleError : uint8_t { kNone, kUnknown, kSyntax, kKeyAfterAll, kChannelAfterAll, kNoSuchPassword,
                                   kBadHash, kFirstArgOfSubcommand, kSelector };
  static const char* rule_error_text(RuleError e);

  AclUser fresh_user(std::string_view name);
  AclUser default_user(std::string_view name = "default");
  RuleError apply(AclUser* u, std::string_view rule) const;
  // Redis's ACLLookupCommand: "name" or "container|sub", any case; -1 if none.
  int lookup(std::string_view name) const;
  void change(AclCommandBits* b, size_t i, bool allow) const;  // a command and its subcommands
  void change(AclUser* u, size_t i, bool allow) const;         // also drops its first arguments
  void set_category(AclCommandBits* b, uint32_t category, bool allow, AclUser* u = nullptr) const;
  void count_category(const AclCommandBits& b, uint32_t category, size_t* on, size_t* off) const;
  void finish(AclUser* u) const;  // all_rights, command_rules
  std::string find_command_rules(const AclUser& u) const;

  std::shared_ptr<const Catalog> catalog_;
  std::map<std::string, AclUser, std::less<>> users_;
  uint64_t next_incarnation_ = 1;
};

}  // namespace fanout
