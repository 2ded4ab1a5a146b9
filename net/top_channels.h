// The channels carrying the most: FANOUT TOPCHANNELS and /metrics' fanout_top_channel_* families,
// so an operator can find the channel behind a slow consumer (the one whose subscribers are
// charged the most bytes).
//
// Each shard counts, in a channel's topic node, the messages it delivers on it and their bytes
// (TopicNode::count_message, in the node the delivery reads anyway: a load and a store per
// message, nothing per subscriber). A TopChannelsWalk visits every shard's channels
// (TopicTable::walk_channels: lock-free, resumable across loop iterations) a bounded number of
// nodes per step, keeping the best `count` in a heap: memory is `count` entries however many
// channels there are. A channel with subscribers on several shards is counted once, at the first
// shard (by index) that has it: its subscribers summed over the shards, its messages and bytes the
// most any shard counted (every shard with subscribers delivers every message; one whose
// subscribers came later counted fewer). A node's counts start when the channel gets its first
// subscriber on that shard. The figures are a live snapshot, as INFO's: a channel subscribed or
// left while the walk goes on may be missed.
// Thread: the shard that steps it, reading the other shards' tables between its quiescent states.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/topic_table.h"
#include "net/shared_state.h"  // ChannelFigures, TopChannelsSnapshot

namespace fanout {

// What "the most" means: bytes (default), messages, or subscribers; ties go to the name first in
// byte order.
enum class TopBy : uint8_t { kBytes, kMessages, kSubscribers };

class TopChannelsWalk {
 public:
  static constexpr size_t kMaxCount = 1000;

  // count: how many to keep, 1 to kMaxCount.
  TopChannelsWalk(size_t count, TopBy by) : count_(count), by_(by) {}
  // Visits about `budget` more channel nodes (each costing a lookup per shard). True once every
  // shard's table has been walked.
  bool step(const SharedState& sh, size_t budget);
  // After step() returned true: the best, most first.
  std::vector<ChannelFigures> take();

 private:
  void consider(const SharedState& sh, const TopicNode& node);
  uint64_t key(const ChannelFigures& f) const;
  // a ranks above b.
  bool above(const ChannelFigures& a, std::string_view a_name, const ChannelFigures& b) const;

  const size_t count_;
  const TopBy by_;
  int shard_ = 0;
  TopicTable::WalkCursor cursor_;
  std::vector<ChannelFigures> heap_;  // the worst kept at the front
};

}  // namespace fanout
