#include "core/upstream_interest.h"

#include <algorithm>
#include <climits>

namespace fanout {

int upstream_owner(UpstreamKind kind, std::string_view subject, int shards) {
  if (shards <= 1) return 0;
  uint64_t h = 14695981039346656037ull;  // FNV-1a, 64-bit
  for (unsigned char ch : subject) {
    h ^= ch;
    h *= 1099511628211ull;
  }
  h ^= static_cast<uint8_t>(kind);
  h *= 1099511628211ull;
  return static_cast<int>(h % static_cast<uint64_t>(shards));
}

UpstreamInterest::UpstreamInterest(int64_t linger_ms, size_t batch)
    : linger_ms_(std::max<int64_t>(linger_ms, 0)), batch_(std::max<size_t>(batch, 1)) {}

std::string UpstreamInterest::key(UpstreamKind kind, std::string_view subject) {
  std::string k(1, static_cast<char>(kind));
  k.append(subject);
  return k;
}

const UpstreamSub& UpstreamInterest::gain(UpstreamKind kind, std::string_view subject, int shard) {
  auto [it, fresh] = by_key_.try_emplace(key(kind, subject));
  if (fresh) {
    it->second = std::make_unique<UpstreamSub>();
    UpstreamSub* s = it->second.get();
    s->kind = kind;
    s->subject = std::string(subject);
    s->sid = next_sid_++;
    by_sid_.emplace(s->sid, s);
    unsent_.push_back(s->sid);
    ++unsent_count_;
  }
  UpstreamSub* s = it->second.get();
  if (shard >= 0 && shard < kMaxUpstreamShards) s->shards.set(static_cast<size_t>(shard));
  s->linger_until_ms = -1;  // a stale lingering_ entry is skipped
  return *s;
}

void UpstreamInterest::lose(UpstreamKind kind, std::string_view subject, int shard, int64_t now_ms) {
  auto it = by_key_.find(key(kind, subject));
  if (it == by_key_.end() || shard < 0 || shard >= kMaxUpstreamShards) return;
  UpstreamSub* s = it->second.get();
  s->shards.reset(static_cast<size_t>(shard));
  if (s->shards.none() && s->linger_until_ms < 0) start_linger(s, now_ms);
}

void UpstreamInterest::start_linger(UpstreamSub* s, int64_t now_ms) {
  s->linger_until_ms = now_ms + linger_ms_;
  lingering_.emplace_back(s->linger_until_ms, s->sid);
}

void UpstreamInterest::requeue(UpstreamSub* s) {
  if (s->wire == UpstreamSub::Wire::kConfirmed) --confirmed_;
  s->wire = UpstreamSub::Wire::kUnsent;
  unsent_.push_back(s->sid);
  ++unsent_count_;
}

void UpstreamInterest::forget(UpstreamSub* s) {
  if (s->wire == UpstreamSub::Wire::kConfirmed) --confirmed_;
  if (s->wire == UpstreamSub::Wire::kUnsent) --unsent_count_;  // its queue entry goes stale
  std::erase(in_batch_, s);
  by_sid_.erase(s->sid);
  by_key_.erase(key(s->kind, s->subject));  // frees s
}

size_t UpstreamInterest::step(int64_t now_ms, bool connected, std::vector<const UpstreamSub*>* subs,
                              std::vector<uint64_t>* unsubs) {
  // Lingers that ended: those sent (or being sent) need an UNSUB on a live link.
  while (!lingering_.empty() && lingering_.front().first <= now_ms) {
    const auto [until, sid] = lingering_.front();
    lingering_.pop_front();
    auto it = by_sid_.find(sid);
    if (it == by_sid_.end() || it->second->linger_until_ms != until) continue;  // regained or gone
    UpstreamSub* s = it->second;
    if (connected && s->wire != UpstreamSub::Wire::kUnsent) unsubs->push_back(sid);
    forget(s);
  }
  if (!connected || batch_open_) return 0;
  size_t n = 0;
  while (n < batch_ && !unsent_.empty()) {
    const uint64_t sid = unsent_.front();
    unsent_.pop_front();
    auto it = by_sid_.find(sid);
    if (it == by_sid_.end() || it->second->wire != UpstreamSub::Wire::kUnsent) continue;
    UpstreamSub* s = it->second;
    s->wire = UpstreamSub::Wire::kInBatch;
    --unsent_count_;
    in_batch_.push_back(s);
    subs->push_back(s);
    ++n;
  }
  batch_open_ = n > 0;
  return n;
}

void UpstreamInterest::batch_confirmed() {
  for (UpstreamSub* s : in_batch_) {
    s->wire = UpstreamSub::Wire::kConfirmed;
    ++confirmed_;
  }
  in_batch_.clear();
  batch_open_ = false;
}

int64_t UpstreamInterest::next_deadline_ms() const {
  return lingering_.empty() ? INT64_MAX : lingering_.front().first;
}

void UpstreamInterest::refused(uint64_t sid) {
  auto it = by_sid_.find(sid);
  if (it == by_sid_.end()) return;
  UpstreamSub* s = it->second;
  if (s->wire == UpstreamSub::Wire::kUnsent) --unsent_count_;  // its queue entry goes stale
  if (s->wire == UpstreamSub::Wire::kConfirmed) --confirmed_;
  std::erase(in_batch_, s);
  s->wire = UpstreamSub::Wire::kRefused;
}

void UpstreamInterest::link_down() {
  in_batch_.clear();
  batch_open_ = false;
  unsent_.clear();
  unsent_count_ = 0;
  confirmed_ = 0;
  for (auto& [k, s] : by_key_) {
    s->wire = UpstreamSub::Wire::kUnsent;
    unsent_.push_back(s->sid);
    ++unsent_count_;
  }
  // Oldest first, so a reconnect re-subscribes in the order interest arrived.
  std::sort(unsent_.begin(), unsent_.end());
}

const UpstreamSub* UpstreamInterest::by_sid(uint64_t sid) const {
  auto it = by_sid_.find(sid);
  return it == by_sid_.end() ? nullptr : it->second;
}

const UpstreamSub* UpstreamInterest::find(UpstreamKind kind, std::string_view subject) const {
  auto it = by_key_.find(key(kind, subject));
  return it == by_key_.end() ? nullptr : it->second.get();
}

}  // namespace fanout
