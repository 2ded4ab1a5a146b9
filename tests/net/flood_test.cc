// Flood tests on every backend: a storm of connections past --max-clients, a publisher far
// faster than its subscribers under each slow-consumer policy (with the delivery accounting
// checked against what every subscriber actually read), and subscribe/unsubscribe churn of
// thousands of channels and patterns while messages flow.
#include <atomic>
#include <chrono>
#include <thread>

#include "tests/net/server_fixture.h"
#include "tests/net/subscribers.h"

namespace fanout::test {
namespace {

using Clock = std::chrono::steady_clock;

class FloodTest : public ServerTest {};

TEST_P(FloodTest, ConnectionStormPastMaxClientsLeavesSubscribersReceiving) {
  constexpr int kIdle = 10, kStorm = 2000, kMessages = 2000;
  cfg.max_clients = 2 + kIdle;
  start();
  auto sub = client();
  subscribe(*sub, "SUBSCRIBE", "steady");
  auto pub = client();
  std::vector<std::unique_ptr<TestClient>> idle;
  for (int i = 0; i < kIdle; ++i) {
    idle.push_back(client());
    ASSERT_EQ(idle.back()->call({"PING"}).str, "PONG");  // admitted: the server is now full
  }
  // The storm: waves of 200 connections at once, every one of them past the limit.
  std::atomic<int> rejected{0}, other{0};
  std::thread storm([&] {
    auto deadline = Clock::now() + std::chrono::seconds(60);
    for (int done = 0; done < kStorm && Clock::now() < deadline; done += 200) {
      std::vector<std::unique_ptr<TestClient>> wave;
      for (int i = 0; i < 200; ++i) wave.push_back(TestClient::connect(port));
      for (auto& c : wave) {
        RespValue v;
        if (c && c->read(&v) && v.type == RespValue::Type::kError &&
            v.str == "ERR max number of clients reached" && c->wait_closed()) {
          ++rejected;
        } else {
          ++other;
        }
      }
    }
  });
  // Meanwhile the admitted publisher and subscriber carry on.
  for (int i = 0; i < kMessages; ++i) {
    RespValue r = pub->call({"PUBLISH", "steady", "0:" + std::to_string(i)});
    ASSERT_EQ(r.integer, 1) << i;
  }
  storm.join();
  for (int i = 0; i < kMessages; ++i) {
    RespValue v;
    ASSERT_TRUE(sub->read(&v)) << i;
    ASSERT_TRUE(is_push(v, "message"));
    ASSERT_EQ(v.elements[2].str, "0:" + std::to_string(i));
  }
  EXPECT_EQ(rejected.load(), kStorm);
  EXPECT_EQ(other.load(), 0);
  // INFO through the admitted publisher: a new client would be refused (and counted) too.
  std::string in = pub->call({"INFO", "everything"}).str;
  EXPECT_EQ(info_field(in, "rejected_connections"), kStorm);
  EXPECT_EQ(info_field(in, "messages_published"), kMessages);
}

// Reads one subscriber on its own thread, `pause` between reads (0: as fast as it can), not at
// all until `done` is set if it `stalls`, and until the server closes it or, once `done` is set,
// it has been quiet for a second.
struct Reader {
  std::unique_ptr<TestClient> client;
  std::chrono::microseconds pause{0};
  bool stalls = false;
  const std::atomic<bool>* done = nullptr;  // the publisher has finished
  std::vector<long> seqs;
  bool closed = false;
  std::string error;

  void run() {
    while (stalls && !done->load()) std::this_thread::sleep_for(std::chrono::milliseconds(5));
    auto deadline = Clock::now() + std::chrono::seconds(120);
    auto last = Clock::now();
    while (Clock::now() < deadline && !(done->load() && Clock::now() - last >= std::chrono::seconds(1))) {
      if (!client->fill(100)) {
        closed = true;
        break;
      }
      RespValue v;
      bool any = false;
      while (client->next_buffered(&v)) {
        any = true;
        if (!is_push(v, "message")) {
          error = "not a message";
          return;
        }
        const std::string& p = v.elements[2].str;
        seqs.push_back(std::stol(p.substr(0, p.find(':'))));
      }
      if (any) last = Clock::now();
      if (pause.count()) std::this_thread::sleep_for(pause);
    }
  }
};

class FloodPolicyTest : public PolicyTest {};

// A publisher pipelines 3,200 messages of 4 KiB (12.5 MiB per subscriber) at subscribers that read
// at full speed, slowly, or not until it has finished. The policy must hold for the slow ones,
// and the server's accounting must match what every subscriber read: published × receivers =
// sent + dropped (+ discarded with disconnected clients), each push counted exactly once.
TEST_P(FloodPolicyTest, FastPublisherSlowSubscribersEveryMessageAccountedFor) {
  constexpr int kFast = 3, kSlow = 3, kStalled = 2, kMessages = 3200, kWindow = 32;
  const std::string policy = std::get<1>(GetParam());
  cfg.output.policy = *parse_policy(policy);
  cfg.output.hard_bytes = 256 * 1024;
  cfg.output.soft_bytes = 0;
  start();
  std::atomic<bool> published_all{false};
  std::vector<Reader> readers(kFast + kSlow + kStalled);
  for (size_t i = 0; i < readers.size(); ++i) {
    bool stalled = i >= kFast + kSlow;
    readers[i].client = client(stalled ? 4096 : 0);
    subscribe(*readers[i].client, "SUBSCRIBE", "flood");
    if (i >= kFast && !stalled) readers[i].pause = std::chrono::microseconds(2000);
    readers[i].stalls = stalled;
    readers[i].done = &published_all;
  }
  std::vector<std::thread> threads;
  for (auto& r : readers) threads.emplace_back([&r] { r.run(); });

  auto pub = client();
  const std::string pad(4096, '.');
  int64_t receivers = 0;  // the sum of PUBLISH replies
  for (int i = 0; i < kMessages; i += kWindow) {
    for (int k = i; k < i + kWindow; ++k) pub->command({"PUBLISH", "flood", std::to_string(k) + ":" + pad});
    for (int k = i; k < i + kWindow; ++k) {
      RespValue r;
      ASSERT_TRUE(pub->read(&r, 30000)) << k;
      ASSERT_EQ(r.type, RespValue::Type::kInteger);
      receivers += r.integer;
    }
  }
  published_all = true;
  for (auto& t : threads) t.join();

  int64_t read_total = 0, missing = 0;
  for (size_t i = 0; i < readers.size(); ++i) {
    const Reader& r = readers[i];
    ASSERT_EQ(r.error, "") << "reader " << i;
    for (size_t k = 1; k < r.seqs.size(); ++k) ASSERT_LT(r.seqs[k - 1], r.seqs[k]) << "reader " << i;
    read_total += static_cast<int64_t>(r.seqs.size());
    missing += kMessages - static_cast<int64_t>(r.seqs.size());
  }
  ASSERT_EQ(await_stat("deliveries_queued", 0), 0);
  std::string in = info();
  const int64_t due = info_field(in, "deliveries_due"), sent = info_field(in, "deliveries_sent"),
                newest = info_field(in, "dropped_newest"), oldest = info_field(in, "dropped_oldest"),
                discarded = info_field(in, "deliveries_discarded");
  EXPECT_EQ(due, sent + newest + oldest + discarded) << in;
  // Every byte the server sent was read: whole pushes sent = pushes the subscribers parsed.
  EXPECT_EQ(sent, read_total) << in;
  const auto& stalled = readers.back();
  if (policy == "disconnect") {
    EXPECT_EQ(newest + oldest, 0);
    EXPECT_TRUE(stalled.closed);
    EXPECT_GE(info_field(in, "slow_disconnected"), kStalled);
    // A disconnected subscriber got a gap-free prefix; the rest were never owed or discarded.
    for (const Reader& r : readers) {
      if (!r.closed) continue;
      for (size_t k = 0; k < r.seqs.size(); ++k) ASSERT_EQ(r.seqs[k], static_cast<long>(k));
    }
    return;
  }
  // Nobody was disconnected: every receiver of every PUBLISH was owed it, and what a
  // subscriber did not read is exactly what the policy dropped.
  for (const Reader& r : readers) EXPECT_FALSE(r.closed);
  EXPECT_EQ(receivers, int64_t{kMessages} * static_cast<int64_t>(readers.size()));
  EXPECT_EQ(due, receivers);
  EXPECT_EQ(discarded, 0);
  EXPECT_EQ(missing, newest + oldest) << in;
  EXPECT_LT(stalled.seqs.size(), static_cast<size_t>(kMessages));
  ASSERT_FALSE(stalled.seqs.empty());
  if (policy == "drop-newest") {
    // The oldest survive. (Not necessarily a prefix: when the kernel takes more of the queue,
    // later messages fit again.)
    EXPECT_EQ(stalled.seqs.front(), 0);
  } else {
    EXPECT_GT(oldest, 0);
    // The newest survives, unless every queued message was held by a send waiting for room (a
    // send's bytes cannot be dropped under it): then the new message was dropped instead, and
    // counted as dropped_newest.
    if (newest == 0) {
      EXPECT_EQ(stalled.seqs.back(), kMessages - 1) << in;
    }
  }
}

// Churners subscribe to and unsubscribe from thousands of channels and patterns in a loop while
// a publisher publishes to those channels and to a steady one; the steady subscribers get every
// message in order, every churner's stream stays well-formed with exact confirmation counts,
// and once the churn stops no subscription is left behind.
TEST_P(FloodTest, SubscribeChurnOfThousandsOfChannelsWhilePublishing) {
  constexpr int kChurners = 4, kChannels = 500, kPatterns = 100, kRounds = 100'000;
  const auto churn_for = std::chrono::seconds(2);
  start();
  auto steady = client();
  subscribe(*steady, "SUBSCRIBE", "steady");
  auto psteady = client();
  subscribe(*psteady, "PSUBSCRIBE", "stea?y*");

  // Churn lasts churn_for and until the publisher has made kMinSent round trips (a slow,
  // sanitized build takes longer for them), within a hard bound.
  constexpr int kMinSent = 200;
  std::atomic<int> churning{kChurners}, rounds{0}, churn_messages{0}, sent_so_far{0};
  std::vector<std::string> errors(kChurners);
  std::vector<std::thread> churners;
  for (int t = 0; t < kChurners; ++t) {
    churners.emplace_back([&, t] {
      auto c = TestClient::connect(port);
      auto deadline = Clock::now() + churn_for, hard_deadline = Clock::now() + std::chrono::seconds(60);
      auto churn_on = [&] {
        auto now = Clock::now();
        return now < hard_deadline && (now < deadline || sent_so_far.load() < kMinSent);
      };
      std::vector<std::string> chans = {"SUBSCRIBE"}, pats = {"PSUBSCRIBE"};
      for (int k = 0; k < kChannels; ++k) chans.push_back("c:" + std::to_string(t) + ":" + std::to_string(k));
      for (int k = 0; k < kPatterns; ++k) pats.push_back("p:" + std::to_string(t) + ":" + std::to_string(k) + ":*");
      // Reads until `want` confirmations of `kind` arrived, skipping interleaved messages.
      auto expect = [&](std::string_view kind, int want) {
        for (int got = 0; got < want;) {
          RespValue v;
          if (!c->read(&v, 10000)) return false;
          if (is_push(v, "message") || is_push(v, "pmessage")) {
            ++churn_messages;
            continue;
          }
          if (!is_push(v, kind)) return false;
          ++got;
        }
        return true;
      };
      for (int round = 0; round < kRounds && churn_on(); ++round) {
        c->command(chans);
        c->command(pats);
        bool ok = expect("subscribe", kChannels) && expect("psubscribe", kPatterns);
        // Subscribed now: hold on briefly while the publisher reaches these channels.
        std::this_thread::sleep_for(std::chrono::milliseconds(2));
        c->command({"UNSUBSCRIBE"});
        c->command({"PUNSUBSCRIBE"});
        if (!ok || !expect("unsubscribe", kChannels) || !expect("punsubscribe", kPatterns)) {
          errors[t] = "round " + std::to_string(round) + ": bad or missing confirmation";
          break;
        }
        ++rounds;
      }
      --churning;
    });
  }
  auto pub = client();
  int sent = 0;
  for (int k = 0; churning.load() > 0 && sent < 50000; ++k) {
    // Four publishes per steady one: to channels and patterns being churned.
    std::string t = std::to_string(k % kChurners), n = std::to_string(k % kChannels);
    pub->command({"PUBLISH", "c:" + t + ":" + n, "x"});
    pub->command({"PUBLISH", "p:" + t + ":" + std::to_string(k % kPatterns) + ":x", "x"});
    pub->command({"PUBLISH", "c:" + t + ":" + std::to_string((k * 7) % kChannels), "x"});
    pub->command({"PUBLISH", "nobody", "x"});
    pub->command({"PUBLISH", "steady", "0:" + std::to_string(sent)});
    for (int i = 0; i < 5; ++i) {
      RespValue r;
      ASSERT_TRUE(pub->read(&r));
      ASSERT_EQ(r.type, RespValue::Type::kInteger);
      if (i == 4) {
        ASSERT_EQ(r.integer, 2);  // steady and psteady
      }
    }
    sent_so_far = ++sent;
  }
  for (auto& t : churners) t.join();
  for (int t = 0; t < kChurners; ++t) EXPECT_EQ(errors[t], "") << "churner " << t;
  ASSERT_GE(sent, kMinSent);
  ASSERT_GT(rounds.load(), kChurners);
  EXPECT_GT(churn_messages.load(), 0);  // the churned channels were live while published to
  std::printf("churn: %d rounds of %d channels and %d patterns, %d steady messages, %d to churners\n",
              rounds.load(), kChannels, kPatterns, sent, churn_messages.load());
  for (auto* s : {steady.get(), psteady.get()}) {
    for (int i = 0; i < sent; ++i) {
      RespValue v;
      ASSERT_TRUE(s->read(&v)) << i;
      ASSERT_EQ(v.elements.back().str, "0:" + std::to_string(i));
    }
  }
  std::string in = info();
  EXPECT_EQ(info_field(in, "pubsub_channels"), 1) << in;
  EXPECT_EQ(info_field(in, "pubsub_patterns"), 1) << in;
  EXPECT_EQ(pub->call({"PUBSUB", "NUMSUB", "c:0:0"}).elements[1].integer, 0);
}

INSTANTIATE_TEST_SUITE_P(Backends, FloodTest, ::testing::ValuesIn(kBackends),
                         [](const auto& info) { return info.param; });
INSTANTIATE_TEST_SUITE_P(BackendsAndPolicies, FloodPolicyTest,
                         ::testing::Combine(::testing::ValuesIn(kBackends),
                                            ::testing::Values("disconnect", "drop-oldest", "drop-newest")),
                         policy_test_name);

}  // namespace
}  // namespace fanout::test
