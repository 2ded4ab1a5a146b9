#include "net/top_channels.h"

#include <algorithm>

namespace fanout {

uint64_t TopChannelsWalk::key(const ChannelFigures& f) const {
  switch (by_) {
    case TopBy::kMessages: return f.messages;
    case TopBy::kSubscribers: return f.subscribers;
    case TopBy::kBytes: break;
  }
  return f.bytes;
}

bool TopChannelsWalk::above(const ChannelFigures& a, std::string_view a_name, const ChannelFigures& b) const {
  const uint64_t ka = key(a), kb = key(b);
  return ka != kb ? ka > kb : a_name < b.name;
}

bool TopChannelsWalk::step(const SharedState& sh, size_t budget) {
  while (budget > 0 && shard_ < sh.nshards) {
    const size_t visited = sh.tables[shard_]->walk_channels(TopicKind::kChannel, &cursor_, 1,
                                                             [&](const TopicNode& node) { consider(sh, node); });
    budget = visited >= budget ? 0 : budget - visited;
    if (cursor_.done) {
      ++shard_;
      cursor_ = {};
    }
  }
  return shard_ >= sh.nshards;
}

void TopChannelsWalk::consider(const SharedState& sh, const TopicNode& node) {
  for (int t = 0; t < shard_; ++t) {
    if (sh.tables[t]->lookup(TopicKind::kChannel, node.key) != nullptr) return;  // counted there
  }
  ChannelFigures f;
  f.messages = node.messages.load(std::memory_order_relaxed);
  f.bytes = node.bytes.load(std::memory_order_relaxed);
  f.subscribers = node.count.load(std::memory_order_relaxed);
  for (int t = shard_ + 1; t < sh.nshards; ++t) {
    const TopicNode* other = sh.tables[t]->lookup(TopicKind::kChannel, node.key);
    if (other == nullptr) continue;
    f.messages = std::max(f.messages, other->messages.load(std::memory_order_relaxed));
    f.bytes = std::max(f.bytes, other->bytes.load(std::memory_order_relaxed));
    f.subscribers += other->count.load(std::memory_order_relaxed);
  }
  // A heap whose front is the worst kept: a channel that ranks above it takes its place.
  const auto worse = [this](const ChannelFigures& a, const ChannelFigures& b) { return above(a, a.name, b); };
  if (heap_.size() < count_) {
    f.name = node.key;
    heap_.push_back(std::move(f));
    std::push_heap(heap_.begin(), heap_.end(), worse);
  } else if (above(f, node.key, heap_.front())) {
    std::pop_heap(heap_.begin(), heap_.end(), worse);
    f.name = node.key;
    heap_.back() = std::move(f);
    std::push_heap(heap_.begin(), heap_.end(), worse);
  }
}

std::vector<ChannelFigures> TopChannelsWalk::take() {
  std::sort(heap_.begin(), heap_.end(), [this](const ChannelFigures& a, const ChannelFigures& b) {
    return above(a, a.name, b);
  });
  return std::move(heap_);
}

}  // namespace fanout
