// Kernel TLS for sending ("kTLS TX", Linux Documentation/networking/tls.rst): once a session's
// handshake is done and its last userspace record is sent, the kernel encrypts what the connection
// sends, and the queue's plaintext iovecs go to the backend's send unchanged (epoll and io_uring
// alike). Receiving stays in userspace: OpenSSL decrypts, which keeps close_notify, key updates
// and alerts from the client readable.
//
// Where the keys come from. OpenSSL 3.0 (ssl/t1_enc.c tls1_change_cipher_state, ssl/tls13_enc.c
// tls13_change_cipher_state, ssl/ktls.c ktls_configure_crypto), when SSL_OP_ENABLE_KTLS is set
// and the cipher is one the kernel takes, fills Linux's struct tls12_crypto_info_* for the new
// write key and offers it to its write BIO with BIO_ctrl(BIO_CTRL_SET_KTLS, is_tx, &info). Our BIO
// (tls_session.cc) copies it and answers 0: OpenSSL then carries on encrypting in userspace as if
// kTLS were unavailable, its state intact. That is the point of refusing:
//   - the handshake's own records written under the new key after the offer (TLS 1.3: the
//     NewSessionTickets; TLS 1.2: the server's Finished, which OpenSSL writes *after* changing the
//     key and which a kTLS socket BIO would hand the kernel as a control record) stay ordinary
//     ciphertext in our buffer; we count them (KernelTlsRecords) and advance the record sequence
//     (and TLS 1.2 AES-GCM's explicit nonce) past them before giving the keys to the kernel;
//   - if the kernel refuses the keys (setsockopt fails: no tls module, ENOMEM), the connection
//     simply stays in userspace: OpenSSL never stopped encrypting.
// After the switch OpenSSL's idea of the write sequence is stale, so nothing it writes may be
// sent again: its later records (an alert, a KeyUpdate) are dropped and the connection closed.
//
// What the kernel does not do, and how it is handled:
//   - TLS 1.3 KeyUpdate (RFC 8446 section 4.6.3): the kernel keeps one key (Linux 6.14 can rekey,
//     OpenSSL 3.0 cannot drive it). A client that requests our update is closed; a client that
//     updates only its own key is fine (we decrypt in userspace).
//   - The limit on data encrypted under one key (RFC 8446 section 5.5: 2^24.5 full-size records
//     for AES-GCM): counted per connection (KernelTlsBudget), closed before it is reached.
//   - Session tickets, alerts, renegotiation after the switch: not sent (see above); TLS 1.3
//     tickets are sent before the switch, so clients still resume.
// Thread: any; each object belongs to its session's shard.
#pragma once

#include <linux/tls.h>

#include <cstddef>
#include <cstdint>

namespace fanout {

// The crypto_info TLS_TX takes: Linux's structures for the ciphers Fanout hands to the kernel.
union KernelTlsInfo {
  struct tls_crypto_info base;  // version (0x0303, 0x0304) and cipher_type
  struct tls12_crypto_info_aes_gcm_128 gcm128;
  struct tls12_crypto_info_aes_gcm_256 gcm256;
  struct tls12_crypto_info_chacha20_poly1305 chacha;
};

// The bytes of `info` setsockopt(TLS_TX) reads for its cipher: 0 for a cipher Fanout does not
// give the kernel (anything but AES-128-GCM, AES-256-GCM, ChaCha20-Poly1305, or a version other
// than TLS 1.2 or 1.3).
size_t kernel_tls_info_size(const KernelTlsInfo& info);
// "AES-128-GCM", "AES-256-GCM", "ChaCha20-Poly1305" or "unknown".
const char* kernel_tls_cipher_name(const KernelTlsInfo& info);
// Moves `info` past `records` records written under its key: the record sequence number, and for
// TLS 1.2 AES-GCM the explicit nonce the kernel sends and increments per record (Linux
// net/tls/tls.h tls_advance_record_sn; OpenSSL increments its own the same way), both big-endian.
void kernel_tls_advance(KernelTlsInfo* info, uint64_t records);

// Counts the TLS records in a stream of ciphertext handed over in pieces of any size (headers of
// RFC 8446 section 5.1: type, version, 16-bit length). Pure.
class KernelTlsRecords {
 public:
  void feed(const char* data, size_t n);
  uint64_t records() const { return records_; }  // complete records
  uint64_t bytes() const { return bytes_; }      // of those records, headers included
  bool mid_record() const { return have_ != 0 || left_ != 0; }

 private:
  unsigned char header_[5] = {};
  size_t have_ = 0;  // header bytes of the current record seen
  size_t left_ = 0;  // body bytes of the current record still to come
  uint64_t records_ = 0, bytes_ = 0;
};

// What one key may still encrypt, in bytes of "full-record equivalents". RFC 8446 section 5.5
// bounds AES-GCM at 2^24.5 full-size records per key; that analysis ([AEAD-LIMITS], Luykx and
// Paterson) counts cipher blocks, so a record is charged its plaintext plus 32 bytes (its counter
// and tag blocks) and the limit is floor(2^24.5) x (16,384 + 32) bytes, about 389 GB. Each send is
// charged as if the kernel made as many records as it can from it (bytes / 16 KiB + 1): an upper
// bound. ChaCha20-Poly1305 has no practical limit (RFC 8446: more than 2^64 records). Pure.
class KernelTlsBudget {
 public:
  static constexpr uint64_t kAesGcmLimit = 23'726'566ull * (16'384 + 32);
  static constexpr uint64_t kNoLimit = UINT64_MAX;
  // The limit for info's cipher, or `override` bytes when nonzero (tests).
  void start(const KernelTlsInfo& info, uint64_t override_bytes);
  // Charges a send of `bytes` plaintext bytes; false if it would pass the limit (nothing charged).
  bool charge(size_t bytes);
  // Charges records already written under the key (the handshake's), `bytes` with headers.
  void charge_records(uint64_t records, uint64_t bytes);
  uint64_t used() const { return used_; }
  uint64_t limit() const { return limit_; }

 private:
  uint64_t used_ = 0, limit_ = kNoLimit;
};

}  // namespace fanout
