#include "core/message.h"

#include <gtest/gtest.h>

namespace fanout {
namespace {

TEST(MessageArena, EncodesOnceAsRedisDoes) {
  MessageArena a(0, 1);
  Block* b = a.create(0, "ch", "hello");
  EXPECT_EQ(b->frame(), "*3\r\n$7\r\nmessage\r\n$2\r\nch\r\n$5\r\nhello\r\n");
  EXPECT_EQ(b->body(), "$2\r\nch\r\n$5\r\nhello\r\n");
  EXPECT_EQ(b->channel(), "ch");
  Block* s = a.create(1, "ch", "");
  EXPECT_EQ(s->frame(), "*3\r\n$8\r\nsmessage\r\n$2\r\nch\r\n$0\r\n\r\n");
  hold_release(&b->origin_hold);
  hold_release(&s->origin_hold);
  EXPECT_EQ(a.live_blocks(), 0u);
}

TEST(MessageArena, BlockReturnsToItsOriginAfterTheLastShardHold) {
  MessageArena origin(0, 3), one(1, 3), two(2, 3);
  Block* b = origin.create(0, "c", "p");
  origin.add_shard_holds(b, 2);  // handed to shards 1 and 2
  Hold* h1 = one.adopt(b);
  Hold* h2 = two.adopt(b);
  hold_ref(h1);
  hold_release(h1);  // guard
  hold_release(&b->origin_hold);
  EXPECT_EQ(origin.live_blocks(), 1u);
  hold_release(h2);
  EXPECT_FALSE(two.has_returns());
  hold_release(h1);  // the last hold: shard 1 must send it home
  ASSERT_TRUE(one.has_returns());
  ASSERT_EQ(one.returns(0).size(), 1u);
  EXPECT_EQ(one.returns(0)[0], b);
  origin.free_returned(b);
  EXPECT_EQ(origin.live_blocks(), 0u);
  one.returns(0).clear();
}

}  // namespace
}  // namespace fanout

namespace fanout {
namespace {

// A message from the upstream link keeps the same frame, and carries its route and cover.
TEST(MessageArena, RoutedBlocksCarryTheirCoverBesideTheSameFrame) {
  MessageArena a(0, 1);
  Block* local = a.create(0, "news.a", "hi");
  Block* b = a.create_routed(0, "news.a", "hi", kRouteCover, "fanout.c.news.>");
  EXPECT_EQ(b->frame(), local->frame());
  EXPECT_EQ(b->route, kRouteCover);
  EXPECT_EQ(b->cover(), "fanout.c.news.>");
  EXPECT_EQ(local->route, kRouteLocal);
  EXPECT_EQ(local->cover(), "");
  Block* c = a.create_routed(1, "x", "y", kRouteChannel, "ignored");
  EXPECT_EQ(c->cover(), "");  // only kRouteCover carries one
  for (Block* x : {local, b, c}) hold_release(&x->origin_hold);
  EXPECT_EQ(a.live_blocks(), 0u);
}

}  // namespace
}  // namespace fanout
