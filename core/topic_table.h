// A shard's topic table: channels, shard channels and patterns, each with the shard's local
// subscribers, plus the read-mostly view other shards use to count receivers for PUBLISH.
//
// Owns: its topic nodes and subscriber vectors. Thread: mutated only by the owning shard (single
// writer). Other shards may call count_receivers(), count_channel(), for_each_*() concurrently,
// lock-free, between their own quiescent states (see Qsbr): nodes are published with release
// stores, counts are atomics, keys are immutable, and removed nodes are retired, not freed.
//
// Subscription lifecycle:
//   1. subscribe(): the owner gets a Subscription (stable address, in its own ClientSubs map) and
//      the topic node's vector holds a pointer to it at index `pos`.
//   2. Deliveries iterate node->subs, a flat array holding each owner pointer: no lookup.
//   3. unsubscribe(): swap-remove from the vector (fixing the moved entry's pos), and when the
//      node's last subscriber leaves, unlink it and retire it through QSBR.
#pragma once

#include <atomic>
#include <cassert>
#include <cstdint>
#include <cstddef>
#include <functional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "core/glob.h"
#include "core/qsbr.h"

namespace fanout {

enum class TopicKind : uint8_t { kChannel = 0, kPattern = 1, kShardChannel = 2 };

struct TopicNode;

// One (client, topic) subscription. Owned by the client's ClientSubs map.
struct Subscription {
  void* owner = nullptr;  // the client (a net-layer connection)
  TopicNode* node = nullptr;
  uint32_t pos = 0;  // index in node->subs
  uint32_t seq = 0;  // order of subscription within the table (Redis lists a client's patterns in it)
};

// A node's entry for one subscriber: the owner inline, so a delivery walks a flat array without
// visiting the Subscription.
struct SubRef {
  void* owner;
  Subscription* sub;
};

struct TopicNode {
  TopicNode(TopicKind k, std::string_view name, uint64_t h) : kind(k), key(name), hash(h) {}
  const TopicKind kind;
  const std::string key;
  const uint64_t hash;
  std::atomic<uint32_t> count{0};           // shared: number of local subscribers
  std::atomic<TopicNode*> next{nullptr};    // shared: pattern list chaining
  // Shared, written by the owner only: messages delivered through this node since it was created
  // (its first local subscriber), and their bytes (the RESP2 message frame each subscriber is
  // charged). Relaxed single-writer counters: a load and a store, no locked instruction.
  std::atomic<uint64_t> messages{0}, bytes{0};
  std::vector<SubRef> subs;                 // owner only
  std::string pmessage_header[2];           // owner only, patterns: "*4 $8 pmessage $n pat", and '>'
  std::string upstream_cover;               // owner only, patterns: the NATS subject covering it (tier)

  // Owner: a message of `frame_bytes` went through this node.
  void count_message(uint64_t frame_bytes) {
    messages.store(messages.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
    bytes.store(bytes.load(std::memory_order_relaxed) + frame_bytes, std::memory_order_relaxed);
  }
};

// Told, on the owner's thread, when a topic gains its first local subscriber (its node was just
// made) or loses its last (called before the node is retired: its key is still readable). The
// tier's interest (net/upstream.h) follows the table through it, on every path that subscribes or
// unsubscribes, a client's close included.
class TopicObserver {
 public:
  virtual void topic_added(TopicNode* node) = 0;
  virtual void topic_removed(TopicNode* node) = 0;

 protected:
  ~TopicObserver() = default;
};

// A client's subscriptions of one kind. Owner thread only.
using ClientSubs = std::unordered_map<std::string, Subscription>;

class TopicTable {
 public:
  TopicTable(RetireList* retire, size_t initial_buckets = 1024);
  ~TopicTable();
  TopicTable(const TopicTable&) = delete;
  TopicTable& operator=(const TopicTable&) = delete;

  // Owner: the observer of first and last subscribers (null: none). Set before the first subscribe.
  void set_observer(TopicObserver* observer) { observer_ = observer; }
  // Owner: adds `owner` to `name`. Returns false if already subscribed.
  bool subscribe(TopicKind kind, std::string_view name, void* owner, ClientSubs* subs);
  // Owner: removes the subscription. Returns false if it was not there.
  bool unsubscribe(TopicKind kind, std::string_view name, ClientSubs* subs);
  // Owner: removes one subscription found in `subs` (iterator-safe helper for "unsubscribe all").
  void unsubscribe(ClientSubs::iterator it, ClientSubs* subs);

  // Owner: the node for an exact channel, or null.
  TopicNode* find(TopicKind kind, std::string_view name) const;
  // Any shard: the node for an exact channel (or shard channel) with subscribers, or null; valid
  // until the caller's next quiescent state.
  const TopicNode* lookup(TopicKind kind, std::string_view name) const;
  // Owner or reader: first pattern node (walk with next).
  TopicNode* patterns_head() const { return patterns_.load(std::memory_order_acquire); }

  // Any shard: receivers of a PUBLISH on `channel` here (channel subscribers plus each matching
  // pattern's subscribers), or of an SPUBLISH when kind is kShardChannel.
  uint32_t count_receivers(TopicKind kind, std::string_view channel) const;
  uint32_t count_channel(TopicKind kind, std::string_view channel) const;
  template <class F>
  void for_each(TopicKind kind, F&& f) const;
  // Any shard: a walk over the channels (or shard channels) with subscribers that can stop and
  // resume across quiescent states. Calls f(node) for each one not visited yet, and stops
  // at the end of a bucket once `budget` nodes were visited; the cursor says where to resume and
  // when the walk is done. Buckets are visited in order (cache- and TLB-friendly); buckets only
  // ever grow (each splitting in two), so after growth the walk visits, for each bucket of the
  // table it began on, every bucket of the current table that bucket split into: each channel
  // present throughout is visited exactly once. Returns the nodes visited.
  struct WalkCursor {
    uint64_t next = 0;   // the next bucket of the table the walk began on
    uint64_t mask0 = 0;  // that table's mask (0: not begun)
    bool done = false;
  };
  template <class F>
  size_t walk_channels(TopicKind kind, WalkCursor* cursor, size_t budget, F&& f) const;

  size_t size(TopicKind kind) const { return sizes_[static_cast<int>(kind)]; }
  static uint64_t hash_key(std::string_view s) { return std::hash<std::string_view>()(s); }

 private:
  uint32_t next_seq_ = 0;  // Subscription::seq
  TopicObserver* observer_ = nullptr;
  struct Link {
    TopicNode* node;
    std::atomic<Link*> next{nullptr};
  };
  struct Buckets {
    explicit Buckets(size_t n) : mask(n - 1), heads(new std::atomic<Link*>[n]) {
      for (size_t i = 0; i < n; ++i) heads[i].store(nullptr, std::memory_order_relaxed);
    }
    ~Buckets() { delete[] heads; }
    size_t mask;
    std::atomic<Link*>* heads;
  };
  struct Map {
    std::atomic<Buckets*> buckets{nullptr};
  };

  Map& map(TopicKind k) { return k == TopicKind::kShardChannel ? shard_channels_ : channels_; }
  const Map& map(TopicKind k) const { return k == TopicKind::kShardChannel ? shard_channels_ : channels_; }
  TopicNode* map_find(const Map& m, std::string_view key, uint64_t h) const;
  TopicNode* map_insert(TopicKind kind, std::string_view key, uint64_t h);
  void map_erase(Map& m, TopicNode* node);
  void grow(Map& m, size_t size);
  TopicNode* pattern_find(std::string_view key) const;
  TopicNode* pattern_insert(std::string_view key);
  void pattern_erase(TopicNode* node);
  void remove_sub(Subscription* s);

  RetireList* retire_;
  Map channels_;
  Map shard_channels_;
  std::atomic<TopicNode*> patterns_{nullptr};
  size_t sizes_[3] = {0, 0, 0};
};

template <class F>
void TopicTable::for_each(TopicKind kind, F&& f) const {
  if (kind == TopicKind::kPattern) {
    for (TopicNode* n = patterns_head(); n; n = n->next.load(std::memory_order_acquire)) {
      uint32_t c = n->count.load(std::memory_order_acquire);
      if (c) f(n->key, c);
    }
    return;
  }
  Buckets* b = map(kind).buckets.load(std::memory_order_acquire);
  for (size_t i = 0; i <= b->mask; ++i) {
    for (Link* l = b->heads[i].load(std::memory_order_acquire); l;
         l = l->next.load(std::memory_order_acquire)) {
      uint32_t c = l->node->count.load(std::memory_order_acquire);
      if (c) f(l->node->key, c);
    }
  }
}

template <class F>
size_t TopicTable::walk_channels(TopicKind kind, TopicTable::WalkCursor* c, size_t budget, F&& f) const {
  Buckets* b = map(kind).buckets.load(std::memory_order_acquire);
  if (c->mask0 == 0) c->mask0 = b->mask;
  const uint64_t step = c->mask0 + 1;  // a bucket of the first table split into every `step`th
  size_t visited = 0;
  while (c->next <= c->mask0 && visited < budget) {
    for (uint64_t i = c->next; i <= b->mask; i += step) {
      for (Link* l = b->heads[i].load(std::memory_order_acquire); l;
           l = l->next.load(std::memory_order_acquire)) {
        ++visited;
        if (l->node->count.load(std::memory_order_acquire)) f(static_cast<const TopicNode&>(*l->node));
      }
    }
    ++c->next;
  }
  c->done = c->next > c->mask0;
  return visited;
}

}  // namespace fanout
