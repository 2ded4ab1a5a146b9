// Bounded single-producer single-consumer queue, the only path between two shards. Its memory
// grows on demand, in segments of kSegment items, and shrinks back as the consumer passes them:
// an idle pair of shards holds no segment until its first item, and one afterwards, so an N×N
// matrix of rings costs little at any core count while each ring still holds up to `capacity`.
//
// Owns: its segments. Thread: exactly one producer thread and one consumer thread.
// The producer stages items with try_push() (or push_unbounded() for items whose number is
// bounded elsewhere) and makes a batch visible with publish(), which reports whether the
// consumer may have gone idle (the ring was drained before this batch), so the producer wakes the
// peer only on an empty to non-empty edge. The consumer pops with pop() and, before sleeping,
// calls idle_check(). Both sides store their index and then load the other's with seq_cst
// (Dekker): in the single total order one of the two loads sees the other side's store, so
// either the producer sees the drained ring and wakes, or the consumer sees the new items.
// The same handshake runs the other way when the producer waits for room: await_space() raises
// a flag and re-checks; pop() that frees room sees the flag and asks its caller to wake the
// producer. (seq_cst operations rather than fences: same cost on x86, and TSan models them.)
#pragma once

#include <atomic>
#include <cassert>
#include <cstddef>

namespace fanout {

template <class T>
class SpscRing {
 public:
  static constexpr size_t kSegment = 128;

  // Holds up to `capacity` items at once (try_push fails beyond it).
  explicit SpscRing(size_t capacity) : capacity_(capacity < 1 ? 1 : capacity) {}
  ~SpscRing() {
    Segment* s = head_seg_ ? head_seg_ : first_.load(std::memory_order_acquire);
    while (s) {
      Segment* next = s->next.load(std::memory_order_acquire);
      delete s;
      s = next;
    }
    delete spare_.load(std::memory_order_acquire);
  }
  SpscRing(const SpscRing&) = delete;
  SpscRing& operator=(const SpscRing&) = delete;

  size_t capacity() const { return capacity_; }

  // Producer: stages one item; false when `capacity` items are in the ring (staged included).
  bool try_push(const T& v) {
    if (staged_ - cached_head_ >= capacity_) {
      cached_head_ = head_.load(std::memory_order_acquire);
      if (staged_ - cached_head_ >= capacity_) return false;
    }
    stage(v);
    return true;
  }
  // Producer: stages one item whatever the ring holds, for items whose number something else
  // bounds (blocks going back to the shard that made them).
  void push_unbounded(const T& v) { stage(v); }

  // Producer: free slots, counting staged items (0 when unbounded pushes went past capacity).
  size_t free_slots() {
    cached_head_ = head_.load(std::memory_order_acquire);
    size_t used = staged_ - cached_head_;
    return used >= capacity_ ? 0 : capacity_ - used;
  }

  // Producer: makes staged items visible. Returns true if the consumer had drained the ring before
  // this batch and so may be asleep: the caller should wake it.
  bool publish() {
    if (staged_ == published_) return false;
    size_t before = published_;
    published_ = staged_;
    tail_.store(staged_, std::memory_order_seq_cst);
    return head_.load(std::memory_order_seq_cst) == before;
  }

  // Producer, after try_push() failed: asks the consumer to report the next slot it frees (its
  // pop() then says to wake this producer). Returns true if room appeared meanwhile: then no
  // report will come, and the caller retries now.
  bool await_space() {
    want_space_.store(true, std::memory_order_seq_cst);
    cached_head_ = head_.load(std::memory_order_seq_cst);
    if (staged_ - cached_head_ < capacity_) {
      want_space_.store(false, std::memory_order_relaxed);
      return true;
    }
    return false;
  }

  // Consumer: pops up to `max` items into out; returns the count. Sets *wake_producer when the
  // producer is waiting for room (await_space) and this pop made some.
  size_t pop(T* out, size_t max, bool* wake_producer = nullptr) {
    size_t head = head_.load(std::memory_order_relaxed);
    if (cached_tail_ - head < max) cached_tail_ = tail_.load(std::memory_order_acquire);
    size_t n = cached_tail_ - head;
    if (n > max) n = max;
    if (n == 0) return 0;
    if (head_seg_ == nullptr) head_seg_ = first_.load(std::memory_order_acquire);
    for (size_t i = 0; i < n; ++i) {
      size_t at = head + i;
      if (at % kSegment == 0 && at != 0) advance_head_segment();
      out[i] = head_seg_->items[at % kSegment];
    }
    head_.store(head + n, std::memory_order_seq_cst);
    if (want_space_.load(std::memory_order_seq_cst) && want_space_.exchange(false)) {
      if (wake_producer) *wake_producer = true;
    }
    return n;
  }

  // Consumer: true if items are (still) available; call before going to sleep.
  bool idle_check() {
    cached_tail_ = tail_.load(std::memory_order_seq_cst);
    return cached_tail_ != head_.load(std::memory_order_relaxed);
  }

  // Segments allocated now (for tests and memory accounting).
  size_t segments() const { return segments_.load(std::memory_order_relaxed); }

 private:
  struct Segment {
    std::atomic<Segment*> next{nullptr};
    T items[kSegment];
  };

  // Producer: writes the item at index staged_, linking a new segment at each boundary. The link
  // is visible to the consumer before the item, since both precede the tail store in publish().
  void stage(const T& v) {
    size_t at = staged_;
    if (tail_seg_ == nullptr) {
      tail_seg_ = new_segment();
      first_.store(tail_seg_, std::memory_order_release);
    } else if (at % kSegment == 0) {
      Segment* s = new_segment();
      tail_seg_->next.store(s, std::memory_order_release);
      tail_seg_ = s;
    }
    tail_seg_->items[at % kSegment] = v;
    ++staged_;
  }
  Segment* new_segment() {
    Segment* s = spare_.exchange(nullptr, std::memory_order_acq_rel);
    if (s == nullptr) {
      s = new Segment();
      segments_.fetch_add(1, std::memory_order_relaxed);
    }
    s->next.store(nullptr, std::memory_order_relaxed);
    return s;
  }
  // Consumer: leaves a segment it has read to the end. The producer linked the next one before
  // publishing the item the consumer is about to read.
  void advance_head_segment() {
    Segment* done = head_seg_;
    head_seg_ = done->next.load(std::memory_order_acquire);
    assert(head_seg_ != nullptr);
    Segment* old = spare_.exchange(done, std::memory_order_acq_rel);  // one kept for reuse
    if (old) {
      delete old;
      segments_.fetch_sub(1, std::memory_order_relaxed);
    }
  }

  const size_t capacity_;
  std::atomic<Segment*> first_{nullptr};   // the first segment, for the consumer's first pop
  std::atomic<Segment*> spare_{nullptr};   // one consumed segment kept for the producer to reuse
  std::atomic<size_t> segments_{0};
  alignas(64) std::atomic<size_t> head_{0};  // written by the consumer
  alignas(64) std::atomic<size_t> tail_{0};  // written by the producer
  std::atomic<bool> want_space_{false};      // the producer waits for room (await_space)
  alignas(64) size_t staged_ = 0;            // producer-local
  size_t published_ = 0;
  size_t cached_head_ = 0;
  Segment* tail_seg_ = nullptr;
  alignas(64) size_t cached_tail_ = 0;  // consumer-local
  Segment* head_seg_ = nullptr;
};

}  // namespace fanout
