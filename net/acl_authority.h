// The ACL rules in force, and the one place they change. The authoritative copy is an immutable
// snapshot (std::shared_ptr<const Acl>) behind a mutex; a change (ACL SETUSER, DELUSER, LOAD, a
// SIGHUP reload, and CONFIG SET requirepass) edits a copy under the mutex and publishes it with
// the next version number, so two shards changing the rules at once are serialised and each
// change builds on the one before. Every shard then swaps the snapshot in at a loop boundary
// (ShardCore::change_acl sends it through the rings as a command every shard answers) and reads
// only its own copy afterwards: the PUBLISH and SUBSCRIBE path takes no lock and no reference.
//
// What the rules are built from (AclSources) follows Redis: the ACL file (ACL LOAD re-reads it),
// then Fanout's ServerConfig::acl_rules (test and embedding lines), then --requirepass, which
// sets the default user's password (Redis's ACLUpdateDefaultUserPassword).
// Thread: any (every member locks).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <span>
#include <string>

#include "core/acl.h"

namespace fanout {

struct AclSources {
  std::string aclfile;      // path, or empty (ACL LOAD and SAVE then refuse, as Redis does)
  std::string acl_rules;    // more ACL file lines, applied after the file
  std::string requirepass;  // the default user's password (empty: none)
};

// Builds the rules from `src`: the file (Redis's ACLLoadFromFile: its errors, "Error loading
// ACLs, opening file '<path>': <strerror>" when unreadable), acl_rules (named "acl_rules" in
// errors), then requirepass, which may not be combined with a file that configures the default
// user otherwise. `before` (the rules in force, or null at start): users it has keep their
// incarnation, so their clients stay signed in. Returns "" or the error (with *source, if given,
// naming the setting it comes from: "--aclfile", "--requirepass", or empty), *out untouched
// then. Reads the file: call it where a file read may block.
std::string build_acl(std::span<const AclCommandInfo> catalog, const AclSources& src, const Acl* before, Acl* out,
                      std::string* source = nullptr);

class AclAuthority {
 public:
  // A change to the rules, run under the mutex on a copy of the rules in force and of their
  // sources: "" to keep both, or the error (nothing changes). It may set *count (ACL DELUSER's
  // reply).
  using Edit = std::function<std::string(AclSources& sources, Acl& rules, int64_t* count)>;
  struct Change {
    std::string error;                // non-empty: nothing changed
    std::shared_ptr<const Acl> rules;  // the new snapshot
    uint64_t version = 0;             // greater than every snapshot published before it
    int64_t count = -1;               // what the edit set
  };

  AclAuthority(AclSources sources, Acl initial);

  Change change(const Edit& edit);
  std::shared_ptr<const Acl> current() const;
  uint64_t version() const;
  std::string aclfile() const;
  // ACL SAVE: writes the rules in force to the ACL file atomically (a temporary file beside it,
  // written, fsync'd, renamed over it, as Redis's ACLSaveToFile without the fsync). Returns ""
  // or why not (also to be logged: Redis replies only that saving failed).
  std::string save() const;

  // ACL LOAD and SIGHUP: the rules built again from the sources (build_acl). *count is set to
  // the number of users.
  static Edit reload();
  // CONFIG SET requirepass: the default user's password becomes `password` (nopass when empty),
  // and stays so across ACL LOAD.
  static Edit set_requirepass(std::string password);

 private:
  mutable std::mutex mu_;
  AclSources sources_;
  std::shared_ptr<const Acl> current_;
  uint64_t version_ = 1;
};

}  // namespace fanout
