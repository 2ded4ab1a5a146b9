// A client's outbound byte stream: command replies copied into chunks, and published messages
// held by reference (or copied, when small), flushed with scatter-gather sends.
//
// Owns: its entries and the chunks they copy into (chunks come from and return to a per-shard
// ChunkPool); one reference on each Hold it points to. Thread: the owning shard only.
//
// Entry lifecycle:
//   1. append_reply()/append_push() add an entry at the tail. Reply bytes coalesce into the
//      previous reply entry when contiguous, so pipelined replies cost one iovec.
//   2. fill() describes the unsent bytes from the head as iovecs (merging adjacent memory),
//      bounded in count and bytes, and marks those entries in flight.
//   3. complete(n) consumes exactly n bytes from the head (a short send resumes at the exact
//      byte), releasing each finished entry's hold and chunk space, and reports how many pushes
//      it finished (their last byte went out).
//   4. drop_oldest() releases unsent pushes that are not in flight; clear() releases everything
//      once no send is in flight (connection teardown) and reports the pushes it discarded.
// Every push appended therefore leaves exactly once: sent by complete(), dropped by
// drop_oldest() or discarded by clear(). The shard's delivery accounting rests on this.
#pragma once

#include <sys/uio.h>

#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

#include "core/message.h"

namespace fanout {

struct Chunk {
  Chunk* next_free;
  uint32_t cap;
  uint32_t used;
  uint32_t live;  // entries with bytes in this chunk
  char* data() { return reinterpret_cast<char*>(this + 1); }
};

// Recycles fixed-size chunks for one shard. Oversized chunks (for large replies) are freed.
class ChunkPool {
 public:
  explicit ChunkPool(uint32_t chunk_size = 16 * 1024, size_t max_cached = 4096)
      : chunk_size_(chunk_size), max_cached_(max_cached) {}
  ~ChunkPool();
  ChunkPool(const ChunkPool&) = delete;
  ChunkPool& operator=(const ChunkPool&) = delete;

  Chunk* get(size_t min_bytes);
  void put(Chunk* c);
  uint32_t chunk_size() const { return chunk_size_; }

 private:
  const uint32_t chunk_size_;
  const size_t max_cached_;
  Chunk* free_ = nullptr;
  size_t cached_ = 0;
};

// Totals over every queue sharing it (a shard's queued output): bytes() and messages() summed.
struct QueueGauge {
  size_t bytes = 0;
  size_t pushes = 0;
};

class OutboundQueue {
 public:
  explicit OutboundQueue(ChunkPool* pool, QueueGauge* gauge = nullptr);
  ~OutboundQueue();
  OutboundQueue(const OutboundQueue&) = delete;
  OutboundQueue& operator=(const OutboundQueue&) = delete;

  // Asks the CPU for the line the next append writes (a hint: no effect on behaviour). For a
  // fan-out loop that serves many queues in turn.
  void prefetch_tail() const {
    if (!ring_.empty()) __builtin_prefetch(&ring_[tail_ & (ring_.size() - 1)], 1);
  }

  // Replies muted (CLIENT REPLY OFF or SKIP): append() and append_chunk() discard what they are
  // given; pushes are still queued.
  void set_replies_muted(bool muted) { muted_ = muted; }
  bool replies_muted() const { return muted_; }
  // Replies muted as `muted` for the guard's lifetime, then as before: for a reply written later
  // than its command (muted as the command was) or a push written as a reply (never muted).
  class MuteScope {
   public:
    MuteScope(OutboundQueue& q, bool muted) : q_(q), was_(q.muted_) { q.muted_ = muted; }
    ~MuteScope() { q_.muted_ = was_; }
    MuteScope(const MuteScope&) = delete;
    MuteScope& operator=(const MuteScope&) = delete;

   private:
    OutboundQueue& q_;
    bool was_;
  };

  // Step 1. Reply bytes (never dropped).
  void append(const char* p, size_t n);
  void append(std::string_view s) { append(s.data(), s.size()); }
  // Step 1, for a large reply built elsewhere in chunks of this queue's pool: takes `c`, whose
  // bytes [0, c->used) are the next part of the reply, as one entry, without copying; the chunk
  // goes back to the pool once those bytes are sent.
  void append_chunk(Chunk* c);
  // Step 1. A push: `header` copied, then `body` referenced through `hold` (which gains a ref).
  // With copy_body the body is copied too and no reference is kept.
  void append_push(std::string_view header, Hold* hold, std::string_view body, bool copy_body);

  // Step 2. Returns the number of iovecs written (0 when empty).
  size_t fill(struct iovec* iov, size_t max_iov, size_t max_bytes);
  // Step 3. Returns the number of pushes whose last byte these were.
  size_t complete(size_t bytes);
  // Step 3, for a send that moved no bytes (an error, or "try again"): nothing is in flight.
  void send_failed() { inflight_ = 0; }
  // Step 4. Drops unsent, not-in-flight pushes, oldest first, until bytes() <= target. Returns
  // the number of pushes dropped; *freed gets their bytes.
  size_t drop_oldest(size_t target_bytes, size_t* freed);
  // Returns the number of pushes discarded (not fully sent).
  size_t clear();

  size_t bytes() const { return bytes_; }      // unsent bytes, as charged to the client
  size_t messages() const { return pushes_; }  // pushes not yet fully sent
  size_t entries() const { return count(); }   // replies and pushes queued (CLIENT LIST oll)
  bool empty() const { return bytes_ == 0; }
  bool in_flight() const { return inflight_ != 0; }

 private:
  // 16 bytes, so a window of pushes to thousands of clients stays in cache: a tagged pointer
  // to a Hold (a referenced block) or a Chunk (copied bytes), and the slice within it. A push
  // whose header is copied and body referenced is two entries: kPush then kCont.
  struct Entry {
    uintptr_t p;   // Hold* or Chunk*, with tag bits; 0 once dropped
    uint32_t off;  // slice start within the block's or the chunk's data
    uint32_t len;
  };
  static constexpr uintptr_t kChunk = 1;  // p is a Chunk*, else a Hold*
  static constexpr uintptr_t kPush = 2;   // first entry of a droppable push
  static constexpr uintptr_t kCont = 4;   // a later entry of the same push
  static constexpr uintptr_t kTags = 7;

  static const char* data_of(const Entry& e) {
    uintptr_t ptr = e.p & ~kTags;
    if (e.p & kChunk) return reinterpret_cast<Chunk*>(ptr)->data() + e.off;
    return reinterpret_cast<Hold*>(ptr)->block->data() + e.off;
  }
  char* reserve(size_t n, Chunk** chunk);
  Entry& push_entry() {
    if (tail_ - head_ == ring_.size()) grow();
    return at(tail_++);
  }
  void grow();
  void add_chunk_entry(Chunk* c, const char* p, size_t n, uintptr_t tags);
  void release(Entry& e);
  void sub_pushes(size_t n) {
    pushes_ -= n;
    if (gauge_) gauge_->pushes -= n;
  }
  void release_chunk(Chunk* c);
  size_t count() const { return tail_ - head_; }
  Entry& at(size_t i) { return ring_[i & (ring_.size() - 1)]; }

  void add_bytes(size_t n) {
    bytes_ += n;
    if (gauge_) gauge_->bytes += n;
  }
  void sub_bytes(size_t n) {
    bytes_ -= n;
    if (gauge_) gauge_->bytes -= n;
  }

  ChunkPool* pool_;
  QueueGauge* gauge_;
  std::vector<Entry> ring_;
  size_t head_ = 0, tail_ = 0;  // monotonically increasing indices
  uint32_t head_off_ = 0;       // bytes of the head entry already sent
  size_t inflight_ = 0;         // entries from head covered by the last fill()
  size_t bytes_ = 0;
  size_t pushes_ = 0;
  bool muted_ = false;
  Chunk* tail_chunk_ = nullptr;
};

}  // namespace fanout
