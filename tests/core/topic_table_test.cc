#include "core/topic_table.h"

#include <gtest/gtest.h>

#include <atomic>
#include <map>
#include <string>
#include <thread>

namespace fanout {
namespace {

class TopicTableTest : public ::testing::Test {
 protected:
  Qsbr qsbr{1};
  RetireList retire{&qsbr};
  TopicTable table{&retire, 16};
  int a = 0, b = 0;
};

TEST_F(TopicTableTest, SubscribeUnsubscribeAndCounts) {
  ClientSubs sa, sb;
  EXPECT_TRUE(table.subscribe(TopicKind::kChannel, "news", &a, &sa));
  EXPECT_FALSE(table.subscribe(TopicKind::kChannel, "news", &a, &sa));
  EXPECT_TRUE(table.subscribe(TopicKind::kChannel, "news", &b, &sb));
  EXPECT_EQ(table.count_channel(TopicKind::kChannel, "news"), 2u);
  EXPECT_EQ(table.count_channel(TopicKind::kShardChannel, "news"), 0u);
  TopicNode* n = table.find(TopicKind::kChannel, "news");
  ASSERT_NE(n, nullptr);
  ASSERT_EQ(n->subs.size(), 2u);
  EXPECT_TRUE(table.unsubscribe(TopicKind::kChannel, "news", &sa));
  EXPECT_FALSE(table.unsubscribe(TopicKind::kChannel, "news", &sa));
  ASSERT_EQ(n->subs.size(), 1u);
  EXPECT_EQ(n->subs[0].owner, &b);
  EXPECT_EQ(n->subs[0].sub->pos, 0u);
  EXPECT_TRUE(table.unsubscribe(TopicKind::kChannel, "news", &sb));
  EXPECT_EQ(table.find(TopicKind::kChannel, "news"), nullptr);
  EXPECT_EQ(table.size(TopicKind::kChannel), 0u);
  qsbr.quiescent(0);
  EXPECT_GT(retire.collect(), 0u);
}

// The observer hears of each topic's first subscriber and last, on every path (one name, a
// client's whole set), with the node's key still readable at removal.
TEST_F(TopicTableTest, TheObserverHearsFirstAndLastSubscribers) {
  struct Log : TopicObserver {
    std::vector<std::string> events;
    void topic_added(TopicNode* n) override { events.push_back("+" + std::to_string(int(n->kind)) + n->key); }
    void topic_removed(TopicNode* n) override { events.push_back("-" + std::to_string(int(n->kind)) + n->key); }
  } log;
  table.set_observer(&log);
  ClientSubs sa, sb, pa, ssa;
  table.subscribe(TopicKind::kChannel, "news", &a, &sa);
  table.subscribe(TopicKind::kChannel, "news", &b, &sb);  // not the first
  table.subscribe(TopicKind::kShardChannel, "news", &a, &ssa);
  table.subscribe(TopicKind::kPattern, "n*", &a, &pa);
  table.unsubscribe(TopicKind::kChannel, "news", &sa);  // not the last
  table.unsubscribe(TopicKind::kChannel, "news", &sb);
  while (!pa.empty()) table.unsubscribe(pa.begin(), &pa);
  table.unsubscribe(TopicKind::kShardChannel, "news", &ssa);
  EXPECT_EQ(log.events, (std::vector<std::string>{"+0news", "+2news", "+1n*", "-0news", "-1n*", "-2news"}));
  table.set_observer(nullptr);
}

TEST_F(TopicTableTest, CountReceiversAddsMatchingPatternsAsRedisDoes) {
  ClientSubs sa, pa, pb;
  table.subscribe(TopicKind::kChannel, "news.sport", &a, &sa);
  table.subscribe(TopicKind::kPattern, "news.*", &a, &pa);  // same client: counted twice
  table.subscribe(TopicKind::kPattern, "news.*", &b, &pb);
  table.subscribe(TopicKind::kPattern, "other.*", &b, &pb);
  EXPECT_EQ(table.count_receivers(TopicKind::kChannel, "news.sport"), 3u);
  EXPECT_EQ(table.count_receivers(TopicKind::kChannel, "news.x"), 2u);
  EXPECT_EQ(table.count_receivers(TopicKind::kShardChannel, "news.sport"), 0u);
  TopicNode* p = table.find(TopicKind::kPattern, "news.*");
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(p->pmessage_header[0], "*4\r\n$8\r\npmessage\r\n$6\r\nnews.*\r\n");
  EXPECT_EQ(p->pmessage_header[1], ">4\r\n$8\r\npmessage\r\n$6\r\nnews.*\r\n");
  while (!pb.empty()) table.unsubscribe(pb.begin(), &pb);
  EXPECT_EQ(table.size(TopicKind::kPattern), 1u);
}

TEST_F(TopicTableTest, GrowsAndKeepsEveryChannel) {
  ClientSubs s;
  for (int i = 0; i < 5000; ++i) table.subscribe(TopicKind::kChannel, "c" + std::to_string(i), &a, &s);
  size_t seen = 0;
  table.for_each(TopicKind::kChannel, [&](const std::string&, uint32_t c) { seen += c; });
  EXPECT_EQ(seen, 5000u);
  for (int i = 0; i < 5000; i += 2) table.unsubscribe(TopicKind::kChannel, "c" + std::to_string(i), &s);
  for (int i = 0; i < 5000; ++i) {
    EXPECT_EQ(table.count_channel(TopicKind::kChannel, "c" + std::to_string(i)), i % 2 ? 1u : 0u);
  }
}

// A reader shard counts receivers while the owner churns subscriptions: the reader must never
// crash or see a freed node (ASan/TSan runs catch that), and reclamation must make progress.
TEST(TopicTableConcurrency, ReaderDuringChurnUnderQsbr) {
  Qsbr qsbr(2);
  RetireList retire(&qsbr);
  TopicTable table(&retire, 16);
  std::atomic<bool> stop{false};
  std::atomic<uint64_t> reads{0}, impossible{0};
  std::thread reader([&] {
    qsbr.online(1);
    while (!stop.load(std::memory_order_relaxed)) {
      for (int i = 0; i < 64; ++i) {
        // At most the channel's one subscriber and the one pattern "c*".
        if (table.count_receivers(TopicKind::kChannel, "c" + std::to_string(i)) > 2) ++impossible;
        ++reads;
      }
      qsbr.quiescent(1);
    }
    qsbr.offline(1);
  });
  qsbr.online(0);
  int owner = 0;
  ClientSubs subs, pats;
  size_t freed = 0;
  for (int round = 0; round < 300; ++round) {
    for (int i = 0; i < 64; ++i) table.subscribe(TopicKind::kChannel, "c" + std::to_string(i), &owner, &subs);
    table.subscribe(TopicKind::kPattern, "c*", &owner, &pats);
    while (!subs.empty()) table.unsubscribe(subs.begin(), &subs);
    while (!pats.empty()) table.unsubscribe(pats.begin(), &pats);
    qsbr.quiescent(0);
    freed += retire.collect();
  }
  stop = true;
  reader.join();
  qsbr.quiescent(0);
  freed += retire.collect();
  EXPECT_GT(freed, 0u);
  EXPECT_EQ(retire.pending(), 0u);
  EXPECT_EQ(impossible.load(), 0u);
  EXPECT_GT(reads.load(), 0u);
}

// A walk resumed after the table grew (several times over) still visits every channel present
// throughout exactly once; channels added meanwhile may or may not be visited, never twice.
TEST_F(TopicTableTest, AResumedWalkVisitsEveryChannelOnceAcrossGrowth) {
  ClientSubs subs;
  for (int i = 0; i < 100; ++i) table.subscribe(TopicKind::kChannel, "old" + std::to_string(i), &a, &subs);
  std::map<std::string, int> seen;
  auto visit = [&](const TopicNode& node) { ++seen[node.key]; };
  TopicTable::WalkCursor cursor;
  size_t visited = table.walk_channels(TopicKind::kChannel, &cursor, 10, visit);
  EXPECT_GE(visited, 10u);
  EXPECT_FALSE(cursor.done);
  for (int i = 0; i < 3000; ++i) table.subscribe(TopicKind::kChannel, "new" + std::to_string(i), &a, &subs);
  // A channel that leaves mid-walk is simply not listed if not reached yet.
  table.unsubscribe(TopicKind::kChannel, "old99", &subs);
  while (!cursor.done) table.walk_channels(TopicKind::kChannel, &cursor, 7, visit);
  for (int i = 0; i < 99; ++i) EXPECT_EQ(seen["old" + std::to_string(i)], 1) << i;
  for (auto& [key, n] : seen) EXPECT_LE(n, 1) << key;
  EXPECT_LE(seen["old99"], 1);
  qsbr.quiescent(0);
  retire.collect();
}

// FANOUT TOPCHANNELS' figures: the owner counts each message in the channel's node; readers
// find the node by name (lookup) while it has subscribers, and its counters start again with a
// new node once it has had none.
TEST_F(TopicTableTest, ChannelNodesCountTheirMessagesForReaders) {
  ClientSubs subs;
  table.subscribe(TopicKind::kChannel, "news", &a, &subs);
  TopicNode* node = table.find(TopicKind::kChannel, "news");
  ASSERT_NE(node, nullptr);
  node->count_message(40);
  node->count_message(60);
  const TopicNode* seen = table.lookup(TopicKind::kChannel, "news");
  ASSERT_EQ(seen, node);
  EXPECT_EQ(seen->messages.load(), 2u);
  EXPECT_EQ(seen->bytes.load(), 100u);
  EXPECT_EQ(table.lookup(TopicKind::kShardChannel, "news"), nullptr);
  EXPECT_EQ(table.lookup(TopicKind::kChannel, "other"), nullptr);
  table.unsubscribe(TopicKind::kChannel, "news", &subs);
  EXPECT_EQ(table.lookup(TopicKind::kChannel, "news"), nullptr);
  table.subscribe(TopicKind::kChannel, "news", &a, &subs);
  EXPECT_EQ(table.lookup(TopicKind::kChannel, "news")->messages.load(), 0u);
  qsbr.quiescent(0);
  retire.collect();
}

}  // namespace
}  // namespace fanout
