// TlsSession and TlsContext against an OpenSSL client in memory: the handshake with every split of
// the client's bytes, records packed from many small frames, the plaintext accounting of partial
// sends, and each refusal (not TLS, no or an untrusted client certificate, no common version,
// renegotiation), close_notify, resumption and the context's build errors.
#include "net/tls_session.h"

#include <gtest/gtest.h>
#include <openssl/err.h>

#include <memory>
#include <string>
#include <vector>

#include "net/tls_context.h"
#include "tests/net/tls_memory_client.h"
#include "tests/net/tls_pki.h"

namespace fanout {
namespace {

using test::TestPki;

TlsBufferPool pool;

const TestPki& pki() {
  static const TestPki* p = new TestPki("session");
  return *p;
}

ServerConfig tls_config(const std::string& auth = "no") {
  ServerConfig cfg;
  cfg.tls_port = kPortAuto;
  cfg.tls_cert_file = pki().server_cert_file;
  cfg.tls_key_file = pki().server_key_file;
  cfg.tls_ca_cert_file = pki().ca_file;
  cfg.tls_auth_clients = auth;
  return cfg;
}

std::shared_ptr<TlsContext> server_context(const ServerConfig& cfg) {
  std::string err, warning;
  auto ctx = TlsContext::build(cfg, &err, &warning);
  EXPECT_NE(ctx, nullptr) << err;
  return ctx;
}

// The tests' in-memory OpenSSL client (tests/net/tls_memory_client.h) on this suite's PKI:
// max_version pins the protocol (0: either), with_cert presents `cert` (the PKI's client
// certificate if null), shared reuses a client context (for resumption).
struct Client : test::MemoryClient {
  explicit Client(int max_version = 0, bool with_cert = false, const test::TestCert* cert = nullptr,
                  SSL_CTX* shared = nullptr)
      : MemoryClient(pki().ca_file, max_version, "", shared, with_cert ? (cert ? cert : &pki().client) : nullptr) {}
};

// Everything the server staged, sent in one go; returns the ciphertext, *plain the plaintext
// bytes whose records completed.
std::string drain(TlsSession& s, size_t* plain = nullptr) {
  std::string out;
  size_t done = 0;
  while (s.has_output()) {
    struct iovec v = s.next_output();
    out.append(static_cast<const char*>(v.iov_base), v.iov_len);
    done += s.sent(v.iov_len);
  }
  if (plain) *plain = done;
  return out;
}

// Runs the handshake to the end (or a failure), feeding each flight whole. Returns the result
// of the server's last receive.
TlsSession::Result handshake(Client& c, TlsSession& s, std::string* plain) {
  TlsSession::Result r = TlsSession::Result::kOk;
  for (int i = 0; i < 8 && r == TlsSession::Result::kOk; ++i) {
    SSL_do_handshake(c.ssl);
    const std::string to_server = c.take_output();
    if (!to_server.empty()) r = s.receive(to_server.data(), to_server.size(), plain);
    c.give(drain(s));
    if (SSL_is_init_finished(c.ssl) && s.established()) break;
  }
  return r;
}

TEST(TlsSessionTest, HandshakeThenCommandsAndRepliesBothWays) {
  auto ctx = server_context(tls_config());
  TlsSession s(ctx->ctx(), &pool);
  Client c;
  std::string plain;
  ASSERT_EQ(handshake(c, s, &plain), TlsSession::Result::kOk) << s.error();
  ASSERT_TRUE(s.established());
  EXPECT_NE(s.describe().find("TLSv1.3"), std::string::npos) << s.describe();
  c.write("*1\r\n$4\r\nPING\r\n");
  std::string bytes = c.take_output();
  ASSERT_EQ(s.receive(bytes.data(), bytes.size(), &plain), TlsSession::Result::kOk);
  EXPECT_EQ(plain, "*1\r\n$4\r\nPING\r\n");
  std::string reply = "+PONG\r\n";
  struct iovec v{reply.data(), reply.size()};
  std::string pack;
  s.encrypt(&v, 1, reply.size(), &pack);
  size_t done = 0;
  c.give(drain(s, &done));
  EXPECT_EQ(done, reply.size());
  EXPECT_EQ(c.read_all(), "+PONG\r\n");
}

// The client's bytes reach the server split at every boundary: the first flight (ClientHello)
// cut at each byte, the second (Finished and commands) too, and the plaintext is always exact.
TEST(TlsSessionTest, EverySplitOfTheClientBytesGivesTheSamePlaintext) {
  auto ctx = server_context(tls_config());
  const std::string commands = "*3\r\n$7\r\nPUBLISH\r\n$2\r\nch\r\n$5\r\nhello\r\n*1\r\n$4\r\nPING\r\n";
  size_t first_len = 0;
  for (size_t k = 0;; ++k) {
    TlsSession s(ctx->ctx(), &pool);
    Client c;
    std::string plain;
    SSL_do_handshake(c.ssl);
    const std::string hello = c.take_output();
    first_len = hello.size();
    if (k > first_len) break;
    ASSERT_EQ(s.receive(hello.data(), k, &plain), TlsSession::Result::kOk) << k;
    ASSERT_EQ(s.receive(hello.data() + k, hello.size() - k, &plain), TlsSession::Result::kOk) << k << s.error();
    c.give(drain(s));
    ASSERT_EQ(SSL_do_handshake(c.ssl), 1) << k;
    c.write(commands);
    const std::string second = c.take_output();
    if (k == 0) {
      for (size_t i = 0; i < second.size(); ++i) {  // one byte at a time: every boundary at once
        ASSERT_EQ(s.receive(second.data() + i, 1, &plain), TlsSession::Result::kOk) << i << s.error();
      }
    } else {
      const size_t j = k % (second.size() + 1);
      ASSERT_EQ(s.receive(second.data(), j, &plain), TlsSession::Result::kOk);
      ASSERT_EQ(s.receive(second.data() + j, second.size() - j, &plain), TlsSession::Result::kOk) << j;
    }
    ASSERT_TRUE(s.established()) << k;
    ASSERT_EQ(plain, commands) << k;
  }
  EXPECT_GT(first_len, 100u);
}

// Counts TLS records in a ciphertext stream by their headers (RFC 8446 section 5.1).
std::vector<size_t> record_lengths(const std::string& bytes) {
  std::vector<size_t> out;
  size_t at = 0;
  while (at + 5 <= bytes.size()) {
    const size_t len = (static_cast<unsigned char>(bytes[at + 3]) << 8) | static_cast<unsigned char>(bytes[at + 4]);
    out.push_back(len);
    at += 5 + len;
  }
  EXPECT_EQ(at, bytes.size());
  return out;
}

TEST(TlsSessionTest, ManySmallFramesArePackedIntoFullRecords) {
  auto ctx = server_context(tls_config());
  TlsSession s(ctx->ctx(), &pool);
  Client c;
  std::string plain;
  ASSERT_EQ(handshake(c, s, &plain), TlsSession::Result::kOk);
  drain(s);  // session tickets
  c.read_all();
  // 1,000 messages of 64 bytes, each its own iovec (as a queue of shared frames gives them).
  std::vector<std::string> frames;
  std::string expected;
  for (int i = 0; i < 1000; ++i) {
    std::string f(64, static_cast<char>('a' + i % 26));
    f.replace(0, 8, std::to_string(10'000'000 + i));
    frames.push_back(f);
    expected += f;
  }
  std::vector<struct iovec> iov;
  for (std::string& f : frames) iov.push_back({f.data(), f.size()});
  std::string pack;
  s.encrypt(iov.data(), iov.size(), expected.size(), &pack);
  struct iovec out = s.next_output();
  const std::string cipher(static_cast<const char*>(out.iov_base), out.iov_len);
  // 64,000 bytes in records of 16 KiB: 4 records, not 1,000.
  EXPECT_EQ(record_lengths(cipher).size(), 4u);
  // A short send completes nothing; the rest completes every plaintext byte at once.
  EXPECT_EQ(s.sent(100), 0u);
  EXPECT_TRUE(s.has_output());
  struct iovec rest = s.next_output();
  EXPECT_EQ(rest.iov_base, static_cast<const char*>(out.iov_base) + 100);  // the same buffer, resumed
  EXPECT_EQ(s.sent(rest.iov_len), expected.size());
  EXPECT_FALSE(s.has_output());
  // The sent buffer went back to the shard's pool: an idle session holds no ciphertext buffer.
  EXPECT_LT(s.buffered(), size_t{TlsBufferPool::kMinKept});
  EXPECT_GE(pool.cached(), 1u);
  c.give(cipher);
  EXPECT_EQ(c.read_all(), expected);
}

// A client's TLS 1.3 key updates: a burst of 32, then one a second on average; idle time does not
// save up more than the burst.
TEST(KeyUpdateBudgetTest, ABurstThenOneASecond) {
  KeyUpdateBudget b;
  EXPECT_TRUE(b.take(KeyUpdateBudget::kBurst, 0));
  EXPECT_FALSE(b.take(1, 999));
  KeyUpdateBudget c;
  EXPECT_TRUE(c.take(KeyUpdateBudget::kBurst, 1'000));
  EXPECT_TRUE(c.take(1, 2'000));
  EXPECT_TRUE(c.take(2, 4'000));
  EXPECT_FALSE(c.take(1, 4'500));
  KeyUpdateBudget d;
  EXPECT_TRUE(d.take(0, 0));
  EXPECT_TRUE(d.take(KeyUpdateBudget::kBurst, 1'000'000));  // after a long idle: the burst, no more
  EXPECT_FALSE(d.take(1, 1'000'000));
  KeyUpdateBudget e;
  for (int i = 0; i < 100; ++i) EXPECT_TRUE(e.take(1, 1'000 * i)) << i;  // one a second, for ever
}

// The shard's ciphertext buffers: kept when they come back, within the byte bound; what sat
// unused for a whole trim period is given back, what was used stays.
TEST(TlsBufferPoolTest, KeepsWhatComesBackWithinItsBoundAndTrimsWhatSatUnused) {
  TlsBufferPool p;
  auto buffer = [](size_t cap) {
    TlsBuffer b;
    b.reserve(cap);
    return b;
  };
  p.put(buffer(100));  // too small to keep
  p.put(buffer(TlsBufferPool::kMaxKept + 1));  // a burst's: freed
  EXPECT_EQ(p.cached(), 0u);
  const size_t each = 64u << 10;
  for (size_t i = 0; i < TlsBufferPool::kMaxCachedBytes / each + 10; ++i) p.put(buffer(each));
  EXPECT_EQ(p.cached(), TlsBufferPool::kMaxCachedBytes / each);
  EXPECT_EQ(p.cached_bytes(), TlsBufferPool::kMaxCachedBytes);
  p.trim();  // starts the first period: nothing was measured yet
  std::vector<TlsBuffer> out;
  for (int i = 0; i < 100; ++i) out.push_back(p.get());  // a second that needed 100 of them
  EXPECT_EQ(out.back().capacity(), each);
  EXPECT_EQ(out.back().size(), 0u);
  for (auto& b : out) p.put(std::move(b));
  p.trim();  // all - 100 sat unused all period: given back
  EXPECT_EQ(p.cached(), 100u);
  EXPECT_EQ(p.cached_bytes(), 100 * each);
  p.trim();  // a period with no get() at all
  EXPECT_EQ(p.cached(), 0u);
  EXPECT_EQ(p.cached_bytes(), 0u);
}

// Output the session makes while a buffer is in flight (here: the alert refusing a renegotiation)
// goes to the other buffer and never moves the one being sent.
TEST(TlsSessionTest, OutputMadeDuringASendDoesNotMoveTheBufferInFlight) {
  auto ctx = server_context(tls_config());
  TlsSession s(ctx->ctx(), &pool);
  Client c(TLS1_2_VERSION);
  std::string plain;
  ASSERT_EQ(handshake(c, s, &plain), TlsSession::Result::kOk);
  drain(s);
  std::string big(100'000, 'x');
  struct iovec v{big.data(), big.size()};
  std::string pack;
  s.encrypt(&v, 1, big.size(), &pack);
  struct iovec inflight = s.next_output();
  const std::string copy(static_cast<const char*>(inflight.iov_base), inflight.iov_len);
  ASSERT_EQ(SSL_renegotiate(c.ssl), 1);
  SSL_do_handshake(c.ssl);
  const std::string hello = c.take_output();
  EXPECT_EQ(s.receive(hello.data(), hello.size(), &plain), TlsSession::Result::kError);
  EXPECT_EQ(std::string(static_cast<const char*>(inflight.iov_base), inflight.iov_len), copy);
  EXPECT_EQ(s.sent(inflight.iov_len), big.size());
  EXPECT_TRUE(s.has_output());  // the no_renegotiation alert, after the records in flight
}

// A TLS 1.3 key update from the client (RFC 8446 section 4.6.3) is handled in userspace: the
// commands after it decrypt, and the replies after the server's own update reach the client.
TEST(TlsSessionTest, AKeyUpdateFromTheClientKeepsTheSessionGoing) {
  auto ctx = server_context(tls_config());
  TlsSession s(ctx->ctx(), &pool);
  Client c;
  std::string plain;
  ASSERT_EQ(handshake(c, s, &plain), TlsSession::Result::kOk);
  c.give(drain(s));
  c.read_all();
  ASSERT_EQ(SSL_key_update(c.ssl, SSL_KEY_UPDATE_REQUESTED), 1);
  c.write("*1\r\n$4\r\nPING\r\n");
  const std::string update = c.take_output();
  ASSERT_EQ(s.receive(update.data(), update.size(), &plain), TlsSession::Result::kOk) << s.error();
  EXPECT_EQ(plain, "*1\r\n$4\r\nPING\r\n");
  std::string reply = "+PONG\r\n";
  struct iovec v{reply.data(), reply.size()};
  std::string pack;
  c.give(drain(s));
  s.encrypt(&v, 1, reply.size(), &pack);
  c.give(drain(s));
  EXPECT_EQ(c.read_all(), reply);
}

TEST(TlsSessionTest, BytesThatAreNotTlsAreRefusedAsSuch) {
  auto ctx = server_context(tls_config());
  for (const std::string& input : {std::string("*1\r\n$4\r\nPING\r\n"), std::string("PING\r\n"),
                                  std::string("GET / HTTP/1.1\r\nHost: x\r\n\r\n")}) {
    TlsSession s(ctx->ctx(), &pool);
    std::string plain;
    EXPECT_EQ(s.receive(input.data(), input.size(), &plain), TlsSession::Result::kError) << input;
    EXPECT_EQ(s.failure(), TlsFailure::kNotTls) << input << ": " << s.error();
    EXPECT_TRUE(plain.empty());
    // Once failed it stays failed, whatever comes next.
    EXPECT_EQ(s.receive(input.data(), input.size(), &plain), TlsSession::Result::kError);
  }
}

TEST(TlsSessionTest, GarbageInAnyAmountIsAnErrorNeverACrash) {
  auto ctx = server_context(tls_config());
  uint32_t x = 12345;
  for (int round = 0; round < 200; ++round) {
    TlsSession s(ctx->ctx(), &pool);
    std::string bytes(1 + round * 37 % 5000, '\0');
    for (char& ch : bytes) {
      x = x * 1103515245 + 12345;
      ch = static_cast<char>(x >> 16);
    }
    if (round % 2) bytes[0] = 0x16;  // looks like a handshake record, then nonsense
    std::string plain;
    TlsSession::Result r = s.receive(bytes.data(), bytes.size(), &plain);
    EXPECT_NE(r, TlsSession::Result::kClosed);
    EXPECT_TRUE(plain.empty());
    drain(s);
  }
}

TEST(TlsSessionTest, AMissingOrUntrustedClientCertificateIsRefusedWhenRequired) {
  auto ctx = server_context(tls_config("yes"));
  {
    TlsSession s(ctx->ctx(), &pool);
    Client c;
    std::string plain;
    EXPECT_EQ(handshake(c, s, &plain), TlsSession::Result::kError);
    EXPECT_EQ(s.failure(), TlsFailure::kCertificate) << s.error();
  }
  {
    test::TestCert other_ca, other;
    test::make_cert(&other_ca, "Other CA", nullptr, -1, 30, nullptr, true);
    test::make_cert(&other, "intruder", &other_ca);
    TlsSession s(ctx->ctx(), &pool);
    Client c(0, true, &other);
    std::string plain;
    EXPECT_EQ(handshake(c, s, &plain), TlsSession::Result::kError);
    EXPECT_EQ(s.failure(), TlsFailure::kCertificate) << s.error();
  }
  {
    TlsSession s(ctx->ctx(), &pool);
    Client c(0, true);
    std::string plain;
    EXPECT_EQ(handshake(c, s, &plain), TlsSession::Result::kOk) << s.error();
    EXPECT_TRUE(s.established());
  }
}

TEST(TlsSessionTest, NoCommonVersionIsAProtocolFailure) {
  ServerConfig cfg = tls_config();
  cfg.tls_protocols = "TLSv1.3";
  auto ctx = server_context(cfg);
  TlsSession s(ctx->ctx(), &pool);
  Client c(TLS1_2_VERSION);
  std::string plain;
  EXPECT_EQ(handshake(c, s, &plain), TlsSession::Result::kError);
  EXPECT_EQ(s.failure(), TlsFailure::kProtocol) << s.error();
}

TEST(TlsSessionTest, ARenegotiationRequestIsRefusedAndReported) {
  auto ctx = server_context(tls_config());
  TlsSession s(ctx->ctx(), &pool);
  Client c(TLS1_2_VERSION);
  std::string plain;
  ASSERT_EQ(handshake(c, s, &plain), TlsSession::Result::kOk) << s.error();
  ASSERT_EQ(SSL_renegotiate(c.ssl), 1);
  SSL_do_handshake(c.ssl);
  const std::string hello = c.take_output();
  ASSERT_FALSE(hello.empty());
  EXPECT_EQ(s.receive(hello.data(), hello.size(), &plain), TlsSession::Result::kError);
  EXPECT_EQ(s.failure(), TlsFailure::kRenegotiation) << s.error();
}

TEST(TlsSessionTest, CloseNotifyEndsTheInput) {
  auto ctx = server_context(tls_config());
  TlsSession s(ctx->ctx(), &pool);
  Client c;
  std::string plain;
  ASSERT_EQ(handshake(c, s, &plain), TlsSession::Result::kOk);
  c.write("*1\r\n$4\r\nQUIT\r\n");
  SSL_shutdown(c.ssl);
  const std::string bytes = c.take_output();
  EXPECT_EQ(s.receive(bytes.data(), bytes.size(), &plain), TlsSession::Result::kClosed);
  EXPECT_EQ(plain, "*1\r\n$4\r\nQUIT\r\n");  // what came before the close is still delivered
}

TEST(TlsSessionTest, CloseNotifyIsStagedOnceAfterTheLastData) {
  auto ctx = server_context(tls_config());
  TlsSession s(ctx->ctx(), &pool);
  EXPECT_FALSE(s.close_notify());  // no handshake yet: nothing to say it on
  Client c;
  std::string plain;
  ASSERT_EQ(handshake(c, s, &plain), TlsSession::Result::kOk);
  c.give(drain(s));
  c.read_all();
  EXPECT_TRUE(s.close_notify());
  EXPECT_FALSE(s.close_notify());
  c.give(drain(s));
  c.read_all();
  EXPECT_EQ(SSL_get_shutdown(c.ssl) & SSL_RECEIVED_SHUTDOWN, SSL_RECEIVED_SHUTDOWN);
}

TEST(TlsSessionTest, ASecondConnectionResumesTheSession) {
  auto ctx = server_context(tls_config());
  SSL_SESSION* session = nullptr;
  Client first;
  {
    TlsSession s(ctx->ctx(), &pool);
    Client& c = first;
    std::string plain;
    ASSERT_EQ(handshake(c, s, &plain), TlsSession::Result::kOk);
    c.give(drain(s));
    c.read_all();  // takes the session tickets
    session = SSL_get1_session(c.ssl);
    EXPECT_FALSE(s.resumed());
  }
  TlsSession s(ctx->ctx(), &pool);
  Client c(0, false, nullptr, first.ctx);  // the same client context, as a client library keeps
  SSL_set_session(c.ssl, session);
  std::string plain;
  ASSERT_EQ(handshake(c, s, &plain), TlsSession::Result::kOk);
  EXPECT_TRUE(s.resumed());
  SSL_SESSION_free(session);
}

TEST(TlsContextTest, BuildErrorsNameTheFileAndTheReason) {
  std::string err, warning;
  ServerConfig cfg = tls_config();
  cfg.tls_key_file = "/nonexistent/key.pem";
  EXPECT_EQ(TlsContext::build(cfg, &err, &warning), nullptr);
  EXPECT_NE(err.find("--tls-key-file /nonexistent/key.pem"), std::string::npos) << err;
  cfg = tls_config();
  cfg.tls_key_file = pki().client_key_file;  // another certificate's key
  EXPECT_EQ(TlsContext::build(cfg, &err, &warning), nullptr);
  EXPECT_NE(err.find("key values mismatch"), std::string::npos) << err;
  cfg = tls_config();
  cfg.tls_protocols = "TLSv1.2 SSLv3";
  EXPECT_EQ(TlsContext::build(cfg, &err, &warning), nullptr);
  EXPECT_NE(err.find("unknown protocol 'SSLv3'"), std::string::npos) << err;
  cfg = tls_config();
  cfg.tls_ciphersuites = "NOT_A_SUITE";
  EXPECT_EQ(TlsContext::build(cfg, &err, &warning), nullptr);
  EXPECT_NE(err.find("--tls-ciphersuites"), std::string::npos) << err;
}

TEST(TlsContextTest, AnExpiredCertificateIsBuiltWithAWarning) {
  test::TestCert expired;
  test::make_cert(&expired, "localhost", &pki().ca, -10, -1, "IP:127.0.0.1");
  ServerConfig cfg = tls_config();
  cfg.tls_cert_file = test::write_pem(test::test_dir() + "/expired.crt", expired.cert);
  cfg.tls_key_file = test::write_pem(test::test_dir() + "/expired.key", expired.key);
  std::string err, warning;
  auto ctx = TlsContext::build(cfg, &err, &warning);
  ASSERT_NE(ctx, nullptr) << err;
  EXPECT_NE(warning.find("expired on"), std::string::npos) << warning;
  // A client that verifies refuses it; the server sees the client's alert.
  TlsSession s(ctx->ctx(), &pool);
  Client c;
  std::string plain;
  EXPECT_EQ(handshake(c, s, &plain), TlsSession::Result::kError);
  EXPECT_EQ(s.failure(), TlsFailure::kCertificate) << s.error();
}

TEST(TlsContextTest, TheKernelProbeSaysWhy) {
  const KernelTlsProbe p = probe_kernel_tls();
  EXPECT_FALSE(p.detail.empty());
  // Whichever it is, the reason matches the answer.
  if (!p.available) {
    EXPECT_NE(p.detail.find("TCP_ULP"), std::string::npos) << p.detail;
  }
}

}  // namespace
}  // namespace fanout
