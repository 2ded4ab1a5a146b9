// TLS clients against a real server on both backends: pub/sub with messages around the 16 KiB
// record size, TLS and plaintext subscribers of one channel, slow TLS subscribers and the
// delivery accounting, refusals that close one client without delaying others (a plaintext
// client on the TLS port, a stalled handshake, a missing client certificate), and certificate
// reloads that keep open connections.
#include <gtest/gtest.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <thread>

#include "core/resp_value.h"
#include "net/tls_session.h"
#include "tests/net/server_fixture.h"
#include "tests/net/tls_pki.h"
#include "tests/net/tls_socket_client.h"

namespace fanout::test {
namespace {

const TestPki& pki() {
  static const TestPki* p = new TestPki("server");
  return *p;
}

// The tests' TLS client (tests/net/tls_socket_client.h) on this suite's PKI.
struct TlsClient {
  static std::unique_ptr<TlsSocketClient> connect(int port, bool with_cert = false, int rcvbuf = 0) {
    return TlsSocketClient::connect(port, pki(), {.with_cert = with_cert, .rcvbuf = rcvbuf});
  }
};

class TlsServerTest : public BasicServerTest<std::string> {
 protected:
  void SetUp() override {
    // A client whose connection the server refused gets EPIPE from OpenSSL's socket writes, not
    // the signal.
    signal(SIGPIPE, SIG_IGN);
    BasicServerTest::SetUp();
    if (IsSkipped()) return;
    cfg.tls_port = kPortAuto;
    cfg.tls_cert_file = pki().server_cert_file;
    cfg.tls_key_file = pki().server_key_file;
    cfg.tls_ca_cert_file = pki().ca_file;
    cfg.tls_auth_clients = "optional";
  }
  int tls_port() const { return broker->tls_port(); }
};

TEST_P(TlsServerTest, MessagesAroundTheRecordSizeReachTlsAndPlaintextSubscribersAlike) {
  start();
  std::vector<std::unique_ptr<TlsSocketClient>> tls_subs;
  for (int i = 0; i < 4; ++i) {  // over both shards
    tls_subs.push_back(TlsClient::connect(tls_port(), i % 2 == 0));
    ASSERT_NE(tls_subs.back(), nullptr);
    RespValue v = tls_subs.back()->call({"SUBSCRIBE", "ch"});
    ASSERT_EQ(v.elements.size(), 3u);
  }
  auto plain_sub = client();
  plain_sub->command({"SUBSCRIBE", "ch"});
  RespValue v;
  ASSERT_TRUE(plain_sub->read(&v));
  auto pub = TlsClient::connect(tls_port());
  ASSERT_NE(pub, nullptr);
  std::vector<std::string> payloads;
  for (size_t n : {size_t{0}, size_t{1}, size_t{64}, size_t{16'339}, size_t{16'384}, size_t{16'385},
                   size_t{100'000}, size_t{1} << 20}) {
    std::string p(n, '\0');
    for (size_t i = 0; i < n; ++i) p[i] = static_cast<char>(i * 31 + n);
    payloads.push_back(p);
  }
  for (const std::string& p : payloads) {
    RespValue r = pub->call({"PUBLISH", "ch", p});
    ASSERT_EQ(r.integer, 5) << p.size();
  }
  for (auto& s : tls_subs) {
    for (const std::string& p : payloads) {
      ASSERT_TRUE(s->read(&v)) << p.size();
      ASSERT_EQ(v.elements.size(), 3u);
      EXPECT_EQ(v.elements[2].str, p) << p.size();
    }
  }
  for (const std::string& p : payloads) {
    ASSERT_TRUE(plain_sub->read(&v));
    EXPECT_EQ(v.elements[2].str, p);
  }
  RespValue list = pub->call({"CLIENT", "INFO"});
  EXPECT_NE(list.str.find("tls=userspace"), std::string::npos) << list.str;
  EXPECT_NE(client()->call({"CLIENT", "INFO"}).str.find("tls=no"), std::string::npos);
  const std::string stats = info("stats");
  EXPECT_EQ(info_field(stats, "tls_handshakes"), 5);
  EXPECT_EQ(info_field(stats, "tls_connected_clients_userspace"), 5);
}

TEST_P(TlsServerTest, ASlowTlsSubscriberMeetsItsLimitAndEveryDeliveryIsAccountedFor) {
  cfg.output.hard_bytes = 256 << 10;
  start();
  auto slow = TlsClient::connect(tls_port(), false, 4096);  // never reads after subscribing
  ASSERT_NE(slow, nullptr);
  slow->call({"SUBSCRIBE", "ch"});
  auto fast = TlsClient::connect(tls_port());
  ASSERT_NE(fast, nullptr);
  fast->call({"SUBSCRIBE", "ch"});
  auto pub = client();
  // 16 MB in all: more than the kernel's socket buffers take for the slow one.
  const std::string payload(16 << 10, 'x');
  int published = 0;
  for (int i = 0; i < 1000; ++i) {
    pub->command({"PUBLISH", "ch", payload});
    RespValue r;
    ASSERT_TRUE(pub->read(&r));
    ++published;
    RespValue m;
    ASSERT_TRUE(fast->read(&m)) << i;  // the fast one keeps up and gets each in order
    ASSERT_EQ(m.elements[2].str, payload);
  }
  // The slow one was disconnected at its hard limit; the server accounts for every push (stop()).
  EXPECT_EQ(await_stat("slow_disconnected", 1), 1);
  EXPECT_EQ(published, 1000);
}

TEST_P(TlsServerTest, BadClientsAreClosedWithoutDelayingOthers) {
  cfg.tls_handshake_timeout_ms = 300;
  cfg.tls_auth_clients = "yes";
  start();
  auto good = TlsClient::connect(tls_port(), true);
  ASSERT_NE(good, nullptr);
  // A plaintext client on the TLS port: closed at its first bytes.
  auto plain = TestClient::connect(tls_port());
  ASSERT_NE(plain, nullptr);
  plain->send_raw("*1\r\n$4\r\nPING\r\n");
  EXPECT_TRUE(plain->wait_closed(3000));
  // A TLS client on the plaintext port: closed at its ClientHello, not left waiting.
  EXPECT_EQ(TlsClient::connect(port), nullptr);
  EXPECT_EQ(await_stat("tls_clients_on_plaintext_port", 1), 1);
  // No client certificate where one is required: with TLS 1.3 the client's handshake ends before
  // the server has checked, so the refusal shows as a close before any reply.
  if (auto nocert = TlsClient::connect(tls_port(), false)) {
    nocert->send({"PING"});
    RespValue v;
    EXPECT_FALSE(nocert->read(&v, 3000));
  }
  // A client that connects and never says hello: closed after the handshake timeout.
  auto stalled = TestClient::connect(tls_port());
  ASSERT_NE(stalled, nullptr);
  EXPECT_EQ(good->call({"PING"}).str, "PONG");  // meanwhile the others are served
  EXPECT_TRUE(stalled->wait_closed(5000));
  EXPECT_EQ(good->call({"PING"}).str, "PONG");
  const std::string stats = info("stats");
  EXPECT_GE(info_field(stats, "tls_handshake_failures_not_tls"), 1);
  EXPECT_GE(info_field(stats, "tls_handshake_failures_certificate"), 1);
  EXPECT_EQ(info_field(stats, "tls_handshake_timeouts"), 1);
}

// Over --max-clients on the TLS port: closed without a byte (Redis's plaintext error there reads
// as a bad record to a TLS client), and served once a place frees.
TEST_P(TlsServerTest, AClientOverMaxClientsOnTheTlsPortGetsNoPlaintext) {
  cfg.max_clients = 2;
  start();
  auto a = TlsClient::connect(tls_port());
  auto b = TlsClient::connect(tls_port());
  ASSERT_NE(a, nullptr);
  ASSERT_NE(b, nullptr);
  EXPECT_EQ(a->call({"PING"}).str, "PONG");
  EXPECT_EQ(b->call({"PING"}).str, "PONG");
  auto third = TestClient::connect(tls_port());
  ASSERT_NE(third, nullptr);
  EXPECT_EQ(third->read_bytes(1, 3000), "");  // closed, nothing written
  EXPECT_TRUE(third->wait_closed(3000));
  b.reset();
  std::unique_ptr<TlsSocketClient> again;
  for (int i = 0; i < 100 && !again; ++i) {
    again = TlsClient::connect(tls_port());
    if (!again) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  ASSERT_NE(again, nullptr);
  EXPECT_EQ(again->call({"PING"}).str, "PONG");
}

TEST_P(TlsServerTest, AReloadedCertificateReachesNewConnectionsAndOpenOnesStay) {
  // Files of this test's own, rewritten in place as an operator would.
  const std::string dir = test_dir() + "/reload-" + GetParam();
  mkdir(dir.c_str(), 0700);
  cfg.tls_cert_file = write_pem(dir + "/server.crt", pki().server.cert);
  cfg.tls_key_file = write_pem(dir + "/server.key", pki().server.key);
  start();
  auto before = TlsClient::connect(tls_port());
  ASSERT_NE(before, nullptr);
  auto serial = [](SSL* ssl) {
    X509* peer = SSL_get1_peer_certificate(ssl);
    const long s = ASN1_INTEGER_get(X509_get_serialNumber(peer));
    X509_free(peer);
    return s;
  };
  const long first = serial(before->ssl());
  TestCert next;
  make_cert(&next, "localhost", &pki().ca, -1, 60, "DNS:localhost,IP:127.0.0.1");
  write_pem(cfg.tls_cert_file, next.cert);
  write_pem(cfg.tls_key_file, next.key);
  ASSERT_TRUE(broker->reload_tls());
  auto after = TlsClient::connect(tls_port());
  ASSERT_NE(after, nullptr);
  EXPECT_NE(serial(after->ssl()), first);
  EXPECT_EQ(before->call({"PING"}).str, "PONG");  // the open connection keeps its session
  // A broken file: the reload fails and the last good certificate stays.
  FILE* f = std::fopen(cfg.tls_cert_file.c_str(), "w");
  std::fputs("not a certificate\n", f);
  std::fclose(f);
  ASSERT_TRUE(broker->reload_tls());
  auto still = TlsClient::connect(tls_port());
  ASSERT_NE(still, nullptr);
  EXPECT_EQ(serial(still->ssl()), serial(after->ssl()));
  EXPECT_EQ(still->call({"PING"}).str, "PONG");
  // CONFIG SET tls-cert-file and tls-key-file, as Redis's applyTlsCfg: a new certificate for new
  // connections, or Redis's error and the old one.
  TestCert third;
  make_cert(&third, "localhost", &pki().ca, -1, 90, "DNS:localhost,IP:127.0.0.1");
  const std::string crt = write_pem(dir + "/third.crt", third.cert), key = write_pem(dir + "/third.key", third.key);
  RespValue bad = still->call({"CONFIG", "SET", "tls-cert-file", dir + "/missing.crt"});
  EXPECT_EQ(bad.str,
            "ERR CONFIG SET failed (possibly related to argument 'tls-cert-file') - Unable to update TLS configuration. "
            "Check server logs.");
  EXPECT_EQ(still->call({"CONFIG", "SET", "tls-cert-file", crt, "tls-key-file", key}).str, "OK");
  auto latest = TlsClient::connect(tls_port());
  ASSERT_NE(latest, nullptr);
  EXPECT_EQ(serial(latest->ssl()), ASN1_INTEGER_get(X509_get_serialNumber(third.cert)));
  EXPECT_EQ(still->call({"PING"}).str, "PONG");
  // The same paths with new files in them: CONFIG SET reads them again, as Redis does.
  TestCert fourth;
  make_cert(&fourth, "localhost", &pki().ca, -1, 120, "DNS:localhost,IP:127.0.0.1");
  write_pem(crt, fourth.cert);
  write_pem(key, fourth.key);
  EXPECT_EQ(still->call({"CONFIG", "SET", "tls-cert-file", crt, "tls-key-file", key}).str, "OK");
  auto rotated = TlsClient::connect(tls_port());
  ASSERT_NE(rotated, nullptr);
  EXPECT_EQ(serial(rotated->ssl()), ASN1_INTEGER_get(X509_get_serialNumber(fourth.cert)));
}

// QUIT over TLS: +OK, then close_notify, then the close (as Redis ends a TLS connection).
TEST_P(TlsServerTest, QuitEndsWithCloseNotify) {
  start();
  auto c = TlsClient::connect(tls_port());
  ASSERT_NE(c, nullptr);
  EXPECT_EQ(c->call({"QUIT"}).str, "OK");
  RespValue v;
  EXPECT_FALSE(c->read(&v, 3000));
  EXPECT_EQ(SSL_get_shutdown(c->ssl()) & SSL_RECEIVED_SHUTDOWN, SSL_RECEIVED_SHUTDOWN);
  EXPECT_EQ(await_stat("tls_connected_clients_userspace", 0), 0);
}

// TLS 1.3 key updates (RFC 8446 section 4.6.3): a client's are answered (requested ones) and it
// reads every reply under the new keys; a flood of them (each costs the server key derivations:
// the review's finding was a flood of requested ones growing the session's memory) closes the
// client at its KeyUpdateBudget, and nobody else waits.
TEST_P(TlsServerTest, KeyUpdatesAreAnsweredAndAFloodOfThemIsClosed) {
  start();
  auto ok = TlsClient::connect(tls_port());
  ASSERT_NE(ok, nullptr);
  for (int i = 0; i < KeyUpdateBudget::kBurst; ++i) {
    ASSERT_EQ(SSL_key_update(ok->ssl(), i % 2 ? SSL_KEY_UPDATE_REQUESTED : SSL_KEY_UPDATE_NOT_REQUESTED), 1);
    ASSERT_EQ(ok->call({"PING"}).str, "PONG") << i;
  }
  auto flood = TlsClient::connect(tls_port(), false, 1024);
  ASSERT_NE(flood, nullptr);
  EXPECT_EQ(flood->call({"CLIENT", "SETNAME", "flood"}).str, "OK");
  timeval tv{0, 200'000};  // a write the server no longer takes ends the flood
  setsockopt(SSL_get_fd(flood->ssl()), SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  int updates = 0;
  for (; updates < 20'000 && std::chrono::steady_clock::now() < deadline; ++updates) {
    if (SSL_key_update(flood->ssl(), SSL_KEY_UPDATE_REQUESTED) != 1 || SSL_do_handshake(flood->ssl()) != 1) break;
  }
  ERR_clear_error();
  EXPECT_GT(updates, KeyUpdateBudget::kBurst);
  auto admin = client();
  // One answer for each requested update of the well-behaved client (each came with its PING).
  EXPECT_GE(stat("tls_key_updates"), KeyUpdateBudget::kBurst / 2);
  EXPECT_EQ(await_stat("tls_session_errors", 1), 1);
  const std::string list = admin->call({"CLIENT", "LIST"}).str;
  EXPECT_EQ(list.find("name=flood"), std::string::npos) << list;
  EXPECT_EQ(admin->call({"PING"}).str, "PONG");
  EXPECT_EQ(ok->call({"PING"}).str, "PONG");
}

// A key that has encrypted what it may (lowered here to 300 KB; RFC 8446 section 5.5 for AES-GCM):
// Fanout's record writer updates it on TLS 1.3 and the subscriber reads every message on, with
// each cipher; TLS 1.2 cannot update a key, so that subscriber is closed before the limit, having
// received no more than it.
TEST_P(TlsServerTest, AKeyAtItsLimitIsUpdatedOnTls13AndClosedOnTls12) {
  cfg.tls_test_key_limit = 300'000;
  start();
  std::vector<std::unique_ptr<TlsSocketClient>> subs;
  for (const char* suite : {"TLS_AES_128_GCM_SHA256", "TLS_AES_256_GCM_SHA384", "TLS_CHACHA20_POLY1305_SHA256"}) {
    subs.push_back(TlsSocketClient::connect(tls_port(), pki(), {.version = TLS1_3_VERSION, .suite = suite}));
  }
  auto tls12 = TlsSocketClient::connect(tls_port(), pki(), {.version = TLS1_2_VERSION, .suite = "ECDHE-ECDSA-AES128-GCM-SHA256"});
  ASSERT_NE(tls12, nullptr);
  for (auto& s : subs) {
    ASSERT_NE(s, nullptr);
    ASSERT_EQ(s->call({"SUBSCRIBE", "ch"}).elements.size(), 3u);
  }
  ASSERT_EQ(tls12->call({"SUBSCRIBE", "ch"}).elements.size(), 3u);
  auto pub = client();
  int tls12_received = 0;
  bool tls12_closed = false;
  for (int i = 0; i < 100; ++i) {
    const std::string payload(8'000, static_cast<char>('a' + i % 26));
    pub->call({"PUBLISH", "ch", payload});
    for (auto& s : subs) {
      RespValue m;
      ASSERT_TRUE(s->read(&m, 5000)) << i;
      ASSERT_EQ(m.elements.size(), 3u);
      EXPECT_EQ(m.elements[2].str, payload) << i;
    }
    if (tls12_closed) continue;
    RespValue m;
    if (tls12->read(&m, 2000)) {
      ++tls12_received;
    } else {
      tls12_closed = true;
    }
  }
  EXPECT_TRUE(tls12_closed);
  EXPECT_LE(tls12->bytes_read(), 300'000u);
  EXPECT_GE(tls12_received, 30);
  EXPECT_EQ(await_stat("tls_session_errors", 1), 1);
  // About 800 KB each, a key per 300 KB: two or three updates per TLS 1.3 subscriber.
  const int64_t updates = stat("tls_key_updates");
  EXPECT_GE(updates, 6);
  EXPECT_LE(updates, 9);
  for (auto& s : subs) EXPECT_EQ(s->call({"PING"}).elements.size(), 2u);  // subscribed: ["pong", ""]
}

// A ClientHello whose first read on the plaintext port is one byte is still recognised.
TEST_P(TlsServerTest, AClientHelloArrivingByteByByteOnThePlaintextPortIsRecognised) {
  start();
  auto c = TestClient::connect(port);
  ASSERT_NE(c, nullptr);
  c->send_raw(std::string(1, '\x16'));
  std::this_thread::sleep_for(std::chrono::milliseconds(100));  // its own read, by design
  c->send_raw(std::string("\x03\x01\x00\x05hello", 9));
  EXPECT_TRUE(c->wait_closed(3000));
  EXPECT_EQ(await_stat("tls_clients_on_plaintext_port", 1), 1);
}

// A SIGHUP reload that began before a CONFIG SET of the certificate must not swap in the older
// context after it (the review saw 73 in 200).
TEST_P(TlsServerTest, AReloadRacingCONFIGSETLeavesTheConfiguredCertificate) {
  const std::string dir = test_dir() + "/race-" + GetParam();
  mkdir(dir.c_str(), 0700);
  TestCert a, b;
  make_cert(&a, "localhost", &pki().ca, -1, 30, "DNS:localhost,IP:127.0.0.1");
  make_cert(&b, "localhost", &pki().ca, -1, 31, "DNS:localhost,IP:127.0.0.1");
  const std::string a_crt = write_pem(dir + "/a.crt", a.cert), a_key = write_pem(dir + "/a.key", a.key);
  const std::string b_crt = write_pem(dir + "/b.crt", b.cert), b_key = write_pem(dir + "/b.key", b.key);
  cfg.tls_cert_file = a_crt;
  cfg.tls_key_file = a_key;
  start();
  auto admin = client();
  for (int i = 0; i < 40; ++i) {
    const bool to_b = i % 2 == 0;
    std::thread reload([&] { broker->reload_tls(); });
    RespValue r = admin->call({"CONFIG", "SET", "tls-cert-file", to_b ? b_crt : a_crt, "tls-key-file",
                               to_b ? b_key : a_key});
    reload.join();
    ASSERT_EQ(r.str, "OK");
    auto c = TlsClient::connect(tls_port());
    ASSERT_NE(c, nullptr);
    X509* peer = SSL_get1_peer_certificate(c->ssl());
    const long got = ASN1_INTEGER_get(X509_get_serialNumber(peer));
    X509_free(peer);
    ASSERT_EQ(got, ASN1_INTEGER_get(X509_get_serialNumber(to_b ? b.cert : a.cert))) << "iteration " << i;
  }
}

INSTANTIATE_TEST_SUITE_P(Backends, TlsServerTest, ::testing::ValuesIn(kBackends));

}  // namespace
}  // namespace fanout::test
