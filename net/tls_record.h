// Fanout's own TLS record writer for a session's sending direction after the handshake: the
// record protection the kernel's TLS_TX does (Linux net/tls/tls_sw.c), done in the shard with
// OpenSSL's AEAD (EVP) from the keys OpenSSL offers for kernel TLS (net/tls_kernel.h says how they
// are taken). Why not SSL_write: OpenSSL takes one contiguous buffer, copies it into its own write
// buffer, encrypts there and copies the records into the BIO, three copies and a record layer's
// bookkeeping per record; this writer gathers the queue's shared frames straight into the send
// buffer and encrypts them in place (issue 12's notes: what TLS adds to a 1 KiB delivery's server
// CPU fell from about 1,100 to 700 ns, of which AES-256-GCM itself is about 300). Receiving, the
// handshake and every record OpenSSL writes before the switch stay OpenSSL's.
//
// Formats, by what the keys say:
//   - TLS 1.3 (RFC 8446 section 5.2): header {23, 0x0303, length}; TLSInnerPlaintext = data then
//     its real content type; nonce = IV XOR the 64-bit sequence number (section 5.3); AAD = the
//     header. AES-128-GCM, AES-256-GCM, ChaCha20-Poly1305.
//   - TLS 1.2 AES-GCM (RFC 5288 section 3, RFC 5246 section 6.2.3.3): an 8-byte explicit nonce
//     after the header (counted up per record, as OpenSSL and the kernel do); nonce = salt then it;
//     AAD = sequence, type, version, plaintext length.
//   - TLS 1.2 ChaCha20-Poly1305 (RFC 7905 section 2): nonce = IV XOR sequence, TLS 1.2's AAD.
// TLS 1.3 key update (RFC 8446 section 4.6.3): update_key() writes the KeyUpdate under the current
// key and moves to the next application traffic secret (section 7.2), so a client that requests an
// update, and the per-key limit of section 5.5, are served without closing.
// Thread: the session's shard only. Owns an EVP_CIPHER_CTX; keys are wiped when replaced or freed.
#pragma once

#include <openssl/evp.h>
#include <sys/uio.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>

#include "net/tls_kernel.h"

namespace fanout {

// Ciphertext bytes: a growable buffer whose growth leaves the new bytes unset (std::string's
// resize zeroes them: a pass over every record, 10% of a 1 KiB TLS fan-out's CPU in a profile).
// Move-only. Thread: its owner's.
class TlsBuffer {
 public:
  TlsBuffer() = default;
  TlsBuffer(TlsBuffer&& o) noexcept : p_(std::move(o.p_)), size_(o.size_), cap_(o.cap_) { o.size_ = o.cap_ = 0; }
  TlsBuffer& operator=(TlsBuffer&& o) noexcept {
    p_ = std::move(o.p_);
    size_ = o.size_;
    cap_ = o.cap_;
    o.size_ = o.cap_ = 0;
    return *this;
  }
  char* data() { return p_.get(); }
  const char* data() const { return p_.get(); }
  size_t size() const { return size_; }
  size_t capacity() const { return cap_; }
  bool empty() const { return size_ == 0; }
  void clear() { size_ = 0; }
  // Drops the bytes past n (n <= size()).
  void truncate(size_t n) { size_ = n < size_ ? n : size_; }
  void reserve(size_t n) {
    if (n <= cap_) return;
    const size_t cap = n > 2 * cap_ ? n : 2 * cap_;
    std::unique_ptr<char[]> p(new char[cap]);  // default-initialised: not zeroed
    if (size_ != 0) std::memcpy(p.get(), p_.get(), size_);
    p_ = std::move(p);
    cap_ = cap;
  }
  // n more bytes at the end, unset; returns where they begin (valid until the next growth).
  char* extend(size_t n) {
    reserve(size_ + n);
    char* at = p_.get() + size_;
    size_ += n;
    return at;
  }
  void append(const void* d, size_t n) {
    if (n != 0) std::memcpy(extend(n), d, n);
  }

 private:
  std::unique_ptr<char[]> p_;
  size_t size_ = 0, cap_ = 0;
};

class TlsRecordWriter {
 public:
  TlsRecordWriter() = default;
  ~TlsRecordWriter();
  TlsRecordWriter(const TlsRecordWriter&) = delete;
  TlsRecordWriter& operator=(const TlsRecordWriter&) = delete;

  // Takes the write keys and the sequence number of the next record (info as kernel_keys() gives
  // it). `secret`/`secret_len`: TLS 1.3's current server application traffic secret, with `md` the
  // suite's hash, for key updates (nullptr: updates are refused). False with *why if the cipher or
  // version is not one listed above or EVP fails; the writer is then unusable.
  bool start(const KernelTlsInfo& info, const unsigned char* secret, size_t secret_len, const EVP_MD* md,
             std::string* why);
  bool started() const { return ctx_ != nullptr; }

  // Appends records of application data (up to 16 KiB of plaintext each) holding the `bytes`
  // bytes of the n iovecs to *out. False only if EVP fails: *out is then as before the call (no
  // record that is not wholly encrypted is ever left in it) and the session must close, since the
  // sequence numbers of the records begun are used.
  bool seal(const struct iovec* iov, size_t n, size_t bytes, TlsBuffer* out);
  // Appends one record of `type` (SSL3_RT_ALERT, SSL3_RT_HANDSHAKE) holding len <= 16 KiB bytes;
  // false as seal().
  bool seal_one(uint8_t type, const void* data, size_t len, TlsBuffer* out);

  // TLS 1.3 only: appends a KeyUpdate (update_not_requested) under the current key, then derives
  // the next traffic secret, key and IV (RFC 8446 section 7.2) and restarts the sequence at 0.
  // False with *why on TLS 1.2 or without the secret (the caller closes the connection).
  bool update_key(TlsBuffer* out, std::string* why);
  // Charges `next_bytes` of plaintext about to be sealed to the current key, as kernel TLS charges
  // its key (KernelTlsBudget: RFC 8446 section 5.5's AES-GCM limit, ChaCha20-Poly1305 none); false
  // (nothing charged) when it would pass the limit: the caller updates the key (TLS 1.3) or closes
  // (TLS 1.2) first.
  bool charge(size_t next_bytes) { return budget_.charge(next_bytes); }
  // What one key may encrypt, bytes (0: the cipher's limit; tests set less). Before seal().
  void set_key_limit(uint64_t limit_bytes);
  // Records OpenSSL wrote under the key before the writer took it (`bytes` with headers).
  void charge_records(uint64_t records, uint64_t bytes) { budget_.charge_records(records, bytes); }
  bool tls13() const { return tls13_; }
  uint64_t key_updates() const { return updates_; }

 private:
  bool seal_record(uint8_t type, const struct iovec*& iov, size_t& off, size_t len, TlsBuffer* out);
  bool set_key(const unsigned char* key, const unsigned char* iv12);
  void wipe();

  EVP_CIPHER_CTX* ctx_ = nullptr;
  const EVP_MD* md_ = nullptr;
  bool tls13_ = false;
  bool explicit_nonce_ = false;    // TLS 1.2 AES-GCM
  size_t key_len_ = 0;             // bytes
  unsigned char iv_[12] = {};      // TLS 1.3 and ChaCha20: the static IV; TLS 1.2 GCM: salt + explicit
  unsigned char seq_[8] = {};      // big-endian record sequence number
  unsigned char secret_[64] = {};  // TLS 1.3: the current server application traffic secret
  size_t secret_len_ = 0;
  KernelTlsBudget budget_;         // what the current key has encrypted
  KernelTlsInfo cipher_{};         // only its version and cipher, for budget_.start
  uint64_t key_limit_bytes_ = 0;   // 0: the cipher's
  uint64_t updates_ = 0;
};

}  // namespace fanout
