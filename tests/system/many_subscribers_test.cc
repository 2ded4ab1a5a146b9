// Ten thousand subscribers on one shard of a real fanoutd (a child process: the test's clients and
// the server cannot share one process's 20,000 descriptors), half of them RESP3, one channel, one
// message at a time while another client keeps opening and closing connections. Each publish is
// more sends in one loop iteration than io_uring's default submission queue holds (4,096), after
// non-send entries (the churning client's receive arms and cancels): every byte each subscriber
// receives is checked against its own protocol's frame, so a send that went out with another
// connection's header shows as the wrong framing, a missing message or extra bytes.
// Run on both backends, once, in the plain build (tagged heavy).
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "tests/net/test_client.h"
#include "tests/system/child_server.h"

namespace fanout::test {
namespace {

constexpr int kSubscribers = 10'000;
constexpr int kMessages = 40;

bool send_all(int fd, const std::string& s) {
  size_t off = 0;
  while (off < s.size()) {
    ssize_t n = ::send(fd, s.data() + off, s.size() - off, MSG_NOSIGNAL);
    if (n <= 0) return false;
    off += static_cast<size_t>(n);
  }
  return true;
}

// Reads from every subscriber until each holds `want[i]` bytes or the deadline passes; checks
// every byte against `expected[i]` as it arrives. Returns the number of subscribers complete.
class Readers {
 public:
  Readers(const std::vector<int>& fds, const std::vector<const std::string*>& expected)
      : fds_(fds), expected_(expected), got_(fds.size(), 0) {
    ep_ = epoll_create1(EPOLL_CLOEXEC);
    for (size_t i = 0; i < fds.size(); ++i) {
      struct epoll_event ev {};
      ev.events = EPOLLIN;
      ev.data.u64 = i;
      epoll_ctl(ep_, EPOLL_CTL_ADD, fds[i], &ev);
    }
  }
  ~Readers() { ::close(ep_); }

  size_t run(int timeout_ms) {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
    std::vector<struct epoll_event> evs(1024);
    char buf[65536];
    while (complete() < fds_.size() && std::chrono::steady_clock::now() < deadline && errors_.empty()) {
      int n = epoll_wait(ep_, evs.data(), static_cast<int>(evs.size()), 100);
      for (int k = 0; k < n; ++k) {
        size_t i = evs[k].data.u64;
        ssize_t r = ::recv(fds_[i], buf, sizeof(buf), MSG_DONTWAIT);
        if (r <= 0) {
          if (r < 0 && errno == EAGAIN) continue;
          errors_ = "subscriber " + std::to_string(i) + " was closed by the server";
          break;
        }
        const std::string& want = *expected_[i];
        std::string_view in(buf, static_cast<size_t>(r));
        if (got_[i] + in.size() > want.size() || want.compare(got_[i], in.size(), in) != 0) {
          errors_ = "subscriber " + std::to_string(i) + " received bytes that are not its own at offset " +
                    std::to_string(got_[i]) + ": '" + std::string(in.substr(0, 80)) + "'";
          break;
        }
        got_[i] += in.size();
      }
    }
    return complete();
  }
  size_t complete() const {
    size_t c = 0;
    for (size_t i = 0; i < fds_.size(); ++i) c += got_[i] == expected_[i]->size();
    return c;
  }
  const std::string& errors() const { return errors_; }

 private:
  const std::vector<int>& fds_;
  std::vector<const std::string*> expected_;
  std::vector<size_t> got_;
  int ep_;
  std::string errors_;
};

class ManySubscribersTest : public ::testing::TestWithParam<std::string> {};

TEST_P(ManySubscribersTest, TenThousandMixedProtocolSubscribersEachReceiveExactlyTheirOwnBytes) {
  ChildServer server;
  std::string err;
  bool unavailable = false;
  if (!server.start(fanoutd_binary(), {"--port", "auto", "--shards", "1", "--backend", GetParam(),
                                       "--log-level", "warn"},
                    &err, &unavailable)) {
    if (unavailable) GTEST_SKIP() << GetParam() << " backend skipped: " << err;
    FAIL() << err;
  }
  const int port = server.port();
  // Subscribers, a random half of them RESP3; their confirmations are the first expected bytes.
  std::mt19937 rng(12345);
  std::vector<int> fds;
  std::vector<int> proto;
  std::string confirm2 = "*3\r\n$9\r\nsubscribe\r\n$1\r\nc\r\n:1\r\n";
  std::string confirm3 = ">3\r\n$9\r\nsubscribe\r\n$1\r\nc\r\n:1\r\n";
  for (int i = 0; i < kSubscribers; ++i) {
    int fd = connect_loopback(port);
    ASSERT_GE(fd, 0) << "connect " << i;
    fds.push_back(fd);
    proto.push_back(rng() % 2 ? 3 : 2);
  }
  // RESP3 clients switch first and read their HELLO map (a client id inside varies), then every
  // client subscribes.
  for (int i = 0; i < kSubscribers; ++i) {
    if (proto[i] == 3) {
      ASSERT_TRUE(send_all(fds[i], encode_command({"HELLO", "3"})));
    }
  }
  for (int i = 0; i < kSubscribers; ++i) {
    if (proto[i] != 3) continue;
    std::string got;
    char buf[4096];
    // The map ends with "modules" and an empty array: "*0\r\n" (RESP3 keeps '*' for arrays).
    while (got.find("$7\r\nmodules\r\n*0\r\n") == std::string::npos) {
      ssize_t r = ::recv(fds[i], buf, sizeof(buf), 0);
      ASSERT_GT(r, 0) << "HELLO reply " << i;
      got.append(buf, static_cast<size_t>(r));
    }
  }
  for (int fd : fds) ASSERT_TRUE(send_all(fd, encode_command({"SUBSCRIBE", "c"})));
  std::string expected2 = confirm2, expected3 = confirm3;
  std::vector<const std::string*> expected;
  for (int p : proto) expected.push_back(p == 3 ? &expected3 : &expected2);
  Readers readers(fds, expected);
  ASSERT_EQ(readers.run(60000), static_cast<size_t>(kSubscribers)) << readers.errors();

  // A client that keeps opening and closing connections, so the loop also has receive arms and
  // cancels to queue in the iterations that send.
  std::atomic<bool> done{false};
  std::thread churn([&] {
    for (int i = 0; i < 200'000 && !done.load(); ++i) {
      int fd = connect_loopback(port);
      if (fd < 0) continue;
      if (i % 2) send_all(fd, encode_command({"PING"}));
      ::close(fd);
    }
  });
  // Stops the churn however the test body ends (an ASSERT returns early).
  struct Joiner {
    std::atomic<bool>& done;
    std::thread& t;
    ~Joiner() {
      done = true;
      if (t.joinable()) t.join();
    }
  } joiner{done, churn};
  int pub = connect_loopback(port);
  ASSERT_GE(pub, 0);
  for (int m = 0; m < kMessages; ++m) {
    std::string payload = "message " + std::to_string(m) + " " + std::string(m % 7 * 10, 'p');
    std::string body = "$1\r\nc\r\n$" + std::to_string(payload.size()) + "\r\n" + payload + "\r\n";
    expected2 += "*3\r\n$7\r\nmessage\r\n" + body;
    expected3 += ">3\r\n$7\r\nmessage\r\n" + body;
    ASSERT_TRUE(send_all(pub, encode_command({"PUBLISH", "c", payload})));
    std::string reply, want = ":" + std::to_string(kSubscribers) + "\r\n";
    char buf[64];
    while (reply.size() < want.size()) {
      ssize_t r = ::recv(pub, buf, want.size() - reply.size(), 0);
      ASSERT_GT(r, 0);
      reply.append(buf, static_cast<size_t>(r));
    }
    ASSERT_EQ(reply, want) << "message " << m;
    size_t complete = readers.run(60000);
    ASSERT_EQ(readers.errors(), "") << "message " << m;
    ASSERT_EQ(complete, static_cast<size_t>(kSubscribers)) << "message " << m;
  }
  done = true;
  churn.join();
  ::close(pub);
  for (int fd : fds) ::close(fd);
  int st = server.stop();
  EXPECT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0) << st << "\n" << server.log();
}

INSTANTIATE_TEST_SUITE_P(Backends, ManySubscribersTest, ::testing::Values("epoll", "io_uring"),
                         [](const auto& info) { return info.param; });

}  // namespace
}  // namespace fanout::test
