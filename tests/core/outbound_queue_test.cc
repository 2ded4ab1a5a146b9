#include "core/outbound_queue.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace fanout {
namespace {

// Concatenates what fill() describes.
std::string gather(const struct iovec* iov, size_t n) {
  std::string s;
  for (size_t i = 0; i < n; ++i) s.append(static_cast<char*>(iov[i].iov_base), iov[i].iov_len);
  return s;
}

// Drains the queue with sends of at most `step` bytes, as short sends would, and returns the
// byte stream a client would read.
std::string drain(OutboundQueue& q, size_t step, size_t max_iov = 64) {
  std::string got;
  struct iovec iov[64];
  while (!q.empty()) {
    size_t n = q.fill(iov, max_iov, step);
    EXPECT_GT(n, 0u);
    std::string chunk = gather(iov, n);
    EXPECT_LE(chunk.size(), step);
    got += chunk;
    q.complete(chunk.size());
  }
  return got;
}

class OutboundQueueTest : public ::testing::Test {
 protected:
  ChunkPool pool{256};
  MessageArena arena{0, 1};
};

TEST_F(OutboundQueueTest, RepliesCoalesceIntoOneIovec) {
  OutboundQueue q(&pool);
  for (int i = 0; i < 10; ++i) q.append(":1\r\n");
  struct iovec iov[8];
  ASSERT_EQ(q.fill(iov, 8, 1 << 20), 1u);
  EXPECT_EQ(gather(iov, 1), std::string(40, ' ').replace(0, 40, [] {
    std::string s;
    for (int i = 0; i < 10; ++i) s += ":1\r\n";
    return s;
  }()));
  q.complete(40);
  EXPECT_TRUE(q.empty());
}

TEST_F(OutboundQueueTest, PushesReferenceTheBlockAndReleaseIt) {
  OutboundQueue q(&pool);
  Block* b = arena.create(0, "ch", "payload");
  q.append_push({}, &b->origin_hold, b->frame(), false);
  q.append_push(kMessageHeader3, &b->origin_hold, b->body(), false);
  EXPECT_EQ(b->origin_hold.refs, 3u);  // guard + two queue references
  hold_release(&b->origin_hold);
  EXPECT_EQ(arena.live_blocks(), 1u);
  std::string want = std::string(b->frame()) + std::string(kMessageHeader3) + std::string(b->body());
  EXPECT_EQ(drain(q, 1 << 20), want);
  EXPECT_EQ(arena.live_blocks(), 0u);  // the last reference freed it
}

TEST_F(OutboundQueueTest, PartialSendsAtEveryOffsetResumeAtTheExactByte) {
  Block* b = arena.create(0, "news", std::string(100, 'x'));
  std::string want;
  {
    OutboundQueue probe(&pool);
    probe.append("+OK\r\n");
    probe.append_push("hdr", &b->origin_hold, b->body(), false);
    probe.append_push({}, &b->origin_hold, b->frame(), true);
    probe.append(":7\r\n");
    want = drain(probe, 1 << 20);
  }
  for (size_t step = 1; step <= want.size(); ++step) {
    OutboundQueue q(&pool);
    q.append("+OK\r\n");
    q.append_push("hdr", &b->origin_hold, b->body(), false);
    q.append_push({}, &b->origin_hold, b->frame(), true);
    q.append(":7\r\n");
    EXPECT_EQ(q.bytes(), want.size());
    EXPECT_EQ(drain(q, step), want) << "step " << step;
    EXPECT_EQ(q.messages(), 0u);
  }
  EXPECT_EQ(b->origin_hold.refs, 1u);
  hold_release(&b->origin_hold);
  EXPECT_EQ(arena.live_blocks(), 0u);
}

TEST_F(OutboundQueueTest, FillRespectsIovecAndByteBounds) {
  OutboundQueue q(&pool);
  std::vector<Block*> blocks;
  for (int i = 0; i < 20; ++i) {
    Block* b = arena.create(0, "c", std::to_string(i));
    q.append_push({}, &b->origin_hold, b->frame(), false);
    hold_release(&b->origin_hold);
  }
  struct iovec iov[64];
  EXPECT_EQ(q.fill(iov, 5, 1 << 20), 5u);
  size_t n = q.fill(iov, 64, 30);
  EXPECT_EQ(gather(iov, n).size(), 30u);
  drain(q, 1 << 20);
  EXPECT_EQ(arena.live_blocks(), 0u);
}

TEST_F(OutboundQueueTest, FailedSendLeavesNothingInFlight) {
  OutboundQueue q(&pool);
  Block* b = arena.create(0, "c", "x");
  q.append_push({}, &b->origin_hold, b->frame(), false);
  q.append_push({}, &b->origin_hold, b->frame(), false);
  struct iovec iov[4];
  ASSERT_GT(q.fill(iov, 4, 1 << 20), 0u);
  EXPECT_TRUE(q.in_flight());
  size_t freed = 0;
  EXPECT_EQ(q.drop_oldest(0, &freed), 0u);  // in flight: untouchable
  q.send_failed();
  EXPECT_FALSE(q.in_flight());
  EXPECT_EQ(q.drop_oldest(0, &freed), 2u);
  q.clear();
  hold_release(&b->origin_hold);
}

TEST_F(OutboundQueueTest, LargeReplyGetsItsOwnChunk) {
  OutboundQueue q(&pool);
  std::string big(1000, 'z');  // larger than the pool's 256-byte chunks
  q.append("+a\r\n");
  q.append(big);
  q.append("+b\r\n");
  EXPECT_EQ(drain(q, 7), "+a\r\n" + big + "+b\r\n");
}

TEST_F(OutboundQueueTest, DropOldestSkipsInFlightAndReplies) {
  OutboundQueue q(&pool);
  Block* b = arena.create(0, "c", std::string(50, 'p'));
  q.append_push({}, &b->origin_hold, b->frame(), false);  // will be in flight
  q.append("+reply\r\n");
  q.append_push({}, &b->origin_hold, b->frame(), false);
  q.append_push({}, &b->origin_hold, b->frame(), false);
  size_t frame = b->frame().size();
  struct iovec iov[1];
  ASSERT_EQ(q.fill(iov, 1, 10), 1u);  // first push partially in flight
  size_t freed = 0;
  EXPECT_EQ(q.drop_oldest(0, &freed), 2u);
  EXPECT_EQ(freed, 2 * frame);
  EXPECT_EQ(q.messages(), 1u);
  q.complete(10);
  std::string want = std::string(b->frame()).substr(10) + "+reply\r\n";
  EXPECT_EQ(drain(q, 1 << 20), want);
  hold_release(&b->origin_hold);
  EXPECT_EQ(arena.live_blocks(), 0u);
}

TEST_F(OutboundQueueTest, DropOldestStopsAtTarget) {
  OutboundQueue q(&pool);
  Block* b = arena.create(0, "c", "0123456789");
  for (int i = 0; i < 10; ++i) q.append_push({}, &b->origin_hold, b->frame(), false);
  size_t frame = b->frame().size();
  size_t freed = 0;
  EXPECT_EQ(q.drop_oldest(frame * 7, &freed), 3u);
  EXPECT_EQ(q.bytes(), frame * 7);
  std::string want;
  for (int i = 0; i < 7; ++i) want += b->frame();
  EXPECT_EQ(drain(q, 13), want);
  hold_release(&b->origin_hold);
}

TEST_F(OutboundQueueTest, GaugeTracksEveryQueue) {
  QueueGauge gauge;
  Block* b = arena.create(0, "c", "x");
  {
    OutboundQueue a(&pool, &gauge), c(&pool, &gauge);
    a.append("+OK\r\n");
    c.append_push({}, &b->origin_hold, b->frame(), false);
    c.append_push({}, &b->origin_hold, b->frame(), true);
    EXPECT_EQ(gauge.bytes, 5 + 2 * b->frame().size());
    EXPECT_EQ(gauge.pushes, 2u);
    a.complete(2);
    EXPECT_EQ(gauge.bytes, 3 + 2 * b->frame().size());
    EXPECT_EQ(c.complete(b->frame().size()), 1u);
    EXPECT_EQ(gauge.pushes, 1u);
  }
  EXPECT_EQ(gauge.bytes, 0u);
  EXPECT_EQ(gauge.pushes, 0u);
  hold_release(&b->origin_hold);
}

// Every push leaves the queue exactly once: sent (complete() reports it when its last byte,
// not its first, goes out), dropped, or discarded by clear().
TEST_F(OutboundQueueTest, EveryPushIsSentDroppedOrDiscardedExactlyOnce) {
  Block* b = arena.create(0, "chan", "payload-0123456789");
  const std::string header = ">3\r\n$7\r\nmessage\r\n";  // copied header, referenced body
  const size_t len = header.size() + b->body().size();
  OutboundQueue q(&pool);
  for (int i = 0; i < 6; ++i) q.append_push(header, &b->origin_hold, b->body(), false);
  q.append("+reply\r\n");
  for (int i = 0; i < 4; ++i) q.append_push({}, &b->origin_hold, b->frame(), i % 2 == 0);
  const size_t total = 10;
  struct iovec iov[64];
  // The header of push 1 alone: nothing finished yet.
  ASSERT_GT(q.fill(iov, 64, header.size()), 0u);
  EXPECT_EQ(q.complete(header.size()), 0u);
  EXPECT_EQ(q.messages(), total);
  // The rest of push 1 and a byte of push 2.
  ASSERT_GT(q.fill(iov, 64, 1 << 20), 0u);
  EXPECT_EQ(q.complete(len - header.size() + 1), 1u);
  size_t freed = 0;
  size_t dropped = q.drop_oldest(q.bytes() - 2 * len, &freed);  // push 2 is in flight: kept
  EXPECT_EQ(dropped, 2u);
  size_t sent = 1;
  ASSERT_GT(q.fill(iov, 64, 1 << 20), 0u);
  sent += q.complete(len - 1 + 2 * len);  // push 2, then the two after the dropped ones
  EXPECT_EQ(sent, 4u);
  size_t discarded = q.clear();
  EXPECT_EQ(sent + dropped + discarded, total);
  EXPECT_EQ(q.messages(), 0u);
  hold_release(&b->origin_hold);
  EXPECT_EQ(arena.live_blocks(), 0u);
}

TEST_F(OutboundQueueTest, ClearReleasesEverything) {
  OutboundQueue q(&pool);
  Block* b = arena.create(0, "c", "x");
  for (int i = 0; i < 100; ++i) {
    q.append_push({}, &b->origin_hold, b->frame(), i % 2 == 0);
    q.append("+r\r\n");
  }
  q.clear();
  EXPECT_TRUE(q.empty());
  EXPECT_EQ(b->origin_hold.refs, 1u);
  hold_release(&b->origin_hold);
  EXPECT_EQ(arena.live_blocks(), 0u);
}

}  // namespace
}  // namespace fanout
