#include "tools/load/churn.h"

namespace fanout::load {

bool ChurnSchedule::next_due(uint64_t now, int* k) {
  const Options& o = sh_.opt;
  if (count_ == 0 || o.churn_rate <= 0 || !sh_.go.load(std::memory_order_relaxed)) return false;
  uint64_t start = sh_.measure_start_ns.load(std::memory_order_relaxed);
  if (now < start) return false;
  double per_worker = o.churn_rate / o.threads;
  uint64_t due = static_cast<uint64_t>(static_cast<double>(now - start) / 1e9 * per_worker);
  if (done_ >= due) return false;
  *k = static_cast<int>(next_++ % static_cast<uint64_t>(count_));
  return true;
}

}  // namespace fanout::load
