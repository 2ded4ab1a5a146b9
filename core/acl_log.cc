#include "core/acl_log.h"

#include <algorithm>
#include <cstddef>
#include <utility>

namespace fanout {

std::string_view AclLogEntry::reason_name(Reason r) {
  switch (r) {
    case Reason::kCommand: return "command";
    case Reason::kKey: return "key";
    case Reason::kChannel: return "channel";
    case Reason::kAuth: return "auth";
  }
  return "unknown";
}

std::string_view AclLogEntry::context_name(Context c) {
  return c == Context::kMulti ? "multi" : "toplevel";
}

void AclLog::add(AclLogEntry e) {
  e.count = 1;
  const size_t scan = std::min(kGroupingScan, entries_.size());
  for (size_t i = 0; i < scan; ++i) {
    AclLogEntry& old = entries_[i];
    const int64_t delta = old.ctime_ms > e.ctime_ms ? old.ctime_ms - e.ctime_ms : e.ctime_ms - old.ctime_ms;
    if (old.reason != e.reason || old.context != e.context || delta > kGroupingMs || old.object != e.object ||
        old.username != e.username) {
      continue;
    }
    AclLogEntry match = std::move(old);
    entries_.erase(entries_.begin() + static_cast<std::ptrdiff_t>(i));
    match.client_info = std::move(e.client_info);
    match.ctime_ms = e.ctime_ms;
    ++match.count;
    entries_.push_front(std::move(match));
    return;
  }
  entries_.push_front(std::move(e));
  while (entries_.size() > max_len_) entries_.pop_back();
}

}  // namespace fanout
