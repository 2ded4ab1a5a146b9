// Connection churn: extra subscribers (indices opt.subscribers and up) that keep disconnecting
// and reconnecting while the measured ones are loaded. This is their schedule; the worker that
// owns them does the reconnecting. They join mid-stream, so what they receive is counted but
// never verified.
#pragma once

#include <cstdint>

#include "tools/load/shared.h"

namespace fanout::load {

// One worker's share of opt.churn_rate reconnects per second, counted from the start of
// measurement, taken round-robin over its `count` churners. Worker thread only.
class ChurnSchedule {
 public:
  ChurnSchedule(const Shared& sh, int count) : sh_(sh), count_(count) {}

  // The next reconnect due by `now` (ns): true with *k, the churner (0..count-1) to reconnect.
  // Call done() once it has reconnected; if it could not, the same reconnect stays due and the
  // next call names the next churner.
  bool next_due(uint64_t now, int* k);
  void done() { ++done_; }
  // A message delivered to a churner.
  void count_received() { ++received_; }
  uint64_t received() const { return received_; }

 private:
  const Shared& sh_;
  const int count_;
  uint64_t next_ = 0;  // which churner reconnects next (mod count_)
  uint64_t done_ = 0;
  uint64_t received_ = 0;
};

}  // namespace fanout::load
