#include "core/qsbr.h"

namespace fanout {

Qsbr::Qsbr(int participants) : n_(participants), slots_(new Slot[participants]) {}

bool Qsbr::safe(uint64_t epoch) const {
  std::atomic_thread_fence(std::memory_order_seq_cst);  // the unlinks before the announcements read
  for (int i = 0; i < n_; ++i) {
    if (slots_[i].seen.load(std::memory_order_seq_cst) < epoch) return false;
  }
  return true;
}

RetireList::~RetireList() {
  // Destroyed only after every participant stopped: nothing can still read these.
  for (auto& it : items_) it.del(it.p);
}

size_t RetireList::collect() {
  if (items_.empty()) return 0;
  size_t kept = 0, freed = 0;
  for (auto& it : items_) {
    // Items are in epoch order, but checking each keeps this simple and it runs rarely.
    if (qsbr_->safe(it.epoch)) {
      it.del(it.p);
      ++freed;
    } else {
      items_[kept++] = it;
    }
  }
  items_.resize(kept);
  return freed;
}

}  // namespace fanout
