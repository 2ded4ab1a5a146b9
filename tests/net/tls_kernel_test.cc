// Kernel TLS for sending, on a machine whose kernel may have no tls module: a TlsSession offered
// kernel TLS against an in-memory OpenSSL client, whose keys are then used by an emulation of the
// kernel's record encryption (Linux net/tls/tls_sw.c: AEAD nonce from the salt, the IV and the
// record sequence; TLS 1.2 AES-GCM's explicit nonce; TLS 1.3's inner content type). The client
// decrypting those records proves that the keys, the IV and the sequence number handed to
// setsockopt(TLS_TX) are right, for TLS 1.3 and 1.2 with AES-128-GCM, AES-256-GCM and
// ChaCha20-Poly1305. Then: ciphers the kernel does not take, the fallback to userspace when the
// kernel refuses the keys, key updates, what OpenSSL writes after the switch, and the helpers.
// The same keys feed Fanout's own record writer (net/tls_record.h) where the kernel does not take
// them: its records, its key updates (asked for by the client, and at the key's limit) and its
// close_notify are checked by the same client.
#include "net/tls_kernel.h"

#include <gtest/gtest.h>
#include <openssl/err.h>
#include <openssl/evp.h>

#include <algorithm>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "net/tls_context.h"
#include "net/tls_session.h"
#include "tests/net/kernel_tls_emulator.h"
#include "tests/net/tls_memory_client.h"
#include "tests/net/tls_pki.h"

namespace fanout {
namespace {

TlsBufferPool pool;

const test::TestPki& pki() {
  static const test::TestPki* p = new test::TestPki("kernel");
  return *p;
}

std::shared_ptr<TlsContext> server_context(const std::string& ciphers = "") {
  ServerConfig cfg;
  cfg.tls_port = kPortAuto;
  cfg.tls_cert_file = pki().server_cert_file;
  cfg.tls_key_file = pki().server_key_file;
  cfg.tls_ca_cert_file = pki().ca_file;
  cfg.tls_auth_clients = "no";
  cfg.tls_ciphers = ciphers;
  std::string err, warning;
  auto ctx = TlsContext::build(cfg, &err, &warning);
  EXPECT_NE(ctx, nullptr) << err;
  return ctx;
}


using test::KernelEmulator;
using test::records_of;

struct Client : test::MemoryClient {
  Client(int version, const std::string& suite, SSL_CTX* shared = nullptr)
      : MemoryClient(pki().ca_file, version, suite, shared) {}
};

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

// The handshake to the end; returns every byte the server sent.
std::string handshake(Client& c, TlsSession& s) {
  std::string sent;
  std::string plain;
  for (int i = 0; i < 8; ++i) {
    SSL_do_handshake(c.ssl);
    const std::string to_server = c.take_output();
    if (!to_server.empty()) {
      EXPECT_EQ(s.receive(to_server.data(), to_server.size(), &plain), TlsSession::Result::kOk) << s.error();
    }
    const std::string to_client = drain(s);
    sent += to_client;
    c.give(to_client);
    if (SSL_is_init_finished(c.ssl) && s.established()) break;
  }
  EXPECT_TRUE(s.established());
  EXPECT_EQ(c.read_all(), "");  // takes the session tickets, if any
  return sent;
}

struct Suite {
  int version;
  const char* suite;
  uint16_t cipher_type;
};

class KernelKeysTest : public ::testing::TestWithParam<Suite> {};

// The keys the session would hand to setsockopt(TLS_TX) encrypt records the client reads, after
// the records OpenSSL itself wrote under them (TLS 1.3's session tickets, TLS 1.2's Finished),
// and across several records (the sequence number, TLS 1.2's explicit nonce).
TEST_P(KernelKeysTest, TheKernelsRecordsDecryptAtTheClient) {
  const Suite& p = GetParam();
  auto ctx = server_context();
  TlsSession s(ctx->ctx(), &pool, true);
  Client c(p.version, p.suite);
  const std::string handshake_bytes = handshake(c, s);
  ASSERT_TRUE(s.kernel_pending()) << s.describe() << ": " << s.kernel_absent_reason();
  KernelTlsInfo info;
  size_t size = 0;
  std::string why;
  ASSERT_TRUE(s.kernel_keys(&info, &size, &why)) << why;
  EXPECT_EQ(info.base.cipher_type, p.cipher_type);
  EXPECT_EQ(info.base.version, p.version == TLS1_3_VERSION ? TLS_1_3_VERSION : TLS_1_2_VERSION);
  EXPECT_EQ(size, kernel_tls_info_size(info));
  EXPECT_GT(size, 0u);
  if (p.version == TLS1_2_VERSION && p.cipher_type != TLS_CIPHER_CHACHA20_POLY1305) {
    // The server's Finished went out under these keys with OpenSSL's explicit nonce: the kernel's
    // first must be the next one, never the same (a nonce used twice breaks AES-GCM).
    auto recs = records_of(handshake_bytes);
    ASSERT_FALSE(recs.empty());
    const std::string& finished = recs.back().second;
    ASSERT_EQ(recs.back().first, 22);
    unsigned char next[8];
    std::memcpy(next, finished.data() + 5, 8);
    for (int i = 7; i >= 0 && ++next[i] == 0; --i) {
    }
    const unsigned char* iv = info.base.cipher_type == TLS_CIPHER_AES_GCM_128 ? info.gcm128.iv : info.gcm256.iv;
    EXPECT_EQ(std::memcmp(iv, next, 8), 0);
  }
  s.kernel_started(0);
  EXPECT_EQ(s.mode(), TlsMode::kKernel);
  KernelEmulator kernel(info);
  std::string big(40'000, '\0');
  for (size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>(i * 7 + 1);
  c.give(kernel.send(big));  // three records
  std::string err;
  EXPECT_EQ(c.read_all(&err), big) << err;
  c.give(kernel.send("+PONG\r\n"));
  EXPECT_EQ(c.read_all(&err), "+PONG\r\n") << err;
  // Receiving stays in userspace.
  std::string plain;
  c.write("*1\r\n$4\r\nPING\r\n");
  const std::string bytes = c.take_output();
  EXPECT_EQ(s.receive(bytes.data(), bytes.size(), &plain), TlsSession::Result::kOk) << s.error();
  EXPECT_EQ(plain, "*1\r\n$4\r\nPING\r\n");
  EXPECT_FALSE(s.has_output());
}

INSTANTIATE_TEST_SUITE_P(
    Ciphers, KernelKeysTest,
    ::testing::Values(Suite{TLS1_3_VERSION, "TLS_AES_128_GCM_SHA256", TLS_CIPHER_AES_GCM_128},
                      Suite{TLS1_3_VERSION, "TLS_AES_256_GCM_SHA384", TLS_CIPHER_AES_GCM_256},
                      Suite{TLS1_3_VERSION, "TLS_CHACHA20_POLY1305_SHA256", TLS_CIPHER_CHACHA20_POLY1305},
                      Suite{TLS1_2_VERSION, "ECDHE-ECDSA-AES128-GCM-SHA256", TLS_CIPHER_AES_GCM_128},
                      Suite{TLS1_2_VERSION, "ECDHE-ECDSA-AES256-GCM-SHA384", TLS_CIPHER_AES_GCM_256},
                      Suite{TLS1_2_VERSION, "ECDHE-ECDSA-CHACHA20-POLY1305", TLS_CIPHER_CHACHA20_POLY1305}),
    [](const ::testing::TestParamInfo<Suite>& i) {
      std::string n = std::string(i.param.version == TLS1_3_VERSION ? "tls13_" : "tls12_") + i.param.suite;
      for (char& ch : n) {
        if (!isalnum(static_cast<unsigned char>(ch))) ch = '_';
      }
      return n;
    });

// A client that resumes (TLS 1.3, with the ticket sent before the switch) gets kernel keys too.
TEST(KernelTlsTest, AResumedSessionGetsKernelKeys) {
  auto ctx = server_context();
  SSL_SESSION* session = nullptr;
  Client first(TLS1_3_VERSION, "TLS_AES_256_GCM_SHA384");
  {
    TlsSession s(ctx->ctx(), &pool, true);
    handshake(first, s);
    session = SSL_get1_session(first.ssl);
  }
  TlsSession s(ctx->ctx(), &pool, true);
  Client c(TLS1_3_VERSION, "", first.ctx);
  SSL_set_session(c.ssl, session);
  handshake(c, s);
  EXPECT_TRUE(s.resumed());
  KernelTlsInfo info;
  size_t size;
  std::string why;
  ASSERT_TRUE(s.kernel_keys(&info, &size, &why)) << why;
  s.kernel_started(0);
  KernelEmulator kernel(info);
  c.give(kernel.send("resumed"));
  EXPECT_EQ(c.read_all(), "resumed");
  SSL_SESSION_free(session);
}

TEST(KernelTlsTest, NotOfferedOrACipherTheKernelDoesNotTakeStaysInUserspace) {
  auto ctx = server_context("ECDHE-ECDSA-AES128-CCM:ECDHE-ECDSA-AES128-GCM-SHA256");
  {
    // Not offered to the kernel: the keys are still taken, for the record writer.
    TlsSession s(ctx->ctx(), &pool, false);
    Client c(TLS1_3_VERSION, "TLS_AES_128_GCM_SHA256");
    handshake(c, s);
    EXPECT_TRUE(s.kernel_pending());
    EXPECT_FALSE(s.kernel_allowed());
    EXPECT_EQ(s.mode(), TlsMode::kUserspace);
  }
  {
    // AES-128-CCM: OpenSSL 3.0 offers it for TLS 1.2, Fanout keeps it in userspace.
    TlsSession s(ctx->ctx(), &pool, true);
    Client c(TLS1_2_VERSION, "ECDHE-ECDSA-AES128-CCM");
    handshake(c, s);
    EXPECT_NE(s.describe().find("CCM"), std::string::npos) << s.describe();
    EXPECT_FALSE(s.kernel_pending());
    EXPECT_NE(std::string(s.kernel_absent_reason()).find("cipher"), std::string::npos);
    std::string reply = "+OK\r\n", pack;
    struct iovec v{reply.data(), reply.size()};
    s.encrypt(&v, 1, reply.size(), &pack);
    c.give(drain(s));
    EXPECT_EQ(c.read_all(), reply);
  }
}

// The kernel refused the keys (no tls module, ENOMEM): OpenSSL never stopped encrypting, so the
// session carries on in userspace, its records in sequence after the handshake's.
TEST(KernelTlsTest, WhenTheKernelRefusesTheKeysTheSessionStaysInUserspace) {
  auto ctx = server_context();
  for (int version : {TLS1_3_VERSION, TLS1_2_VERSION}) {
    TlsSession s(ctx->ctx(), &pool, true);
    Client c(version, version == TLS1_3_VERSION ? "TLS_AES_128_GCM_SHA256" : "ECDHE-ECDSA-AES256-GCM-SHA384");
    handshake(c, s);
    KernelTlsInfo info;
    size_t size;
    std::string why;
    ASSERT_TRUE(s.kernel_keys(&info, &size, &why)) << why;
    s.kernel_declined();
    EXPECT_FALSE(s.kernel_allowed());
    EXPECT_EQ(s.mode(), TlsMode::kUserspace);
    std::string reply(20'000, 'r'), pack;
    struct iovec v{reply.data(), reply.size()};
    s.encrypt(&v, 1, reply.size(), &pack);
    c.give(drain(s));
    std::string err;
    EXPECT_EQ(c.read_all(&err), reply) << version << " " << err;
    // Then the record writer takes the keys, after OpenSSL's records.
    ASSERT_TRUE(s.kernel_pending());
    ASSERT_TRUE(s.start_records(0));
    s.encrypt(&v, 1, reply.size(), &pack);
    c.give(drain(s));
    EXPECT_EQ(c.read_all(&err), reply) << version << " " << err;
  }
}

// RFC 8446 section 4.6.3: a key update the client requests obliges us to change our sending key,
// which the kernel's cannot: the session fails (and the shard closes it). One that changes only
// the client's key is decrypted in userspace as any record.
TEST(KernelTlsTest, ARequestedKeyUpdateFailsAKernelSessionAnUnrequestedOneDoesNot) {
  auto ctx = server_context();
  for (int requested : {0, 1}) {
    TlsSession s(ctx->ctx(), &pool, true);
    Client c(TLS1_3_VERSION, "TLS_AES_256_GCM_SHA384");
    handshake(c, s);
    KernelTlsInfo info;
    size_t size;
    std::string why;
    ASSERT_TRUE(s.kernel_keys(&info, &size, &why)) << why;
    s.kernel_started(0);
    ASSERT_EQ(SSL_key_update(c.ssl, requested ? SSL_KEY_UPDATE_REQUESTED : SSL_KEY_UPDATE_NOT_REQUESTED), 1);
    c.write("*1\r\n$4\r\nPING\r\n");
    const std::string bytes = c.take_output();
    std::string plain;
    const TlsSession::Result r = s.receive(bytes.data(), bytes.size(), &plain);
    EXPECT_EQ(plain, "*1\r\n$4\r\nPING\r\n");  // what came with it is still delivered
    if (requested) {
      EXPECT_EQ(r, TlsSession::Result::kError);
      EXPECT_EQ(s.failure(), TlsFailure::kKernel);
      EXPECT_NE(s.error().find("key update"), std::string::npos) << s.error();
    } else {
      EXPECT_EQ(r, TlsSession::Result::kOk) << s.error();
      KernelEmulator kernel(info);
      c.give(kernel.send("+PONG\r\n"));
      EXPECT_EQ(c.read_all(), "+PONG\r\n");
    }
    EXPECT_FALSE(s.has_output());
  }
}

// A key update requested before the switch: OpenSSL owes the reply, so neither the kernel nor the
// record writer may take the keys, and OpenSSL writes on (its KeyUpdate, then the reply under its
// new key).
TEST(KernelTlsTest, AKeyUpdateOwedBeforeTheSwitchKeepsOpenSslWriting) {
  auto ctx = server_context();
  for (bool kernel : {true, false}) {
    SCOPED_TRACE(kernel ? "kernel" : "writer");
    TlsSession s(ctx->ctx(), &pool, kernel);
    Client c(TLS1_3_VERSION, "TLS_AES_128_GCM_SHA256");
    handshake(c, s);
    ASSERT_EQ(SSL_key_update(c.ssl, SSL_KEY_UPDATE_REQUESTED), 1);
    c.write("*1\r\n$4\r\nPING\r\n");
    const std::string bytes = c.take_output();
    std::string plain;
    ASSERT_EQ(s.receive(bytes.data(), bytes.size(), &plain), TlsSession::Result::kOk);
    KernelTlsInfo info;
    size_t size;
    std::string why;
    EXPECT_FALSE(s.kernel_keys(&info, &size, &why));
    EXPECT_NE(why.find("key update"), std::string::npos) << why;
    if (kernel) s.kernel_declined();
    EXPECT_FALSE(s.start_records(0));
    EXPECT_FALSE(s.own_records());
    std::string reply = "+PONG\r\n", pack;
    struct iovec v{reply.data(), reply.size()};
    s.encrypt(&v, 1, reply.size(), &pack);
    c.give(drain(s));
    EXPECT_EQ(c.read_all(), reply);
  }
}

// Whatever OpenSSL writes after the switch to the kernel or the record writer (here: the alert
// for a forged record, the no_renegotiation alert) is encrypted with a sequence number already
// used: dropped, never staged, and the session fails.
TEST(KernelTlsTest, NothingOpenSslWritesAfterTheSwitchIsEverStaged) {
  auto ctx = server_context();
  // As the shard switches: the kernel takes the keys (pretended here), or the record writer does.
  auto switch_over = [](TlsSession& s, bool kernel) {
    if (!kernel) return s.start_records(0);
    KernelTlsInfo info;
    size_t size;
    std::string why;
    if (!s.kernel_keys(&info, &size, &why)) return false;
    s.kernel_started(0);
    return true;
  };
  for (bool kernel : {true, false}) {
    SCOPED_TRACE(kernel ? "kernel" : "writer");
    {
      TlsSession s(ctx->ctx(), &pool, kernel);
      Client c(TLS1_3_VERSION, "TLS_AES_128_GCM_SHA256");
      handshake(c, s);
      ASSERT_TRUE(switch_over(s, kernel));
      c.write("*1\r\n$4\r\nPING\r\n");
      std::string bytes = c.take_output();
      bytes[bytes.size() - 3] ^= 1;  // the tag no longer matches
      std::string plain;
      EXPECT_EQ(s.receive(bytes.data(), bytes.size(), &plain), TlsSession::Result::kError);
      EXPECT_FALSE(s.has_output());
    }
    {
      TlsSession s(ctx->ctx(), &pool, kernel);
      Client c(TLS1_2_VERSION, "ECDHE-ECDSA-AES128-GCM-SHA256");
      handshake(c, s);
      ASSERT_TRUE(switch_over(s, kernel));
      ASSERT_EQ(SSL_renegotiate(c.ssl), 1);
      SSL_do_handshake(c.ssl);
      const std::string hello = c.take_output();
      std::string plain;
      EXPECT_EQ(s.receive(hello.data(), hello.size(), &plain), TlsSession::Result::kError);
      EXPECT_FALSE(s.has_output());
    }
  }
}

TEST(KernelTlsTest, RecordsAreCountedHoweverTheBytesArrive) {
  std::string stream;
  for (size_t len : {0, 1, 300, 16'401}) {
    stream += std::string{0x17, 0x03, 0x03, static_cast<char>(len >> 8), static_cast<char>(len)};
    stream += std::string(len, 'x');
  }
  for (size_t piece : {size_t{1}, size_t{2}, size_t{5}, size_t{7}, size_t{4096}, stream.size()}) {
    KernelTlsRecords r;
    for (size_t at = 0; at < stream.size(); at += piece) {
      r.feed(stream.data() + at, std::min(piece, stream.size() - at));
    }
    EXPECT_EQ(r.records(), 4u) << piece;
    EXPECT_EQ(r.bytes(), stream.size()) << piece;
    EXPECT_FALSE(r.mid_record());
  }
  KernelTlsRecords cut;
  cut.feed(stream.data(), 8);
  EXPECT_TRUE(cut.mid_record());
}

TEST(KernelTlsTest, AdvancingCarriesAcrossBytes) {
  KernelTlsInfo info{};
  info.base.version = TLS_1_2_VERSION;
  info.base.cipher_type = TLS_CIPHER_AES_GCM_128;
  info.gcm128.rec_seq[7] = 0xff;
  info.gcm128.iv[7] = 0xfe;
  info.gcm128.iv[6] = 0xff;
  kernel_tls_advance(&info, 3);
  const unsigned char seq[8] = {0, 0, 0, 0, 0, 0, 1, 2};
  const unsigned char iv[8] = {0, 0, 0, 0, 0, 1, 0, 1};
  EXPECT_EQ(std::memcmp(info.gcm128.rec_seq, seq, 8), 0);
  EXPECT_EQ(std::memcmp(info.gcm128.iv, iv, 8), 0);
  // TLS 1.3 (and ChaCha20-Poly1305) derive the nonce from the sequence: the IV stays.
  info.base.version = TLS_1_3_VERSION;
  kernel_tls_advance(&info, 1);
  EXPECT_EQ(std::memcmp(info.gcm128.iv, iv, 8), 0);
  EXPECT_EQ(info.gcm128.rec_seq[7], 3);
  info.base.cipher_type = TLS_CIPHER_AES_CCM_128;
  EXPECT_EQ(kernel_tls_info_size(info), 0u);
  info.base.cipher_type = TLS_CIPHER_AES_GCM_256;
  info.base.version = 0x0302;  // TLS 1.1
  EXPECT_EQ(kernel_tls_info_size(info), 0u);
}

// RFC 8446 section 5.5: AES-GCM's key is closed before 2^24.5 full-size records' worth; a send is
// charged as if cut into as many records as the kernel can make of it.
TEST(KernelTlsTest, TheKeyBudgetStopsBeforeItsLimit) {
  KernelTlsInfo gcm{};
  gcm.base.version = TLS_1_3_VERSION;
  gcm.base.cipher_type = TLS_CIPHER_AES_GCM_256;
  KernelTlsBudget b;
  b.start(gcm, 0);
  EXPECT_EQ(b.limit(), 23'726'566ull * 16'416);
  KernelTlsInfo chacha = gcm;
  chacha.base.cipher_type = TLS_CIPHER_CHACHA20_POLY1305;
  KernelTlsBudget c;
  c.start(chacha, 0);
  EXPECT_EQ(c.limit(), KernelTlsBudget::kNoLimit);
  EXPECT_TRUE(c.charge(1 << 20));
  KernelTlsBudget small;
  small.start(gcm, 100'000);
  EXPECT_TRUE(small.charge(16'384));  // 16,384 + 2 x 32
  EXPECT_EQ(small.used(), 16'448u);
  EXPECT_TRUE(small.charge(64));
  EXPECT_FALSE(small.charge(90'000));  // would pass it: nothing charged
  EXPECT_EQ(small.used(), 16'448u + 96);
  int sends = 0;
  while (small.charge(1000) && sends < 1000) ++sends;
  EXPECT_LE(small.used(), 100'000u);
  EXPECT_GT(small.used(), 100'000u - 1032);
}

// The record writer (net/tls_record.h) --------------------------------------------------------

// Plaintext in pieces of every awkward size: empty iovecs, single bytes, pieces that straddle the
// 16 KiB record boundary; `total` bytes in all.
struct Pieces {
  std::string bytes;
  std::vector<struct iovec> iov;
  explicit Pieces(size_t total, unsigned seed = 1) {
    bytes.resize(total);
    for (size_t i = 0; i < total; ++i) bytes[i] = static_cast<char>(i * 31 + seed);
    static const size_t kSizes[] = {0, 1, 7, 64, 0, 1000, 16'383, 5, 16'385, 300};
    for (size_t at = 0, k = 0; at < total; ++k) {
      const size_t n = std::min(kSizes[k % 10], total - at);
      iov.push_back({bytes.data() + at, n});
      at += n;
    }
    iov.push_back({bytes.data() + total, 0});
  }
};

// Every cipher the keys come in, both versions: the writer's records, made straight from many
// iovecs, follow OpenSSL's own (TLS 1.3's session tickets, TLS 1.2's Finished, and here a first
// reply OpenSSL encrypts before the switch) and decrypt at the client, across records and calls;
// its close_notify ends the client's reading cleanly; receiving is unchanged.
TEST_P(KernelKeysTest, TheRecordWritersRecordsDecryptAtTheClient) {
  const Suite& p = GetParam();
  auto ctx = server_context();
  TlsSession s(ctx->ctx(), &pool, false);
  Client c(p.version, p.suite);
  handshake(c, s);
  ASSERT_TRUE(s.kernel_pending());
  ASSERT_FALSE(s.kernel_allowed());
  ASSERT_TRUE(s.start_records(0));
  EXPECT_TRUE(s.own_records());
  EXPECT_EQ(s.mode(), TlsMode::kUserspace);
  std::string err, pack;
  for (size_t total : {size_t{1}, size_t{16'384}, size_t{16'385}, size_t{65'536}, size_t{100'003}}) {
    Pieces in(total, static_cast<unsigned>(total));
    s.encrypt(in.iov.data(), in.iov.size(), total, &pack);
    size_t plain = 0;
    const std::string wire = drain(s, &plain);
    EXPECT_EQ(plain, total);
    EXPECT_EQ(records_of(wire).size(), (total + 16'383) / 16'384);  // full records
    c.give(wire);
    EXPECT_EQ(c.read_all(&err), in.bytes) << total << " " << err;
  }
  std::string got;
  c.write("*1\r\n$4\r\nPING\r\n");
  const std::string bytes = c.take_output();
  EXPECT_EQ(s.receive(bytes.data(), bytes.size(), &got), TlsSession::Result::kOk) << s.error();
  EXPECT_EQ(got, "*1\r\n$4\r\nPING\r\n");
  EXPECT_TRUE(s.close_notify());
  c.give(drain(s));
  EXPECT_EQ(c.read_all(&err), "");
  EXPECT_EQ(SSL_get_shutdown(c.ssl) & SSL_RECEIVED_SHUTDOWN, SSL_RECEIVED_SHUTDOWN) << err;
  EXPECT_EQ(s.failure(), TlsFailure::kNone) << s.error();
}

// RFC 8446 section 4.6.3: a KeyUpdate the client requests is answered by one of ours before our
// next record, under the old key, then our records use the next key (section 7.2), again and
// again; requests that arrive together get one answer; an update of the client's key alone gets
// none. Each TLS 1.3 suite (their hashes differ: SHA-256, SHA-384).
TEST(TlsRecordWriterTest, RequestedKeyUpdatesAreAnsweredAndTheSessionGoesOn) {
  auto ctx = server_context();
  for (const char* suite : {"TLS_AES_128_GCM_SHA256", "TLS_AES_256_GCM_SHA384", "TLS_CHACHA20_POLY1305_SHA256"}) {
    SCOPED_TRACE(suite);
    TlsSession s(ctx->ctx(), &pool, false);
    Client c(TLS1_3_VERSION, suite);
    handshake(c, s);
    ASSERT_TRUE(s.start_records(0));
    std::string pack, err;
    uint64_t updates = 0;
    for (int round = 0; round < 6; ++round) {
      const int requests = round == 4 ? 0 : round == 2 ? 3 : 1;
      for (int i = 0; i < requests; ++i) {
        ASSERT_EQ(SSL_key_update(c.ssl, SSL_KEY_UPDATE_REQUESTED), 1);
        c.write("*1\r\n$4\r\nPING\r\n");
      }
      if (round == 4) {
        ASSERT_EQ(SSL_key_update(c.ssl, SSL_KEY_UPDATE_NOT_REQUESTED), 1);
        c.write("*1\r\n$4\r\nPING\r\n");
      }
      const std::string bytes = c.take_output();
      std::string plain;
      ASSERT_EQ(s.receive(bytes.data(), bytes.size(), &plain), TlsSession::Result::kOk) << s.error();
      if (requests > 0) ++updates;
      EXPECT_EQ(s.key_updates(), updates) << round;
      EXPECT_EQ(s.has_output(), requests > 0);
      Pieces reply(20'000 + round);
      s.encrypt(reply.iov.data(), reply.iov.size(), reply.bytes.size(), &pack);
      c.give(drain(s));
      EXPECT_EQ(c.read_all(&err), reply.bytes) << round << " " << err;
    }
  }
}

// RFC 8446 section 5.5: a TLS 1.3 AES-GCM key that has encrypted its share is replaced by a key
// update of our own, and the client reads on; TLS 1.2 cannot update, so the session fails before
// the key passes its limit. (The limit is made small here; it is about 389 GB.)
TEST(TlsRecordWriterTest, AKeyAtItsLimitIsUpdatedOnTls13AndEndsTls12) {
  auto ctx = server_context();
  {
    TlsSession s(ctx->ctx(), &pool, false);
    Client c(TLS1_3_VERSION, "TLS_AES_256_GCM_SHA384");
    handshake(c, s);
    ASSERT_TRUE(s.start_records(100'000));
    std::string pack, err;
    for (int i = 0; i < 10; ++i) {
      Pieces reply(30'000, static_cast<unsigned>(i));
      s.encrypt(reply.iov.data(), reply.iov.size(), reply.bytes.size(), &pack);
      c.give(drain(s));
      ASSERT_EQ(c.read_all(&err), reply.bytes) << i << " " << err;
    }
    EXPECT_GE(s.key_updates(), 2u);
    EXPECT_LE(s.key_updates(), 4u);
  }
  {
    TlsSession s(ctx->ctx(), &pool, false);
    Client c(TLS1_2_VERSION, "ECDHE-ECDSA-AES128-GCM-SHA256");
    handshake(c, s);
    ASSERT_TRUE(s.start_records(100'000));
    std::string pack, err;
    std::string sent;
    for (int i = 0; i < 10 && s.failure() == TlsFailure::kNone; ++i) {
      Pieces reply(30'000, static_cast<unsigned>(i));
      s.encrypt(reply.iov.data(), reply.iov.size(), reply.bytes.size(), &pack);
      if (s.failure() == TlsFailure::kNone) sent += reply.bytes;
      c.give(drain(s));
    }
    EXPECT_EQ(s.failure(), TlsFailure::kOther);
    EXPECT_NE(s.error().find("limit"), std::string::npos) << s.error();
    EXPECT_EQ(c.read_all(&err), sent) << err;  // everything before the limit, nothing past it
    EXPECT_LT(sent.size(), 100'000u);
  }
}

// A key update requested before the switch and then sent by OpenSSL (it sends one it owes when it
// next reads a handshake message) moves OpenSSL to its next key, which it does
// not offer to the BIO: the captured keys are stale, so neither the kernel nor the writer may take
// them, and OpenSSL writes on, its records readable.
TEST(TlsRecordWriterTest, KeysOpenSslMovedPastBeforeTheSwitchAreNeverUsed) {
  auto ctx = server_context();
  for (bool kernel : {false, true}) {
    SCOPED_TRACE(kernel ? "kernel" : "writer");
    TlsSession s(ctx->ctx(), &pool, kernel);
    Client c(TLS1_3_VERSION, "TLS_AES_128_GCM_SHA256");
    handshake(c, s);
    std::string plain;
    ASSERT_EQ(SSL_key_update(c.ssl, SSL_KEY_UPDATE_REQUESTED), 1);
    c.write("*1\r\n$4\r\nPING\r\n");
    std::string bytes = c.take_output();
    ASSERT_EQ(s.receive(bytes.data(), bytes.size(), &plain), TlsSession::Result::kOk) << s.error();
    // OpenSSL writes the update it owes when it next reads a handshake message (another update).
    ASSERT_EQ(SSL_key_update(c.ssl, SSL_KEY_UPDATE_NOT_REQUESTED), 1);
    c.write("*1\r\n$4\r\nPING\r\n");
    bytes = c.take_output();
    ASSERT_EQ(s.receive(bytes.data(), bytes.size(), &plain), TlsSession::Result::kOk) << s.error();
    c.give(drain(s));  // whatever OpenSSL wrote meanwhile (its KeyUpdate)
    KernelTlsInfo info;
    size_t size;
    std::string why;
    EXPECT_FALSE(s.kernel_keys(&info, &size, &why));
    EXPECT_NE(why.find("key"), std::string::npos) << why;
    if (kernel) s.kernel_declined();
    EXPECT_FALSE(s.start_records(0));
    std::string reply(30'000, 'k'), pack;
    struct iovec v{reply.data(), reply.size()};
    s.encrypt(&v, 1, reply.size(), &pack);
    c.give(drain(s));
    std::string err;
    EXPECT_EQ(c.read_all(&err), reply) << err;
  }
}

}  // namespace
}  // namespace fanout
