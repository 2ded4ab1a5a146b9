// An OpenSSL client over two memory BIOs for TLS tests that drive a TlsSession by hand, pinned to
// one protocol version and cipher. Thread: one test thread.
#pragma once

#include <gtest/gtest.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include <string>

#include "net/tls_context.h"
#include "tests/net/tls_pki.h"

namespace fanout::test {

// An OpenSSL client over two memory BIOs, trusting the CAs in ca_file; `version` pins the
// protocol (0: either), `suite` the TLS 1.3 suite or the TLS 1.2 cipher ("": OpenSSL's); `shared`:
// a client context to reuse (for resumption), instead of a new one; `cert`: a client certificate
// to present.
struct MemoryClient {
  SSL_CTX* ctx;
  SSL* ssl;
  BIO* in;   // what the server sent, for the client to read
  BIO* out;  // what the client wrote, for the server
  MemoryClient(const std::string& ca_file, int version, const std::string& suite, SSL_CTX* shared = nullptr,
               const TestCert* cert = nullptr) {
    if (shared) {
      SSL_CTX_up_ref(shared);
      ctx = shared;
    } else {
      ctx = SSL_CTX_new(TLS_client_method());
      SSL_CTX_load_verify_locations(ctx, ca_file.c_str(), nullptr);
      SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, nullptr);
      if (version) {
        SSL_CTX_set_min_proto_version(ctx, version);
        SSL_CTX_set_max_proto_version(ctx, version);
      }
      if (!suite.empty() && version == TLS1_3_VERSION) {
        EXPECT_EQ(SSL_CTX_set_ciphersuites(ctx, suite.c_str()), 1) << suite;
      } else if (!suite.empty()) {
        EXPECT_EQ(SSL_CTX_set_cipher_list(ctx, suite.c_str()), 1) << suite;
      }
      if (cert) {
        SSL_CTX_use_certificate(ctx, cert->cert);
        SSL_CTX_use_PrivateKey(ctx, cert->key);
      }
    }
    ssl = SSL_new(ctx);
    in = BIO_new(BIO_s_mem());
    out = BIO_new(BIO_s_mem());
    SSL_set_bio(ssl, in, out);
    SSL_set_connect_state(ssl);
    SSL_set1_host(ssl, "localhost");
  }
  ~MemoryClient() {
    SSL_free(ssl);
    SSL_CTX_free(ctx);
  }
  std::string take_output() {
    std::string s;
    char buf[4096];
    int n;
    while ((n = BIO_read(out, buf, sizeof(buf))) > 0) s.append(buf, static_cast<size_t>(n));
    return s;
  }
  void give(const std::string& s) { BIO_write(in, s.data(), static_cast<int>(s.size())); }
  // Everything readable; *error: the client's error queue when reading stopped on an error.
  std::string read_all(std::string* error = nullptr) {
    std::string s;
    char buf[16384];
    size_t got;
    int r;
    while ((r = SSL_read_ex(ssl, buf, sizeof(buf), &got)) == 1) s.append(buf, got);
    const int e = SSL_get_error(ssl, r);
    if (error) *error = e == SSL_ERROR_WANT_READ ? "" : "error " + std::to_string(e) + ": " + take_openssl_errors();
    ERR_clear_error();
    return s;
  }
  void write(const std::string& s) {
    size_t w;
    ASSERT_EQ(SSL_write_ex(ssl, s.data(), s.size(), &w), 1);
  }
};
}  // namespace fanout::test
