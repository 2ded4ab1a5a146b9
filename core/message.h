// A published message, encoded once, and the per-shard references to it.
//
// Block lifecycle:
//   1. The publishing shard's arena creates the block with the full RESP2 frame
//      ("*3 $7 message $n channel $n payload", or smessage for SPUBLISH); the body (from
//      "$n channel" on) is shared by every wire form. shard_holds = 1 (the origin's own hold).
//   2. Before handing the pointer to another shard's ring, the origin adds one shard hold per
//      interested shard: one reference per shard, never per remote subscriber.
//   3. Each holding shard counts its queue references in a Hold with a plain (non-atomic) count:
//      the origin uses the hold embedded in the block, others take one from their arena's pool.
//   4. When a Hold's count reaches zero its shard drops its shard hold (one atomic decrement).
//   5. The last shard hold to go sends the block back to the origin arena, which frees it: the
//      memory returns to the shard that made it.
//
// Thread: a Hold and its count belong to one shard; shard_holds is the only shared mutable field.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

namespace fanout {

class MessageArena;
struct Block;

struct Hold {
  uint32_t refs = 0;
  Block* block = nullptr;
  MessageArena* arena = nullptr;
  Hold* next_free = nullptr;
};

struct Block {
  Hold origin_hold;
  std::atomic<uint32_t> shard_holds{1};
  uint16_t origin = 0;       // index of the arena (shard) that allocated it
  uint8_t kind = 0;          // 0: message, 1: smessage
  uint8_t route = 0;         // whom it reaches on each shard: kRouteLocal, ... (below)
  uint16_t cover_len = 0;    // kRouteCover: the cover subject's bytes, stored after the frame
  uint32_t len = 0;          // bytes of the full RESP2 frame
  uint32_t body_off = 0;     // where "$n channel ..." starts
  uint32_t channel_off = 0;  // channel bytes
  uint32_t channel_len = 0;
  Block* next_return = nullptr;  // chaining while travelling back to the origin

  const char* data() const { return reinterpret_cast<const char*>(this + 1); }
  char* data() { return reinterpret_cast<char*>(this + 1); }
  std::string_view frame() const { return {data(), len}; }
  std::string_view body() const { return {data() + body_off, len - body_off}; }
  std::string_view channel() const { return {data() + channel_off, channel_len}; }
  std::string_view cover() const { return {data() + len, cover_len}; }
};

// Block::route: whom a message reaches on each shard.
//   kRouteLocal    a PUBLISH made on this node: the channel's subscribers, then every pattern
//                  that matches (an SPUBLISH: the shard channel's subscribers).
// A message the NATS upstream delivered stands for one upstream subscription, and reaches only the
// local subscriptions that one stands for (issue 13: NATS sends one copy per matching
// subscription, so each copy must reach its own subscribers and no others):
//   kRouteChannel  a channel's (or shard channel's) subscription: its subscribers only;
//   kRouteCover    a covering subscription of patterns: the patterns whose cover subject
//                  (TopicNode::upstream_cover) is the block's cover() and that match.
inline constexpr uint8_t kRouteLocal = 0;
inline constexpr uint8_t kRouteChannel = 1;
inline constexpr uint8_t kRouteCover = 2;

inline void hold_ref(Hold* h) { ++h->refs; }
void hold_release_slow(Hold* h);
inline void hold_release(Hold* h) {
  if (--h->refs == 0) hold_release_slow(h);
}

// Per-shard allocator of blocks and holds. Thread: its shard only.
class MessageArena {
 public:
  MessageArena(uint16_t shard_id, int shards);
  ~MessageArena();
  MessageArena(const MessageArena&) = delete;
  MessageArena& operator=(const MessageArena&) = delete;

  uint16_t id() const { return id_; }

  // Step 1: encodes "message"/"smessage" once. The returned block's origin hold starts at one
  // guard reference, which the caller releases after delivering (release_guard).
  Block* create(uint8_t kind, std::string_view channel, std::string_view payload);
  // Step 1 for a message from the upstream link: as create(), with its route (kRouteChannel or
  // kRouteCover) and, for kRouteCover, the cover subject (at most 65,535 bytes).
  Block* create_routed(uint8_t kind, std::string_view channel, std::string_view payload, uint8_t route,
                       std::string_view cover);
  // Step 2 (origin): account for `n` more shards that will hold the block.
  void add_shard_holds(Block* b, uint32_t n) { b->shard_holds.fetch_add(n, std::memory_order_relaxed); }
  // Step 3 (remote): a local hold for a block received from another shard, with one guard ref.
  Hold* adopt(Block* b);
  // Step 5 (origin): a block of ours whose last shard hold went away on another shard.
  void free_returned(Block* b);

  // Blocks owned by other shards whose last hold we dropped: drain and send each to its origin.
  std::vector<Block*>& returns(int origin) { return returns_[origin]; }
  bool has_returns() const { return pending_returns_ != 0; }
  void clear_returns_count() { pending_returns_ = 0; }

  uint64_t live_blocks() const { return live_blocks_; }

 private:
  friend void hold_release_slow(Hold* h);
  void on_hold_empty(Hold* h);
  void drop_shard_hold(Block* b);
  void free_block(Block* b);

  const uint16_t id_;
  Hold* free_holds_ = nullptr;
  size_t free_hold_count_ = 0;
  std::vector<std::vector<Block*>> returns_;
  size_t pending_returns_ = 0;
  uint64_t live_blocks_ = 0;
};

// Frame headers that precede a shared body in the other wire forms.
inline constexpr std::string_view kMessageHeader2 = "*3\r\n$7\r\nmessage\r\n";
inline constexpr std::string_view kMessageHeader3 = ">3\r\n$7\r\nmessage\r\n";
inline constexpr std::string_view kSMessageHeader2 = "*3\r\n$8\r\nsmessage\r\n";
inline constexpr std::string_view kSMessageHeader3 = ">3\r\n$8\r\nsmessage\r\n";

}  // namespace fanout
