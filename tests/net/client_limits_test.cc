// Per-connection limits on every backend: how many channels and patterns one client may hold,
// and how long and how wild a pattern may be. A name over a limit gets an error in its place;
// the rest of the command still subscribes, so the client gets one reply per name.
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

INSTANTIATE_TEST_SUITE_P(Backends, ClientLimitsTest, ::testing::ValuesIn(kBackends),
                         [](const auto& info) { return info.param; });

}  // namespace
}  // namespace fanout::test
