// fanout-load's TLS client side (OpenSSL 3): one SSL_CTX for the run, shared by every worker,
// with the server's certificate always verified (against --tls-ca, or the system's CAs without
// it) and checked against the name or address the run targets; a client certificate for mutual
// TLS when --tls-cert and --tls-key are given. Sessions are per connection; the workers drive
// them non-blocking (tools/load/connection.cc). The blocking helpers here (the probe before the
// run, INFO) are for the main thread.
#pragma once

#include <openssl/ssl.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>

#include "tools/load/options.h"
#include "tools/load/target.h"

namespace fanout::load {

// What the probe saw: the protocol version and cipher suite ("TLSv1.3",
// "TLS_AES_256_GCM_SHA384").
struct TlsSessionInfo {
  std::string version, cipher;
};

// The run's TLS client context. Built once on the main thread before any worker starts; then
// new_session() and note_failure() may be called from any thread at once (SSL_new on a shared
// SSL_CTX is thread-safe; the failure record has its own mutex).
class TlsClient {
 public:
  // Loads o.tls_ca (or the system's default CA paths), o.tls_cert and o.tls_key, and fixes what
  // the server's certificate must name: o.tls_sni if given, else o.host (an IP address is matched
  // against the certificate's IP SANs, a name against its DNS names). nullptr with *err naming
  // the file and OpenSSL's reason if a file cannot be used.
  static std::unique_ptr<TlsClient> create(const Options& o, std::string* err);
  ~TlsClient();
  TlsClient(const TlsClient&) = delete;
  TlsClient& operator=(const TlsClient&) = delete;

  // A client session on connected socket `fd` (not owned: the caller closes it after
  // SSL_free), SNI set; the handshake has not started. nullptr if OpenSSL is out of memory.
  SSL* new_session(int fd) const;

  // Why the last OpenSSL call on `ssl` failed with SSL_get_error() == `ssl_error`, for a person:
  // the certificate verification error by name ("server certificate verification failed:
  // certificate has expired"), else OpenSSL's first queued error ("tlsv13 alert certificate
  // required"), else the socket's (`errno_value`) or "the server closed the connection". Clears
  // the calling thread's OpenSSL error queue.
  static std::string describe_failure(SSL* ssl, int ssl_error, int errno_value);

  // Records a failed handshake or a TLS error on an established connection: counted, and the
  // first message kept for the report.
  void note_failure(const std::string& message);
  uint64_t failures() const { return failures_.load(std::memory_order_relaxed); }
  std::string first_failure() const;

  // Blocking, with `timeout_ms` for each receive and send: connects to `t`, completes the
  // handshake, sends `request` and reads until `complete(reply)` or the peer closes. True with
  // *reply (and *info, if not null); false with *err saying which step failed and why.
  bool request(const Target& t, std::string_view request, bool (*complete)(const std::string&), int timeout_ms,
               std::string* reply, TlsSessionInfo* info, std::string* err) const;

 private:
  TlsClient() = default;

  SSL_CTX* ctx_ = nullptr;
  std::string sni_;  // empty: no SNI (an IP address target without --tls-sni)
  std::atomic<uint64_t> failures_{0};
  mutable std::mutex mu_;
  std::string first_failure_;  // guarded by mu_
};

// The check before the load: one connection through TlsClient::request, answering PING with
// +PONG. "" with *info set, or why not ("TLS with 127.0.0.1:6380: server certificate
// verification failed: certificate has expired"). Main thread.
std::string tls_probe(const TlsClient& tls, const Target& t, const std::string& where, TlsSessionInfo* info);

}  // namespace fanout::load
