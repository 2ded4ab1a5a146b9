// A subscriber that stops reading: its policy fires, every other subscriber keeps receiving all
// messages in order, and queued memory stays under the configured limit. Every backend, every
// policy.

#include "tests/net/server_fixture.h"
#include "tests/net/subscribers.h"

namespace fanout::test {
namespace {

class SlowConsumerTest : public PolicyTest {
 protected:
  void SetUp() override {
    PolicyTest::SetUp();
    if (IsSkipped()) return;
    cfg.output.policy = *parse_policy(std::get<1>(GetParam()));
    cfg.output.hard_bytes = 256 * 1024;
    cfg.output.soft_bytes = 0;
    start();
  }
};

TEST_P(SlowConsumerTest, PolicyFiresAndOthersKeepReceiving) {
  // 24 MiB in all: far more than the kernel buffers (4 MiB send + receive) can absorb.
  constexpr int kFast = 10, kMessages = 1500;
  auto slow = client(4096);
  subscribe(*slow, "SUBSCRIBE", "s");
  std::vector<std::unique_ptr<TestClient>> fast;
  for (int i = 0; i < kFast; ++i) {
    fast.push_back(client());
    subscribe(*fast.back(), "SUBSCRIBE", "s");
  }
  // Fast readers read each message before the next is published, so only the stalled
  // subscriber can fall behind.
  auto pub = client();
  std::string pad(16 * 1024, '.');
  for (int i = 0; i < kMessages; ++i) {
    RespValue r = pub->call({"PUBLISH", "s", "0:" + std::to_string(i) + pad});
    ASSERT_EQ(r.type, Type::kInteger);
    for (auto& f : fast) {
      RespValue v;
      ASSERT_TRUE(f->read(&v)) << "message " << i;
      ASSERT_TRUE(is_push(v, "message"));
      ASSERT_EQ(std::stol(v.elements[2].str.substr(2)), i);
    }
  }

  // Only the stalled subscriber can still hold output, and never more than its limit, once each
  // shard has seen the fast readers' last sends complete (INFO's gauge is each shard's at the end
  // of its last iteration: a loaded machine once showed their last 16 KB message still queued).
  std::string in = info();
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (info_field(in, "queued_output_bytes") > static_cast<int64_t>(cfg.output.hard_bytes) &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    in = info();
  }
  EXPECT_LE(info_field(in, "queued_output_bytes"), static_cast<int64_t>(cfg.output.hard_bytes)) << in;
  EXPECT_GT(info_field(in, "overflow_hard"), 0);
  int64_t delivered = info_field(in, "messages_delivered");
  const std::string policy = std::get<1>(GetParam());
  if (policy == "disconnect") {
    EXPECT_EQ(info_field(in, "slow_disconnected"), 1);
    EXPECT_TRUE(slow->wait_closed(10000));
    return;
  }
  // The slow reader now drains what was kept for it.
  std::vector<long> seqs;
  RespValue v;
  while (slow->read(&v, 1000)) {
    ASSERT_TRUE(is_push(v, "message"));
    seqs.push_back(std::stol(v.elements[2].str.substr(2)));
  }
  ASSERT_FALSE(seqs.empty());
  ASSERT_LT(seqs.size(), static_cast<size_t>(kMessages));
  for (size_t i = 1; i < seqs.size(); ++i) EXPECT_LT(seqs[i - 1], seqs[i]);
  if (policy == "drop-newest") {
    // It kept the oldest: a gap-free prefix. Every message was queued or counted as dropped.
    EXPECT_EQ(seqs.front(), 0);
    EXPECT_EQ(seqs.back(), static_cast<long>(seqs.size()) - 1);
    EXPECT_EQ(delivered + info_field(in, "dropped_newest"), int64_t{kMessages} * (kFast + 1));
  } else {
    // It kept the newest: the last message arrived; what is missing was counted as dropped.
    EXPECT_EQ(seqs.back(), kMessages - 1);
    EXPECT_EQ(static_cast<int64_t>(seqs.size()) + info_field(in, "dropped_oldest") +
                  info_field(in, "dropped_newest"),
              kMessages);
  }
}

INSTANTIATE_TEST_SUITE_P(BackendsAndPolicies, SlowConsumerTest,
                         ::testing::Combine(::testing::ValuesIn(kBackends),
                                            ::testing::Values("disconnect", "drop-oldest", "drop-newest")),
                         policy_test_name);

}  // namespace
}  // namespace fanout::test
