// Quiescent-state-based reclamation for the shard-shared subscription index.
//
// Each shard is a participant. A shard reads other shards' tables only inside a loop iteration and
// holds no pointer into them across iterations, so the end of each iteration is a quiescent state.
// A writer unlinks a node, then retires it at the epoch returned by retire_epoch(); the node is
// freed once every participant has announced that epoch or later, or is offline (blocked in its
// backend wait, holding nothing).
//
// Thread: any participant thread calls the methods with its own id. No locks, no syscalls.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <vector>

namespace fanout {

class Qsbr {
 public:
  static constexpr uint64_t kOffline = UINT64_MAX;

  explicit Qsbr(int participants);

  int participants() const { return n_; }
  // Announce that participant `id` holds no shared pointers.
  void quiescent(int id) { slots_[id].seen.store(epoch_.load(std::memory_order_acquire), std::memory_order_seq_cst); }
  void offline(int id) { slots_[id].seen.store(kOffline, std::memory_order_seq_cst); }
  void online(int id) { quiescent(id); }
  // Called after unlinking: nodes retired now may be freed once safe(returned epoch).
  uint64_t retire_epoch() { return epoch_.fetch_add(1, std::memory_order_seq_cst) + 1; }
  bool safe(uint64_t epoch) const;

 private:
  struct alignas(64) Slot {
    std::atomic<uint64_t> seen{kOffline};
  };
  const int n_;
  alignas(64) std::atomic<uint64_t> epoch_{1};
  std::unique_ptr<Slot[]> slots_;
};

// Per-participant list of retired objects awaiting a grace period. Owner thread only.
class RetireList {
 public:
  explicit RetireList(Qsbr* qsbr) : qsbr_(qsbr) {}
  ~RetireList();
  RetireList(const RetireList&) = delete;
  RetireList& operator=(const RetireList&) = delete;

  template <class T>
  void retire(T* p) {
    items_.push_back({qsbr_->retire_epoch(), p, [](void* q) { delete static_cast<T*>(q); }});
  }
  // Frees what every participant has moved past. Returns how many were freed.
  size_t collect();
  size_t pending() const { return items_.size(); }

 private:
  struct Item {
    uint64_t epoch;
    void* p;
    void (*del)(void*);
  };
  Qsbr* qsbr_;
  std::vector<Item> items_;
};

}  // namespace fanout
