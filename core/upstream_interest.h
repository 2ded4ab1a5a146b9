// The upstream (NATS) subscriptions one shard keeps for its node (issue 13's tier): which
// subjects, under which sids, for which shards, and what must go on the wire next. Pure: the
// caller passes the time, writes SUB/UNSUB/PING itself and reports what the server confirmed.
//
// How interest flows (DESIGN.md, "An upstream link"): each subject has one owner shard
// (upstream_owner()); a shard whose local table gains its first subscriber of a channel (or the
// first pattern with a given covering subject) tells the owner with a control item on their ring,
// and tells it again when its last one leaves. The owner's UpstreamInterest then:
//   - subscribes on the first shard's interest (a new sid, queued for the next batch);
//   - on the last shard's loss lingers `linger_ms` (churn does not become upstream traffic:
//     interest regained meanwhile cancels the UNSUB), then unsubscribes;
//   - sends SUBs in batches of at most `batch` lines, each batch followed by a PING, the next
//     batch only after its PONG: the PONG confirms every SUB before it (NATS answers in order;
//     a refused SUB's -ERR comes before the PONG), so confirmed() is what the server holds;
//   - after a reconnect (link_down, then link_up) re-sends every live subscription in the same
//     batches (no storm), keeping each sid, and audit() then checks the confirmed set against
//     local interest.
// Thread: its owner shard's only.
#pragma once

#include <bitset>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

namespace fanout {

// What an upstream subscription stands for, which decides whom its messages reach: the
// subscribers of one channel, of one shard channel, or the patterns whose covering subject it is.
enum class UpstreamKind : uint8_t { kChannel = 0, kShardChannel = 1, kPatternCover = 2 };

// The shard that owns the upstream subscription of (kind, subject) among `shards` (>= 1): the
// same answer on every shard of a process (FNV-1a over the subject, then the kind).
int upstream_owner(UpstreamKind kind, std::string_view subject, int shards);

// Shards a node may have (ServerConfig's --shards bound).
inline constexpr int kMaxUpstreamShards = 256;

struct UpstreamSub {
  UpstreamKind kind = UpstreamKind::kChannel;
  std::string subject;   // NATS subject: a mapped channel, or a covering wildcard
  uint64_t sid = 0;      // NATS subscription id on this shard's link, kept across reconnects
  std::bitset<kMaxUpstreamShards> shards;  // shards with local interest
  int64_t linger_until_ms = -1;  // no shard interested: UNSUB at this time (-1: not lingering)
  // kRefused: the server answered its SUB with an -ERR (a permissions violation): not retried
  // until the link reconnects, so a refusal cannot become a loop of SUBs.
  enum class Wire : uint8_t { kUnsent, kInBatch, kConfirmed, kRefused } wire = Wire::kUnsent;
};

class UpstreamInterest {
 public:
  // linger_ms: how long a subscription outlives its last local subscriber (ms, >= 0); batch:
  // SUB lines per confirmed batch (>= 1).
  UpstreamInterest(int64_t linger_ms, size_t batch);

  // Shard `shard` (0..kMaxUpstreamShards-1) gained local interest in (kind, subject). Returns the
  // subscription; a new one is queued for the next batch, a lingering one stops lingering.
  const UpstreamSub& gain(UpstreamKind kind, std::string_view subject, int shard);
  // Shard `shard` lost it (no-op if it had none or the subscription is unknown). The last loss
  // starts the linger at now_ms.
  void lose(UpstreamKind kind, std::string_view subject, int shard, int64_t now_ms);

  // One step of the link's writing, at now_ms. Appends to *unsubs the sids whose linger ended (the
  // caller writes UNSUB for each while connected; they are forgotten either way), and, when
  // connected and no batch awaits its PONG, moves up to `batch` unsent subscriptions to *subs
  // (the caller writes their SUBs then one PING, and calls batch_confirmed() on that PONG).
  // Returns the number of SUBs handed out.
  size_t step(int64_t now_ms, bool connected, std::vector<const UpstreamSub*>* subs, std::vector<uint64_t>* unsubs);
  // The PONG after the last batch arrived: its subscriptions are confirmed.
  void batch_confirmed();
  // The server refused the subscription `sid` (an -ERR naming its subject): kRefused until the
  // link reconnects.
  void refused(uint64_t sid);
  // A batch's PING is outstanding: no next batch until its PONG (batch_confirmed), even if every
  // subscription of the batch was refused or forgotten meanwhile (the pacing holds).
  bool batch_in_flight() const { return batch_open_; }
  // The earliest time a linger ends (ms), or INT64_MAX: when step() next has work without new
  // interest.
  int64_t next_deadline_ms() const;

  // The link went down: nothing is confirmed any more and every live subscription will be sent
  // again once it is back (same sids); lingering ones whose time comes meanwhile are dropped
  // without an UNSUB (the server forgot them with the connection).
  void link_down();

  // The subscription a message's sid stands for; null for a sid this shard no longer holds (a
  // message that crossed its UNSUB).
  const UpstreamSub* by_sid(uint64_t sid) const;
  const UpstreamSub* find(UpstreamKind kind, std::string_view subject) const;

  // After a resubscription completed, checks each subscription against the shards' real
  // interest, has_interest(kind, subject, shard) -> bool for shard in [0, shards): a shard bit that
  // disagrees is corrected; a subscription with interest that the server has not confirmed is
  // queued again; one left with no interest starts its linger. Counts what it repaired (all zero
  // when nothing was lost). Interest the owner never heard of is not looked for: control items on
  // the rings are never dropped.
  struct Audit {
    size_t shard_bits = 0;   // bits corrected
    size_t unconfirmed = 0;  // interest the server does not hold: (still) queued
    size_t orphaned = 0;     // lingering now
  };
  template <class HasInterest>
  Audit audit(int shards, int64_t now_ms, HasInterest&& has_interest) {
    Audit a;
    for (auto& [k, s] : by_key_) {
      for (int i = 0; i < shards && i < kMaxUpstreamShards; ++i) {
        const bool real = has_interest(s->kind, std::string_view(s->subject), i);
        if (real == s->shards.test(static_cast<size_t>(i))) continue;
        s->shards.set(static_cast<size_t>(i), real);
        ++a.shard_bits;
      }
      if (s->shards.any()) {
        s->linger_until_ms = -1;
        if (s->wire == UpstreamSub::Wire::kConfirmed) continue;
        ++a.unconfirmed;
        // Sent but unconfirmed: again. Unsent ones are queued already; refused ones wait for a
        // reconnect (a refusal must not become a loop of SUBs).
        if (s->wire == UpstreamSub::Wire::kInBatch) requeue(s.get());
      } else if (s->linger_until_ms < 0) {
        ++a.orphaned;
        start_linger(s.get(), now_ms);
      }
    }
    return a;
  }

  size_t size() const { return by_key_.size(); }
  size_t confirmed() const { return confirmed_; }
  size_t unsent() const { return unsent_count_; }

 private:
  static std::string key(UpstreamKind kind, std::string_view subject);
  void forget(UpstreamSub* s);
  void requeue(UpstreamSub* s);
  void start_linger(UpstreamSub* s, int64_t now_ms);

  int64_t linger_ms_;
  size_t batch_;
  uint64_t next_sid_ = 1;
  size_t confirmed_ = 0;
  std::unordered_map<std::string, std::unique_ptr<UpstreamSub>> by_key_;
  std::unordered_map<uint64_t, UpstreamSub*> by_sid_;
  std::vector<UpstreamSub*> in_batch_;  // handed out, awaiting the batch's PONG
  bool batch_open_ = false;
  // Lingering subscriptions in the order their lingers end (all are linger_ms long); an entry whose
  // sid is gone or lingers until another time is stale and skipped.
  std::deque<std::pair<int64_t, uint64_t>> lingering_;
  // Subscriptions to send, oldest first; stale entries (gone, or no longer kUnsent) are skipped.
  std::deque<uint64_t> unsent_;
  size_t unsent_count_ = 0;
};

}  // namespace fanout
