// PUBSUB CHANNELS and SHARDCHANNELS (and FANOUT TOPCHANNELS) in slices. Listing a million channels takes far longer than
// a loop iteration may, so the walk visits a bounded number of topic nodes per iteration, over
// every shard's table (read lock-free, resumable across quiescent states: TopicTable::
// walk_channels), building the reply in chunks that then join the client's queue in one step.
// The client's later commands wait until the reply is complete, so replies stay in order; the
// shard's other clients are served in between.
// Owned by its connection (Conn::walk). Thread: the client's shard.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "core/outbound_queue.h"
#include "core/topic_table.h"
#include "net/top_channels.h"

namespace fanout {

struct ChannelWalk {
  explicit ChannelWalk(ChunkPool* p) : pool(p) {}
  ~ChannelWalk() {
    for (Chunk* c : body) pool->put(c);
  }
  ChannelWalk(const ChannelWalk&) = delete;
  ChannelWalk& operator=(const ChannelWalk&) = delete;

  // What one iteration's slice may do: visit kNodesPerStep topic nodes (cache and TLB misses:
  // ~0.1-0.3 ms), or spend kWorkPerStep steps of pattern matching and bytes copied (glob_match's
  // work: long names against a long pattern), whichever comes first. The table is walked one
  // bucket at a time (kNodesPerCall), so the work is checked after each: one name may cost a
  // millisecond (65,536 bytes against a 1,024-byte pattern).
  static constexpr size_t kNodesPerStep = 256;
  static constexpr uint64_t kWorkPerStep = 1 << 20;
  static constexpr size_t kNodesPerCall = 1;

  TopicKind kind = TopicKind::kChannel;
  bool filter = false;  // only names matching `pattern` (Redis glob)
  bool muted = false;   // the reply falls under CLIENT REPLY OFF or SKIP
  std::string pattern;
  int shard = 0;        // the table being walked
  TopicTable::WalkCursor cursor;  // where that table's walk resumes
  // With more than one shard, the names already listed (a channel can be on several): by
  // hash, to the piece and offset of its bulk in `body`, so that a hash collision compares
  // names. Sized at the start for every channel there is, so it never rehashes mid-walk.
  std::unordered_multimap<uint64_t, std::pair<uint32_t, uint32_t>> seen;
  // The listed names, RESP-encoded, in chunks of the shard's pool of at most kPiece bytes:
  // growing never copies, and once the walk is done the header and every chunk go into the
  // client's queue at once, without copying, so nothing (a RESP3 push) can land inside the
  // array. Owned here until then (ShardCore frees them if the client goes first).
  static constexpr size_t kPiece = 64 * 1024;
  ChunkPool* pool;
  std::vector<Chunk*> body;
  uint64_t count = 0;
  // FANOUT TOPCHANNELS instead: the walk keeps its best channels, and the reply is written at the
  // end (at most TopChannelsWalk::kMaxCount entries).
  std::unique_ptr<TopChannelsWalk> top;
};

}  // namespace fanout
