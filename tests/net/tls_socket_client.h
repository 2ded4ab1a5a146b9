// A blocking OpenSSL client over a loopback socket, for the TLS tests that run a real server: it
// verifies the server as "localhost" against the test PKI's CA, may present the PKI's client
// certificate, and reads RESP replies through OpenSSL (or, with plain_replies, straight from the
// socket: a test hook that pretends kernel TLS took the keys sends replies unencrypted).
// Thread: one test thread per client.
#pragma once

#include <gtest/gtest.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "core/resp_value.h"
#include "tests/net/test_client.h"
#include "tests/net/tls_pki.h"

namespace fanout::test {

class TlsSocketClient {
 public:
  struct Options {
    bool with_cert = false;      // present the PKI's client certificate
    int rcvbuf = 0;              // > 0: the socket's receive buffer, set before connecting
    int version = 0;             // pin TLS1_2_VERSION or TLS1_3_VERSION (0: either)
    const char* suite = nullptr; // the TLS 1.3 suite or TLS 1.2 cipher list, with a version
    bool plain_replies = false;  // read replies from the socket, not through OpenSSL
  };
  // Connects and completes the handshake; null if either fails.
  static std::unique_ptr<TlsSocketClient> connect(int port, const TestPki& pki, const Options& o) {
    auto c = std::unique_ptr<TlsSocketClient>(new TlsSocketClient());
    c->plain_ = o.plain_replies;
    c->fd_ = connect_loopback(port, o.rcvbuf);
    if (c->fd_ < 0) return nullptr;
    c->ctx_ = SSL_CTX_new(TLS_client_method());
    SSL_CTX_load_verify_locations(c->ctx_, pki.ca_file.c_str(), nullptr);
    SSL_CTX_set_verify(c->ctx_, SSL_VERIFY_PEER, nullptr);
    if (o.with_cert) {
      SSL_CTX_use_certificate(c->ctx_, pki.client.cert);
      SSL_CTX_use_PrivateKey(c->ctx_, pki.client.key);
    }
    if (o.version) {
      SSL_CTX_set_min_proto_version(c->ctx_, o.version);
      SSL_CTX_set_max_proto_version(c->ctx_, o.version);
    }
    if (o.suite && o.version == TLS1_2_VERSION) SSL_CTX_set_cipher_list(c->ctx_, o.suite);
    if (o.suite && o.version == TLS1_3_VERSION) SSL_CTX_set_ciphersuites(c->ctx_, o.suite);
    c->ssl_ = SSL_new(c->ctx_);
    SSL_set_fd(c->ssl_, c->fd_);
    SSL_set1_host(c->ssl_, "localhost");
    timeval tv{5, 0};
    setsockopt(c->fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    // With SO_RCVTIMEO a blocking read answers EINTR instead of restarting (signal(7)); seen on
    // the test's thread, which creates and tears down the shards' io_uring rings (probably their
    // task work interrupts it): try again (reads below too).
    for (int tries = 0;; ++tries) {
      const int r = SSL_connect(c->ssl_);
      if (r == 1) return c;
      if (SSL_get_error(c->ssl_, r) != SSL_ERROR_WANT_READ || errno != EINTR || tries == 100) break;
    }
    ERR_clear_error();
    return nullptr;
  }
  ~TlsSocketClient() {
    SSL_free(ssl_);
    SSL_CTX_free(ctx_);
    if (fd_ >= 0) ::close(fd_);
  }
  void send(const std::vector<std::string>& args) {
    const std::string b = encode_command(args);
    size_t w = 0, at = 0;
    while (at < b.size()) {
      if (SSL_write_ex(ssl_, b.data() + at, b.size() - at, &w) == 1) {
        at += w;
        continue;
      }
      ASSERT_TRUE(SSL_get_error(ssl_, 0) == SSL_ERROR_WANT_WRITE && errno == EINTR) << "TLS write failed";
    }
  }
  // One value, or false on timeout, close or error.
  bool read(RespValue* v, int timeout_ms = 5000) {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
    while (true) {
      std::string err;
      long n = parse_resp_value(buf_.data() + off_, buf_.size() - off_, v, &err);
      if (n < 0) return false;
      if (n > 0) {
        off_ += static_cast<size_t>(n);
        return true;
      }
      if (std::chrono::steady_clock::now() > deadline || !fill()) return false;
    }
  }
  RespValue call(const std::vector<std::string>& args) {
    send(args);
    RespValue v;
    EXPECT_TRUE(read(&v)) << args[0];
    return v;
  }
  // True once the server has closed the connection (data before it is discarded).
  bool wait_closed(int timeout_ms = 5000) {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
    while (std::chrono::steady_clock::now() < deadline) {
      if (!fill()) return closed_;
    }
    return false;
  }
  SSL* ssl() const { return ssl_; }
  size_t bytes_read() const { return read_; }

 private:
  TlsSocketClient() = default;
  // Reads what arrives (up to the receive timeout); false on close, error or timeout.
  bool fill() {
    char tmp[65536];
    if (plain_) {
      const ssize_t n = ::recv(fd_, tmp, sizeof(tmp), 0);
      if (n < 0 && errno == EINTR) return true;  // the caller's deadline bounds it
      if (n <= 0) {
        closed_ = n == 0 || errno == ECONNRESET;
        return false;
      }
      buf_.append(tmp, static_cast<size_t>(n));
      read_ += static_cast<size_t>(n);
      return true;
    }
    size_t got = 0;
    if (const int r = SSL_read_ex(ssl_, tmp, sizeof(tmp), &got); r != 1) {
      const int e = SSL_get_error(ssl_, r);
      if (e == SSL_ERROR_WANT_READ && errno == EINTR) return true;
      closed_ = e == SSL_ERROR_ZERO_RETURN || e == SSL_ERROR_SYSCALL || e == SSL_ERROR_SSL;
      ERR_clear_error();
      return false;
    }
    buf_.append(tmp, got);
    read_ += got;
    return true;
  }
  bool plain_ = false, closed_ = false;
  int fd_ = -1;
  SSL_CTX* ctx_ = nullptr;
  SSL* ssl_ = nullptr;
  std::string buf_;
  size_t off_ = 0, read_ = 0;
};

}  // namespace fanout::test
