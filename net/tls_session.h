// One client connection's TLS, in userspace: an OpenSSL server session whose records pass through
// a BIO of Fanout's own, so the backend keeps its completion model on epoll and io_uring alike.
// Received ciphertext (a receive completion's bytes) is fed in and decrypted; what the session
// writes (handshake messages, alerts, application records) lands in buffers the shard sends with
// the same backend send operation as plaintext. Nothing here reads or writes a socket.
//
// Write path, keeping encode-once: the client's queue still holds the shared plaintext frames;
// encrypt() packs the iovecs of one flush into one buffer and writes it as full-size records
// (16 KiB of plaintext each: one record for many messages, never one per message). Ciphertext
// is sent in two buffers:
//   1. staged:  where the session writes (encrypt(), the handshake, alerts, session tickets);
//   2. sending: the buffer a send is reading; frozen until sent() finishes it (io_uring reads it
//      after the submit), then it goes back to the shard's pool and staged becomes the next one.
// The plaintext bytes behind each buffer are carried along, so the queue completes a message only
// when its last ciphertext byte has left (sent() returns them).
//
// Owns: the SSL object (which holds a reference to its context) and both buffers.
// Thread: the connection's shard only (OpenSSL's error queue is per thread).
#pragma once

#include <openssl/ssl.h>
#include <sys/uio.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace fanout {

// Why a handshake or a session failed, as INFO counts them (tls_handshake_failures_<reason>).
enum class TlsFailure : uint8_t {
  kNone,
  kNotTls,       // the bytes are not TLS (a plaintext client on a TLS port, an HTTP request)
  kCertificate,  // the client's certificate is missing or does not verify, or it refused ours
  kProtocol,     // no protocol version or cipher in common
  kRenegotiation,  // the client asked to renegotiate (refused, closed)
  kOther,        // any other TLS error (a bad record, a decryption failure)
};
const char* tls_failure_name(TlsFailure f);

// Ciphertext buffers a shard's sessions share: a session holds one only while it has records to
// send, so thousands of idle TLS subscribers hold none. Thread: its shard only.
class TlsBufferPool {
 public:
  std::string get() {
    if (free_.empty()) return {};
    std::string b = std::move(free_.back());
    free_.pop_back();
    return b;
  }
  void put(std::string&& b) {
    // Burst-sized buffers are freed, and so is anything past what a busy shard reuses.
    if (b.capacity() < kMinKept || b.capacity() > kMaxKept || free_.size() >= kMaxCached) return;
    b.clear();
    free_.push_back(std::move(b));
  }
  size_t cached() const { return free_.size(); }

  static constexpr size_t kMinKept = 4096;        // bytes of capacity: smaller ones are not worth it
  static constexpr size_t kMaxKept = 256u << 10;  // bytes of capacity
  static constexpr size_t kMaxCached = 256;        // buffers

 private:
  std::vector<std::string> free_;
};

// Plaintext bytes one send of a TLS client carries at most: a slow subscriber holds at most this
// much ciphertext (plus record overhead) beyond its queue, which stays shared plaintext.
inline constexpr size_t kTlsSendBytes = 64u << 10;

class TlsSession {
 public:
  // A server session on ctx, taking its buffers from `pool` (the shard's, which outlives it).
  // Thread: the shard that owns the connection.
  TlsSession(SSL_CTX* ctx, TlsBufferPool* pool);
  ~TlsSession();
  TlsSession(const TlsSession&) = delete;
  TlsSession& operator=(const TlsSession&) = delete;

  enum class Result : uint8_t { kOk, kClosed, kError };
  // Takes n bytes of ciphertext (valid only during the call; all of them are consumed), runs the
  // handshake while it is not finished and appends the decrypted plaintext to *plain.
  // kClosed: the client sent close_notify (its end of input). kError: failure() and error() say
  // why; the connection must close (an alert may be staged for sending first). Output may have
  // been staged either way (handshake messages, session tickets): check has_output().
  Result receive(const char* data, size_t n, std::string* plain);

  // Encrypts `bytes` bytes of plaintext described by n iovecs into records in the staged buffer.
  // Only once established() and while !has_output(). `pack`: the shard's scratch buffer the
  // iovecs are copied into so that records are full (reused; its capacity stays).
  void encrypt(const struct iovec* iov, size_t n, size_t bytes, std::string* pack);

  // Ciphertext waits to be sent.
  bool has_output() const { return sending_off_ < sending_.size() || !staged_.empty(); }
  // The ciphertext to send next: the unsent rest of the sending buffer, the staged one once that
  // is empty. Requires has_output(). The memory stays valid and unchanged until sent() finishes it.
  struct iovec next_output();
  // `n` bytes of next_output() left; returns the plaintext bytes whose ciphertext is now all
  // sent (the caller completes them in its queue), 0 while the buffer is unfinished.
  size_t sent(size_t n);

  // Stages close_notify (RFC 8446 section 6.1) once, after the last data: true if it staged one
  // now (send it, then close), false if it was staged before or the session cannot send it.
  bool close_notify();

  bool established() const { return established_; }
  bool resumed() const { return SSL_session_reused(ssl_) == 1; }
  TlsFailure failure() const { return failure_; }
  const std::string& error() const { return error_; }
  // "TLSv1.3 TLS_AES_256_GCM_SHA384" once established.
  std::string describe() const;
  // Bytes held for this connection beyond the SSL object (the ciphertext buffers it holds now),
  // for CLIENT LIST's memory figures.
  size_t buffered() const { return sending_.capacity() + staged_.capacity(); }

 private:
  friend struct TlsBio;
  bool handshake();
  void fail(TlsFailure why, std::string text);
  void classify_openssl_error();

  SSL* ssl_;
  TlsBufferPool* pool_;
  bool established_ = false;
  bool renegotiation_ = false;  // the session refused a renegotiation (msg callback)
  bool close_notify_ = false;   // staged
  TlsFailure failure_ = TlsFailure::kNone;
  std::string error_;
  // What the BIO reads from during receive().
  const char* in_ = nullptr;
  size_t in_len_ = 0;
  std::string sending_, staged_;
  size_t sending_off_ = 0;
  size_t sending_plain_ = 0, staged_plain_ = 0;
};

}  // namespace fanout
