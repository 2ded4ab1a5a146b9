// Integration: the real server over real loopback sockets, on every backend.
#include <sys/epoll.h>
#include <sys/resource.h>

#include <atomic>
#include <chrono>
#include <map>
#include <thread>

#include "tests/net/server_fixture.h"
#include "tests/net/subscribers.h"

namespace fanout::test {
namespace {


TEST_P(ServerTest, PublishReachesSubscribersOnEveryShardWithExactCount) {
  cfg.shards = 4;
  start();
  std::vector<std::unique_ptr<TestClient>> subs;
  for (int i = 0; i < 40; ++i) {
    subs.push_back(client());
    subscribe(*subs.back(), "SUBSCRIBE", "news");
  }
  for (int i = 0; i < 10; ++i) {
    subs.push_back(client());
    subscribe(*subs.back(), "PSUBSCRIBE", "ne*");
  }
  auto both = client();
  subscribe(*both, "SUBSCRIBE", "news");
  subscribe(*both, "PSUBSCRIBE", "n*");
  auto pub = client();
  RespValue r = pub->call({"PUBLISH", "news", "hello"});
  ASSERT_EQ(r.type, Type::kInteger);
  EXPECT_EQ(r.integer, 52);  // 40 + 10 + both counted twice, as Redis counts
  EXPECT_EQ(pub->call({"PUBLISH", "zzz", "x"}).integer, 0);
  EXPECT_EQ(pub->call({"PUBLISH", "nope", "x"}).integer, 1);  // only "n*" matches
  for (int i = 0; i < 50; ++i) {
    RespValue v;
    ASSERT_TRUE(subs[i]->read(&v)) << i;
    if (i < 40) {
      ASSERT_TRUE(is_push(v, "message"));
      EXPECT_EQ(v.elements[1].str, "news");
      EXPECT_EQ(v.elements[2].str, "hello");
    } else {
      ASSERT_TRUE(is_push(v, "pmessage"));
      EXPECT_EQ(v.elements[1].str, "ne*");
      EXPECT_EQ(v.elements[2].str, "news");
      EXPECT_EQ(v.elements[3].str, "hello");
    }
  }
  RespValue m1, m2;
  ASSERT_TRUE(both->read(&m1));
  ASSERT_TRUE(both->read(&m2));
  EXPECT_TRUE(is_push(m1, "message"));
  EXPECT_TRUE(is_push(m2, "pmessage"));
  EXPECT_EQ(pub->call({"PUBSUB", "NUMSUB", "news", "x"}).elements[1].integer, 41);
  EXPECT_EQ(pub->call({"PUBSUB", "NUMPAT"}).integer, 2);
  EXPECT_EQ(pub->call({"PUBSUB", "CHANNELS"}).elements.size(), 1u);
}

TEST_P(ServerTest, ShardChannelsAndResp3Pushes) {
  start();
  auto s = client();
  RespValue hello = s->call({"HELLO", "3"});
  ASSERT_EQ(hello.type, Type::kMap);
  s->command({"SSUBSCRIBE", "orders"});
  RespValue conf;
  ASSERT_TRUE(s->read(&conf));
  EXPECT_EQ(conf.type, Type::kPush);
  s->command({"SUBSCRIBE", "orders"});
  ASSERT_TRUE(s->read(&conf));
  EXPECT_EQ(conf.elements[2].integer, 1);  // shard channels are counted apart
  // RESP3 clients may run ordinary commands while subscribed.
  EXPECT_EQ(s->call({"PING"}).str, "PONG");
  auto p = client();
  EXPECT_EQ(p->call({"SPUBLISH", "orders", "o1"}).integer, 1);
  EXPECT_EQ(p->call({"PUBLISH", "orders", "o2"}).integer, 1);
  RespValue v;
  ASSERT_TRUE(s->read(&v));
  EXPECT_EQ(v.type, Type::kPush);
  EXPECT_EQ(v.elements[0].str, "smessage");
  EXPECT_EQ(v.elements[2].str, "o1");
  ASSERT_TRUE(s->read(&v));
  EXPECT_EQ(v.type, Type::kPush);
  EXPECT_EQ(v.elements[0].str, "message");
  EXPECT_EQ(p->call({"PUBSUB", "SHARDNUMSUB", "orders"}).elements[1].integer, 1);
}

TEST_P(ServerTest, FiveThousandSubscribersGetEveryMessageOnceInOrder) {
  cfg.shards = 2;
  cfg.mailbox_depth = 8;  // tiny rings: publishers must wait for space, never lose or reorder
  start();
  constexpr int kSubs = 5000, kPublishers = 3, kPerPublisher = 60;
  std::vector<std::unique_ptr<TestClient>> subs;
  for (int i = 0; i < kSubs; ++i) {
    subs.push_back(client());
    ASSERT_NE(subs.back(), nullptr) << i;
    subs.back()->command({"SUBSCRIBE", "feed"});
  }
  for (auto& s : subs) {
    RespValue v;
    ASSERT_TRUE(s->read(&v));
    ASSERT_TRUE(is_push(v, "subscribe"));
  }
  // The kernel spread connections over both shards.
  std::string shards = info("shards");
  size_t a = shards.find("shard0:clients="), b = shards.find("shard1:clients=");
  ASSERT_NE(a, std::string::npos);
  ASSERT_NE(b, std::string::npos);
  int64_t c0 = std::stoll(shards.substr(a + 15)), c1 = std::stoll(shards.substr(b + 15));
  EXPECT_GT(c0, kSubs * 35 / 100) << shards;
  EXPECT_GT(c1, kSubs * 35 / 100) << shards;

  std::vector<std::unique_ptr<TestClient>> pubs;
  for (int p = 0; p < kPublishers; ++p) pubs.push_back(client());
  std::vector<std::thread> threads;
  for (int p = 0; p < kPublishers; ++p) {
    threads.emplace_back([&, p] {
      std::string batch;
      for (int i = 0; i < kPerPublisher; ++i) {
        batch += encode_command({"PUBLISH", "feed", std::to_string(p) + ":" + std::to_string(i)});
      }
      pubs[p]->send_raw(batch);
      for (int i = 0; i < kPerPublisher; ++i) {
        RespValue r;
        ASSERT_TRUE(pubs[p]->read(&r, 30000));
        EXPECT_EQ(r.integer, kSubs);
      }
    });
  }
  Collector col(&subs);
  col.run(kPublishers * kPerPublisher, 120000);
  for (auto& t : threads) t.join();
  EXPECT_EQ(col.errors(), 0u);
  EXPECT_EQ(col.complete(kPublishers * kPerPublisher), static_cast<size_t>(kSubs));
  EXPECT_EQ(stat("messages_delivered"), int64_t{kSubs} * kPublishers * kPerPublisher);
}

TEST_P(ServerTest, ResetMidWriteDoesNotCrashOrRaiseSigpipe) {
  // SIGPIPE is left at its default here: one send without MSG_NOSIGNAL would kill this test.
  start();
  for (int round = 0; round < 20; ++round) {
    auto s = client(4096);
    subscribe(*s, "SUBSCRIBE", "big");
    auto p = client();
    std::string payload(64 * 1024, 'x');
    for (int i = 0; i < 8; ++i) p->command({"PUBLISH", "big", payload});
    RespValue r;
    ASSERT_TRUE(p->read(&r));
    s->reset();
    for (int i = 1; i < 8; ++i) ASSERT_TRUE(p->read(&r));
  }
  auto s = client();
  subscribe(*s, "SUBSCRIBE", "after");
  EXPECT_EQ(client()->call({"PUBLISH", "after", "ok"}).integer, 1);
  RespValue v;
  ASSERT_TRUE(s->read(&v));
  EXPECT_EQ(v.elements[2].str, "ok");
}

TEST_P(ServerTest, MalformedInputGetsAnErrorThenClose) {
  cfg.request.max_bulk_len = 1024;
  start();
  const std::pair<std::string, std::string> cases[] = {
      {"*1\r\nfoo\r\n", "ERR Protocol error: expected '$', got 'f'"},
      // An error line never carries CR or LF (Redis maps them to spaces): it would end early.
      {"*1\r\n\n", "ERR Protocol error: expected '$', got ' '"},
      {"*99999999999\r\n", "ERR Protocol error: invalid multibulk length"},
      {"*1\r\n$2048\r\n", "ERR Protocol error: invalid bulk length"},
      {"ECHO 'x\r\n", "ERR Protocol error: unbalanced quotes in request"},
      {std::string(70000, 'a'), "ERR Protocol error: too big inline request"},
  };
  for (const auto& [input, error] : cases) {
    auto c = client();
    c->send_raw(input);
    RespValue v;
    ASSERT_TRUE(c->read(&v)) << error;
    EXPECT_EQ(v.type, Type::kError);
    EXPECT_EQ(v.str, error);
    EXPECT_TRUE(c->wait_closed());
  }
  EXPECT_GE(stat("protocol_errors"), 6);
}

// After QUIT's +OK the server sends nothing more, though messages keep being published to the
// client's channel (Redis closes after the reply); then it closes. The same after a protocol
// error.
TEST_P(ServerTest, NothingFollowsTheLastReply) {
  cfg.shards = 1;
  start();
  for (const char* last : {"quit", "protocol error"}) {
    auto sub = client();
    subscribe(*sub, "SUBSCRIBE", "flow");
    std::atomic<bool> stop{false};
    std::thread publisher([&] {  // pipelined batches: the subscriber's queue never runs dry
      auto pub = TestClient::connect(port);
      std::string batch;
      for (int k = 0; k < 50; ++k) batch += encode_command({"PUBLISH", "flow", std::string(512, 'x')});
      for (int i = 0; i < 2000 && !stop.load(); ++i) {
        pub->send_raw(batch);
        RespValue r;
        for (int k = 0; k < 50; ++k) {
          if (!pub->read(&r)) return;
        }
      }
    });
    RespValue v;
    ASSERT_TRUE(sub->read(&v));  // messages are flowing
    sub->send_raw(std::string(last) == "quit" ? encode_command({"QUIT"}) : std::string("*1\r\n\n"));
    bool got_last = false;
    while (sub->read(&v, 5000)) {
      if (v.type == Type::kSimple || v.type == Type::kError) {
        got_last = true;
        break;
      }
      ASSERT_TRUE(is_push(v, "message")) << last;
    }
    EXPECT_TRUE(got_last) << last;
    EXPECT_FALSE(sub->read(&v, 5000)) << last << ": a value after the last reply";
    EXPECT_TRUE(sub->wait_closed()) << last;
    stop = true;
    publisher.join();
  }
}

TEST_P(ServerTest, QueryBufferLimitCloses) {
  // Each bulk fits --max-bulk-len; together they pass --max-query-buffer.
  cfg.max_query_buffer = 64 * 1024;
  cfg.request.max_bulk_len = 32 * 1024;
  start();
  auto c = client();
  std::string bulk = "$30000\r\n" + std::string(30000, 'a') + "\r\n";
  c->send_raw("*4\r\n$4\r\nECHO\r\n" + bulk + bulk + bulk);
  EXPECT_TRUE(c->wait_closed());
  EXPECT_EQ(stat("query_buffer_closes"), 1);
}

TEST_P(ServerTest, MaxClientsRejectsWithRedisError) {
  cfg.max_clients = 3;
  start();
  auto a = client(), b = client(), c = client();
  // Each of the three is accepted (and counted) before the fourth connects: clients of two
  // shards are accepted in whatever order the loops run, and a loaded machine once refused b.
  EXPECT_EQ(a->call({"PING"}).str, "PONG");
  EXPECT_EQ(b->call({"PING"}).str, "PONG");
  EXPECT_EQ(c->call({"PING"}).str, "PONG");
  auto d = client();
  RespValue v;
  ASSERT_TRUE(d->read(&v));
  EXPECT_EQ(v.str, "ERR max number of clients reached");
  EXPECT_TRUE(d->wait_closed());
  a.reset();
  // The slot frees once the server sees the close.
  for (int i = 0; i < 100; ++i) {
    auto e = client();
    RespValue r;
    e->command({"PING"});
    if (e->read(&r) && r.str == "PONG") return;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  FAIL() << "slot never freed";
}

TEST_P(ServerTest, ShutdownDrainsQueuedOutput) {
  cfg.shutdown_timeout_ms = 10000;
  start();
  // A publisher on the other shard: its messages reach the subscriber through the ring, and an
  // acknowledged PUBLISH must already be visible there when shutdown starts.
  auto shard_of = [](TestClient& c) { return c.call({"CLIENT", "INFO"}).str.find("shard=0") != std::string::npos; };
  auto s = client(16 * 1024);
  bool sub_shard = shard_of(*s);
  subscribe(*s, "SUBSCRIBE", "d");
  std::unique_ptr<TestClient> p;
  for (int i = 0; i < 64 && (!p || shard_of(*p) == sub_shard); ++i) p = client();
  ASSERT_NE(shard_of(*p), sub_shard);
  constexpr int kN = 300;
  std::string payload(4096, 'y');
  for (int i = 0; i < kN; ++i) p->command({"PUBLISH", "d", payload});
  RespValue r;
  for (int i = 0; i < kN; ++i) ASSERT_TRUE(p->read(&r));
  std::thread stopper([this] { stop(); });
  int got = 0;
  RespValue v;
  while (s->read(&v, 10000)) {
    if (is_push(v, "message")) ++got;
  }
  stopper.join();
  EXPECT_EQ(got, kN);
  EXPECT_TRUE(s->wait_closed(100));
}

INSTANTIATE_TEST_SUITE_P(Backends, ServerTest, ::testing::ValuesIn(kBackends),
                         [](const auto& info) { return info.param; });

}  // namespace
}  // namespace fanout::test
