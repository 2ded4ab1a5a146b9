// Quiescent-state-based reclamation for the shard-shared subscription index.
//
// Each shard is a participant. A shard reads other shards' tables only inside a loop iteration and
// holds no pointer into them across iterations, so the end of each iteration is a quiescent state.
// A writer unlinks a node, then retires it at the epoch returned by retire_epoch(); the node is
// freed once every participant has announced that epoch or later, or is offline (blocked in its
// backend wait, holding nothing).
//
// Memory ordering, as liburcu's QSBR flavour orders it (urcu/static/urcu-qsbr.h): announcing a
// quiescent state (or coming online) is a store followed by a full fence, so none of the reads
// the participant makes afterwards can be performed before other participants can see the
// announcement; a writer's check (safe()) starts with a full fence, so its unlinking stores are
// ordered before the announcements it reads. By the fence-fence rule, either the writer sees the
// reader's new announcement (and waits) or the reader sees the unlink (and never reaches the
// node). A seq_cst store alone does not give this: a later acquire load may move before it.
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

  // Announce that participant `id` holds no shared pointers; its later reads see every unlink
  // made before the epoch it announces.
  void quiescent(int id) {
    slots_[id].seen.store(epoch_.load(std::memory_order_acquire), std::memory_order_seq_cst);
    std::atomic_thread_fence(std::memory_order_seq_cst);
  }
  // Participant `id` holds no shared pointers until online(): its announcement no longer delays
  // anyone (a shard blocked in its backend's wait).
  void offline(int id) { slots_[id].seen.store(kOffline, std::memory_order_seq_cst); }
  void online(int id) { quiescent(id); }
  // Called after unlinking: nodes retired now may be freed once safe(returned epoch).
  uint64_t retire_epoch() { return epoch_.fetch_add(1, std::memory_order_seq_cst) + 1; }
  // True once every participant has announced `epoch` or later, or is offline.
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
