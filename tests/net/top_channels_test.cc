// FANOUT TOPCHANNELS on both backends:
// - the channels carrying the most bytes (or messages, or subscribers), a channel on two shards
//   counted once with its subscribers summed, in order, ties by name;
// - walked in slices: thousands of channels take several loop iterations, the shard's other
//   clients are served meanwhile, and the asker's next command waits for the reply;
// - its errors, HELP, refusal inside MULTI, and its ACL category (admin).
#include <gtest/gtest.h>

#include "net/epoll_backend.h"
#include "net/io_uring_backend.h"
#include "tests/net/server_fixture.h"
#include "tests/net/stepped_shards.h"

namespace fanout::test {
namespace {

// The bytes each subscriber is charged for a message: its RESP2 frame.
uint64_t frame_bytes(const std::string& channel, size_t payload) {
  const std::string p(payload, 'x');
  return encode_command({"message", channel, p}).size();
}

struct Row {
  std::string channel;
  int64_t messages = -1, bytes = -1, subscribers = -1;
};

// A TOPCHANNELS reply (RESP2: each entry a flat array of field, value).
std::vector<Row> rows(const RespValue& v) {
  std::vector<Row> out;
  for (const RespValue& e : v.elements) {
    Row r;
    for (size_t i = 0; i + 1 < e.elements.size(); i += 2) {
      const std::string& k = e.elements[i].str;
      const RespValue& val = e.elements[i + 1];
      if (k == "channel") r.channel = val.str;
      if (k == "messages") r.messages = val.integer;
      if (k == "bytes") r.bytes = val.integer;
      if (k == "subscribers") r.subscribers = val.integer;
    }
    out.push_back(r);
  }
  return out;
}

bool poll_value(TestClient& c, RespValue* v) {
  if (c.next_buffered(v)) return true;
  c.fill(0);
  return c.next_buffered(v);
}

template <class Backend>
class TopChannelsLoopTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if constexpr (std::is_same_v<Backend, IoUringBackend>) {
      std::string why = io_uring_unavailable_reason();
      if (!why.empty()) GTEST_SKIP() << "io_uring backend skipped: " << why;
    }
    cfg.port = 0;
  }
  RespValue reply(SteppedShards<Backend>& h, int s, TestClient& c) {
    RespValue v;
    EXPECT_TRUE(h.step_until(s, [&] { return poll_value(c, &v); })) << "no reply from shard " << s;
    return v;
  }
  std::unique_ptr<TestClient> client(SteppedShards<Backend>& h, int s) {
    auto c = TestClient::connect(h.port(s));
    c->command({"PING"});
    EXPECT_EQ(reply(h, s, *c).str, "PONG");
    return c;
  }
  void subscribe(SteppedShards<Backend>& h, int s, TestClient& c, const std::vector<std::string>& names) {
    std::vector<std::string> args = {"SUBSCRIBE"};
    args.insert(args.end(), names.begin(), names.end());
    c.command(args);
    for (size_t i = 0; i < names.size(); ++i) reply(h, s, c);
  }
  ServerConfig cfg;
};

using Backends = ::testing::Types<EpollBackend, IoUringBackend>;
TYPED_TEST_SUITE(TopChannelsLoopTest, Backends);

TYPED_TEST(TopChannelsLoopTest, TheBusiestChannelsOnEveryShardInSlices) {
  SteppedShards<TypeParam> h(this->cfg, 2);
  auto sub0 = this->client(h, 0), sub1 = this->client(h, 1);
  std::vector<std::string> many = {"shared"};
  for (int i = 0; i < 3000; ++i) many.push_back("a" + std::to_string(i));
  this->subscribe(h, 0, *sub0, many);
  this->subscribe(h, 1, *sub1, {"shared", "only1"});
  auto pub0 = this->client(h, 0), pub1 = this->client(h, 1);
  for (int i = 0; i < 5; ++i) {
    pub0->command({"PUBLISH", "shared", std::string(100, 'x')});
    EXPECT_EQ(this->reply(h, 0, *pub0).integer, 2);
  }
  for (int i = 0; i < 3; ++i) {
    pub1->command({"PUBLISH", "only1", std::string(1000, 'x')});
    EXPECT_EQ(this->reply(h, 1, *pub1).integer, 1);
  }
  h.step(1, 5);  // shard 1 delivers what shard 0's rings brought
  h.step(0, 5);

  auto asker = this->client(h, 0), other = this->client(h, 0);
  asker->send_raw(encode_command({"FANOUT", "TOPCHANNELS", "3"}) + encode_command({"ECHO", "after"}));
  h.step(0);  // one slice: not every one of 3,000 channels
  RespValue early;
  EXPECT_FALSE(poll_value(*asker, &early)) << "the whole walk ran in one iteration";
  other->command({"PING"});
  EXPECT_EQ(this->reply(h, 0, *other).str, "PONG") << "others are served while it walks";
  std::vector<Row> top = rows(this->reply(h, 0, *asker));
  ASSERT_EQ(top.size(), 3u);
  EXPECT_EQ(top[0].channel, "only1");
  EXPECT_EQ(top[0].messages, 3);
  EXPECT_EQ(top[0].bytes, static_cast<int64_t>(3 * frame_bytes("only1", 1000)));
  EXPECT_EQ(top[0].subscribers, 1);
  EXPECT_EQ(top[1].channel, "shared");  // counted once, its subscribers summed over the shards
  EXPECT_EQ(top[1].messages, 5);
  EXPECT_EQ(top[1].bytes, static_cast<int64_t>(5 * frame_bytes("shared", 100)));
  EXPECT_EQ(top[1].subscribers, 2);
  EXPECT_EQ(top[2].channel, "a0");  // ties go to the name first in byte order
  EXPECT_EQ(top[2].messages, 0);
  EXPECT_EQ(this->reply(h, 0, *asker).str, "after") << "the next command waited for the reply";

  asker->command({"FANOUT", "TOPCHANNELS", "2", "BY", "SUBSCRIBERS"});
  top = rows(this->reply(h, 0, *asker));
  ASSERT_EQ(top.size(), 2u);
  EXPECT_EQ(top[0].channel, "shared");
  EXPECT_EQ(top[1].channel, "a0");
  asker->command({"FANOUT", "TOPCHANNELS", "2", "by", "messages"});
  top = rows(this->reply(h, 0, *asker));
  ASSERT_EQ(top.size(), 2u);
  EXPECT_EQ(top[0].channel, "shared");
  EXPECT_EQ(top[1].channel, "only1");
  // Counts start again when a channel gets subscribers anew.
  sub1->command({"UNSUBSCRIBE", "only1"});
  this->reply(h, 1, *sub1);
  this->subscribe(h, 1, *sub1, {"only1"});
  pub1->command({"PUBLISH", "only1", std::string(1000, 'x')});
  EXPECT_EQ(this->reply(h, 1, *pub1).integer, 1);
  asker->command({"FANOUT", "TOPCHANNELS", "1000"});
  top = rows(this->reply(h, 0, *asker));
  EXPECT_EQ(top.size(), 1000u);  // of 3,002: the count bounds the reply (and the walk's memory)
  EXPECT_EQ(top[0].channel, "only1");
  EXPECT_EQ(top[0].messages, 1);
  EXPECT_EQ(top[0].bytes, static_cast<int64_t>(frame_bytes("only1", 1000)));
}

class TopChannelsTest : public ServerTest {};

TEST_P(TopChannelsTest, ErrorsHelpTransactionsAndRights) {
  cfg.acl_rules =
      "user viewer on >v allchannels +@pubsub +ping\n"
      "user ops on >o allchannels +@admin\n";
  start();
  auto c = client();
  EXPECT_EQ(c->call({"FANOUT", "TOPCHANNELS"}).elements.size(), 0u);  // no channels yet
  for (std::string bad : {"0", "1001", "x", "-1"}) {
    EXPECT_EQ(c->call({"FANOUT", "TOPCHANNELS", bad}).str, "ERR count must be an integer between 1 and 1000") << bad;
  }
  EXPECT_EQ(c->call({"FANOUT", "TOPCHANNELS", "5", "BY"}).str, "ERR syntax error");
  EXPECT_EQ(c->call({"FANOUT", "TOPCHANNELS", "5", "BY", "age"}).str, "ERR syntax error");
  EXPECT_EQ(c->call({"FANOUT", "TOPCHANNELS", "5", "BY", "bytes", "x"}).str, "ERR syntax error");
  EXPECT_EQ(c->call({"FANOUT", "NOPE"}).str, "ERR unknown subcommand 'NOPE'. Try FANOUT HELP.");
  EXPECT_EQ(c->call({"FANOUT"}).str, "ERR wrong number of arguments for 'fanout' command");
  EXPECT_GE(c->call({"FANOUT", "HELP"}).elements.size(), 3u);
  EXPECT_EQ(c->call({"MULTI"}).str, "OK");
  EXPECT_EQ(c->call({"FANOUT", "TOPCHANNELS"}).str, "ERR Command not allowed inside a transaction");
  c->call({"DISCARD"});
  auto viewer = client();
  EXPECT_EQ(viewer->call({"AUTH", "viewer", "v"}).str, "OK");
  EXPECT_EQ(viewer->call({"FANOUT", "TOPCHANNELS"}).str,
            "NOPERM this user has no permissions to run the 'fanout|topchannels' command");
  auto ops = client();
  EXPECT_EQ(ops->call({"AUTH", "ops", "o"}).str, "OK");
  EXPECT_EQ(ops->call({"FANOUT", "TOPCHANNELS"}).type, RespValue::Type::kArray);  // +@admin has it
}

INSTANTIATE_TEST_SUITE_P(Backends, TopChannelsTest, ::testing::ValuesIn(kBackends));

}  // namespace
}  // namespace fanout::test
