#include "core/upstream_servers.h"

#include <gtest/gtest.h>

namespace fanout {
namespace {

std::vector<UpstreamUrl> urls(std::string_view text) {
  std::vector<UpstreamUrl> out;
  std::string err;
  EXPECT_TRUE(parse_upstream_urls(text, &out, &err)) << err;
  return out;
}

TEST(UpstreamServersTest, RotatesWithoutWaitingWithinARoundThenBacksOffWithJitter) {
  UpstreamServers s(urls("nats://a:1,nats://b:2"), 100, 1000);
  EXPECT_EQ(s.next().host, "a");
  EXPECT_EQ(s.failure_delay_ms(0), 0);  // b is tried at once
  EXPECT_EQ(s.next().host, "b");
  EXPECT_EQ(s.failure_delay_ms(0), 100);  // a round failed
  EXPECT_EQ(s.failure_delay_ms(50), 150);
  EXPECT_EQ(s.failure_delay_ms(51), 100);  // jitter is at most half the delay
  for (int round = 2; round <= 6; ++round) {
    s.next();
    s.next();
    const int64_t want = std::min<int64_t>(100 << (round - 1), 1000);
    EXPECT_EQ(s.failure_delay_ms(0), want) << round;
    EXPECT_LE(s.failure_delay_ms(~0ull), want + want / 2);
  }
  s.connected();
  EXPECT_EQ(s.next().host, "a");
  EXPECT_EQ(s.failure_delay_ms(0), 0);
}

TEST(UpstreamServersTest, ServersAnnouncedByTheClusterJoinTheRotationWithTheConfiguredCredentials) {
  UpstreamServers s(urls("tls://u:p@seed:4222"));
  EXPECT_EQ(s.discovered({"10.0.0.2:4222", "seed:4222", "[::1]:4223", "bad:port", "x@y:1", "10.0.0.2:4222"}), 2u);
  ASSERT_EQ(s.size(), 3u);
  EXPECT_EQ(s.at(1).host, "10.0.0.2");
  EXPECT_TRUE(s.at(1).tls);
  EXPECT_EQ(s.at(1).user, "u");
  EXPECT_EQ(s.at(2).display(), "[::1]:4223");
  EXPECT_EQ(s.next().host, "seed");
  EXPECT_EQ(s.next().host, "10.0.0.2");
}

// The newcomer's finding: a node configured with one server that learnt the others fails over to
// a learnt one first, not back to the server it just lost.
TEST(UpstreamServersTest, AfterALossTheNextServerIsTriedFirstLearntOnesIncluded) {
  UpstreamServers s(urls("nats://seed:1"));
  EXPECT_EQ(s.next().host, "seed");
  s.discovered({"b:2", "c:3"});
  s.connected();
  EXPECT_EQ(s.next().host, "b");
  EXPECT_EQ(s.next().host, "c");
  EXPECT_EQ(s.next().host, "seed");
}

TEST(UpstreamServersTest, TheListIsBounded) {
  UpstreamServers s(urls("nats://seed:1"));
  std::vector<std::string> many;
  for (int i = 0; i < 500; ++i) many.push_back("10.0." + std::to_string(i / 256) + "." + std::to_string(i % 256) + ":4222");
  s.discovered(many);
  EXPECT_EQ(s.size(), UpstreamServers::kMaxServers);
}

}  // namespace
}  // namespace fanout
