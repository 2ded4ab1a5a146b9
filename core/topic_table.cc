#include "core/topic_table.h"

#include "core/resp_writer.h"

namespace fanout {

TopicTable::TopicTable(RetireList* retire, size_t initial_buckets) : retire_(retire) {
  size_t n = 16;
  while (n < initial_buckets) n <<= 1;
  channels_.buckets.store(new Buckets(n), std::memory_order_release);
  shard_channels_.buckets.store(new Buckets(n), std::memory_order_release);
}

TopicTable::~TopicTable() {
  // Owner teardown after all shards stopped: free directly.
  for (Map* m : {&channels_, &shard_channels_}) {
    Buckets* b = m->buckets.load(std::memory_order_relaxed);
    for (size_t i = 0; i <= b->mask; ++i) {
      Link* l = b->heads[i].load(std::memory_order_relaxed);
      while (l) {
        Link* next = l->next.load(std::memory_order_relaxed);
        delete l->node;
        delete l;
        l = next;
      }
    }
    delete b;
  }
  TopicNode* p = patterns_.load(std::memory_order_relaxed);
  while (p) {
    TopicNode* next = p->next.load(std::memory_order_relaxed);
    delete p;
    p = next;
  }
}

TopicNode* TopicTable::map_find(const Map& m, std::string_view key, uint64_t h) const {
  Buckets* b = m.buckets.load(std::memory_order_acquire);
  for (Link* l = b->heads[h & b->mask].load(std::memory_order_acquire); l;
       l = l->next.load(std::memory_order_acquire)) {
    if (l->node->hash == h && l->node->key == key) return l->node;
  }
  return nullptr;
}

void TopicTable::grow(Map& m, size_t size) {
  Buckets* old = m.buckets.load(std::memory_order_relaxed);
  if (size <= (old->mask + 1)) return;
  // Readers may be walking the old chains, so they are left intact and retired whole; the new
  // table gets fresh links.
  auto* fresh = new Buckets((old->mask + 1) * 2);
  for (size_t i = 0; i <= old->mask; ++i) {
    for (Link* l = old->heads[i].load(std::memory_order_relaxed); l;
         l = l->next.load(std::memory_order_relaxed)) {
      auto* nl = new Link{l->node};
      auto& head = fresh->heads[l->node->hash & fresh->mask];
      nl->next.store(head.load(std::memory_order_relaxed), std::memory_order_relaxed);
      head.store(nl, std::memory_order_relaxed);
    }
  }
  m.buckets.store(fresh, std::memory_order_release);
  for (size_t i = 0; i <= old->mask; ++i) {
    Link* l = old->heads[i].load(std::memory_order_relaxed);
    while (l) {
      Link* next = l->next.load(std::memory_order_relaxed);
      retire_->retire(l);
      l = next;
    }
  }
  retire_->retire(old);
}

TopicNode* TopicTable::map_insert(TopicKind kind, std::string_view key, uint64_t h) {
  Map& m = map(kind);
  size_t* size = &sizes_[static_cast<int>(kind)];
  grow(m, *size + 1);
  Buckets* b = m.buckets.load(std::memory_order_relaxed);
  auto* node = new TopicNode(kind, key, h);
  auto* link = new Link{node};
  auto& head = b->heads[h & b->mask];
  link->next.store(head.load(std::memory_order_relaxed), std::memory_order_relaxed);
  head.store(link, std::memory_order_release);
  ++*size;
  return node;
}

void TopicTable::map_erase(Map& m, TopicNode* node) {
  Buckets* b = m.buckets.load(std::memory_order_relaxed);
  std::atomic<Link*>* prev = &b->heads[node->hash & b->mask];
  for (Link* l = prev->load(std::memory_order_relaxed); l; l = prev->load(std::memory_order_relaxed)) {
    if (l->node == node) {
      prev->store(l->next.load(std::memory_order_relaxed), std::memory_order_release);
      retire_->retire(l);
      retire_->retire(node);
      return;
    }
    prev = &l->next;
  }
  assert(false && "node not in its bucket");
}

TopicNode* TopicTable::pattern_find(std::string_view key) const {
  for (TopicNode* n = patterns_.load(std::memory_order_acquire); n;
       n = n->next.load(std::memory_order_acquire)) {
    if (n->key == key) return n;
  }
  return nullptr;
}

TopicNode* TopicTable::pattern_insert(std::string_view key) {
  auto* node = new TopicNode(TopicKind::kPattern, key, 0);
  resp::StringOut out{&node->pmessage_header[0]};
  resp::array(out, 4);
  resp::bulk(out, "pmessage");
  resp::bulk(out, key);
  node->pmessage_header[1] = node->pmessage_header[0];
  node->pmessage_header[1][0] = '>';
  node->next.store(patterns_.load(std::memory_order_relaxed), std::memory_order_relaxed);
  patterns_.store(node, std::memory_order_release);
  return node;
}

void TopicTable::pattern_erase(TopicNode* node) {
  std::atomic<TopicNode*>* prev = &patterns_;
  for (TopicNode* n = prev->load(std::memory_order_relaxed); n; n = prev->load(std::memory_order_relaxed)) {
    if (n == node) {
      prev->store(n->next.load(std::memory_order_relaxed), std::memory_order_release);
      retire_->retire(n);
      return;
    }
    prev = &n->next;
  }
  assert(false && "pattern not in list");
}

TopicNode* TopicTable::find(TopicKind kind, std::string_view name) const {
  if (kind == TopicKind::kPattern) return pattern_find(name);
  return map_find(map(kind), name, hash_key(name));
}

bool TopicTable::subscribe(TopicKind kind, std::string_view name, void* owner, ClientSubs* subs) {
  auto [it, inserted] = subs->try_emplace(std::string(name));
  if (!inserted) return false;
  TopicNode* node = find(kind, name);
  if (node == nullptr) {
    if (kind == TopicKind::kPattern) {
      node = pattern_insert(name);
      ++sizes_[static_cast<int>(kind)];
    } else {
      node = map_insert(kind, name, hash_key(name));
    }
  }
  Subscription& s = it->second;
  s.owner = owner;
  s.node = node;
  s.pos = static_cast<uint32_t>(node->subs.size());
  s.seq = next_seq_++;
  node->subs.push_back(SubRef{owner, &s});
  node->count.store(static_cast<uint32_t>(node->subs.size()), std::memory_order_release);
  if (observer_ && node->subs.size() == 1) observer_->topic_added(node);
  return true;
}

void TopicTable::remove_sub(Subscription* s) {
  TopicNode* node = s->node;
  const TopicKind kind = node->kind;
  SubRef last = node->subs.back();
  node->subs[s->pos] = last;
  last.sub->pos = s->pos;
  node->subs.pop_back();
  node->count.store(static_cast<uint32_t>(node->subs.size()), std::memory_order_release);
  if (!node->subs.empty()) return;
  if (observer_) observer_->topic_removed(node);
  --sizes_[static_cast<int>(kind)];
  if (kind == TopicKind::kPattern) {
    pattern_erase(node);
  } else {
    map_erase(map(kind), node);
  }
}

bool TopicTable::unsubscribe(TopicKind kind, std::string_view name, ClientSubs* subs) {
  auto it = subs->find(std::string(name));
  if (it == subs->end()) return false;
  remove_sub(&it->second);
  subs->erase(it);
  return true;
}

void TopicTable::unsubscribe(ClientSubs::iterator it, ClientSubs* subs) {
  remove_sub(&it->second);
  subs->erase(it);
}

const TopicNode* TopicTable::lookup(TopicKind kind, std::string_view name) const {
  const TopicNode* n = map_find(map(kind), name, hash_key(name));
  return n != nullptr && n->count.load(std::memory_order_acquire) != 0 ? n : nullptr;
}

uint32_t TopicTable::count_channel(TopicKind kind, std::string_view channel) const {
  if (kind == TopicKind::kPattern) {
    TopicNode* n = pattern_find(channel);
    return n ? n->count.load(std::memory_order_acquire) : 0;
  }
  TopicNode* n = map_find(map(kind), channel, hash_key(channel));
  return n ? n->count.load(std::memory_order_acquire) : 0;
}

uint32_t TopicTable::count_receivers(TopicKind kind, std::string_view channel) const {
  uint32_t total = count_channel(kind, channel);
  if (kind != TopicKind::kChannel) return total;
  for (TopicNode* n = patterns_head(); n; n = n->next.load(std::memory_order_acquire)) {
    uint32_t c = n->count.load(std::memory_order_acquire);
    if (c && glob_match(n->key, channel)) total += c;
  }
  return total;
}

}  // namespace fanout
