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
// After the handshake, OpenSSL no longer writes the records. Every session captures the write keys
// OpenSSL offers its BIO for kernel TLS (net/tls_kernel.h); once established with nothing left to
// send, the shard either hands them to the kernel (kernel_keys, then kernel_started or
// kernel_declined), when this kernel takes them, or to Fanout's own record writer
// (start_records, net/tls_record.h), which encrypts the queue's frames in place in the staged
// buffer. From then on OpenSSL only decrypts and reads handshake messages: anything it writes is
// dropped (its sequence number is stale) and fails the session, except its answer to a requested
// key update, which the record writer sends itself. A session OpenSSL offers no keys for (AES-CCM,
// TLS 1.2 CBC, a negotiated max_fragment_length) or whose keys cannot be used (a key update owed
// before the switch) keeps OpenSSL's SSL_write.
//
// Owns: the SSL object (which holds a reference to its context) and both buffers.
// Thread: the connection's shard only (OpenSSL's error queue is per thread).
#pragma once

#include <openssl/ssl.h>
#include <sys/uio.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "net/tls_context.h"
#include "net/tls_kernel.h"
#include "net/tls_record.h"

namespace fanout {

// Why a handshake or a session failed, as INFO counts them (tls_handshake_failures_<reason>).
enum class TlsFailure : uint8_t {
  kNone,
  kNotTls,       // the bytes are not TLS (a plaintext client on a TLS port, an HTTP request)
  kCertificate,  // the client's certificate is missing or does not verify, or it refused ours
  kProtocol,     // no protocol version or cipher in common
  kRenegotiation,  // the client asked to renegotiate (refused, closed)
  kKernel,       // on kernel TLS: something only userspace could do (a key update we owe, an alert)
  kOther,        // any other TLS error (a bad record, a decryption failure)
};
const char* tls_failure_name(TlsFailure f);

// Ciphertext buffers a shard's sessions share: a session holds one only while it has records to
// send, so thousands of idle TLS subscribers hold none. A busy shard has up to one out per client
// whose send is unfinished (on io_uring, every client with a send in flight: 1,000 subscribers at
// 1 KiB held about 33 MB); the pool keeps what comes back so that the next round does not
// allocate afresh (glibc gives freed memory back with madvise and each new buffer page-faults:
// 12% of the CPU in that profile), and trim() gives back, once a second, what sat unused all that
// second. So the pool holds at most what was in flight at once during the last second, and never
// more than kMaxCachedBytes. Thread: its shard only.
class TlsBufferPool {
 public:
  TlsBuffer get() {
    if (free_.empty()) return {};
    TlsBuffer b = std::move(free_.back());
    free_.pop_back();
    bytes_ -= b.capacity();
    if (free_.size() < low_) low_ = free_.size();
    return b;
  }
  void put(TlsBuffer&& b) {
    // Burst-sized buffers are freed, and so is anything past what a busy shard reuses.
    if (b.capacity() < kMinKept || b.capacity() > kMaxKept || bytes_ + b.capacity() > kMaxCachedBytes) return;
    b.clear();
    bytes_ += b.capacity();
    free_.push_back(std::move(b));
  }
  // Frees the buffers no get() needed since the last trim (the fewest cached meanwhile). Called
  // once a second by the shard.
  void trim() {
    const size_t n = low_ < free_.size() ? low_ : free_.size();
    for (size_t i = 0; i < n; ++i) bytes_ -= free_[i].capacity();
    free_.erase(free_.begin(), free_.begin() + static_cast<std::ptrdiff_t>(n));  // the least recently used
    low_ = free_.size();
  }
  size_t cached() const { return free_.size(); }
  size_t cached_bytes() const { return bytes_; }

  static constexpr size_t kMinKept = 4096;               // bytes of capacity: smaller ones are not worth it
  static constexpr size_t kMaxKept = 256u << 10;         // bytes of capacity
  static constexpr size_t kMaxCachedBytes = 128u << 20;  // bytes, all cached buffers

 private:
  std::vector<TlsBuffer> free_;
  size_t bytes_ = 0;  // capacity of the cached buffers
  size_t low_ = 0;    // the fewest cached since the last trim()
};

// Plaintext bytes one send of a TLS client carries at most: a slow subscriber holds at most this
// much ciphertext (plus record overhead) beyond its queue, which stays shared plaintext.
inline constexpr size_t kTlsSendBytes = 64u << 10;
// Ciphertext a session may hold unsent before its client is closed: what the session writes on
// its own (a reply to each requested TLS 1.3 key update, alerts) while the client reads nothing
// would otherwise grow without bound.
inline constexpr size_t kTlsMaxUnsentBytes = kTlsSendBytes + (64u << 10);
// The TLS 1.3 KeyUpdates (RFC 8446 section 4.6.3) a client may send: a burst of kBurst, then one a
// second on average (a token bucket; RFC 8446 sets no limit). Each costs the server a key
// derivation or two, and an answer when the client requests one; clients update keys after
// gigabytes, or never, so only a flood meets the bound. Pure; the caller gives the time.
class KeyUpdateBudget {
 public:
  static constexpr int kBurst = 32;          // updates
  static constexpr int64_t kRefillMs = 1000;  // one more update per this many ms
  // Takes n updates read at now_ms (ms, monotonic); false once the client has gone past its budget.
  bool take(int n, int64_t now_ms) {
    if (refilled_ms_ < 0 || tokens_ >= kBurst) refilled_ms_ = now_ms;
    const int64_t k = (now_ms - refilled_ms_) / kRefillMs;
    if (k > 0) {
      tokens_ = static_cast<int>(std::min<int64_t>(kBurst, tokens_ + k));
      refilled_ms_ += k * kRefillMs;
    }
    tokens_ -= n;
    return tokens_ >= 0;
  }

 private:
  int tokens_ = kBurst;
  int64_t refilled_ms_ = -1;
};

class TlsSession {
 public:
  // A server session on ctx, taking its buffers from `pool` (the shard's, which outlives it).
  // offer_kernel: the keys may go to the kernel (probe_kernel_tls found the module, or a test says
  // so); otherwise they go to the record writer. ctx must have been built by TlsContext::build
  // (its key-log callback gives TLS 1.3 sessions the secret key updates need).
  // Thread: the shard that owns the connection.
  TlsSession(SSL_CTX* ctx, TlsBufferPool* pool, bool offer_kernel = false);
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
  // Only once established() and while !has_output(). With the record writer: straight from the
  // iovecs; with OpenSSL: `pack` is the shard's scratch buffer the iovecs are copied into so that
  // records are full (reused; its capacity stays). A failure (EVP, or a TLS 1.2 AES-GCM key at its
  // limit) fails the session: the next receive() or failure() reports it.
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
  // Ciphertext not yet sent (the rest of the buffer in flight and the staged one), bytes.
  size_t unsent() const { return sending_.size() - sending_off_ + staged_.size(); }

  // Kernel TLS (net/tls_kernel.h) and the record writer (net/tls_record.h).
  // kUserspace, or kKernel once kernel_started().
  TlsMode mode() const { return kernel_ == Kernel::kOn ? TlsMode::kKernel : TlsMode::kUserspace; }
  // OpenSSL gave the keys of a cipher the kernel takes and the switch is still to be decided.
  bool kernel_pending() const { return kernel_ == Kernel::kCaptured; }
  // The keys may go to the kernel (offer_kernel), else they go to the record writer.
  bool kernel_allowed() const { return kernel_allowed_; }
  // Fanout's record writer writes the application records (after start_records()).
  bool own_records() const { return kernel_ == Kernel::kRecords; }
  // Hands the keys to the record writer: only while kernel_pending(), established and
  // !has_output(), as kernel_keys(). False (OpenSSL keeps writing, for good) when the keys cannot
  // be used (a key update owed before the switch, EVP failure). key_limit_bytes: what one AES-GCM
  // key may encrypt before it is updated (0: RFC 8446 section 5.5's limit; tests set less).
  bool start_records(uint64_t key_limit_bytes);
  // Key updates the record writer has made (the client's requests and the key limit's).
  uint64_t key_updates() const { return records_.key_updates(); }
  // Charges the KeyUpdates read since the last call to the client's budget at now_ms (the shard's
  // clock); false once the client has sent more than KeyUpdateBudget allows (close it).
  bool key_updates_within_budget(int64_t now_ms) {
    const int n = key_updates_read_;
    key_updates_read_ = 0;
    return key_update_budget_.take(n, now_ms);
  }
  // OpenSSL's key-log callback (SSL_CTX_set_keylog_callback; lines in the NSS key log format):
  // keeps a TLS 1.3 session's SERVER_TRAFFIC_SECRET_0 for its record writer's key updates.
  // Thread: the session's shard (OpenSSL calls it inside that session's handshake).
  static void keylog(const SSL* ssl, const char* line);
  // The keys for setsockopt(SOL_TLS, TLS_TX), moved past every record written under them so far,
  // into *info (*size: the bytes TLS_TX reads). Only while kernel_pending(), established and
  // !has_output(). False with *why when the switch must not happen (a key update is owed to the
  // client: OpenSSL sends it with the next record, in userspace); then call kernel_declined().
  // The caller wipes *info (OPENSSL_cleanse) once used.
  bool kernel_keys(KernelTlsInfo* info, size_t* size, std::string* why) const;
  // The kernel took the keys: from now on the session only decrypts. limit_bytes: what the key
  // may encrypt (KernelTlsBudget; 0: the cipher's limit).
  void kernel_started(uint64_t limit_bytes);
  // The kernel refused them (or kernel_keys said no): the session stays in userspace, its keys
  // still captured for start_records() (OpenSSL, which never stopped encrypting, carries on if
  // that fails too).
  void kernel_declined();
  // Kernel mode: charges a send of `bytes` plaintext bytes to the key; false when that would pass
  // its limit (the connection must close before sending).
  bool kernel_charge(size_t bytes) { return budget_.charge(bytes); }
  const KernelTlsBudget& kernel_budget() const { return budget_; }
  // Why a session offered kernel TLS stayed in userspace ("" if it was not offered, or not yet
  // decided): for the handshake's log line.
  const char* kernel_absent_reason() const;

 private:
  friend struct TlsBio;
  // kRecords: the record writer took the keys; kDeclined: OpenSSL writes the records for good.
  enum class Kernel : uint8_t { kNotOffered, kOffered, kCaptured, kOn, kRecords, kDeclined };
  bool handshake();
  void check_kernel_after_receive();
  void fail(TlsFailure why, std::string text);
  void classify_openssl_error();
  // The staged buffer, taken from the pool first if the session holds none worth writing into.
  TlsBuffer& staging() {
    if (staged_.empty() && staged_.capacity() < TlsBufferPool::kMinKept) staged_ = pool_->get();
    return staged_;
  }

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
  TlsBuffer sending_, staged_;
  size_t sending_off_ = 0;
  size_t sending_plain_ = 0, staged_plain_ = 0;
  // Kernel TLS: the keys OpenSSL offered (wiped when freed), the records written under them since,
  // what OpenSSL wrote after the switch (an SSL3_RT_* type, for the error; 0: nothing).
  Kernel kernel_ = Kernel::kNotOffered;
  KernelTlsInfo kernel_info_{};
  KernelTlsRecords kernel_after_;
  KernelTlsBudget budget_;
  int kernel_dropped_type_ = 0;
  int kernel_dropped_handshake_ = -1;  // its handshake message type, if it was one
  bool kernel_allowed_ = false;
  // The record writer, the TLS 1.3 secret it starts from (wiped once handed over) and a
  // KeyUpdate with update_requested read from the client, still to be answered.
  TlsRecordWriter records_;
  unsigned char secret_[64] = {};
  size_t secret_len_ = 0;
  bool key_update_requested_ = false;
  bool key_update_write_expected_ = false;  // OpenSSL named its KeyUpdate before writing it
  int key_updates_read_ = 0;  // KeyUpdates read since key_updates_within_budget()
  KeyUpdateBudget key_update_budget_;
  bool keys_stale_ = false;  // OpenSSL moved past the captured keys (a KeyUpdate before the switch)
};

}  // namespace fanout
