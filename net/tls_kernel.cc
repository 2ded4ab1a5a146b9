#include "net/tls_kernel.h"

#include <algorithm>

namespace fanout {
namespace {

// Adds n to a big-endian counter of `len` bytes (wrapping, as the kernel's tls_bigint_increment).
void add_big_endian(unsigned char* p, size_t len, uint64_t n) {
  for (size_t i = len; i-- > 0 && n != 0;) {
    const uint64_t sum = p[i] + (n & 0xff);
    p[i] = static_cast<unsigned char>(sum);
    n = (n >> 8) + (sum >> 8);
  }
}

bool known_version(const KernelTlsInfo& info) {
  return info.base.version == TLS_1_2_VERSION || info.base.version == TLS_1_3_VERSION;
}

}  // namespace

size_t kernel_tls_info_size(const KernelTlsInfo& info) {
  if (!known_version(info)) return 0;
  switch (info.base.cipher_type) {
    case TLS_CIPHER_AES_GCM_128: return sizeof(info.gcm128);
    case TLS_CIPHER_AES_GCM_256: return sizeof(info.gcm256);
    case TLS_CIPHER_CHACHA20_POLY1305: return sizeof(info.chacha);
    default: return 0;
  }
}

const char* kernel_tls_cipher_name(const KernelTlsInfo& info) {
  switch (info.base.cipher_type) {
    case TLS_CIPHER_AES_GCM_128: return "AES-128-GCM";
    case TLS_CIPHER_AES_GCM_256: return "AES-256-GCM";
    case TLS_CIPHER_CHACHA20_POLY1305: return "ChaCha20-Poly1305";
    default: return "unknown";
  }
}

void kernel_tls_advance(KernelTlsInfo* info, uint64_t records) {
  if (records == 0) return;
  const bool tls12 = info->base.version == TLS_1_2_VERSION;
  switch (info->base.cipher_type) {
    case TLS_CIPHER_AES_GCM_128:
      add_big_endian(info->gcm128.rec_seq, sizeof(info->gcm128.rec_seq), records);
      if (tls12) add_big_endian(info->gcm128.iv, sizeof(info->gcm128.iv), records);
      break;
    case TLS_CIPHER_AES_GCM_256:
      add_big_endian(info->gcm256.rec_seq, sizeof(info->gcm256.rec_seq), records);
      if (tls12) add_big_endian(info->gcm256.iv, sizeof(info->gcm256.iv), records);
      break;
    case TLS_CIPHER_CHACHA20_POLY1305:
      // The nonce is the IV XOR the sequence number (RFC 7905 section 2; RFC 8446 section 5.3).
      add_big_endian(info->chacha.rec_seq, sizeof(info->chacha.rec_seq), records);
      break;
    default: break;
  }
}

void KernelTlsRecords::feed(const char* data, size_t n) {
  const auto* p = reinterpret_cast<const unsigned char*>(data);
  while (n > 0) {
    if (left_ > 0) {
      const size_t k = std::min(left_, n);
      left_ -= k;
      p += k;
      n -= k;
      if (left_ == 0) ++records_;
      continue;
    }
    header_[have_++] = *p++;
    --n;
    if (have_ < sizeof(header_)) continue;
    have_ = 0;
    left_ = (static_cast<size_t>(header_[3]) << 8) | header_[4];
    bytes_ += sizeof(header_) + left_;
    if (left_ == 0) ++records_;  // an empty record (never written by OpenSSL, counted all the same)
  }
}

void KernelTlsBudget::start(const KernelTlsInfo& info, uint64_t override_bytes) {
  used_ = 0;
  if (override_bytes != 0) {
    limit_ = override_bytes;
  } else {
    limit_ = info.base.cipher_type == TLS_CIPHER_CHACHA20_POLY1305 ? kNoLimit : kAesGcmLimit;
  }
}

bool KernelTlsBudget::charge(size_t bytes) {
  const uint64_t records = bytes / 16'384 + 1;
  const uint64_t cost = bytes + 32 * records;
  if (cost > limit_ - std::min(used_, limit_)) return false;
  used_ += cost;
  return true;
}

void KernelTlsBudget::charge_records(uint64_t records, uint64_t bytes) { used_ += bytes + 32 * records; }

}  // namespace fanout
