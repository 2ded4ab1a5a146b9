// Redis 7.0's ACL LOG (acl.c addACLLogEntry): the most recent denials, newest first, each a
// reason (a command, a channel, or a failed AUTH), the context (a command at top level or in
// MULTI/EXEC), the object (the command's name, the channel, or "AUTH"/"HELLO" as typed), the
// user, when it last happened and the client it came from (its CLIENT LIST line). A denial like
// one among the 10 newest (same reason, context, object and user, at most 60 s apart) counts
// there instead of adding an entry, and the log keeps at most `max_len` entries (Redis's
// acllog-max-len, 128 by default). Pure: the caller passes the time and serialises access.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <string>
#include <string_view>

namespace fanout {

struct AclLogEntry {
  enum class Reason : uint8_t { kCommand, kKey, kChannel, kAuth };
  enum class Context : uint8_t { kToplevel, kMulti };

  uint64_t count = 1;
  Reason reason = Reason::kCommand;
  Context context = Context::kToplevel;
  std::string object;
  std::string username;
  int64_t ctime_ms = 0;     // when it last happened (the caller's clock, in ms)
  std::string client_info;  // of the client that last did it

  // Redis's names: "command", "key", "channel", "auth"; "toplevel", "multi".
  static std::string_view reason_name(Reason r);
  static std::string_view context_name(Context c);
};

class AclLog {
 public:
  static constexpr size_t kDefaultMaxLen = 128;
  static constexpr int64_t kGroupingMs = 60000;  // Redis's ACL_LOG_GROUPING_MAX_TIME_DELTA
  static constexpr size_t kGroupingScan = 10;    // entries searched for one to count in

  explicit AclLog(size_t max_len = kDefaultMaxLen) : max_len_(max_len) {}

  // Records a denial (e.count is ignored): counted in a matching recent entry, which moves to
  // the front with e's time and client, else added at the front (the oldest dropped past
  // max_len).
  void add(AclLogEntry e);
  // ACL LOG RESET.
  void reset() { entries_.clear(); }
  // Newest first.
  const std::deque<AclLogEntry>& entries() const { return entries_; }

 private:
  size_t max_len_;
  std::deque<AclLogEntry> entries_;
};

}  // namespace fanout
