// The cases where backends differ underneath: sends that stay in flight while a reader has
// stopped, connections closed with a send in flight, the receive buffer ring running dry, and
// connection churn while publishing. Run on every backend; the io_uring-only counters (buffer
// exhaustion) are asserted only there.
#include <sys/socket.h>

#include <atomic>
#include <chrono>
#include <thread>

#include "tests/net/server_fixture.h"
#include "tests/net/subscribers.h"

namespace fanout::test {
namespace {

class BackendEdgeTest : public ServerTest {};

// "seq:" followed by filler up to `size` bytes.
std::string numbered(long seq, size_t size) {
  std::string s = "0:" + std::to_string(seq) + ":";
  s.resize(std::max(size, s.size()), 'x');
  return s;
}

long seq_of(const RespValue& v) {
  const std::string& p = v.elements[2].str;
  size_t a = p.find(':'), b = p.find(':', a + 1);
  return std::stol(p.substr(a + 1, b - a - 1));
}

// Publishes `n` numbered messages of `size` bytes to `channel`, pipelined, and reads the replies.
void publish_numbered(TestClient& pub, std::string_view channel, long from, long n, size_t size) {
  std::string batch;
  for (long i = from; i < from + n; ++i) {
    batch += encode_command({"PUBLISH", std::string(channel), numbered(i, size)});
  }
  pub.send_raw(batch);
  RespValue r;
  for (long i = 0; i < n; ++i) ASSERT_TRUE(pub.read(&r)) << i;
}

TEST_P(BackendEdgeTest, StoppedReaderHoldsASendInFlightThenResumesAtTheExactByte) {
  cfg.shards = 1;
  cfg.output.hard_bytes = 64u << 20;  // nothing is dropped: every byte must arrive in order
  cfg.output.soft_bytes = 0;
  start();
  auto sub = client(4096);
  subscribe(*sub, "SUBSCRIBE", "s");
  auto pub = client();
  constexpr long kN = 800;
  constexpr size_t kSize = 8192;  // 6.4 MiB: far more than the socket buffers take
  publish_numbered(*pub, "s", 0, kN, kSize);
  // The reader has not read: the server must have a send waiting on this socket (on io_uring a
  // SENDMSG in flight, on epoll one armed for EPOLLOUT). On epoll that wait follows a short
  // sendmsg; on io_uring the first SENDMSG may find the socket full and wait in the kernel's poll
  // without completing, so its short completion is counted only once the reader reads (below).
  std::string in = info();
  EXPECT_GT(info_field(in, "sends_submitted"), info_field(in, "sends_completed")) << in;
  if (GetParam() == "epoll") {
    EXPECT_GT(info_field(in, "short_sends"), 0) << in;
  }
  for (long i = 0; i < kN; ++i) {
    RespValue v;
    ASSERT_TRUE(sub->read(&v, 10000)) << i;
    ASSERT_TRUE(is_push(v, "message")) << i;
    ASSERT_EQ(v.elements[2].str.size(), kSize) << i;
    ASSERT_EQ(seq_of(v), i);
  }
  // 6.4 MiB cannot go in one send: the rest followed a short one, at the exact byte (above).
  in = info();
  EXPECT_GT(info_field(in, "short_sends"), 0) << in;
}

// A client that sends its commands and then shuts down its side (printf ... | nc -N) gets every
// reply before the server closes: end of input arriving with (or right after) the data it ends
// must not discard replies still queued. Subscribers that half-close are closed once drained.
TEST_P(BackendEdgeTest, HalfClosedClientsGetTheirRepliesThenAClose) {
  // One shard: a PUBLISH reply then means its messages are in the subscriber's queue. (Across
  // shards they may still be in the ring when the end of input closes the subscriber, and then
  // they were never owed to it.)
  cfg.shards = 1;
  start();
  for (int round = 0; round < 50; ++round) {
    auto c = client();
    std::string batch;
    for (int i = 0; i < 20; ++i) batch += encode_command({"ECHO", std::string(1000, 'a' + i % 26)});
    batch += encode_command({"PUBLISH", "nobody", "x"});
    c->send_raw(batch);
    c->half_close();
    for (int i = 0; i < 20; ++i) {
      RespValue v;
      ASSERT_TRUE(c->read(&v)) << "round " << round << " reply " << i;
      ASSERT_EQ(v.str, std::string(1000, 'a' + i % 26));
    }
    RespValue v;
    ASSERT_TRUE(c->read(&v)) << "round " << round;
    EXPECT_EQ(v.integer, 0);
    EXPECT_TRUE(c->wait_closed(5000)) << "round " << round;
  }
  // A subscriber with messages queued: they arrive, then the close, though publishing goes on.
  auto sub = client(4096);
  subscribe(*sub, "SUBSCRIBE", "h");
  auto pub = client();
  publish_numbered(*pub, "h", 0, 100, 8192);
  sub->half_close();
  publish_numbered(*pub, "h", 100, 100, 8192);
  int got = 0;
  RespValue v;
  while (sub->read(&v, 5000)) {
    ASSERT_TRUE(is_push(v, "message"));
    ASSERT_EQ(seq_of(v), got);
    ++got;
  }
  EXPECT_GE(got, 100);
  EXPECT_TRUE(sub->wait_closed(5000));
  EXPECT_EQ(await_stat("connected_clients", 2), 2);  // pub and the INFO client
}

TEST_P(BackendEdgeTest, ConnectionsClosedWithSendsInFlightAreFreed) {
  cfg.shards = 2;
  cfg.output.hard_bytes = 64u << 20;
  cfg.output.soft_bytes = 0;
  start();
  auto keeper = client();
  subscribe(*keeper, "SUBSCRIBE", "s");
  std::vector<std::unique_ptr<TestClient>> stuck;
  for (int i = 0; i < 20; ++i) {
    stuck.push_back(client(4096));
    subscribe(*stuck.back(), "SUBSCRIBE", "s");
  }
  auto pub = client();
  publish_numbered(*pub, "s", 0, 200, 8192);
  for (int i = 0; i < 200; ++i) {
    RespValue v;
    ASSERT_TRUE(keeper->read(&v, 10000)) << i;
    ASSERT_EQ(seq_of(v), i);
  }
  // Half vanish with a reset, half close with unread data: both while the server is sending.
  for (size_t i = 0; i < stuck.size(); ++i) {
    if (i % 2) stuck[i]->reset(); else stuck[i]->close();
  }
  stuck.clear();
  EXPECT_EQ(await_stat("connected_clients", 3), 3);  // keeper, pub, and the INFO client
  // The server still serves: a new message reaches the subscriber that kept reading.
  publish_numbered(*pub, "s", 200, 1, 16);
  RespValue v;
  ASSERT_TRUE(keeper->read(&v));
  EXPECT_EQ(seq_of(v), 200);
  EXPECT_EQ(stat("stale_completions"), 0);
}

TEST_P(BackendEdgeTest, ReceiveBufferExhaustionRearmsWithoutLosingInput) {
  cfg.shards = 1;
  cfg.uring_buffers = 16;  // io_uring: sixteen 512-byte buffers for every connection of the shard
  cfg.uring_buffer_size = 512;
  start();
  auto sub = client();
  subscribe(*sub, "SUBSCRIBE", "s");
  constexpr int kPublishers = 16;
  constexpr long kEach = 300;
  std::vector<std::unique_ptr<TestClient>> pubs;
  for (int i = 0; i < kPublishers; ++i) pubs.push_back(client());
  // Every publisher writes its whole pipeline before any reply is read, so many sockets have
  // input at once: far more than two buffers' worth.
  for (int p = 0; p < kPublishers; ++p) {
    std::string batch;
    for (long i = 0; i < kEach; ++i) {
      batch += encode_command({"PUBLISH", "s", std::to_string(p) + ":" + std::to_string(i) + ":payload"});
    }
    pubs[p]->send_raw(batch);
  }
  for (int p = 0; p < kPublishers; ++p) {
    RespValue r;
    for (long i = 0; i < kEach; ++i) {
      ASSERT_TRUE(pubs[p]->read(&r, 10000)) << p << " " << i;
      ASSERT_EQ(r.integer, 1);
    }
  }
  std::vector<std::unique_ptr<TestClient>> subs;
  subs.push_back(std::move(sub));
  Collector col(&subs);
  col.run(kPublishers * kEach, 20000);
  EXPECT_EQ(col.errors(), 0u);
  EXPECT_EQ(col.complete(kPublishers * kEach), 1u);
  if (GetParam() == "io_uring") {
    EXPECT_GT(stat("recv_buffers_exhausted"), 0);
  }
}

TEST_P(BackendEdgeTest, ThousandsOfConnectionsOpenAndCloseWhilePublishing) {
  cfg.shards = 2;
  start();
  std::vector<std::unique_ptr<TestClient>> subs;
  subs.push_back(client());
  subscribe(*subs[0], "SUBSCRIBE", "s");
  std::atomic<bool> done{false};
  std::atomic<long> published{0};
  std::thread publisher([&] {
    auto pub = TestClient::connect(port);
    long i = 0;
    while (!done.load() && i < 200'000) {
      publish_numbered(*pub, "s", i, 50, 32);
      i += 50;
      published = i;
    }
  });
  // Churn: connect, subscribe (so publishes reach it), then close or reset while messages flow.
  constexpr int kChurn = 3000;
  std::atomic<int> ok{0};
  std::thread churn([&] {
    for (int i = 0; i < kChurn; ++i) {
      auto c = TestClient::connect(port);
      if (!c) continue;
      c->command({"SUBSCRIBE", "s"});
      if (i % 3 == 0) {
        RespValue v;
        if (c->read(&v)) ++ok;
      }
      if (i % 2) c->reset(); else c->close();
    }
    done = true;
  });
  // The subscriber that stays reads throughout, checking order.
  Collector col(&subs);
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (!done.load() && std::chrono::steady_clock::now() < deadline) col.run(~size_t{0}, 50);
  churn.join();
  publisher.join();
  col.run(static_cast<size_t>(published.load()), 30000);
  EXPECT_GE(ok.load(), kChurn / 3 - 5);
  EXPECT_GT(published.load(), 0);
  EXPECT_EQ(col.errors(), 0u);
  EXPECT_EQ(col.complete(static_cast<size_t>(published.load())), 1u);
  EXPECT_EQ(await_stat("connected_clients", 2), 2);  // the subscriber and the INFO client
  EXPECT_GE(stat("total_connections_received"), kChurn + 2);
}

// The RESP2 or RESP3 frame of a message as a subscriber of that protocol must receive it.
std::string message_frame(int proto, const std::string& channel, const std::string& payload) {
  std::string s = proto == 3 ? ">3\r\n" : "*3\r\n";
  s += "$7\r\nmessage\r\n$" + std::to_string(channel.size()) + "\r\n" + channel + "\r\n$" +
       std::to_string(payload.size()) + "\r\n" + payload + "\r\n";
  return s;
}

// Every byte a subscriber receives is its own. A submission queue of 8 entries (io_uring) makes
// each loop iteration of the receiving shard overflow it many times, after a non-send entry (the
// wake-up read re-armed when the other shard's messages arrive): staged send headers must never
// be reused while an entry not yet submitted points at them, or one connection's bytes go out on
// another's socket. Subscribers alternate RESP2 and RESP3, each on a channel of its own, so a
// push on the wrong socket shows as the wrong channel or framing; the sizes differ, so a header
// paired with another's iovecs shows too.
TEST_P(BackendEdgeTest, EachSubscriberReceivesExactlyItsOwnBytesWhenSendsOverflowTheQueue) {
  cfg.shards = 2;
  cfg.uring_sq_entries = 8;
  start();
  constexpr int kSubs = 96;
  constexpr int kRounds = 40;
  std::vector<std::unique_ptr<TestClient>> subs;
  std::vector<std::string> expected(kSubs);
  for (int i = 0; i < kSubs; ++i) {
    subs.push_back(client());
    if (i % 2) {
      RespValue hello = subs.back()->call({"HELLO", "3"});
      ASSERT_EQ(hello.type, Type::kMap);
    }
    subscribe(*subs.back(), "SUBSCRIBE", "ch" + std::to_string(i));
  }
  auto pub = client();
  for (int r = 0; r < kRounds; ++r) {
    // One pipelined batch per round: one shard's sends for it fall in one loop iteration.
    std::string batch;
    for (int i = 0; i < kSubs; ++i) {
      std::string ch = "ch" + std::to_string(i);
      std::string payload = std::to_string(r) + ":" + std::to_string(i) + ":" + std::string(i, 'x');
      batch += encode_command({"PUBLISH", ch, payload});
      expected[i] += message_frame(i % 2 ? 3 : 2, ch, payload);
    }
    pub->send_raw(batch);
    for (int i = 0; i < kSubs; ++i) {
      RespValue v;
      ASSERT_TRUE(pub->read(&v)) << r << " " << i;
      ASSERT_EQ(v.integer, 1) << r << " " << i;
    }
  }
  for (int i = 0; i < kSubs; ++i) {
    ASSERT_EQ(subs[i]->read_bytes(expected[i].size()), expected[i]) << "subscriber " << i;
    // Nothing else may follow the messages: the next bytes are the reply to this PING.
    subs[i]->command({"PING"});
    std::string pong = i % 2 ? "+PONG\r\n" : "*2\r\n$4\r\npong\r\n$0\r\n\r\n";
    ASSERT_EQ(subs[i]->read_bytes(pong.size()), pong) << "subscriber " << i;
  }
}

// A completion queue far smaller than an iteration's completions (io_uring: 8 SQ entries, so a
// 64-entry CQ): the overflow the kernel keeps is drained every iteration, so no client is
// starved, and every publisher's replies and every message arrive.
TEST_P(BackendEdgeTest, ATinyCompletionQueueStarvesNoClient) {
  cfg.shards = 1;
  cfg.uring_sq_entries = 8;
  start();
  constexpr int kSubs = 3000, kPublishers = 3, kWindows = 50, kWindow = 4;
  std::vector<std::unique_ptr<TestClient>> subs;
  for (int i = 0; i < kSubs; ++i) {
    subs.push_back(client());
    subscribe(*subs.back(), "SUBSCRIBE", "s");
  }
  std::atomic<bool> done{false};
  std::thread churn([&] {
    for (int i = 0; i < 20000 && !done.load(); ++i) {
      auto c = TestClient::connect(port);
      if (c && i % 2) c->send_raw(encode_command({"PING"}));
    }
  });
  std::atomic<int> answered{0};
  std::vector<std::thread> pubs;
  for (int p = 0; p < kPublishers; ++p) {
    pubs.emplace_back([&, p] {
      auto pub = TestClient::connect(port);
      for (int w = 0; w < kWindows; ++w) {
        std::string batch;
        for (int k = 0; k < kWindow; ++k) {
          batch += encode_command({"PUBLISH", "s", std::to_string(p) + ":" + std::to_string(w * kWindow + k)});
        }
        pub->send_raw(batch);
        for (int k = 0; k < kWindow; ++k) {
          RespValue r;
          if (!pub->read(&r, 10000)) return;  // starved: the count below shows it
          ++answered;
        }
      }
    });
  }
  Collector col(&subs);
  col.run(kPublishers * kWindows * kWindow, 60000);
  for (auto& t : pubs) t.join();
  done = true;
  churn.join();
  EXPECT_EQ(answered.load(), kPublishers * kWindows * kWindow);
  EXPECT_EQ(col.errors(), 0u);
  EXPECT_EQ(col.complete(kPublishers * kWindows * kWindow), static_cast<size_t>(kSubs));
}

TEST_P(BackendEdgeTest, InfoCountersExplainTheBackend) {
  cfg.shards = 1;
  start();
  auto sub = client();
  subscribe(*sub, "SUBSCRIBE", "s");
  auto pub = client();
  publish_numbered(*pub, "s", 0, 100, 64);
  for (int i = 0; i < 100; ++i) {
    RespValue v;
    ASSERT_TRUE(sub->read(&v));
  }
  std::string in = pub->call({"INFO", "backend"}).str;
  EXPECT_NE(in.find("backend:" + GetParam() + "\r\n"), std::string::npos) << in;
  EXPECT_GT(info_field(in, "sends_completed"), 0) << in;
  EXPECT_GE(info_field(in, "sends_submitted"), info_field(in, "sends_completed")) << in;
  EXPECT_GT(info_field(in, "syscalls"), 0) << in;
  // The ratio INFO shows is the two counters it shows (to two decimals, truncated).
  uint64_t completions = info_field(in, "completions"), waits = info_field(in, "wait_calls");
  ASSERT_GT(waits, 0u) << in;
  size_t at = in.find("completions_per_wait:");
  ASSERT_NE(at, std::string::npos) << in;
  double ratio = std::stod(in.substr(at + 21));
  EXPECT_NEAR(ratio, static_cast<double>(completions) / static_cast<double>(waits), 0.011) << in;
  if (GetParam() == "io_uring") {
    EXPECT_NE(in.find("io_uring_setup:"), std::string::npos) << in;
    EXPECT_GT(info_field(in, "io_uring_enter_calls"), 0) << in;
    EXPECT_EQ(info_field(in, "sendmsg_calls"), 0) << in;  // sends are SQEs, not syscalls
    EXPECT_EQ(info_field(in, "epoll_ctl_calls"), 0) << in;
    EXPECT_EQ(info_field(in, "cq_overflows"), 0) << in;
  } else {
    EXPECT_EQ(in.find("io_uring_setup:"), std::string::npos) << in;
    EXPECT_EQ(info_field(in, "io_uring_enter_calls"), 0) << in;
    EXPECT_GE(info_field(in, "sendmsg_calls"), info_field(in, "sends_completed")) << in;
    EXPECT_GT(info_field(in, "epoll_ctl_calls"), 0) << in;
  }
}

INSTANTIATE_TEST_SUITE_P(Backends, BackendEdgeTest, ::testing::ValuesIn(kBackends),
                         [](const auto& info) { return info.param; });

}  // namespace
}  // namespace fanout::test
