#include "core/message.h"

#include <cassert>
#include <cstdlib>
#include <cstdint>
#include <cstring>
#include <new>

#include "core/resp_writer.h"

namespace fanout {
namespace {

constexpr size_t kMaxFreeHolds = 4096;

}  // namespace

MessageArena::MessageArena(uint16_t shard_id, int shards) : id_(shard_id), returns_(shards) {}

MessageArena::~MessageArena() {
  while (free_holds_) {
    Hold* h = free_holds_;
    free_holds_ = h->next_free;
    delete h;
  }
}

Block* MessageArena::create(uint8_t kind, std::string_view channel, std::string_view payload) {
  return create_routed(kind, channel, payload, kRouteLocal, {});
}

Block* MessageArena::create_routed(uint8_t kind, std::string_view channel, std::string_view payload, uint8_t route,
                                   std::string_view cover) {
  std::string_view header = kind == 0 ? kMessageHeader2 : kSMessageHeader2;
  char clen[24], plen[24];
  size_t cl = resp::format_header(clen, '$', static_cast<int64_t>(channel.size()));
  size_t pl = resp::format_header(plen, '$', static_cast<int64_t>(payload.size()));
  size_t len = header.size() + cl + channel.size() + 2 + pl + payload.size() + 2;
  if (route != kRouteCover || cover.size() > UINT16_MAX) cover = {};
  void* mem = std::malloc(sizeof(Block) + len + cover.size());
  if (mem == nullptr) throw std::bad_alloc();
  Block* b = new (mem) Block();
  b->route = route;
  b->cover_len = static_cast<uint16_t>(cover.size());
  if (!cover.empty()) std::memcpy(b->data() + len, cover.data(), cover.size());
  b->origin = id_;
  b->kind = kind;
  b->len = static_cast<uint32_t>(len);
  b->body_off = static_cast<uint32_t>(header.size());
  b->channel_off = static_cast<uint32_t>(header.size() + cl);
  b->channel_len = static_cast<uint32_t>(channel.size());
  char* p = b->data();
  std::memcpy(p, header.data(), header.size());
  p += header.size();
  std::memcpy(p, clen, cl);
  p += cl;
  std::memcpy(p, channel.data(), channel.size());
  p += channel.size();
  *p++ = '\r';
  *p++ = '\n';
  std::memcpy(p, plen, pl);
  p += pl;
  std::memcpy(p, payload.data(), payload.size());
  p += payload.size();
  *p++ = '\r';
  *p++ = '\n';
  b->origin_hold.block = b;
  b->origin_hold.arena = this;
  b->origin_hold.refs = 1;
  ++live_blocks_;
  return b;
}

Hold* MessageArena::adopt(Block* b) {
  Hold* h = free_holds_;
  if (h) {
    free_holds_ = h->next_free;
    --free_hold_count_;
  } else {
    h = new Hold();
  }
  h->refs = 1;
  h->block = b;
  h->arena = this;
  h->next_free = nullptr;
  return h;
}

void hold_release_slow(Hold* h) { h->arena->on_hold_empty(h); }

void MessageArena::on_hold_empty(Hold* h) {
  Block* b = h->block;
  if (h != &b->origin_hold) {
    if (free_hold_count_ < kMaxFreeHolds) {
      h->next_free = free_holds_;
      free_holds_ = h;
      ++free_hold_count_;
    } else {
      delete h;
    }
  }
  drop_shard_hold(b);
}

void MessageArena::drop_shard_hold(Block* b) {
  if (b->shard_holds.fetch_sub(1, std::memory_order_acq_rel) != 1) return;
  if (b->origin == id_) {
    free_block(b);
  } else {
    returns_[b->origin].push_back(b);
    ++pending_returns_;
  }
}

void MessageArena::free_returned(Block* b) {
  assert(b->origin == id_);
  free_block(b);
}

void MessageArena::free_block(Block* b) {
  --live_blocks_;
  b->~Block();
  std::free(b);
}

}  // namespace fanout
