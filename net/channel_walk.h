// PUBSUB CHANNELS and SHARDCHANNELS in slices. Listing a million channels takes far longer than
// a loop iteration may, so the walk visits a bounded number of topic nodes per iteration, over
// every shard's table (read lock-free, resumable across quiescent states: TopicTable::
// walk_channels), then copies the reply into the client's queue a bounded slice per iteration.
// The client's later commands wait until the reply is complete, so replies stay in order; the
// shard's other clients are served in between.
// Owned by its connection (Conn::walk). Thread: the client's shard.
#pragma once

#include <cstdint>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "core/topic_table.h"

namespace fanout {

struct ChannelWalk {
  // Topic nodes visited per iteration, and reply bytes copied per iteration.
  static constexpr size_t kNodesPerStep = 256;  // nodes are cache (and TLB) misses: ~0.1-0.3 ms
  static constexpr size_t kBytesPerStep = 256 * 1024;

  TopicKind kind = TopicKind::kChannel;
  bool filter = false;  // only names matching `pattern` (Redis glob)
  std::string pattern;
  int shard = 0;        // the table being walked
  TopicTable::WalkCursor cursor;  // where that table's walk resumes
  // With more than one shard, the names already listed (a channel can be on several): by
  // hash, to the piece and offset of its bulk in `body`, so that a hash collision compares
  // names. Sized at the start for every channel there is, so it never rehashes mid-walk.
  std::unordered_multimap<uint64_t, std::pair<uint32_t, uint32_t>> seen;
  // The listed names, RESP-encoded, in pieces of at most kPiece bytes: growing never copies.
  static constexpr size_t kPiece = 64 * 1024;
  std::vector<std::string> body;
  uint64_t count = 0;
  bool walked = false;   // every table done: the header is out, body is being copied
  size_t copied = 0;     // pieces of body already in the client's queue
};

}  // namespace fanout
