// Commands every shard answers: CLIENT LIST and CLIENT KILL see the clients of all shards,
// CONFIG RESETSTAT resets every shard's statistics (each shard writes only its own), CONFIG SET
// hands every shard the new configuration (each applies it to its own copy), and an ACL change
// (ACL SETUSER, DELUSER, LOAD, a SIGHUP reload) is swapped in by every shard. The
// shard of the asking client (the origin) fills its own part, then sends the request to each
// other shard through the rings (MailItem::kAdmin); each writes its part into its own slot and
// sends the request back (kAdminDone); the origin replies once every part is in. Each slot is
// written by one shard and read by the origin only after the ring hands the request back (the
// ring's release and acquire order them). The asking client's later commands wait meanwhile
// (Conn::held), so replies stay in order.
// Owned by the origin shard (ShardCore::admin_): freed once every part is in, or at teardown.
// Thread: the origin, except parts[s] and killed[s], which shard s writes while it holds the
// request, and kAclChange's rules, an immutable snapshot every shard reads at once.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/acl.h"
#include "net/completion.h"
#include "net/config.h"

namespace fanout {

// Which clients a CLIENT LIST or CLIENT KILL names (Redis 7.0's CLIENT LIST TYPE/ID options
// and CLIENT KILL filters, networking.c clientKillCommand; MAXAGE as Redis 7.4 has it). Every
// given filter must match.
struct ClientFilter {
  enum class Type : uint8_t { kAny, kNormal, kPubsub, kNone };  // kNone: master/replica
  Type type = Type::kAny;
  std::vector<uint64_t> ids;                // client ids (any of them)
  std::optional<std::string> user, addr, laddr;
  std::optional<int64_t> max_age_s;         // connected longer than this many seconds
  bool skip_me = true;                      // CLIENT KILL: never the asking client
};

struct AdminRequest {
  enum class Op : uint8_t { kClientList, kClientKill, kResetStats, kConfigSet, kAclChange };
  Op op = Op::kClientList;
  bool has_asker = true;       // false: no client waits (a SIGHUP reload)
  bool old_kill_form = false;  // CLIENT KILL ip:port: +OK or "No such client"
  bool muted = false;          // the reply falls under CLIENT REPLY OFF or SKIP
  int origin = 0;
  ConnId asker;
  ClientFilter filter;
  std::vector<std::string> parts;  // per shard: CLIENT LIST's lines
  std::vector<uint64_t> killed;    // per shard: clients closed
  bool kill_asker = false;         // SKIPME no named the asking client: closed after the reply
  size_t asker_argv_mem = 0;       // the asking command's bytes (its line's argv-mem)
  // CONFIG SET: the whole new configuration and its version (SharedState::config_version); a
  // shard applies it only if newer than what it has, so two CONFIG SETs crossing in the rings
  // leave every shard with the later one. Read-only while the request travels.
  std::shared_ptr<const ServerConfig> config;
  uint64_t config_version = 0;
  int outstanding = 0;             // shards still to answer (origin only)
  // kAclChange: the rules every shard swaps in (ShardCore::apply_acl), the reply (an integer for
  // ACL DELUSER, else +OK), and with no asker what to log once every shard has them.
  std::shared_ptr<const Acl> acl;
  uint64_t acl_version = 0;
  int64_t acl_count = -1;
  bool acl_integer_reply = false;
  std::string acl_log;
};

}  // namespace fanout
