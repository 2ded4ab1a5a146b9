// Throwaway certificates for the TLS tests, made with libcrypto (no openssl CLI): a CA, server and
// client certificates it signs, and files for TlsContext::build. EC P-256 keys, so a PKI takes
// milliseconds. Thread: any (each call builds its own objects).
#pragma once

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <cstdio>
#include <cstdlib>
#include <string>

namespace fanout::test {

struct TestCert {
  EVP_PKEY* key = nullptr;
  X509* cert = nullptr;
  ~TestCert() {
    EVP_PKEY_free(key);
    X509_free(cert);
  }
};

inline void add_ext(X509* cert, X509* issuer, int nid, const char* value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
  X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value);
  X509_add_ext(cert, ext, -1);
  X509_EXTENSION_free(ext);
}

// A certificate for `cn`, signed by `ca` (self-signed when ca is null), valid from
// `from_days` to `to_days` relative to now (negative: in the past).
inline void make_cert(TestCert* out, const char* cn, const TestCert* ca, long from_days = -1, long to_days = 30,
                      const char* san = nullptr, bool is_ca = false) {
  out->key = EVP_EC_gen("P-256");
  out->cert = X509_new();
  X509_set_version(out->cert, 2);
  static long serial = 1;
  ASN1_INTEGER_set(X509_get_serialNumber(out->cert), serial++);
  X509_gmtime_adj(X509_getm_notBefore(out->cert), from_days * 86400);
  X509_gmtime_adj(X509_getm_notAfter(out->cert), to_days * 86400);
  X509_set_pubkey(out->cert, out->key);
  X509_NAME* name = X509_get_subject_name(out->cert);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, reinterpret_cast<const unsigned char*>(cn), -1, -1, 0);
  X509_set_issuer_name(out->cert, ca ? X509_get_subject_name(ca->cert) : name);
  X509* issuer = ca ? ca->cert : out->cert;
  if (is_ca) {
    add_ext(out->cert, issuer, NID_basic_constraints, "critical,CA:TRUE");
    add_ext(out->cert, issuer, NID_key_usage, "critical,keyCertSign,cRLSign");
  }
  if (san) add_ext(out->cert, issuer, NID_subject_alt_name, san);
  X509_sign(out->cert, ca ? ca->key : out->key, EVP_sha256());
}

inline std::string write_pem(const std::string& path, X509* cert) {
  FILE* f = std::fopen(path.c_str(), "w");
  PEM_write_X509(f, cert);
  std::fclose(f);
  return path;
}

inline std::string write_pem(const std::string& path, EVP_PKEY* key) {
  FILE* f = std::fopen(path.c_str(), "w");
  PEM_write_PrivateKey(f, key, nullptr, nullptr, 0, nullptr, nullptr);
  std::fclose(f);
  return path;
}

// A directory for files of one test: $TEST_TMPDIR (Bazel) or /tmp.
inline std::string test_dir() {
  const char* d = std::getenv("TEST_TMPDIR");
  return d ? d : "/tmp";
}

// A CA, a server certificate for 127.0.0.1/localhost and a client certificate, as files.
struct TestPki {
  TestCert ca, server, client;
  std::string ca_file, server_cert_file, server_key_file, client_cert_file, client_key_file;
  explicit TestPki(const std::string& prefix = "pki") {
    make_cert(&ca, "Fanout Test CA", nullptr, -1, 30, nullptr, true);
    make_cert(&server, "localhost", &ca, -1, 30, "DNS:localhost,IP:127.0.0.1");
    make_cert(&client, "fanout-client", &ca);
    const std::string base = test_dir() + "/" + prefix + "-";
    ca_file = write_pem(base + "ca.crt", ca.cert);
    server_cert_file = write_pem(base + "server.crt", server.cert);
    server_key_file = write_pem(base + "server.key", server.key);
    client_cert_file = write_pem(base + "client.crt", client.cert);
    client_key_file = write_pem(base + "client.key", client.key);
  }
};

}  // namespace fanout::test
