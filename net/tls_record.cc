#include "net/tls_record.h"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/kdf.h>
#include <openssl/params.h>
#include <openssl/ssl.h>

#include <algorithm>
#include <cstring>

namespace fanout {
namespace {

constexpr size_t kMaxPlain = 16384;  // RFC 8446 section 5.1: 2^14 bytes of plaintext per record
constexpr size_t kTagLen = 16;       // AES-GCM and ChaCha20-Poly1305 tags
constexpr size_t kHeaderLen = 5;

void increment(unsigned char* p, size_t len) {
  for (size_t i = len; i-- > 0;) {
    if (++p[i] != 0) break;
  }
}

// HKDF-Expand-Label(secret, label, "", out_len) of RFC 8446 section 7.1, by OpenSSL's TLS13-KDF.
bool expand_label(const EVP_MD* md, const unsigned char* secret, size_t secret_len, const char* label,
                  unsigned char* out, size_t out_len) {
  EVP_KDF* kdf = EVP_KDF_fetch(nullptr, OSSL_KDF_NAME_TLS1_3_KDF, nullptr);
  if (kdf == nullptr) return false;
  EVP_KDF_CTX* k = EVP_KDF_CTX_new(kdf);
  EVP_KDF_free(kdf);
  if (k == nullptr) return false;
  int mode = EVP_KDF_HKDF_MODE_EXPAND_ONLY;
  static const char kPrefix[] = "tls13 ";
  OSSL_PARAM params[] = {
      OSSL_PARAM_construct_int(OSSL_KDF_PARAM_MODE, &mode),
      OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, const_cast<char*>(EVP_MD_get0_name(md)), 0),
      OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, const_cast<unsigned char*>(secret), secret_len),
      OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_PREFIX, const_cast<char*>(kPrefix), sizeof(kPrefix) - 1),
      OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_LABEL, const_cast<char*>(label), std::strlen(label)),
      OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_DATA, const_cast<char*>(""), 0),
      OSSL_PARAM_construct_end(),
  };
  const bool ok = EVP_KDF_derive(k, out, out_len, params) == 1;
  EVP_KDF_CTX_free(k);
  return ok;
}

// The AEADs, fetched once (OpenSSL's crypto(7), "Explicit fetching": EVP_aes_128_gcm() and the
// like make every EVP_EncryptInit_ex fetch the implementation again). Shared by every shard:
// fetched EVP_CIPHERs are immutable and reference-counted; never freed.
const EVP_CIPHER* fetched(const char* name) { return EVP_CIPHER_fetch(nullptr, name, nullptr); }
const EVP_CIPHER* aes_128_gcm() {
  static const EVP_CIPHER* c = fetched("AES-128-GCM");
  return c;
}
const EVP_CIPHER* aes_256_gcm() {
  static const EVP_CIPHER* c = fetched("AES-256-GCM");
  return c;
}
const EVP_CIPHER* chacha20_poly1305() {
  static const EVP_CIPHER* c = fetched("ChaCha20-Poly1305");
  return c;
}

}  // namespace

TlsRecordWriter::~TlsRecordWriter() { wipe(); }

void TlsRecordWriter::wipe() {
  if (ctx_ != nullptr) EVP_CIPHER_CTX_free(ctx_);  // clears the key schedule
  ctx_ = nullptr;
  OPENSSL_cleanse(iv_, sizeof(iv_));
  OPENSSL_cleanse(secret_, sizeof(secret_));
  secret_len_ = 0;
}

bool TlsRecordWriter::set_key(const unsigned char* key, const unsigned char* iv12) {
  std::memcpy(iv_, iv12, sizeof(iv_));
  return EVP_EncryptInit_ex(ctx_, nullptr, nullptr, key, nullptr) == 1;
}

bool TlsRecordWriter::start(const KernelTlsInfo& info, const unsigned char* secret, size_t secret_len,
                            const EVP_MD* md, std::string* why) {
  wipe();
  tls13_ = info.base.version == TLS_1_3_VERSION;
  if (!tls13_ && info.base.version != TLS_1_2_VERSION) {
    *why = "not TLS 1.2 or 1.3";
    return false;
  }
  const EVP_CIPHER* cipher = nullptr;
  const unsigned char* key = nullptr;
  const unsigned char* seq = nullptr;
  unsigned char iv[12];
  // AES-GCM's 12-byte IV is Linux's salt (4 bytes) then its iv (8).
  auto gcm = [&](const auto& g, const EVP_CIPHER* c) {
    cipher = c;
    key = g.key;
    seq = g.rec_seq;
    std::memcpy(iv, g.salt, 4);
    std::memcpy(iv + 4, g.iv, 8);
  };
  switch (info.base.cipher_type) {
    case TLS_CIPHER_AES_GCM_128:
      gcm(info.gcm128, aes_128_gcm());
      break;
    case TLS_CIPHER_AES_GCM_256:
      gcm(info.gcm256, aes_256_gcm());
      break;
    case TLS_CIPHER_CHACHA20_POLY1305:
      cipher = chacha20_poly1305();
      key = info.chacha.key;
      seq = info.chacha.rec_seq;
      std::memcpy(iv, info.chacha.iv, 12);
      break;
    default:
      *why = "a cipher Fanout does not write records for";
      return false;
  }
  if (cipher == nullptr) {
    *why = "OpenSSL's default provider has no such cipher";
    return false;
  }
  explicit_nonce_ = !tls13_ && info.base.cipher_type != TLS_CIPHER_CHACHA20_POLY1305;
  key_len_ = static_cast<size_t>(EVP_CIPHER_get_key_length(cipher));
  std::memcpy(seq_, seq, sizeof(seq_));
  ctx_ = EVP_CIPHER_CTX_new();
  const bool ok = ctx_ != nullptr && EVP_EncryptInit_ex(ctx_, cipher, nullptr, nullptr, nullptr) == 1 &&
                  EVP_CIPHER_CTX_ctrl(ctx_, EVP_CTRL_AEAD_SET_IVLEN, 12, nullptr) == 1 && set_key(key, iv);
  OPENSSL_cleanse(iv, sizeof(iv));
  if (!ok) {
    wipe();
    *why = "EVP could not set the key up";
    return false;
  }
  cipher_ = KernelTlsInfo{};
  cipher_.base = info.base;
  budget_.start(cipher_, key_limit_bytes_);
  if (tls13_ && secret != nullptr && secret_len <= sizeof(secret_) && md != nullptr) {
    std::memcpy(secret_, secret, secret_len);
    secret_len_ = secret_len;
    md_ = md;
  }
  return true;
}

bool TlsRecordWriter::seal_record(uint8_t type, const struct iovec*& iov, size_t& off, size_t len,
                                  TlsBuffer* out) {
  const size_t inner = len + (tls13_ ? 1 : 0);
  const size_t body = (explicit_nonce_ ? 8 : 0) + inner + kTagLen;
  auto* p = reinterpret_cast<unsigned char*>(out->extend(kHeaderLen + body));
  // TLS 1.3 hides the type inside: every record says application data (RFC 8446 section 5.2).
  p[0] = tls13_ ? SSL3_RT_APPLICATION_DATA : type;
  p[1] = 0x03;
  p[2] = 0x03;
  p[3] = static_cast<unsigned char>(body >> 8);
  p[4] = static_cast<unsigned char>(body);
  unsigned char nonce[12];
  std::memcpy(nonce, iv_, 12);
  unsigned char* data = p + kHeaderLen;
  if (explicit_nonce_) {
    std::memcpy(data, iv_ + 4, 8);  // the explicit part goes out with the record
    data += 8;
  } else {
    for (int i = 0; i < 8; ++i) nonce[4 + i] ^= seq_[i];
  }
  // Gather the plaintext into place, then encrypt it there: one copy of each byte.
  for (size_t k = 0; k < len;) {
    const size_t take = std::min(iov->iov_len - off, len - k);
    std::memcpy(data + k, static_cast<const char*>(iov->iov_base) + off, take);
    k += take;
    off += take;
    if (off == iov->iov_len) {
      ++iov;
      off = 0;
    }
  }
  if (tls13_) data[len] = type;
  unsigned char aad[13];
  size_t aad_len;
  if (tls13_) {
    std::memcpy(aad, p, kHeaderLen);
    aad_len = kHeaderLen;
  } else {
    std::memcpy(aad, seq_, 8);
    aad[8] = type;
    aad[9] = 0x03;
    aad[10] = 0x03;
    aad[11] = static_cast<unsigned char>(len >> 8);
    aad[12] = static_cast<unsigned char>(len);
    aad_len = 13;
  }
  int n = 0;
  const bool ok = EVP_EncryptInit_ex(ctx_, nullptr, nullptr, nullptr, nonce) == 1 &&
                  EVP_EncryptUpdate(ctx_, nullptr, &n, aad, static_cast<int>(aad_len)) == 1 &&
                  EVP_EncryptUpdate(ctx_, data, &n, data, static_cast<int>(inner)) == 1 &&
                  EVP_EncryptFinal_ex(ctx_, data + inner, &n) == 1 &&
                  EVP_CIPHER_CTX_ctrl(ctx_, EVP_CTRL_AEAD_GET_TAG, kTagLen, data + inner) == 1;
  increment(seq_, sizeof(seq_));
  if (explicit_nonce_) increment(iv_ + 4, 8);
  return ok;
}

void TlsRecordWriter::set_key_limit(uint64_t limit_bytes) {
  key_limit_bytes_ = limit_bytes;
  budget_.start(cipher_, key_limit_bytes_);
}

bool TlsRecordWriter::seal(const struct iovec* iov, size_t n, size_t bytes, TlsBuffer* out) {
  if (ctx_ == nullptr) return false;
  const size_t records = (bytes + kMaxPlain - 1) / kMaxPlain;
  out->reserve(out->size() + bytes + records * (kHeaderLen + 8 + 1 + kTagLen));
  size_t off = 0;
  const size_t before = out->size();
  const struct iovec* end = iov + n;
  while (iov != end && iov->iov_len == 0) ++iov;
  for (size_t left = bytes; left > 0;) {
    const size_t len = std::min(left, kMaxPlain);
    if (!seal_record(SSL3_RT_APPLICATION_DATA, iov, off, len, out)) {
      out->truncate(before);
      return false;
    }
    left -= len;
    while (iov != end && off == 0 && iov->iov_len == 0) ++iov;
  }
  return true;
}

bool TlsRecordWriter::seal_one(uint8_t type, const void* data, size_t len, TlsBuffer* out) {
  if (ctx_ == nullptr || len > kMaxPlain) return false;
  struct iovec v = {const_cast<void*>(data), len};
  const struct iovec* p = &v;
  size_t off = 0;
  const size_t before = out->size();
  budget_.charge_records(1, len);  // a KeyUpdate or an alert: tiny, and charged without a check
  if (seal_record(type, p, off, len, out)) return true;
  out->truncate(before);
  return false;
}

bool TlsRecordWriter::update_key(TlsBuffer* out, std::string* why) {
  if (ctx_ == nullptr || !tls13_ || secret_len_ == 0) {
    *why = tls13_ ? "the traffic secret is unknown" : "TLS 1.2 has no key update";
    return false;
  }
  // RFC 8446 section 4.6.3: KeyUpdate {msg_type 24, length 1, update_not_requested (0)}.
  static const unsigned char kKeyUpdate[] = {SSL3_MT_KEY_UPDATE, 0, 0, 1, 0};
  if (!seal_one(SSL3_RT_HANDSHAKE, kKeyUpdate, sizeof(kKeyUpdate), out)) {
    *why = "EVP failed sealing the KeyUpdate";
    return false;
  }
  // Section 7.2: application_traffic_secret_N+1 = HKDF-Expand-Label(secret_N, "traffic upd", "",
  // Hash.length); section 7.3: the key and IV from it.
  unsigned char next[sizeof(secret_)];
  unsigned char key[32];
  unsigned char iv[12];
  bool ok = expand_label(md_, secret_, secret_len_, "traffic upd", next, secret_len_) &&
            expand_label(md_, next, secret_len_, "key", key, key_len_) &&
            expand_label(md_, next, secret_len_, "iv", iv, sizeof(iv)) && set_key(key, iv);
  if (ok) std::memcpy(secret_, next, secret_len_);
  OPENSSL_cleanse(next, sizeof(next));
  OPENSSL_cleanse(key, sizeof(key));
  OPENSSL_cleanse(iv, sizeof(iv));
  if (!ok) {
    *why = "deriving the next traffic key failed";
    wipe();
    return false;
  }
  std::memset(seq_, 0, sizeof(seq_));
  budget_.start(cipher_, key_limit_bytes_);
  ++updates_;
  return true;
}

}  // namespace fanout
