// Per-connection limits on every backend: how many channels and patterns one client may hold,
// and how long and how wild a pattern may be. A name over a limit gets an error in its place;
// the rest of the command still subscribes, so the client gets one reply per name.
#include <chrono>
#include <thread>

#include "tests/net/server_fixture.h"
#include "tests/net/subscribers.h"

namespace fanout::test {
namespace {

class ClientLimitsTest : public ServerTest {};

// Reads one reply per name: "ok" for a confirmation, else the error text.
std::vector<std::string> replies(TestClient& c, size_t n) {
  std::vector<std::string> out;
  for (size_t i = 0; i < n; ++i) {
    RespValue v;
    if (!c.read(&v)) break;
    out.push_back(v.type == Type::kError ? v.str : "ok " + std::to_string(v.elements[2].integer));
  }
  return out;
}

TEST_P(ClientLimitsTest, ChannelAndPatternCountsAreCappedPerClient) {
  // One shard: INFO's pubsub_channels sums the shards' channels, so "d" subscribed by clients on
  // two shards would count twice.
  cfg.shards = 1;
  cfg.max_channels_per_client = 3;
  cfg.max_patterns_per_client = 2;
  start();
  auto c = client();
  c->command({"SUBSCRIBE", "a", "b", "c", "d", "a"});
  auto r = replies(*c, 5);
  ASSERT_EQ(r.size(), 5u);
  EXPECT_EQ(r[0], "ok 1");
  EXPECT_EQ(r[2], "ok 3");
  EXPECT_EQ(r[3], "ERR too many channels subscribed by this client (3, --max-channels-per-client)");
  EXPECT_EQ(r[4], "ok 3");  // already subscribed: not a new subscription
  // Shard channels share the channel allowance.
  c->command({"SSUBSCRIBE", "s"});
  EXPECT_EQ(replies(*c, 1)[0].substr(0, 25), "ERR too many channels sub");
  c->command({"PSUBSCRIBE", "p*", "q*", "r*"});
  r = replies(*c, 3);
  EXPECT_EQ(r[1], "ok 5");
  EXPECT_EQ(r[2], "ERR too many patterns subscribed by this client (2, --max-patterns-per-client)");
  // Unsubscribing makes room again.
  c->command({"UNSUBSCRIBE", "a"});
  replies(*c, 1);
  c->command({"SUBSCRIBE", "d"});
  EXPECT_EQ(replies(*c, 1)[0], "ok 5");
  // A refusal changes nothing: the client still receives what it holds, and others are unaffected.
  auto other = client();
  subscribe(*other, "SUBSCRIBE", "d");
  auto pub = client();
  EXPECT_EQ(pub->call({"PUBLISH", "d", "x"}).integer, 2);
  RespValue v;
  ASSERT_TRUE(c->read(&v));
  EXPECT_TRUE(is_push(v, "message"));
  std::string in = info();
  EXPECT_EQ(info_field(in, "subscriptions_refused"), 3);
  EXPECT_EQ(info_field(in, "pubsub_channels"), 3);  // b, c, d
  EXPECT_EQ(info_field(in, "pubsub_patterns"), 2);
}

TEST_P(ClientLimitsTest, PatternLengthAndWildcardsAreBounded) {
  cfg.max_pattern_len = 64;
  cfg.max_pattern_wildcards = 4;
  cfg.max_channel_len = 100;
  cfg.max_channels_per_client = 60000;
  start();
  auto c = client();
  c->command({"HELLO", "3"});
  RespValue hello;
  ASSERT_TRUE(c->read(&hello));
  const std::string long_pattern(65, 'x'), long_channel(101, 'c');
  c->command({"PSUBSCRIBE", "*a*a*a*b", "*a*a*a*a*b", long_pattern, "[a-z]?[0-9]*\\*\\?", "news.*"});
  auto r = replies(*c, 5);
  ASSERT_EQ(r.size(), 5u);
  EXPECT_EQ(r[0], "ok 1");
  EXPECT_EQ(r[1], "ERR pattern has too many wildcards (4, --max-pattern-wildcards)");
  EXPECT_EQ(r[2], "ERR pattern too long (64, --max-pattern-len)");
  EXPECT_EQ(r[3], "ok 2");  // 4 wildcards, at the limit: the escaped ones are literals
  EXPECT_EQ(r[4], "ok 3");
  c->command({"SUBSCRIBE", long_channel, std::string(100, 'c')});
  r = replies(*c, 2);
  EXPECT_EQ(r[0], "ERR channel name too long (100, --max-channel-len)");
  EXPECT_EQ(r[1], "ok 4");
  // The patterns that were accepted work.
  auto pub = client();
  EXPECT_EQ(pub->call({"PUBLISH", "news.today", "x"}).integer, 1);
  RespValue v;
  ASSERT_TRUE(c->read(&v));
  EXPECT_TRUE(is_push(v, "pmessage"));
}

// A PUBLISH channel longer than any channel may be subscribed to is refused (every pattern would
// be matched against it); a PUBSUB CHANNELS pattern is bounded like a subscribed one; and no new
// PUBSUB CHANNELS starts while queued output is over the cap.
TEST_P(ClientLimitsTest, PublishChannelsAndListingPatternsAreBounded) {
  cfg.shards = 1;
  cfg.max_channel_len = 100;
  cfg.max_channels_per_client = 60000;
  cfg.max_pattern_len = 64;
  cfg.max_queued_bytes = 64 * 1024;
  cfg.output.policy = OverflowPolicy::kDropNewest;
  start();
  auto c = client();
  RespValue r = c->call({"PUBLISH", std::string(101, 'c'), "x"});
  EXPECT_EQ(r.type, Type::kError);
  EXPECT_EQ(r.str, "ERR channel name too long (100, --max-channel-len)");
  EXPECT_EQ(c->call({"PUBLISH", std::string(100, 'c'), "x"}).integer, 0);
  r = c->call({"PUBSUB", "CHANNELS", std::string(65, '*')});
  EXPECT_EQ(r.str, "ERR pattern too long (64, --max-pattern-len)");
  EXPECT_EQ(c->call({"PUBSUB", "CHANNELS", "*"}).type, Type::kArray);
  // A list larger than the shard's share of --max-queued-bytes (replies are never shed, so it
  // would stay queued however slowly its client reads) ends in an error, while it is built.
  auto holder = client();
  std::vector<std::string> many = {"SUBSCRIBE"};
  for (int i = 0; i < 50000; ++i) many.push_back(std::to_string(i) + std::string(90, '-'));
  holder->command(many);
  for (size_t i = 1; i < many.size(); ++i) ASSERT_TRUE(holder->read(&r));
  auto stalled = client(4096);
  stalled->command({"PUBSUB", "CHANNELS"});  // 5 MB of names, and a client that reads slowly
  r = c->call({"PUBSUB", "CHANNELS"});
  EXPECT_EQ(r.type, Type::kError);
  EXPECT_EQ(r.str.rfind("ERR PUBSUB CHANNELS refused: the shard's queued output would be over --max-queued-bytes", 0), 0u) << r.str;
  ASSERT_TRUE(stalled->read(&r));
  EXPECT_EQ(r.type, Type::kError) << "a list of " << r.elements.size();
  EXPECT_EQ(stat("channel_lists_refused"), 2);
  EXPECT_EQ(c->call({"PUBSUB", "CHANNELS", "1?-*"}).elements.size(), 11u);  // 1, 10-19: small lists work
}

INSTANTIATE_TEST_SUITE_P(Backends, ClientLimitsTest, ::testing::ValuesIn(kBackends),
                         [](const auto& info) { return info.param; });

}  // namespace
}  // namespace fanout::test
