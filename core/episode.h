// A condition the network can trigger thousands of times a second (accept failing with EMFILE,
// connections refused at --max-clients, the queued-bytes cap shedding pushes) is logged twice:
// once when it begins, and once when it has been quiet for a while, with how often it happened
// in between. Counters in INFO carry the totals. Pure: the caller passes the time and logs.
// Thread: its owner's only.
#pragma once

#include <cstdint>

namespace fanout {

class Episode {
 public:
  // Counts an occurrence; true when it begins an episode (log the start).
  bool hit(int64_t now_ms) {
    last_ms_ = now_ms;
    if (active_) {
      ++count_;
      return false;
    }
    active_ = true;
    since_ms_ = now_ms;
    count_ = 1;
    return true;
  }
  // True when an episode ends: nothing for quiet_ms (log the end with count() and duration_ms()).
  bool end_if_quiet(int64_t now_ms, int64_t quiet_ms) {
    if (!active_ || now_ms - last_ms_ < quiet_ms) return false;
    active_ = false;
    return true;
  }
  bool active() const { return active_; }
  uint64_t count() const { return count_; }                  // occurrences in the last episode
  int64_t duration_ms() const { return last_ms_ - since_ms_; }  // its first to its last

 private:
  bool active_ = false;
  uint64_t count_ = 0;
  int64_t since_ms_ = 0;
  int64_t last_ms_ = 0;
};

}  // namespace fanout
