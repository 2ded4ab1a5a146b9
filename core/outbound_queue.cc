#include "core/outbound_queue.h"

#include <cassert>
#include <cstdlib>
#include <cstring>
#include <new>

namespace fanout {

ChunkPool::~ChunkPool() {
  while (free_) {
    Chunk* c = free_;
    free_ = c->next_free;
    std::free(c);
  }
}

Chunk* ChunkPool::get(size_t min_bytes) {
  Chunk* c;
  if (min_bytes <= chunk_size_ && free_) {
    c = free_;
    free_ = c->next_free;
    --cached_;
  } else {
    uint32_t cap = min_bytes <= chunk_size_ ? chunk_size_ : static_cast<uint32_t>(min_bytes);
    c = static_cast<Chunk*>(std::malloc(sizeof(Chunk) + cap));
    if (c == nullptr) throw std::bad_alloc();
    c->cap = cap;
  }
  c->next_free = nullptr;
  c->used = 0;
  c->live = 0;
  return c;
}

void ChunkPool::put(Chunk* c) {
  if (c->cap == chunk_size_ && cached_ < max_cached_) {
    c->next_free = free_;
    free_ = c;
    ++cached_;
    return;
  }
  std::free(c);
}

OutboundQueue::OutboundQueue(ChunkPool* pool, QueueGauge* gauge) : pool_(pool), gauge_(gauge), ring_(8) {}

OutboundQueue::~OutboundQueue() { clear(); }

void OutboundQueue::grow() {
  std::vector<Entry> bigger(ring_.size() * 2);
  for (size_t i = 0; i < count(); ++i) bigger[i] = at(head_ + i);
  tail_ = count();
  head_ = 0;
  ring_.swap(bigger);
}

char* OutboundQueue::reserve(size_t n, Chunk** chunk) {
  Chunk* c = tail_chunk_;
  if (c == nullptr || c->cap - c->used < n) {
    if (c != nullptr && c->live == 0) {
      if (c->cap >= n) {
        c->used = 0;
      } else {
        pool_->put(c);
        c = tail_chunk_ = pool_->get(n);
      }
    } else {
      // The old tail chunk is released by its last entry.
      c = tail_chunk_ = pool_->get(n);
    }
  }
  char* p = c->data() + c->used;
  c->used += static_cast<uint32_t>(n);
  *chunk = c;
  return p;
}

void OutboundQueue::add_chunk_entry(Chunk* c, const char* p, size_t n, uintptr_t tags) {
  ++c->live;
  Entry& e = push_entry();
  e.p = reinterpret_cast<uintptr_t>(c) | kChunk | tags;
  e.off = static_cast<uint32_t>(p - c->data());
  e.len = static_cast<uint32_t>(n);
}

void OutboundQueue::append(const char* p, size_t n) {
  if (n == 0 || muted_) return;
  Chunk* c = tail_chunk_;
  if (count() != 0 && c != nullptr) {
    Entry& last = at(tail_ - 1);
    // Coalesce with the previous reply when it ends exactly where the chunk's free space starts.
    if (last.p == (reinterpret_cast<uintptr_t>(c) | kChunk) && last.off + last.len == c->used &&
        c->cap - c->used >= n) {
      std::memcpy(c->data() + c->used, p, n);
      c->used += static_cast<uint32_t>(n);
      last.len += static_cast<uint32_t>(n);
      add_bytes(n);
      return;
    }
  }
  char* dst = reserve(n, &c);
  std::memcpy(dst, p, n);
  add_chunk_entry(c, dst, n, 0);
  add_bytes(n);
}

void OutboundQueue::append_chunk(Chunk* c) {
  if (c->used == 0 || muted_) {
    pool_->put(c);
    return;
  }
  add_chunk_entry(c, c->data(), c->used, 0);
  add_bytes(c->used);
}

void OutboundQueue::append_push(std::string_view header, Hold* hold, std::string_view body,
                                bool copy_body) {
  if (copy_body || !header.empty()) {
    size_t copy_n = header.size() + (copy_body ? body.size() : 0);
    Chunk* c;
    char* dst = reserve(copy_n, &c);
    if (!header.empty()) std::memcpy(dst, header.data(), header.size());
    if (copy_body) std::memcpy(dst + header.size(), body.data(), body.size());
    add_chunk_entry(c, dst, copy_n, kPush);
  }
  if (!copy_body) {
    hold_ref(hold);
    Entry& e = push_entry();
    e.p = reinterpret_cast<uintptr_t>(hold) | (header.empty() ? kPush : kCont);
    e.off = static_cast<uint32_t>(body.data() - hold->block->data());
    e.len = static_cast<uint32_t>(body.size());
  }
  add_bytes(header.size() + body.size());
  ++pushes_;
  if (gauge_) ++gauge_->pushes;
}

size_t OutboundQueue::fill(struct iovec* iov, size_t max_iov, size_t max_bytes) {
  size_t n = 0, total = 0, i = 0;
  uint32_t skip = head_off_;  // only the head entry can be partially sent
  for (; i < count(); ++i) {
    const Entry& e = at(head_ + i);
    if (e.p == 0) continue;
    const char* p = data_of(e) + skip;
    size_t len = e.len - skip;
    skip = 0;
    bool full = false;
    if (total + len >= max_bytes) {
      len = max_bytes - total;
      full = true;
    }
    if (n > 0 && static_cast<char*>(iov[n - 1].iov_base) + iov[n - 1].iov_len == p) {
      iov[n - 1].iov_len += len;
    } else {
      if (n == max_iov) break;
      iov[n].iov_base = const_cast<char*>(p);
      iov[n].iov_len = len;
      ++n;
    }
    total += len;
    if (full) {
      ++i;
      break;
    }
  }
  inflight_ = n ? i : 0;
  return n;
}

void OutboundQueue::release_chunk(Chunk* c) {
  if (--c->live == 0 && c != tail_chunk_) pool_->put(c);
}

void OutboundQueue::release(Entry& e) {
  uintptr_t ptr = e.p & ~kTags;
  if (e.p & kChunk) {
    release_chunk(reinterpret_cast<Chunk*>(ptr));
  } else {
    hold_release(reinterpret_cast<Hold*>(ptr));
  }
  e.p = 0;
}

size_t OutboundQueue::complete(size_t n) {
  assert(n <= bytes_);
  sub_bytes(n);
  size_t sent = 0;
  while (count() != 0) {
    Entry& e = at(head_);
    if (e.p == 0) {
      ++head_;  // dropped
      continue;
    }
    size_t left = e.len - head_off_;
    if (n < left) {
      head_off_ += static_cast<uint32_t>(n);
      break;
    }
    n -= left;
    head_off_ = 0;
    bool part_of_push = (e.p & (kPush | kCont)) != 0;
    release(e);
    ++head_;
    // A push ends with its last entry: the next one is not its continuation.
    if (part_of_push && (count() == 0 || !(at(head_).p & kCont))) ++sent;
    if (n == 0) break;
  }
  inflight_ = 0;
  sub_pushes(sent);
  if (count() == 0 && tail_chunk_ && tail_chunk_->live == 0) tail_chunk_->used = 0;
  return sent;
}

size_t OutboundQueue::drop_oldest(size_t target, size_t* freed) {
  size_t dropped = 0;
  *freed = 0;
  size_t first = inflight_;
  if (first == 0 && head_off_ != 0) first = 1;
  // A push whose first entry is in flight keeps its continuation too.
  while (first < count() && (at(head_ + first).p & kCont)) ++first;
  for (size_t i = first; i < count() && bytes_ > target; ++i) {
    Entry& e = at(head_ + i);
    if (!(e.p & kPush)) continue;
    size_t len = e.len;
    release(e);
    // Its continuation goes with it.
    while (i + 1 < count() && (at(head_ + i + 1).p & kCont)) {
      Entry& cont = at(head_ + ++i);
      len += cont.len;
      release(cont);
    }
    sub_bytes(len);
    *freed += len;
    ++dropped;
  }
  sub_pushes(dropped);
  return dropped;
}

size_t OutboundQueue::clear() {
  assert(inflight_ == 0);
  const size_t discarded = pushes_;
  while (count() != 0) {
    Entry& e = at(head_++);
    if (e.p != 0) release(e);
  }
  head_ = tail_ = 0;
  head_off_ = 0;
  sub_bytes(bytes_);
  sub_pushes(discarded);
  if (tail_chunk_) {
    Chunk* c = tail_chunk_;
    tail_chunk_ = nullptr;
    if (c->live == 0) pool_->put(c);
  }
  return discarded;
}

}  // namespace fanout
