#include "core/upstream_interest.h"

#include <gtest/gtest.h>

#include <set>
#include <string>
#include <vector>

namespace fanout {
namespace {

constexpr auto kCh = UpstreamKind::kChannel;
constexpr auto kCover = UpstreamKind::kPatternCover;

// One step's wire output: the SUB subjects handed out and the UNSUB sids.
struct Wire {
  std::vector<std::string> subs;
  std::vector<uint64_t> unsubs;
};
Wire step(UpstreamInterest& u, int64_t now, bool connected = true) {
  std::vector<const UpstreamSub*> subs;
  Wire w;
  u.step(now, connected, &subs, &w.unsubs);
  for (const UpstreamSub* s : subs) w.subs.push_back(s->subject);
  return w;
}

TEST(UpstreamOwnerTest, EveryShardAgreesAndSubjectsSpread) {
  EXPECT_EQ(upstream_owner(kCh, "a", 1), 0);
  std::set<int> owners;
  for (int i = 0; i < 200; ++i) {
    const std::string s = "fanout.c.news." + std::to_string(i);
    const int o = upstream_owner(kCh, s, 4);
    ASSERT_GE(o, 0);
    ASSERT_LT(o, 4);
    EXPECT_EQ(o, upstream_owner(kCh, s, 4));
    owners.insert(o);
  }
  EXPECT_EQ(owners.size(), 4u);
}

TEST(UpstreamInterestTest, FirstInterestSubscribesOnceAndThePongConfirms) {
  UpstreamInterest u(1000, 64);
  const uint64_t sid = u.gain(kCh, "fanout.c.a", 0).sid;
  EXPECT_EQ(u.gain(kCh, "fanout.c.a", 1).sid, sid);  // a second shard: same subscription
  EXPECT_EQ(u.unsent(), 1u);
  Wire w = step(u, 0);
  EXPECT_EQ(w.subs, std::vector<std::string>{"fanout.c.a"});
  EXPECT_TRUE(u.batch_in_flight());
  EXPECT_EQ(u.confirmed(), 0u);
  u.gain(kCh, "fanout.c.b", 0);
  EXPECT_TRUE(step(u, 1).subs.empty());  // waits for the first batch's PONG
  u.batch_confirmed();
  EXPECT_EQ(u.confirmed(), 1u);
  EXPECT_EQ(step(u, 2).subs, std::vector<std::string>{"fanout.c.b"});
  EXPECT_EQ(u.by_sid(sid)->subject, "fanout.c.a");
  EXPECT_EQ(u.by_sid(9999), nullptr);
}

TEST(UpstreamInterestTest, TheLastLossLingersThenUnsubscribes) {
  UpstreamInterest u(1000, 64);
  const uint64_t sid = u.gain(kCh, "fanout.c.a", 0).sid;
  u.gain(kCh, "fanout.c.a", 1);
  step(u, 0);
  u.batch_confirmed();
  u.lose(kCh, "fanout.c.a", 0, 100);
  EXPECT_TRUE(step(u, 5000).unsubs.empty());  // shard 1 still wants it
  EXPECT_EQ(u.next_deadline_ms(), INT64_MAX);
  u.lose(kCh, "fanout.c.a", 1, 5000);
  EXPECT_EQ(u.next_deadline_ms(), 6000);
  EXPECT_TRUE(step(u, 5999).unsubs.empty());  // lingering
  EXPECT_EQ(step(u, 6000).unsubs, std::vector<uint64_t>{sid});
  EXPECT_EQ(u.size(), 0u);
  EXPECT_EQ(u.confirmed(), 0u);
  EXPECT_EQ(u.by_sid(sid), nullptr);
}

TEST(UpstreamInterestTest, InterestRegainedWhileLingeringCostsNoWireTraffic) {
  UpstreamInterest u(1000, 64);
  const uint64_t sid = u.gain(kCh, "fanout.c.a", 0).sid;
  step(u, 0);
  u.batch_confirmed();
  for (int i = 0; i < 50; ++i) {  // churn: leave and come back, many times
    u.lose(kCh, "fanout.c.a", 0, 10 * i);
    EXPECT_EQ(u.gain(kCh, "fanout.c.a", 0).sid, sid);
    const Wire w = step(u, 10 * i + 5);
    EXPECT_TRUE(w.subs.empty());
    EXPECT_TRUE(w.unsubs.empty());
  }
  EXPECT_TRUE(step(u, 100'000).unsubs.empty());  // the stale lingers are skipped
  EXPECT_EQ(u.confirmed(), 1u);
}

TEST(UpstreamInterestTest, ASubscriptionGoneBeforeItWasSentNeedsNoUnsub) {
  UpstreamInterest u(0, 64);
  u.gain(kCh, "fanout.c.a", 0);
  u.lose(kCh, "fanout.c.a", 0, 10);
  const Wire w = step(u, 10);
  EXPECT_TRUE(w.subs.empty());
  EXPECT_TRUE(w.unsubs.empty());
  EXPECT_EQ(u.unsent(), 0u);
  EXPECT_EQ(u.size(), 0u);
}

TEST(UpstreamInterestTest, OneEndingWhileItsBatchAwaitsThePongIsUnsubscribed) {
  UpstreamInterest u(0, 64);
  const uint64_t a = u.gain(kCh, "fanout.c.a", 0).sid;
  u.gain(kCh, "fanout.c.b", 0);
  EXPECT_EQ(step(u, 0).subs.size(), 2u);
  u.lose(kCh, "fanout.c.a", 0, 1);
  EXPECT_EQ(step(u, 1).unsubs, std::vector<uint64_t>{a});
  u.batch_confirmed();
  EXPECT_EQ(u.confirmed(), 1u);
}

TEST(UpstreamInterestTest, BatchesAreBoundedAndAReconnectResendsEverythingWithTheSameSids) {
  UpstreamInterest u(1000, 3);
  std::vector<uint64_t> sids;
  for (int i = 0; i < 7; ++i) sids.push_back(u.gain(kCh, "fanout.c." + std::to_string(i), i % 2).sid);
  size_t batches = 0, sent = 0;
  for (int round = 0; round < 10 && u.unsent() > 0; ++round) {
    const Wire w = step(u, round);
    EXPECT_LE(w.subs.size(), 3u);
    sent += w.subs.size();
    ++batches;
    u.batch_confirmed();
  }
  EXPECT_EQ(sent, 7u);
  EXPECT_EQ(batches, 3u);
  EXPECT_EQ(u.confirmed(), 7u);
  u.link_down();
  EXPECT_EQ(u.confirmed(), 0u);
  EXPECT_EQ(u.unsent(), 7u);
  EXPECT_TRUE(step(u, 20, false).subs.empty());  // nothing goes out while down
  std::vector<std::string> again;
  for (int round = 0; round < 10 && u.unsent() > 0; ++round) {
    const Wire w = step(u, 30 + round);
    again.insert(again.end(), w.subs.begin(), w.subs.end());
    u.batch_confirmed();
  }
  ASSERT_EQ(again.size(), 7u);
  for (int i = 0; i < 7; ++i) {
    EXPECT_EQ(again[static_cast<size_t>(i)], "fanout.c." + std::to_string(i));  // in the order interest came
    EXPECT_EQ(u.find(kCh, again[static_cast<size_t>(i)])->sid, sids[static_cast<size_t>(i)]);
  }
}

TEST(UpstreamInterestTest, ALingerEndingWhileTheLinkIsDownIsForgottenWithoutAnUnsub) {
  UpstreamInterest u(100, 64);
  u.gain(kCh, "fanout.c.a", 0);
  step(u, 0);
  u.batch_confirmed();
  u.lose(kCh, "fanout.c.a", 0, 10);
  u.link_down();
  EXPECT_TRUE(step(u, 200, false).unsubs.empty());
  EXPECT_EQ(u.size(), 0u);
  EXPECT_EQ(u.unsent(), 0u);
  EXPECT_TRUE(step(u, 300).subs.empty());
}

TEST(UpstreamInterestTest, ARefusedSubscriptionIsNotRetriedUntilTheLinkReconnects) {
  UpstreamInterest u(1000, 64);
  const uint64_t sid = u.gain(kCh, "fanout.c.secret", 0).sid;
  step(u, 0);
  u.refused(sid);
  u.batch_confirmed();
  EXPECT_EQ(u.confirmed(), 0u);
  EXPECT_TRUE(step(u, 1).subs.empty());
  EXPECT_EQ(u.by_sid(sid)->wire, UpstreamSub::Wire::kRefused);
  u.link_down();
  EXPECT_EQ(step(u, 2).subs, std::vector<std::string>{"fanout.c.secret"});
}

// The review's finding: a batch emptied by a refusal or a lost interest before its PONG still
// holds the next batch back until that PONG, so each PONG confirms its own batch.
TEST(UpstreamInterestTest, ABatchEmptiedBeforeItsPongStillPacesTheNext) {
  UpstreamInterest u(0, 1);
  const uint64_t a = u.gain(kCh, "fanout.c.a", 0).sid;
  u.gain(kCh, "fanout.c.b", 0);
  EXPECT_EQ(step(u, 0).subs, std::vector<std::string>{"fanout.c.a"});
  u.refused(a);
  EXPECT_TRUE(u.batch_in_flight());
  EXPECT_TRUE(step(u, 1).subs.empty());  // b waits for a's batch's PONG
  u.batch_confirmed();
  EXPECT_EQ(step(u, 2).subs, std::vector<std::string>{"fanout.c.b"});
  u.lose(kCh, "fanout.c.b", 0, 3);
  step(u, 3);  // b's linger (0 ms) ends: UNSUB, forgotten
  EXPECT_TRUE(u.batch_in_flight());
  EXPECT_EQ(u.next_deadline_ms(), INT64_MAX);
  u.gain(kCh, "fanout.c.c", 0);
  EXPECT_TRUE(step(u, 4).subs.empty());
  u.batch_confirmed();
  EXPECT_EQ(step(u, 5).subs, std::vector<std::string>{"fanout.c.c"});
}

TEST(UpstreamInterestTest, TheAuditRepairsShardBitsAndQueuesWhatTheServerDoesNotHold) {
  UpstreamInterest u(1000, 64);
  u.gain(kCh, "fanout.c.a", 0);
  u.gain(kCover, "fanout.c.news.>", 1);
  const uint64_t refused = u.gain(kCh, "fanout.c.r", 1).sid;
  step(u, 0);
  u.refused(refused);
  u.batch_confirmed();
  // Nothing lost: the real interest is what the owner was told.
  auto told = [&](UpstreamKind k, std::string_view s, int shard) {
    const UpstreamSub* sub = u.find(k, s);
    return sub && sub->shards.test(static_cast<size_t>(shard));
  };
  UpstreamInterest::Audit a = u.audit(2, 0, told);
  EXPECT_EQ(a.shard_bits, 0u);
  EXPECT_EQ(a.unconfirmed, 1u);  // the refused one
  EXPECT_EQ(a.orphaned, 0u);
  EXPECT_TRUE(step(u, 1).subs.empty());  // and it is not sent again before a reconnect
  // Shard 0 in fact has no interest in fanout.c.a any more, and shard 1 has some: the bits
  // follow the truth; a subscription nobody wants lingers, then goes.
  auto real = [](UpstreamKind k, std::string_view s, int shard) {
    if (s == "fanout.c.a") return false;
    if (s == "fanout.c.news.>") return shard == 1;
    return shard == 1;
  };
  a = u.audit(2, 100, real);
  EXPECT_EQ(a.shard_bits, 1u);
  EXPECT_EQ(a.orphaned, 1u);
  EXPECT_EQ(step(u, 1100).unsubs.size(), 1u);
  EXPECT_EQ(u.find(kCh, "fanout.c.a"), nullptr);
  EXPECT_NE(u.find(kCover, "fanout.c.news.>"), nullptr);
}

TEST(UpstreamInterestTest, AChannelAndAPatternCoverOnTheSameSubjectAreTwoSubscriptions) {
  UpstreamInterest u(1000, 64);
  const uint64_t ch = u.gain(kCh, "fanout.c.news", 0).sid;
  const uint64_t cover = u.gain(kCover, "fanout.c.news", 0).sid;
  EXPECT_NE(ch, cover);
  EXPECT_EQ(step(u, 0).subs.size(), 2u);
  EXPECT_EQ(u.by_sid(ch)->kind, kCh);
  EXPECT_EQ(u.by_sid(cover)->kind, kCover);
}

}  // namespace
}  // namespace fanout
