// The fake backend's connect, as a test or fuzzer drives it: the request is recorded with a copy
// of its address, completes only when the script says and how it says, and its socket then takes
// receives and sends like an accepted one.
#include "tests/fuzz/fake_backend.h"

#include <netinet/in.h>

#include <gtest/gtest.h>

#include <cstring>

namespace fanout::test {
namespace {

struct Recorder {
  std::vector<Completion> seen;
  void on_completion(const Completion& c) { seen.push_back(c); }
};

class FakeBackendConnectTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string err;
    ASSERT_TRUE(fake_.init(-1, cfg_, &counters_, &err));
  }
  ServerConfig cfg_;
  BackendCounters counters_;
  FakeBackend fake_;
  Recorder rec_;
};

TEST_F(FakeBackendConnectTest, RecordsTheRequestAndCompletesWhenTheScriptSays) {
  struct sockaddr_in a {};
  a.sin_family = AF_INET;
  a.sin_port = htons(4222);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  const ConnId id{2, 1};
  fake_.connect(50, id, reinterpret_cast<const struct sockaddr*>(&a), sizeof(a));
  const std::string asked(reinterpret_cast<const char*>(&a), sizeof(a));
  std::memset(&a, 0, sizeof(a));  // the fake kept its own copy
  ASSERT_EQ(fake_.outstanding(), 1u);
  EXPECT_EQ(fake_.pending()[0].op, Op::kConnect);
  EXPECT_EQ(fake_.pending()[0].fd, 50);
  ASSERT_NE(fake_.socket(50), nullptr);
  EXPECT_TRUE(fake_.socket(50)->outbound);
  EXPECT_EQ(fake_.socket(50)->peer, asked);
  fake_.dispatch(rec_);
  EXPECT_TRUE(rec_.seen.empty());  // nothing until the script completes it

  fake_.complete(0, 0, 0);
  fake_.dispatch(rec_);
  ASSERT_EQ(rec_.seen.size(), 1u);
  EXPECT_EQ(rec_.seen[0].op, Op::kConnect);
  EXPECT_EQ(rec_.seen[0].res, 0);
  EXPECT_TRUE(rec_.seen[0].id == id);

  // Connected: it receives what the peer sends, as an accepted socket does.
  fake_.recv(50, id);
  fake_.socket(50)->inbound = "INFO {}\r\n";
  fake_.complete(0, 0, 0);
  fake_.dispatch(rec_);
  ASSERT_EQ(rec_.seen.size(), 2u);
  EXPECT_EQ(rec_.seen[1].op, Op::kRecv);
  EXPECT_EQ(rec_.seen[1].res, 9);
  fake_.cancel(50, id);
  fake_.settle();
  fake_.dispatch(rec_);
  EXPECT_EQ(fake_.outstanding(), 0u);
  fake_.close_socket(50);
  EXPECT_EQ(fake_.socket(50), nullptr);
}

TEST_F(FakeBackendConnectTest, EndsRefusedTimedOutOrCancelledAsTheScriptSays) {
  struct sockaddr_in a {};
  a.sin_family = AF_INET;
  const auto* sa = reinterpret_cast<const struct sockaddr*>(&a);
  const ConnId refused{1, 1}, timed_out{2, 1}, cancelled{3, 1};
  fake_.connect(60, refused, sa, sizeof(a));
  fake_.connect(61, timed_out, sa, sizeof(a));
  fake_.connect(62, cancelled, sa, sizeof(a));
  fake_.cancel(62, cancelled);
  fake_.complete(0, 3, 0);  // refused
  fake_.complete(0, 2, 0);  // timed out
  fake_.complete(0, 0, 0);  // the cancel's end
  fake_.dispatch(rec_);
  ASSERT_EQ(rec_.seen.size(), 3u);
  EXPECT_EQ(rec_.seen[0].res, -ECONNREFUSED);
  EXPECT_EQ(rec_.seen[1].res, -ETIMEDOUT);
  EXPECT_EQ(rec_.seen[2].res, -ECANCELED);
  for (int fd : {60, 61, 62}) {
    ASSERT_NE(fake_.socket(fd), nullptr);
    EXPECT_FALSE(fake_.socket(fd)->connected);
    fake_.close_socket(fd);  // the shard closes a socket whose connect failed
  }
}

}  // namespace
}  // namespace fanout::test
