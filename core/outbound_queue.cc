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
    allocated_bytes_ += cap;
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
  allocated_bytes_ -= c->cap;
  std::free(c);
}

OutboundQueue::OutboundQueue(ChunkPool* pool, size_t* gauge) : pool_(pool), gauge_(gauge), ring_(8) {}

OutboundQueue::~OutboundQueue() { clear(); }

OutboundQueue::Entry& OutboundQueue::push_entry() {
  if (count() == ring_.size()) {
    std::vector<Entry> bigger(ring_.size() * 2);
    for (size_t i = 0; i < count(); ++i) bigger[i] = at(head_ + i);
    tail_ = count();
    head_ = 0;
    ring_.swap(bigger);
  }
  Entry& e = at(tail_++);
  e = Entry{};
  return e;
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

void OutboundQueue::append(const char* p, size_t n) {
  if (n == 0) return;
  if (count() != 0) {
    Entry& last = at(tail_ - 1);
    Chunk* c = tail_chunk_;
    if (last.flags == 0 && last.hold == nullptr && last.chunk == c && c != nullptr &&
        last.copy + last.copy_len == c->data() + c->used && c->cap - c->used >= n) {
      std::memcpy(c->data() + c->used, p, n);
      c->used += static_cast<uint32_t>(n);
      last.copy_len += static_cast<uint32_t>(n);
      add_bytes(n);
      return;
    }
  }
  Chunk* c;
  char* dst = reserve(n, &c);
  std::memcpy(dst, p, n);
  ++c->live;
  Entry& e = push_entry();
  e.copy = dst;
  e.chunk = c;
  e.copy_len = static_cast<uint32_t>(n);
  add_bytes(n);
}

void OutboundQueue::append_push(std::string_view header, Hold* hold, std::string_view body,
                                bool copy_body) {
  size_t copy_n = header.size() + (copy_body ? body.size() : 0);
  Chunk* c = nullptr;
  char* dst = nullptr;
  if (copy_n) {
    dst = reserve(copy_n, &c);
    if (!header.empty()) std::memcpy(dst, header.data(), header.size());
    if (copy_body) std::memcpy(dst + header.size(), body.data(), body.size());
    ++c->live;
  }
  Entry& e = push_entry();
  e.copy = dst;
  e.chunk = c;
  e.copy_len = static_cast<uint32_t>(copy_n);
  e.flags = kPush;
  if (!copy_body) {
    e.hold = hold;
    e.ref = body.data();
    e.ref_len = static_cast<uint32_t>(body.size());
    hold_ref(hold);
  }
  add_bytes(header.size() + body.size());
  ++pushes_;
}

size_t OutboundQueue::fill(struct iovec* iov, size_t max_iov, size_t max_bytes) {
  size_t n = 0, total = 0, i = 0;
  uint32_t skip = head_off_;
  auto add = [&](const char* p, size_t len) -> bool {
    if (len == 0) return true;
    if (total + len > max_bytes) len = max_bytes - total;
    if (n > 0 && static_cast<char*>(iov[n - 1].iov_base) + iov[n - 1].iov_len == p) {
      iov[n - 1].iov_len += len;
    } else {
      if (n == max_iov) return false;
      iov[n].iov_base = const_cast<char*>(p);
      iov[n].iov_len = len;
      ++n;
    }
    total += len;
    return total < max_bytes;
  };
  for (; i < count(); ++i) {
    Entry& e = at(head_ + i);
    if (e.flags & kDropped) continue;
    const char* cp = e.copy;
    size_t cl = e.copy_len;
    const char* rp = e.ref;
    size_t rl = e.ref_len;
    if (skip) {
      // Only the head entry can be partially sent.
      size_t s = skip < cl ? skip : cl;
      cp += s;
      cl -= s;
      skip -= static_cast<uint32_t>(s);
      rp += skip;
      rl -= skip;
      skip = 0;
    }
    bool more = add(cp, cl);
    if (more) more = add(rp, rl);
    if (!more) {
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
  if (e.chunk) release_chunk(e.chunk);
  if (e.hold) hold_release(e.hold);
  if (e.flags & kPush) --pushes_;
  e.chunk = nullptr;
  e.hold = nullptr;
}

void OutboundQueue::complete(size_t n) {
  assert(n <= bytes_);
  sub_bytes(n);
  while (count() != 0) {
    Entry& e = at(head_);
    if (e.flags & kDropped) {
      ++head_;
      continue;
    }
    size_t left = e.len() - head_off_;
    if (n < left) {
      head_off_ += static_cast<uint32_t>(n);
      break;
    }
    n -= left;
    head_off_ = 0;
    release(e);
    ++head_;
    if (n == 0) {
      // Leave later dropped entries for the next call; they hold nothing.
      break;
    }
  }
  inflight_ = 0;
  if (count() == 0 && tail_chunk_ && tail_chunk_->live == 0) tail_chunk_->used = 0;
}

size_t OutboundQueue::drop_oldest(size_t target, size_t* freed) {
  size_t dropped = 0;
  *freed = 0;
  size_t first = inflight_;
  if (first == 0 && head_off_ != 0) first = 1;
  for (size_t i = first; i < count() && bytes_ > target; ++i) {
    Entry& e = at(head_ + i);
    if ((e.flags & kPush) == 0 || (e.flags & kDropped)) continue;
    size_t len = e.len();
    release(e);
    e.flags |= kDropped;
    e.copy_len = e.ref_len = 0;
    sub_bytes(len);
    *freed += len;
    ++dropped;
  }
  return dropped;
}

void OutboundQueue::clear() {
  assert(inflight_ == 0);
  while (count() != 0) {
    Entry& e = at(head_++);
    if (!(e.flags & kDropped)) release(e);
  }
  head_ = tail_ = 0;
  head_off_ = 0;
  sub_bytes(bytes_);
  pushes_ = 0;
  if (tail_chunk_) {
    Chunk* c = tail_chunk_;
    tail_chunk_ = nullptr;
    if (c->live == 0) pool_->put(c);
  }
}

}  // namespace fanout
