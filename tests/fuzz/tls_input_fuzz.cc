// Fuzz target: a server TLS session's input path (net/tls_session), as a client on --tls-port
// drives it. The first input byte chooses how the rest is cut into receives (1 to 256 bytes each,
// so records and handshake messages arrive split at every kind of boundary); the rest is what
// the client sent. Properties, on any bytes: nothing is read past what is given (ASan); no
// plaintext comes out of a session that has not finished a handshake (a client that cannot know
// the server's key share cannot finish one); a failed session stays failed, with a reason; and
// cutting the same bytes differently does not change whether they are refused.
#include <string>

#include "net/tls_context.h"
#include "net/tls_session.h"
#include "tests/fuzz/fuzz_target.h"
#include "tests/net/tls_pki.h"

namespace {

SSL_CTX* server_ctx() {
  static std::shared_ptr<fanout::TlsContext> ctx = [] {
    fanout::test::TestPki pki("fuzz");
    fanout::ServerConfig cfg;
    cfg.tls_cert_file = pki.server_cert_file;
    cfg.tls_key_file = pki.server_key_file;
    cfg.tls_ca_cert_file = pki.ca_file;
    cfg.tls_auth_clients = "optional";
    std::string err, warning;
    auto c = fanout::TlsContext::build(cfg, &err, &warning);
    FUZZ_CHECK(c != nullptr);
    return c;
  }();
  return ctx->ctx();
}

// Feeds `bytes` in pieces of `step` bytes; returns whether the session refused them.
bool feed(const std::string& bytes, size_t step, fanout::TlsBufferPool* pool) {
  fanout::TlsSession s(server_ctx(), pool);
  std::string plain;
  bool failed = false;
  for (size_t at = 0; at < bytes.size(); at += step) {
    const size_t n = std::min(step, bytes.size() - at);
    const auto r = s.receive(bytes.data() + at, n, &plain);
    if (failed) FUZZ_CHECK(r == fanout::TlsSession::Result::kError);
    if (r == fanout::TlsSession::Result::kError) {
      failed = true;
      FUZZ_CHECK(s.failure() != fanout::TlsFailure::kNone && !s.error().empty());
    }
    FUZZ_CHECK(s.established() || plain.empty());
    while (s.has_output()) s.sent(s.next_output().iov_len);  // the handshake's replies, sent
  }
  return failed;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const size_t step = 1 + data[0];
  const std::string bytes(reinterpret_cast<const char*>(data + 1), size - 1);
  fanout::TlsBufferPool pool;
  const bool split = feed(bytes, step, &pool);
  const bool whole = feed(bytes, bytes.size() + 1, &pool);
  FUZZ_CHECK(split == whole);
  return 0;
}
