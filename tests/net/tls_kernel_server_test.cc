// Kernel TLS on a real server, both backends, on a machine whose kernel may lack the tls module:
// - each client gets the mode the start-up probe allows (here: userspace), and INFO and CLIENT
//   LIST say which;
// - kernel TLS forced on where the kernel refuses the keys: every client falls back to userspace,
//   is served as before, and the refusal is counted and logged;
// - with a test hook that pretends the kernel took the keys (the queue's plaintext then goes to the
//   socket as is, which is what the kernel would encrypt): the shard's kernel path on both
//   backends (replies and pushes through the plaintext send path, CLIENT LIST tls=kernel), a
//   client that requests a key update is closed while one that updates only its own key carries
//   on, and a key that reaches its limit is closed before sending past it.
// The keys themselves are checked against an emulated kernel in tls_kernel_test.
#include <gtest/gtest.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <sstream>

#include "core/resp_value.h"
#include "net/tls_context.h"
#include "tests/net/server_fixture.h"
#include "tests/net/tls_pki.h"
#include "tests/net/tls_socket_client.h"

namespace fanout::test {
namespace {

const TestPki& pki() {
  static const TestPki* p = new TestPki("kernel-server");
  return *p;
}

// The tests' TLS client (tests/net/tls_socket_client.h) on this suite's PKI; plain_replies reads
// replies straight from the socket (the pretend kernel sends them unencrypted).
struct Client {
  static std::unique_ptr<TlsSocketClient> connect(int port, bool plain_replies, int version = 0,
                                                  const char* suite = nullptr) {
    return TlsSocketClient::connect(port, pki(), {.version = version, .suite = suite, .plain_replies = plain_replies});
  }
};

// Everything the process writes to stderr (the server's log lines) while it lives, echoed back
// to stderr at the end for the test's own log.
class StderrCapture {
 public:
  StderrCapture() {
    path_ = test_dir() + "/stderr-XXXXXX";
    const int fd = mkstemp(path_.data());
    fflush(stderr);
    saved_ = dup(STDERR_FILENO);
    dup2(fd, STDERR_FILENO);
    ::close(fd);
  }
  ~StderrCapture() {
    const std::string t = text();
    dup2(saved_, STDERR_FILENO);
    ::close(saved_);
    std::fwrite(t.data(), 1, t.size(), stderr);
    unlink(path_.c_str());
  }
  std::string text() const {
    std::ifstream f(path_);
    std::stringstream s;
    s << f.rdbuf();
    return s.str();
  }

 private:
  std::string path_;
  int saved_ = -1;
};

class KernelTlsServerTest : public BasicServerTest<std::string> {
 protected:
  void SetUp() override {
    BasicServerTest::SetUp();
    if (IsSkipped()) return;
    cfg.tls_port = kPortAuto;
    cfg.tls_cert_file = pki().server_cert_file;
    cfg.tls_key_file = pki().server_key_file;
    cfg.tls_ca_cert_file = pki().ca_file;
    cfg.tls_auth_clients = "no";
  }
  int tls_port() const { return broker->tls_port(); }
  // The pretend kernel: keys "taken" without asking the kernel, replies in plaintext. No session
  // tickets, so that nothing encrypted follows the handshake.
  void pretend_kernel() {
    cfg.tls_ktls_test = 2;
    cfg.tls_session_caching = false;
  }
  static std::string client_info(TlsSocketClient& c) { return c.call({"CLIENT", "INFO"}).str; }
};

// What this machine allows (no tls module here: userspace), and INFO and CLIENT LIST saying it.
TEST_P(KernelTlsServerTest, EachClientGetsTheModeTheProbeAllows) {
  start();
  const bool kernel = info_field(info("stats"), "tls_kernel_available") == 1;
  auto v13 = Client::connect(tls_port(), false, TLS1_3_VERSION);
  auto v12 = Client::connect(tls_port(), false, TLS1_2_VERSION, "ECDHE-ECDSA-AES128-GCM-SHA256");
  ASSERT_NE(v13, nullptr);
  ASSERT_NE(v12, nullptr);
  const std::string mode = kernel ? "tls=kernel" : "tls=userspace";
  EXPECT_NE(client_info(*v13).find(mode), std::string::npos) << client_info(*v13);
  EXPECT_NE(client_info(*v12).find(mode), std::string::npos) << client_info(*v12);
  EXPECT_NE(client()->call({"CLIENT", "INFO"}).str.find("tls=no"), std::string::npos);
  const std::string stats = info("stats");
  EXPECT_EQ(info_field(stats, "tls_connected_clients_userspace"), kernel ? 0 : 2);
  EXPECT_EQ(info_field(stats, "tls_connected_clients_kernel"), kernel ? 2 : 0);
  EXPECT_EQ(info_field(stats, "tls_kernel_fallbacks"), 0);
}

// Offered where the kernel refuses the keys (here: ENOENT, no tls module): each client stays in
// userspace, is served across record sizes, and the refusal is counted and logged once.
TEST_P(KernelTlsServerTest, WhereTheKernelRefusesTheKeysClientsStayInUserspace) {
  if (probe_kernel_tls().available) GTEST_SKIP() << "this kernel takes the keys: nothing to fall back from";
  cfg.tls_ktls_test = 1;
  StderrCapture log;
  start();
  std::vector<std::unique_ptr<TlsSocketClient>> subs;
  subs.push_back(Client::connect(tls_port(), false, TLS1_3_VERSION));
  subs.push_back(Client::connect(tls_port(), false, TLS1_2_VERSION, "ECDHE-ECDSA-CHACHA20-POLY1305"));
  for (auto& s : subs) {
    ASSERT_NE(s, nullptr);
    ASSERT_EQ(s->call({"SUBSCRIBE", "ch"}).elements.size(), 3u);
  }
  auto pub = client();
  for (size_t n : {size_t{0}, size_t{100}, size_t{16'384}, size_t{100'000}}) {
    const std::string payload(n, static_cast<char>('a' + n % 26));
    ASSERT_EQ(pub->call({"PUBLISH", "ch", payload}).integer, 2);
    for (auto& s : subs) {
      RespValue m;
      ASSERT_TRUE(s->read(&m)) << n;
      EXPECT_EQ(m.elements[2].str, payload);
    }
  }
  auto other = Client::connect(tls_port(), false);
  ASSERT_NE(other, nullptr);
  EXPECT_EQ(other->call({"PING"}).str, "PONG");
  EXPECT_NE(client_info(*other).find("tls=userspace"), std::string::npos);
  const std::string stats = info("stats");
  EXPECT_EQ(info_field(stats, "tls_kernel_fallbacks"), 3);
  EXPECT_EQ(info_field(stats, "tls_connected_clients_userspace"), 3);
  EXPECT_EQ(info_field(stats, "tls_connected_clients_kernel"), 0);
  const std::string text = log.text();
  EXPECT_NE(text.find("kernel TLS did not take over"), std::string::npos) << text;
  EXPECT_NE(text.find("setsockopt(TCP_ULP, tls)"), std::string::npos) << text;
}

// The shard's kernel path on this backend: replies and pushes of every size go to the socket as
// the queue holds them, for TLS 1.3 and 1.2 clients; INFO and CLIENT LIST say kernel.
TEST_P(KernelTlsServerTest, AKernelClientIsServedThroughThePlaintextSendPath) {
  pretend_kernel();
  start();
  auto v13 = Client::connect(tls_port(), true, TLS1_3_VERSION, "TLS_AES_128_GCM_SHA256");
  auto v12 = Client::connect(tls_port(), true, TLS1_2_VERSION, "ECDHE-ECDSA-AES256-GCM-SHA384");
  ASSERT_NE(v13, nullptr);
  ASSERT_NE(v12, nullptr);
  for (TlsSocketClient* c : {v13.get(), v12.get()}) {
    EXPECT_EQ(c->call({"PING"}).str, "PONG");
    EXPECT_NE(client_info(*c).find("tls=kernel"), std::string::npos) << client_info(*c);
    ASSERT_EQ(c->call({"SUBSCRIBE", "ch"}).elements.size(), 3u);
  }
  auto pub = client();
  for (size_t n : {size_t{1}, size_t{16'385}, size_t{1} << 20}) {
    const std::string payload(n, 'k');
    ASSERT_EQ(pub->call({"PUBLISH", "ch", payload}).integer, 2);
    for (TlsSocketClient* c : {v13.get(), v12.get()}) {
      RespValue m;
      ASSERT_TRUE(c->read(&m)) << n;
      EXPECT_EQ(m.elements[2].str, payload);
    }
  }
  const std::string stats = info("stats");
  EXPECT_EQ(info_field(stats, "tls_connected_clients_kernel"), 2);
  EXPECT_EQ(info_field(stats, "tls_connected_clients_userspace"), 0);
}

// RFC 8446 section 4.6.3 on kernel TLS: a client asking for our key update is closed (the
// kernel's key cannot change), one updating only its own key is decrypted as before.
TEST_P(KernelTlsServerTest, ARequestedKeyUpdateClosesAKernelClientOnlyThatOne) {
  pretend_kernel();
  StderrCapture log;
  start();
  auto asks = Client::connect(tls_port(), true, TLS1_3_VERSION);
  auto own = Client::connect(tls_port(), true, TLS1_3_VERSION);
  ASSERT_NE(asks, nullptr);
  ASSERT_NE(own, nullptr);
  EXPECT_EQ(asks->call({"PING"}).str, "PONG");
  EXPECT_EQ(own->call({"PING"}).str, "PONG");
  ASSERT_EQ(SSL_key_update(asks->ssl(), SSL_KEY_UPDATE_REQUESTED), 1);
  asks->send({"PING"});
  EXPECT_TRUE(asks->wait_closed());
  ASSERT_EQ(SSL_key_update(own->ssl(), SSL_KEY_UPDATE_NOT_REQUESTED), 1);
  EXPECT_EQ(own->call({"PING"}).str, "PONG");
  EXPECT_EQ(await_stat("tls_kernel_closes", 1), 1);
  EXPECT_NE(log.text().find("key update"), std::string::npos) << log.text();
}

// A key's limit (lowered here to 300 KB): the client is closed before a send would pass it, having
// received no more than that; a plaintext subscriber gets every message.
TEST_P(KernelTlsServerTest, AKernelKeyIsClosedBeforeItsLimit) {
  pretend_kernel();
  cfg.tls_test_key_limit = 300'000;
  StderrCapture log;
  start();
  auto sub = Client::connect(tls_port(), true);
  ASSERT_NE(sub, nullptr);
  ASSERT_EQ(sub->call({"SUBSCRIBE", "ch"}).elements.size(), 3u);
  auto plain = client();
  plain->command({"SUBSCRIBE", "ch"});
  RespValue v;
  ASSERT_TRUE(plain->read(&v));
  auto pub = client();
  const std::string payload(8'000, 'p');
  int received = 0;
  bool closed = false;
  for (int i = 0; i < 100; ++i) {
    pub->call({"PUBLISH", "ch", payload});
    ASSERT_TRUE(plain->read(&v)) << i;
    if (closed) continue;
    RespValue m;
    if (sub->read(&m, 2000)) {
      ++received;
    } else {
      closed = true;
    }
  }
  EXPECT_TRUE(closed);
  EXPECT_LE(sub->bytes_read(), 300'000u);
  EXPECT_GE(received, 30);  // about 300,000 / 8,032 charged per push
  EXPECT_EQ(await_stat("tls_kernel_closes", 1), 1);
  EXPECT_NE(log.text().find("its key has encrypted"), std::string::npos) << log.text();
}

INSTANTIATE_TEST_SUITE_P(Backends, KernelTlsServerTest, ::testing::ValuesIn(kBackends));

}  // namespace
}  // namespace fanout::test
