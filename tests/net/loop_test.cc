// The shard loop across shards, with the order of events chosen by the test (SteppedShards):
// - a PUBLISH blocked on a full ring sleeps until the stalled peer makes room (no busy loop), then
//   completes;
// - documented semantics pinned, so that a change to them is deliberate (README, "Semantics"):
//   PUBLISH counts receivers on every shard at publish time; a remote subscriber that closes
//   before its shard drains the message was counted and gets nothing; one that subscribes after
//   the count, before its shard drains the message, receives it uncounted; subscribers on
//   different shards may see two publishers' messages in different orders; INFO's
//   pubsub_channels counts a channel once per shard that has subscribers for it.
// Every case runs on both backends.
#include <gtest/gtest.h>

#include <chrono>
#include <set>
#include <thread>

#include "net/epoll_backend.h"
#include "net/io_uring_backend.h"
#include "tests/net/stepped_shards.h"
#include "tests/net/subscribers.h"

namespace fanout::test {
namespace {

// Reads whatever has arrived, without blocking; true if a whole value was there.
bool poll_value(TestClient& c, RespValue* v) {
  if (c.next_buffered(v)) return true;
  c.fill(0);
  return c.next_buffered(v);
}

std::string payload_of(const RespValue& v) { return v.elements.size() == 3 ? v.elements[2].str : ""; }

template <class Backend>
class LoopTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if constexpr (std::is_same_v<Backend, IoUringBackend>) {
      std::string why = io_uring_unavailable_reason();
      if (!why.empty()) GTEST_SKIP() << "io_uring backend skipped: " << why;
    }
    cfg.port = kPortAuto;
  }
  // Steps shard s until client c has a whole reply, which it returns.
  RespValue reply(SteppedShards<Backend>& h, int s, TestClient& c) {
    RespValue v;
    EXPECT_TRUE(h.step_until(s, [&] { return poll_value(c, &v); })) << "no reply from shard " << s;
    return v;
  }
  // Steps shard s until client c has n whole replies (discarded).
  void skip_replies(SteppedShards<Backend>& h, int s, TestClient& c, size_t n) {
    size_t got = 0;
    RespValue v;
    EXPECT_TRUE(h.step_until(s, [&] {
      while (got < n && poll_value(c, &v)) ++got;
      return got == n;
    }));
  }
  // Client c of shard s subscribes to prefix + first, ..., prefix + (first + n - 1) in one
  // SUBSCRIBE; returns once every confirmation has come.
  void subscribe_numbered(SteppedShards<Backend>& h, int s, TestClient& c, const std::string& prefix, int n,
                          int first = 0) {
    std::vector<std::string> args = {"SUBSCRIBE"};
    for (int i = first; i < first + n; ++i) args.push_back(prefix + std::to_string(i));
    c.command(args);
    skip_replies(h, s, c, static_cast<size_t>(n));
  }
  // A client of shard s, accepted and reading (its first command is then seen in one step).
  std::unique_ptr<TestClient> client(SteppedShards<Backend>& h, int s) {
    auto c = TestClient::connect(h.port(s));
    c->command({"PING"});
    EXPECT_EQ(reply(h, s, *c).str, "PONG");
    return c;
  }

  ServerConfig cfg;
};

using Backends = ::testing::Types<EpollBackend, IoUringBackend>;
TYPED_TEST_SUITE(LoopTest, Backends);

TYPED_TEST(LoopTest, APublisherBlockedOnAStalledPeerSleepsUntilThePeerMakesRoom) {
  this->cfg.mailbox_depth = 4;
  SteppedShards<TypeParam> h(this->cfg, 2);
  auto sub = this->client(h, 1);
  sub->command({"SUBSCRIBE", "x"});
  ASSERT_TRUE(is_push(this->reply(h, 1, *sub), "subscribe"));
  // Shard 1 is stalled from here: it runs no iteration until the test says.
  h.run_in_background(0);
  auto pub = TestClient::connect(h.port(0));
  constexpr int kMessages = 20;
  std::string batch;
  for (int i = 0; i < kMessages; ++i) batch += encode_command({"PUBLISH", "x", std::to_string(i)});
  pub->send_raw(batch);
  ShardStats& st = h.shared().stats[0];
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (st.blocked_on_mailbox.get() == 0 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  ASSERT_EQ(st.blocked_on_mailbox.get(), 1u);
  // Blocked: the shard sleeps (its timers wake it about once a second), it does not spin.
  uint64_t before = st.loop_iterations.get();
  std::this_thread::sleep_for(std::chrono::seconds(1));
  uint64_t iterations = st.loop_iterations.get() - before;
  EXPECT_LE(iterations, 5u) << "a blocked publisher's shard ran " << iterations << " iterations in a second";
  // The peer resumes: each drain makes room and wakes the publisher's shard, which goes on.
  std::vector<std::string> got;
  ASSERT_TRUE(h.step_until(1, [&] {
    RespValue v;
    while (poll_value(*sub, &v)) got.push_back(payload_of(v));
    return got.size() == static_cast<size_t>(kMessages);
  }));
  for (int i = 0; i < kMessages; ++i) EXPECT_EQ(got[i], std::to_string(i));
  for (int i = 0; i < kMessages; ++i) {
    RespValue r;
    ASSERT_TRUE(pub->read(&r)) << i;
    EXPECT_EQ(r.integer, 1) << i;
  }
}

TYPED_TEST(LoopTest, PublishCountsRemoteReceiversAtPublishTime) {
  SteppedShards<TypeParam> h(this->cfg, 2);
  auto gone = this->client(h, 1), stays = this->client(h, 1), late = this->client(h, 1);
  gone->command({"SUBSCRIBE", "c"});
  ASSERT_TRUE(is_push(this->reply(h, 1, *gone), "subscribe"));
  stays->command({"SUBSCRIBE", "c"});
  ASSERT_TRUE(is_push(this->reply(h, 1, *stays), "subscribe"));
  auto pub = this->client(h, 0);
  pub->command({"PUBLISH", "c", "m1"});
  // Counted on shard 1 at publish time, while the message waits in shard 1's ring.
  EXPECT_EQ(this->reply(h, 0, *pub).integer, 2);
  // Before shard 1 drains it (both reach the kernel before send() and close() return on
  // loopback): one counted subscriber leaves, and another client subscribes.
  gone->reset();
  late->command({"SUBSCRIBE", "c"});
  h.step(1);  // one iteration: the close and the SUBSCRIBE, then the ring
  EXPECT_TRUE(is_push(this->reply(h, 1, *late), "subscribe"));
  // Subscribed after the count, before the drain: it receives the message, uncounted.
  EXPECT_EQ(payload_of(this->reply(h, 1, *late)), "m1");
  EXPECT_EQ(payload_of(this->reply(h, 1, *stays)), "m1");
  // The next publish counts what is there now.
  pub->command({"PUBLISH", "c", "m2"});
  EXPECT_EQ(this->reply(h, 0, *pub).integer, 2);
}

TYPED_TEST(LoopTest, SubscribersOnDifferentShardsMaySeeTwoPublishersInDifferentOrders) {
  SteppedShards<TypeParam> h(this->cfg, 2);
  auto sub0 = this->client(h, 0), sub1 = this->client(h, 1);
  sub0->command({"SUBSCRIBE", "z"});
  ASSERT_TRUE(is_push(this->reply(h, 0, *sub0), "subscribe"));
  sub1->command({"SUBSCRIBE", "z"});
  ASSERT_TRUE(is_push(this->reply(h, 1, *sub1), "subscribe"));
  auto pub0 = this->client(h, 0), pub1 = this->client(h, 1);
  pub0->command({"PUBLISH", "z", "a"});
  EXPECT_EQ(this->reply(h, 0, *pub0).integer, 2);  // "a" is local to sub0 now, in the ring for sub1
  pub1->command({"PUBLISH", "z", "b"});
  h.step(1);  // one iteration: the PUBLISH delivers "b" locally, then the ring brings "a"
  EXPECT_EQ(this->reply(h, 1, *pub1).integer, 2);
  std::vector<std::string> seen0, seen1;
  for (int i = 0; i < 2; ++i) {
    seen0.push_back(payload_of(this->reply(h, 0, *sub0)));
    seen1.push_back(payload_of(this->reply(h, 1, *sub1)));
  }
  EXPECT_EQ(seen0, (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(seen1, (std::vector<std::string>{"b", "a"}));
}

TYPED_TEST(LoopTest, InfoCountsAChannelOncePerShardPubsubChannelsOnce) {
  SteppedShards<TypeParam> h(this->cfg, 2);
  auto sub0 = this->client(h, 0), sub1 = this->client(h, 1);
  sub0->command({"SUBSCRIBE", "both", "only0"});
  this->reply(h, 0, *sub0);
  this->reply(h, 0, *sub0);
  sub1->command({"SUBSCRIBE", "both"});
  this->reply(h, 1, *sub1);
  auto q = this->client(h, 0);
  q->command({"INFO", "stats"});
  EXPECT_EQ(info_field(this->reply(h, 0, *q).str, "pubsub_channels"), 3);
  q->command({"PUBSUB", "CHANNELS"});
  RespValue names = this->reply(h, 0, *q);
  EXPECT_EQ(names.elements.size(), 2u);
}

// PUBSUB CHANNELS over tables far larger than one iteration's walk: other clients of the shard
// are answered while it runs, the asking client's next command waits for it, and the list is
// exact (each channel once, across shards and across a table that grows during the walk).
TYPED_TEST(LoopTest, PubsubChannelsWalksInSlicesWithoutStallingTheShard) {
  SteppedShards<TypeParam> h(this->cfg, 2);
  auto sub0 = this->client(h, 0), sub1 = this->client(h, 1);
  constexpr int kOnly0 = 6000, kBoth = 2000, kOnly1 = 2000;
  std::vector<std::string> args0 = {"SUBSCRIBE"}, args1 = {"SUBSCRIBE"};
  for (int i = 0; i < kOnly0; ++i) args0.push_back("a" + std::to_string(i));
  for (int i = 0; i < kBoth; ++i) {
    args0.push_back("b" + std::to_string(i));
    args1.push_back("b" + std::to_string(i));
  }
  for (int i = 0; i < kOnly1; ++i) args1.push_back("c" + std::to_string(i));
  sub0->command(args0);
  sub1->command(args1);
  this->skip_replies(h, 0, *sub0, args0.size() - 1);
  this->skip_replies(h, 1, *sub1, args1.size() - 1);
  auto asker = this->client(h, 0), other = this->client(h, 0);
  asker->send_raw(encode_command({"PUBSUB", "CHANNELS"}) + encode_command({"ECHO", "after"}));
  h.step(0);  // the walk starts: one slice
  // Meanwhile: the other client is served, and shard 0 grows its table (it had 20,000 nodes).
  other->command({"PING"});
  EXPECT_EQ(this->reply(h, 0, *other).str, "PONG");
  RespValue early;
  EXPECT_FALSE(poll_value(*asker, &early)) << "the whole list was built in one iteration";
  std::vector<std::string> more = {"SUBSCRIBE"};
  for (int i = 0; i < 20000; ++i) more.push_back("d" + std::to_string(i));
  other->command(more);
  RespValue list = this->reply(h, 0, *asker);
  ASSERT_EQ(list.type, RespValue::Type::kArray);
  std::set<std::string> names;
  for (const RespValue& e : list.elements) {
    EXPECT_TRUE(names.insert(e.str).second) << "listed twice: " << e.str;
  }
  size_t present_throughout = 0;
  for (const std::string& n : names) present_throughout += n[0] != 'd';
  EXPECT_EQ(present_throughout, static_cast<size_t>(kOnly0 + kBoth + kOnly1));
  EXPECT_EQ(this->reply(h, 0, *asker).str, "after");       // the next command waited for it
  // A filtered walk lists only matches.
  asker->command({"PUBSUB", "CHANNELS", "c1?"});
  EXPECT_EQ(this->reply(h, 0, *asker).elements.size(), 10u);
}

// A RESP3 client may run PUBSUB CHANNELS while subscribed: pushes to it keep coming while the
// reply is built, and each must arrive as a value of its own, never inside the array.
TYPED_TEST(LoopTest, PushesNeverLandInsideAPubsubChannelsReply) {
  SteppedShards<TypeParam> h(this->cfg, 1);
  auto big = this->client(h, 0), r3 = this->client(h, 0), pub = this->client(h, 0);
  // About 900 KB of names: a reply built over many iterations, far larger than any one write.
  this->subscribe_numbered(h, 0, *big, "a-channel-with-a-longer-name-", 20000);
  r3->command({"HELLO", "3"});
  this->reply(h, 0, *r3);
  r3->command({"SUBSCRIBE", "t"});
  this->reply(h, 0, *r3);
  r3->command({"PUBSUB", "CHANNELS"});
  int published = 0;
  RespValue list;
  std::vector<RespValue> pushes;
  ASSERT_TRUE(h.step_until(0, [&] {
    pub->command({"PUBLISH", "t", std::to_string(published++)});
    RespValue v;
    while (poll_value(*r3, &v)) {
      if (v.type == RespValue::Type::kPush) {
        pushes.push_back(v);
      } else {
        list = v;
      }
    }
    return list.type == RespValue::Type::kArray;
  }));
  EXPECT_EQ(list.elements.size(), 20001u);
  for (const RespValue& e : list.elements) ASSERT_EQ(e.type, RespValue::Type::kBulk) << "inside the array";
  EXPECT_GT(published, 3);  // messages were published while the reply was built
}

// A client that sends its commands and shuts down its side gets every reply, even for commands
// held behind another (a PUBSUB CHANNELS being built, a PUBLISH waiting for ring space), even
// when the end of its input arrives in the same batch as the commands (io_uring).
TYPED_TEST(LoopTest, HalfClosedClientsGetRepliesToCommandsHeldAtTheEnd) {
  SteppedShards<TypeParam> h(this->cfg, 1);
  auto big = this->client(h, 0);
  this->subscribe_numbered(h, 0, *big, "ch", 3000);
  for (int round = 0; round < 10; ++round) {
    auto c = this->client(h, 0);
    c->send_raw(encode_command({"PUBSUB", "CHANNELS"}) + encode_command({"ECHO", "after"}));
    c->half_close();
    EXPECT_EQ(this->reply(h, 0, *c).elements.size(), 3000u) << "round " << round;
    EXPECT_EQ(this->reply(h, 0, *c).str, "after") << "round " << round;
    EXPECT_TRUE(h.step_until(0, [&] { return !c->fill(0); })) << "not closed, round " << round;
  }
}

TYPED_TEST(LoopTest, HalfClosedPublisherBlockedOnAStalledPeerGetsEveryReply) {
  this->cfg.mailbox_depth = 1;
  SteppedShards<TypeParam> h(this->cfg, 2);
  auto sub = this->client(h, 1);
  sub->command({"SUBSCRIBE", "x"});
  ASSERT_TRUE(is_push(this->reply(h, 1, *sub), "subscribe"));
  auto pub = this->client(h, 0);
  std::string batch;
  constexpr int kMessages = 50;
  for (int i = 0; i < kMessages; ++i) batch += encode_command({"PUBLISH", "x", std::to_string(i)});
  pub->send_raw(batch);
  pub->half_close();
  h.step(0, 5);  // one goes into the ring; the rest wait, with the end of input already seen
  int replies = 0;
  RespValue v;
  for (int round = 0; round < 2000 && replies < kMessages; ++round) {
    h.step(1);
    h.step(0);
    while (poll_value(*pub, &v)) {
      EXPECT_EQ(v.integer, 1);
      ++replies;
    }
  }
  EXPECT_EQ(replies, kMessages);
  EXPECT_TRUE(h.step_until(0, [&] { return !pub->fill(0); })) << "not closed after the replies";
}


// Once a stop is requested nothing more is run: a PUBLISH that waited behind a PUBSUB CHANNELS
// reply being built gets no reply and reaches nobody, while the reply already owed is finished
// and sent before the close (it ran the PUBLISH, answered and delivered it, before the fix).
TYPED_TEST(LoopTest, CommandsHeldBehindAChannelListAreNotRunOnceTheShardStops) {
  SteppedShards<TypeParam> h(this->cfg, 1);
  auto big = this->client(h, 0), sub = this->client(h, 0), asker = this->client(h, 0);
  this->subscribe_numbered(h, 0, *big, "ch", 3000);
  sub->command({"SUBSCRIBE", "x"});
  this->reply(h, 0, *sub);
  asker->send_raw(encode_command({"PUBSUB", "CHANNELS"}) + encode_command({"PUBLISH", "x", "late"}));
  ASSERT_TRUE(h.step_until(0, [&] { return h.shard(0).walking() > 0; }));
  h.request_stop();
  std::vector<RespValue> got;
  EXPECT_TRUE(h.step_until(0, [&] {
    RespValue v;
    while (poll_value(*asker, &v)) got.push_back(v);
    return !asker->fill(0);
  })) << "the asker was not closed";
  ASSERT_EQ(got.size(), 1u) << "the held PUBLISH was run";
  EXPECT_EQ(got[0].elements.size(), 3001u);
  RespValue v;
  sub->fill(0);
  EXPECT_FALSE(sub->next_buffered(&v)) << "the held PUBLISH was delivered";
}

// PUBSUB CHANNELS replies count against the shard's share of --max-queued-bytes while they are
// built: one larger than the cap, or many at once, end in an error instead of holding memory
// over it (each walk checked the cap only when it started, so 150 at once held 350 MB).
TYPED_TEST(LoopTest, ChannelListsBeingBuiltStayWithinTheQueuedOutputCap) {
  this->cfg.max_queued_bytes = 1 << 20;
  SteppedShards<TypeParam> h(this->cfg, 1);
  auto big = this->client(h, 0);
  const std::string tail(40, 'n');
  this->subscribe_numbered(h, 0, *big, tail, 6000);  // ~330 KB listed
  constexpr int kAskers = 12;
  std::vector<std::unique_ptr<TestClient>> askers;
  for (int i = 0; i < kAskers; ++i) askers.push_back(this->client(h, 0));
  for (auto& a : askers) a->command({"PUBSUB", "CHANNELS"});
  int lists = 0, refused = 0;
  std::vector<bool> done(kAskers, false);
  EXPECT_TRUE(h.step_until(0, [&] {
    EXPECT_LE(h.shard(0).walk_bytes(), size_t{1} << 20);
    for (int i = 0; i < kAskers; ++i) {
      RespValue v;
      if (done[i] || !poll_value(*askers[i], &v)) continue;
      done[i] = true;
      if (v.type == RespValue::Type::kArray) {
        EXPECT_EQ(v.elements.size(), 6000u);
        ++lists;
      } else {
        EXPECT_EQ(v.str.rfind("ERR PUBSUB CHANNELS refused", 0), 0u) << v.str;
        ++refused;
      }
    }
    return lists + refused == kAskers;
  }));
  EXPECT_GE(refused, 1);
  EXPECT_EQ(h.shard(0).stats().channel_lists_refused.get(), static_cast<uint64_t>(refused));
  // One list larger than the cap alone is refused too.
  this->subscribe_numbered(h, 0, *big, tail, 24000, 6000);
  askers[0]->command({"PUBSUB", "CHANNELS"});
  RespValue v = this->reply(h, 0, *askers[0]);
  EXPECT_EQ(v.str.rfind("ERR PUBSUB CHANNELS refused", 0), 0u) << "a list of " << v.elements.size();
  askers[0]->command({"PUBSUB", "CHANNELS", "*9999"});  // a short one is still answered
  EXPECT_EQ(this->reply(h, 0, *askers[0]).elements.size(), 3u);
}


// A filtered PUBSUB CHANNELS pays for its matching in slices too: a pattern with a long '?'
// segment against 64 names of 60,000 bytes costs about a million steps per name, so the walk
// spreads over many iterations (it took one, stalling the shard, when only nodes were counted).
TYPED_TEST(LoopTest, ChannelListsPayForPatternMatchingInSlices) {
  SteppedShards<TypeParam> h(this->cfg, 1);
  auto big = this->client(h, 0), asker = this->client(h, 0), other = this->client(h, 0);
  this->subscribe_numbered(h, 0, *big, std::string(60000, 'a'), 64);
  asker->command({"PUBSUB", "CHANNELS", "*" + std::string(1000, 'a') + "?b*"});
  int steps = 0;
  RespValue list;
  EXPECT_TRUE(h.step_until(0, [&] {
    ++steps;
    return poll_value(*asker, &list);
  }));
  EXPECT_EQ(list.type, RespValue::Type::kArray);
  EXPECT_EQ(list.elements.size(), 0u);
  EXPECT_GE(steps, 16) << "the walk matched most names in one iteration";
  other->command({"PING"});
  EXPECT_EQ(this->reply(h, 0, *other).str, "PONG");
}

}  // namespace
}  // namespace fanout::test
