// Listening as Redis does (server.c listenToPort, anet.c), on every backend:
// - --bind takes Redis's list ("127.0.0.1 ::1"), and every shard accepts on every address;
// - an address marked optional ('-') that is not on this host is skipped; unmarked, the start
//   fails;
// - --unixsocket: clients connect by path; CLIENT LIST shows them as Redis 7.0 does
//   (addr=/path:0 laddr=/path:0, flag U) and CLIENT KILL ADDR finds them; --unixsocketperm sets
//   the mode; a stale socket file is replaced, a live one or another kind of file refused; the
//   file is removed at stop; a unix socket is local for protected mode;
// - every shard accepts from the one unix listener (stepped shards: only the shard stepped can
//   have accepted).
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <set>

#include "net/epoll_backend.h"
#include "net/io_uring_backend.h"
#include "net/socket.h"
#include "tests/net/server_fixture.h"
#include "tests/net/stepped_shards.h"

namespace fanout::test {
namespace {

// A fresh path for a unix socket, in a directory of this process's own under /tmp (Bazel's
// TEST_TMPDIR is longer than a unix socket path may be).
std::string socket_path(const std::string& name) {
  static const std::string dir = [] {
    char tmpl[] = "/tmp/fanout-listen-XXXXXX";
    return std::string(mkdtemp(tmpl) ? tmpl : "/tmp");
  }();
  std::string path = dir + "/" + name + ".sock";
  unlink(path.c_str());
  return path;
}

bool exists(const std::string& path) {
  struct stat st {};
  return lstat(path.c_str(), &st) == 0;
}

// CLIENT LIST's lines, each as its fields.
std::vector<std::map<std::string, std::string>> client_list(TestClient& c) {
  std::vector<std::map<std::string, std::string>> out;
  std::string text = c.call({"CLIENT", "LIST"}).str;
  size_t at = 0;
  while (at < text.size()) {
    size_t end = text.find('\n', at);
    std::string line = text.substr(at, end - at);
    at = end == std::string::npos ? text.size() : end + 1;
    std::map<std::string, std::string> fields;
    size_t i = 0;
    while (i < line.size()) {
      size_t sp = line.find(' ', i);
      if (sp == std::string::npos) sp = line.size();
      std::string kv = line.substr(i, sp - i);
      size_t eq = kv.find('=');
      if (eq != std::string::npos) fields[kv.substr(0, eq)] = kv.substr(eq + 1);
      i = sp + 1;
    }
    if (!fields.empty()) out.push_back(fields);
  }
  return out;
}

class ListenTest : public ServerTest {};

TEST_P(ListenTest, EveryShardAcceptsOnEveryBindAddress) {
  cfg.bind = "127.0.0.1 ::1";
  start();
  // SO_REUSEPORT spreads connections by their addresses' hash: 24 clients per address all
  // landing on one of two shards would happen about once in eight million runs.
  std::vector<std::unique_ptr<TestClient>> clients;
  for (int i = 0; i < 24; ++i) {
    clients.push_back(TestClient::connect(port));
    clients.push_back(TestClient::connect_ipv6_loopback(port));
    ASSERT_NE(clients[clients.size() - 2], nullptr);
    ASSERT_NE(clients.back(), nullptr);
    EXPECT_EQ(clients.back()->call({"PING"}).str, "PONG");
  }
  std::map<std::string, std::set<std::string>> shards_by_laddr;
  for (const auto& f : client_list(*clients.front())) {
    shards_by_laddr[f.at("laddr").substr(0, f.at("laddr").rfind(':'))].insert(f.at("shard"));
  }
  EXPECT_EQ(shards_by_laddr["127.0.0.1"], (std::set<std::string>{"0", "1"}));
  EXPECT_EQ(shards_by_laddr["[::1]"], (std::set<std::string>{"0", "1"}));
  EXPECT_EQ(broker->endpoints(Protocol::kResp),
            (std::vector<std::string>{"127.0.0.1:" + std::to_string(port), "[::1]:" + std::to_string(port)}));
}

TEST_P(ListenTest, AnOptionalAddressNotOnThisHostIsSkippedAnUnmarkedOneFailsTheStart) {
  // 192.0.2.1 is TEST-NET-1 (RFC 5737): on no interface here, so bind(2) says EADDRNOTAVAIL.
  cfg.requirepass = "secret";  // a non-loopback address needs authentication (protected mode)
  cfg.bind = "127.0.0.1 -192.0.2.1 -2001:db8::1";
  start();
  EXPECT_EQ(broker->endpoints(Protocol::kResp), (std::vector<std::string>{"127.0.0.1:" + std::to_string(port)}));
  stop();

  cfg.bind = "127.0.0.1 192.0.2.1";
  Broker b(cfg);
  std::string err;
  StartError why = StartError::kNone;
  EXPECT_FALSE(b.start(&err, &why));
  EXPECT_EQ(why, StartError::kSystem);
  EXPECT_NE(err.find("192.0.2.1"), std::string::npos) << err;

  cfg.bind = "-192.0.2.1";  // nothing left to listen on
  Broker none(cfg);
  EXPECT_FALSE(none.start(&err, &why));
  EXPECT_NE(err.find("listening nowhere"), std::string::npos) << err;
}

TEST_P(ListenTest, ProtectedModeChecksEveryAddressAndTrustsTheUnixSocket) {
  cfg.bind = "127.0.0.1 0.0.0.0";
  Broker b(cfg);
  std::string err;
  StartError why = StartError::kNone;
  EXPECT_FALSE(b.start(&err, &why));
  EXPECT_EQ(why, StartError::kConfig);
  EXPECT_NE(err.find("refusing to listen on 0.0.0.0 without authentication"), std::string::npos) << err;

  cfg.bind = "";
  cfg.unixsocket = socket_path("protected");
  start();
  auto c = TestClient::connect_unix(cfg.unixsocket);
  ASSERT_NE(c, nullptr);
  EXPECT_EQ(c->call({"PING"}).str, "PONG");
  EXPECT_EQ(port, 0);
}

TEST_P(ListenTest, UnixSocketClientsAreListedAsRedisListsThem) {
  cfg.unixsocket = socket_path("list");
  cfg.unixsocketperm = 0700;
  start();
  struct stat st {};
  ASSERT_EQ(::stat(cfg.unixsocket.c_str(), &st), 0);
  EXPECT_TRUE(S_ISSOCK(st.st_mode));
  EXPECT_EQ(st.st_mode & 0777, 0700u);

  auto sub = TestClient::connect_unix(cfg.unixsocket);
  auto admin = TestClient::connect_unix(cfg.unixsocket);
  auto tcp = client();
  ASSERT_NE(sub, nullptr);
  ASSERT_NE(admin, nullptr);
  EXPECT_EQ(sub->call({"SUBSCRIBE", "news"}).elements.size(), 3u);
  const std::string unix_addr = cfg.unixsocket + ":0";
  int unix_clients = 0;
  for (const auto& f : client_list(*admin)) {
    if (f.at("addr") != unix_addr) {
      EXPECT_EQ(f.at("flags"), "N");
      EXPECT_NE(f.at("laddr"), unix_addr);
      continue;
    }
    ++unix_clients;
    EXPECT_EQ(f.at("laddr"), unix_addr);
    EXPECT_EQ(f.at("flags"), f.at("cmd") == "subscribe" ? "PU" : "U");  // Redis 7.0.15's order
  }
  EXPECT_EQ(unix_clients, 2);
  // CLIENT KILL ADDR finds them by that address (the asking client skipped, as by default).
  EXPECT_EQ(admin->call({"CLIENT", "KILL", "ADDR", unix_addr}).integer, 1);
  EXPECT_TRUE(sub->wait_closed());
  EXPECT_EQ(tcp->call({"PING"}).str, "PONG");
  stop();
  EXPECT_FALSE(exists(cfg.unixsocket)) << "the socket file is removed at stop, as Redis removes it";
}

TEST_P(ListenTest, AStaleSocketFileIsReplacedALiveOneOrAnotherFileIsNot) {
  cfg.unixsocket = socket_path("stale");
  {
    // A socket file left by a process that is gone: bound, never listening, closed.
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    cfg.unixsocket.copy(a.sun_path, cfg.unixsocket.size());
    ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)), 0);
    ::close(fd);
  }
  ASSERT_TRUE(exists(cfg.unixsocket));
  start();
  auto c = TestClient::connect_unix(cfg.unixsocket);
  ASSERT_NE(c, nullptr);
  EXPECT_EQ(c->call({"PING"}).str, "PONG");

  // A second server on the same path is refused while the first serves it, and leaves it be.
  ServerConfig second = cfg;
  Broker b(second);
  std::string err;
  StartError why = StartError::kNone;
  EXPECT_FALSE(b.start(&err, &why));
  EXPECT_EQ(why, StartError::kSystem);
  EXPECT_NE(err.find("another process is listening on it"), std::string::npos) << err;
  EXPECT_EQ(c->call({"PING"}).str, "PONG");
  stop();

  std::ofstream(cfg.unixsocket) << "not a socket";
  Broker third(cfg);
  EXPECT_FALSE(third.start(&err, &why));
  EXPECT_NE(err.find("exists and is not a socket"), std::string::npos) << err;
  EXPECT_TRUE(exists(cfg.unixsocket)) << "a file that is not a socket is never removed";
  unlink(cfg.unixsocket.c_str());
}

INSTANTIATE_TEST_SUITE_P(Backends, ListenTest, ::testing::ValuesIn(kBackends));

template <class Backend>
class SharedListenerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if constexpr (std::is_same_v<Backend, IoUringBackend>) {
      std::string why = io_uring_unavailable_reason();
      if (!why.empty()) GTEST_SKIP() << "io_uring backend skipped: " << why;
    }
    cfg.port = kPortAuto;
  }
  ServerConfig cfg;
};

using Backends = ::testing::Types<EpollBackend, IoUringBackend>;
TYPED_TEST_SUITE(SharedListenerTest, Backends);

TYPED_TEST(SharedListenerTest, EveryShardAcceptsFromTheUnixSocket) {
  const std::string path = socket_path("shared");
  std::string err;
  // Only a shard that has started can accept: with shard s alone running, a client is its.
  for (int s : {0, 1}) {
    Listener unix_listener;
    unix_listener.fd = listen_unix(path, 0, 64, &err);
    ASSERT_GE(unix_listener.fd, 0) << err;
    unix_listener.unix_path = path;
    unix_listener.shared = true;
    unix_listener.holders = 2;
    SteppedShards<TypeParam> h(this->cfg, 2, {&unix_listener});
    auto c = TestClient::connect_unix(path);
    ASSERT_NE(c, nullptr);
    c->command({"CLIENT", "INFO"});
    RespValue v;
    ASSERT_TRUE(h.step_until(s, [&] {
      c->fill(0);
      return c->next_buffered(&v);
    }));
    EXPECT_NE(v.str.find("shard=" + std::to_string(s)), std::string::npos) << v.str;
    EXPECT_NE(v.str.find("addr=" + path + ":0 laddr=" + path + ":0"), std::string::npos) << v.str;
    EXPECT_NE(v.str.find("flags=U "), std::string::npos) << v.str;
    h.stop();
    ::close(unix_listener.fd);  // the last shard to stop shut it down; the file stays
    unlink(path.c_str());
  }
}

// On io_uring the kernel wakes one accept per connection, and an accept re-armed after each
// goes to the back of the line: shards take the unix socket's clients in turn. (On epoll every
// shard is woken and the first accept4 wins: which one is up to the scheduler.)
TEST(UnixSocketTest, IoUringShardsTakeTheUnixSocketsClientsInTurn) {
  SKIP_IF_BACKEND_UNAVAILABLE(std::string("io_uring"));
  ServerConfig cfg;
  cfg.backend = "io_uring";
  cfg.shards = 2;
  cfg.port = kPortAuto;
  cfg.unixsocket = socket_path("turns");
  Broker broker(cfg);
  std::string err;
  ASSERT_TRUE(broker.start(&err)) << err;
  // Both shards running (each has taken a TCP client), so each has its accept on the unix socket
  // in the kernel's line: a shard thread still starting would let the other take every client.
  std::set<std::string> running;
  std::vector<std::unique_ptr<TestClient>> warm;
  while (running.size() < 2 && warm.size() < 200) {
    warm.push_back(TestClient::connect(broker.port()));
    std::string line = warm.back()->call({"CLIENT", "INFO"}).str;
    running.insert(line.substr(line.find(" shard=") + 7, 1));
  }
  ASSERT_EQ(running.size(), 2u);
  std::vector<std::unique_ptr<TestClient>> clients;
  for (int i = 0; i < 8; ++i) {
    clients.push_back(TestClient::connect_unix(cfg.unixsocket));
    ASSERT_NE(clients.back(), nullptr);
    EXPECT_EQ(clients.back()->call({"PING"}).str, "PONG");  // accepted before the next connects
  }
  std::map<std::string, int> per_shard;
  for (const auto& f : client_list(*clients.front())) {
    if (f.at("flags") == "U") ++per_shard[f.at("shard")];
  }
  EXPECT_EQ(per_shard, (std::map<std::string, int>{{"0", 4}, {"1", 4}}));
  broker.stop();
  broker.join();
}

}  // namespace
}  // namespace fanout::test
