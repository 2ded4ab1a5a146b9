// TLS for clients: the server's OpenSSL context built from the tls-* settings (certificates, key,
// CA, protocol versions, ciphers, session cache), replaced on SIGHUP, and the probe that tells
// whether this kernel can take TLS records over (kernel TLS).
//
// Behaviour follows Redis 6+ (src/tls.c, createSSLContext and tlsConfigure): the same setting
// names, tls-protocols' words, tls-auth-clients yes|no|optional, session caching with Redis's
// defaults; renegotiation and compression are off.
#pragma once

#include <openssl/ssl.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>

#include "net/config.h"

namespace fanout {

// One built context. Immutable once built: any shard's thread may create sessions from it
// (SSL_new is thread-safe on a shared SSL_CTX); a session keeps its context alive (SSL_CTX
// reference counting), so replacing it never affects open connections.
class TlsContext {
 public:
  // Builds from cfg's tls-* settings: reads the certificate chain, the key (decrypted with
  // tls-key-file-pass), the CA file or directory. Returns null with *err naming the file and
  // OpenSSL's reason. *warning: something that will not stop the start but that an operator
  // must see (the certificate has expired, or is not valid yet), else empty. Thread: any.
  static std::shared_ptr<TlsContext> build(const ServerConfig& cfg, std::string* err, std::string* warning);
  ~TlsContext();
  TlsContext(const TlsContext&) = delete;
  TlsContext& operator=(const TlsContext&) = delete;

  SSL_CTX* ctx() const { return ctx_; }
  // The certificate's subject and expiry, for the logs ("CN=localhost", "Dec 30 12:00:00 2026 GMT").
  const std::string& subject() const { return subject_; }
  const std::string& not_after() const { return not_after_; }

 private:
  explicit TlsContext(SSL_CTX* ctx) : ctx_(ctx) {}
  SSL_CTX* ctx_;
  std::string subject_, not_after_;
};

// The context new TLS connections get, replaceable while shards run (SIGHUP). Thread: any;
// current() takes a mutex, so shards call it only when version() says it changed.
class TlsContextHolder {
 public:
  void set(std::shared_ptr<const TlsContext> c) {
    std::lock_guard<std::mutex> g(mu_);
    ctx_ = std::move(c);
    version_.fetch_add(1, std::memory_order_release);
  }
  std::shared_ptr<const TlsContext> current() const {
    std::lock_guard<std::mutex> g(mu_);
    return ctx_;
  }
  uint64_t version() const { return version_.load(std::memory_order_acquire); }

 private:
  mutable std::mutex mu_;
  std::shared_ptr<const TlsContext> ctx_;
  std::atomic<uint64_t> version_{0};
};

// Whether the kernel can encrypt TLS records itself (Linux kernel TLS, the "tls" upper-layer
// protocol): probed at start on a loopback TCP pair with setsockopt(TCP_ULP, "tls"), which loads
// the module on demand. `detail` says why not ("setsockopt(TCP_ULP, tls): No such file or
// directory: this kernel has no tls module"). Thread: any; a few syscalls, no lasting state.
struct KernelTlsProbe {
  bool available = false;
  std::string detail;
};
KernelTlsProbe probe_kernel_tls();

// How a connection's records are encrypted, as INFO and CLIENT LIST show it ("tls=userspace").
enum class TlsMode : uint8_t { kNone, kUserspace, kKernel };
const char* tls_mode_name(TlsMode m);

// The OpenSSL errors queued on this thread, as one line ("certificate verify failed; ..."), and
// the queue cleared. Empty if none. Thread: any (OpenSSL's error queue is per thread).
std::string take_openssl_errors();

}  // namespace fanout
