// An emulation of the kernel's TLS_TX record encryption for tests (tls_kernel_test): given the
// crypto_info a session would hand to setsockopt(SOL_TLS, TLS_TX), it builds the records Linux's
// net/tls/tls_sw.c would send, with EVP, so that an OpenSSL client can check them. Thread: any.
#pragma once

#include <gtest/gtest.h>
#include <openssl/evp.h>

#include <cstring>
#include <string>
#include <utility>
#include <vector>

#include "net/tls_kernel.h"

namespace fanout::test {

// The kernel's side of TLS_TX, from the crypto_info alone: records of up to 16 KiB of application
// data, as Linux's tls_sw.c builds them (tls_fill_prepend, tls_make_aad, tls_xor_iv_with_seq,
// tls_advance_record_sn), encrypted with EVP.
class KernelEmulator {
 public:
  explicit KernelEmulator(const KernelTlsInfo& info) : info_(info) {}

  std::string send(const std::string& plain) {
    std::string out;
    for (size_t at = 0; at < plain.size(); at += 16384) out += record(plain.substr(at, 16384));
    return out;
  }

 private:
  static void increment(unsigned char* p, size_t len) {
    for (size_t i = len; i-- > 0;) {
      if (++p[i] != 0) break;
    }
  }
  std::string record(const std::string& chunk) {
    const bool tls13 = info_.base.version == TLS_1_3_VERSION;
    const bool chacha = info_.base.cipher_type == TLS_CIPHER_CHACHA20_POLY1305;
    const EVP_CIPHER* cipher = chacha ? EVP_chacha20_poly1305()
                               : info_.base.cipher_type == TLS_CIPHER_AES_GCM_128 ? EVP_aes_128_gcm()
                                                                                 : EVP_aes_256_gcm();
    unsigned char* key = chacha ? info_.chacha.key
                         : info_.base.cipher_type == TLS_CIPHER_AES_GCM_128 ? info_.gcm128.key
                                                                           : info_.gcm256.key;
    unsigned char* iv = chacha ? info_.chacha.iv
                        : info_.base.cipher_type == TLS_CIPHER_AES_GCM_128 ? info_.gcm128.iv
                                                                          : info_.gcm256.iv;
    unsigned char* salt = info_.base.cipher_type == TLS_CIPHER_AES_GCM_128 ? info_.gcm128.salt : info_.gcm256.salt;
    unsigned char* seq = chacha ? info_.chacha.rec_seq
                         : info_.base.cipher_type == TLS_CIPHER_AES_GCM_128 ? info_.gcm128.rec_seq
                                                                           : info_.gcm256.rec_seq;
    unsigned char nonce[12];
    if (chacha) {
      std::memcpy(nonce, iv, 12);
    } else {
      std::memcpy(nonce, salt, 4);
      std::memcpy(nonce + 4, iv, 8);
    }
    if (tls13 || chacha) {
      for (int i = 0; i < 8; ++i) nonce[4 + i] ^= seq[i];
    }
    std::string inner = chunk;
    if (tls13) inner += '\x17';  // the inner content type: application data
    const bool explicit_nonce = !tls13 && !chacha;
    const size_t body = (explicit_nonce ? 8 : 0) + inner.size() + 16;
    const unsigned char header[5] = {0x17, 0x03, 0x03, static_cast<unsigned char>(body >> 8),
                                     static_cast<unsigned char>(body)};
    std::string aad;
    if (tls13) {
      aad.assign(reinterpret_cast<const char*>(header), 5);
    } else {
      aad.assign(reinterpret_cast<const char*>(seq), 8);
      aad += std::string("\x17\x03\x03", 3);
      aad += static_cast<char>(chunk.size() >> 8);
      aad += static_cast<char>(chunk.size());
    }
    EVP_CIPHER_CTX* ctx = EVP_CIPHER_CTX_new();
    int len = 0;
    std::string ct(inner.size(), '\0');
    unsigned char tag[16];
    EXPECT_EQ(EVP_EncryptInit_ex(ctx, cipher, nullptr, key, nonce), 1);
    EXPECT_EQ(EVP_EncryptUpdate(ctx, nullptr, &len, reinterpret_cast<const unsigned char*>(aad.data()),
                                static_cast<int>(aad.size())), 1);
    EXPECT_EQ(EVP_EncryptUpdate(ctx, reinterpret_cast<unsigned char*>(ct.data()), &len,
                                reinterpret_cast<const unsigned char*>(inner.data()), static_cast<int>(inner.size())),
              1);
    EXPECT_EQ(EVP_EncryptFinal_ex(ctx, nullptr, &len), 1);
    EXPECT_EQ(EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_GET_TAG, 16, tag), 1);
    EVP_CIPHER_CTX_free(ctx);
    std::string rec(reinterpret_cast<const char*>(header), 5);
    if (explicit_nonce) rec.append(reinterpret_cast<const char*>(iv), 8);
    rec += ct;
    rec.append(reinterpret_cast<const char*>(tag), 16);
    increment(seq, 8);
    if (explicit_nonce) increment(iv, 8);  // the kernel sends its IV and counts it up per record
    return rec;
  }

  KernelTlsInfo info_;
};

// The records of a ciphertext stream: (type, whole record with its header).
inline std::vector<std::pair<int, std::string>> records_of(const std::string& bytes) {
  std::vector<std::pair<int, std::string>> out;
  size_t at = 0;
  while (at + 5 <= bytes.size()) {
    const size_t len = (static_cast<unsigned char>(bytes[at + 3]) << 8) | static_cast<unsigned char>(bytes[at + 4]);
    out.emplace_back(static_cast<unsigned char>(bytes[at]), bytes.substr(at, 5 + len));
    at += 5 + len;
  }
  return out;
}

}  // namespace fanout::test
