// Bounded single-producer single-consumer ring, the only path between two shards.
//
// Owns: a fixed array of T. Thread: exactly one producer thread and one consumer thread.
// The producer stages items with try_push() and makes a batch visible with publish(), which
// reports whether the consumer may have gone idle (the ring was drained before this batch), so
// the producer wakes the peer only on an empty to non-empty edge. The consumer pops with pop()
// and, before sleeping, calls idle_check(). Both sides store their index and then load the
// other's with seq_cst (Dekker): in the single total order one of the two loads sees the other
// side's store, so either the producer sees the drained ring and wakes, or the consumer sees the
// new items. (seq_cst operations rather than fences: same cost on x86, and TSan models them.)
#pragma once

#include <atomic>
#include <cassert>
#include <cstddef>
#include <memory>

namespace fanout {

template <class T>
class SpscRing {
 public:
  explicit SpscRing(size_t capacity) : mask_(round_up(capacity) - 1), slots_(new T[mask_ + 1]) {}
  SpscRing(const SpscRing&) = delete;
  SpscRing& operator=(const SpscRing&) = delete;

  size_t capacity() const { return mask_ + 1; }

  // Producer: stages one item; false when the ring is full.
  bool try_push(const T& v) {
    if (staged_ - cached_head_ > mask_) {
      cached_head_ = head_.load(std::memory_order_acquire);
      if (staged_ - cached_head_ > mask_) return false;
    }
    slots_[staged_ & mask_] = v;
    ++staged_;
    return true;
  }

  // Producer: free slots, counting staged items.
  size_t free_slots() {
    cached_head_ = head_.load(std::memory_order_acquire);
    return capacity() - (staged_ - cached_head_);
  }

  bool has_staged() const { return staged_ != published_; }

  // Producer: makes staged items visible. Returns true if the consumer had drained the ring before
  // this batch and so may be asleep: the caller should wake it.
  bool publish() {
    if (staged_ == published_) return false;
    size_t before = published_;
    published_ = staged_;
    tail_.store(staged_, std::memory_order_seq_cst);
    return head_.load(std::memory_order_seq_cst) == before;
  }

  // Consumer: pops up to `max` items into out; returns the count.
  size_t pop(T* out, size_t max) {
    size_t head = head_.load(std::memory_order_relaxed);
    if (cached_tail_ - head < max) cached_tail_ = tail_.load(std::memory_order_acquire);
    size_t n = cached_tail_ - head;
    if (n > max) n = max;
    for (size_t i = 0; i < n; ++i) out[i] = slots_[(head + i) & mask_];
    if (n) head_.store(head + n, std::memory_order_seq_cst);
    return n;
  }

  // Consumer: true if items are (still) available; call before going to sleep.
  bool idle_check() {
    cached_tail_ = tail_.load(std::memory_order_seq_cst);
    return cached_tail_ != head_.load(std::memory_order_relaxed);
  }

 private:
  static size_t round_up(size_t v) {
    size_t c = 2;
    while (c < v) c <<= 1;
    return c;
  }

  const size_t mask_;
  std::unique_ptr<T[]> slots_;
  alignas(64) std::atomic<size_t> head_{0};  // written by the consumer
  alignas(64) std::atomic<size_t> tail_{0};  // written by the producer
  alignas(64) size_t staged_ = 0;            // producer-local
  size_t published_ = 0;
  size_t cached_head_ = 0;
  alignas(64) size_t cached_tail_ = 0;  // consumer-local
};

}  // namespace fanout
