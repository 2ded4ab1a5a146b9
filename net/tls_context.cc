#include "net/tls_context.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/x509.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "core/ascii.h"
#include "net/tls_session.h"

#ifndef TCP_ULP
#define TCP_ULP 31
#endif

namespace fanout {
namespace {

// Redis's tls-protocols words (tls.c parseProtocolsConfig), case-insensitive; empty means
// "TLSv1.2 TLSv1.3", Redis's default.
bool parse_protocols(const std::string& text, int* min_version, int* max_version, long* no_options, std::string* err) {
  static constexpr struct {
    const char* name;
    int version;
    long no_option;
  } kVersions[] = {{"tlsv1", TLS1_VERSION, SSL_OP_NO_TLSv1},
                   {"tlsv1.1", TLS1_1_VERSION, SSL_OP_NO_TLSv1_1},
                   {"tlsv1.2", TLS1_2_VERSION, SSL_OP_NO_TLSv1_2},
                   {"tlsv1.3", TLS1_3_VERSION, SSL_OP_NO_TLSv1_3}};
  bool wanted[4] = {false, false, true, true};
  if (!text.empty()) {
    std::fill(std::begin(wanted), std::end(wanted), false);
    size_t i = 0;
    while (i < text.size()) {
      while (i < text.size() && text[i] == ' ') ++i;
      size_t j = text.find(' ', i);
      if (j == std::string::npos) j = text.size();
      if (j == i) break;
      const std::string word = lowercase(std::string_view(text).substr(i, j - i));
      bool known = false;
      for (int v = 0; v < 4; ++v) {
        if (word == kVersions[v].name) wanted[v] = known = true;
      }
      if (!known) {
        *err = "--tls-protocols: unknown protocol '" + text.substr(i, j - i) +
               "' (TLSv1, TLSv1.1, TLSv1.2 or TLSv1.3, space-separated)";
        return false;
      }
      i = j;
    }
  }
  *min_version = *max_version = 0;
  *no_options = 0;
  for (int v = 0; v < 4; ++v) {
    if (wanted[v]) {
      if (*min_version == 0) *min_version = kVersions[v].version;
      *max_version = kVersions[v].version;
    } else {
      *no_options |= kVersions[v].no_option;  // a gap between the lowest and the highest
    }
  }
  if (*min_version == 0) {
    *err = "--tls-protocols names no protocol";
    return false;
  }
  return true;
}

std::string asn1_time_text(const ASN1_TIME* t) {
  BIO* b = BIO_new(BIO_s_mem());
  ASN1_TIME_print(b, t);
  char* p = nullptr;
  long n = BIO_get_mem_data(b, &p);
  std::string out(p, static_cast<size_t>(n));
  BIO_free(b);
  return out;
}

// The key file's passphrase, handed to OpenSSL's PEM reader (pem_password_cb).
int key_password(char* buf, int size, int, void* userdata) {
  const std::string* pass = static_cast<const std::string*>(userdata);
  const int n = static_cast<int>(std::min<size_t>(pass->size(), static_cast<size_t>(size)));
  std::memcpy(buf, pass->data(), static_cast<size_t>(n));
  return n;
}

}  // namespace

std::string take_openssl_errors() {
  std::string out;
  while (unsigned long e = ERR_get_error()) {
    const char* reason = ERR_reason_error_string(e);
    char buf[256];
    if (reason == nullptr) {
      ERR_error_string_n(e, buf, sizeof(buf));
      reason = buf;
    }
    if (out.find(reason) != std::string::npos) continue;
    if (!out.empty()) out += "; ";
    out += reason;
  }
  return out;
}

const char* tls_mode_name(TlsMode m) {
  switch (m) {
    case TlsMode::kNone: return "no";
    case TlsMode::kUserspace: return "userspace";
    case TlsMode::kKernel: return "kernel";
  }
  return "no";
}

TlsContext::~TlsContext() { SSL_CTX_free(ctx_); }

std::shared_ptr<TlsContext> TlsContext::build(const ServerConfig& cfg, std::string* err, std::string* warning) {
  warning->clear();
  ERR_clear_error();
  int min_version, max_version;
  long no_options;
  if (!parse_protocols(cfg.tls_protocols, &min_version, &max_version, &no_options, err)) return nullptr;
  SSL_CTX* raw = SSL_CTX_new(TLS_server_method());
  if (raw == nullptr) {
    *err = "SSL_CTX_new: " + take_openssl_errors();
    return nullptr;
  }
  std::shared_ptr<TlsContext> out(new TlsContext(raw));
  SSL_CTX* ctx = raw;
  auto fail = [&](const std::string& what) {
    *err = what + ": " + take_openssl_errors();
    return nullptr;
  };
  // As Redis: no compression (CRIME), no renegotiation (a client could make the server do a
  // handshake's work at will), a fresh ECDH key per handshake.
  SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION |
                               no_options);
  if (cfg.tls_prefer_server_ciphers) SSL_CTX_set_options(ctx, SSL_OP_CIPHER_SERVER_PREFERENCE);
  SSL_CTX_set_min_proto_version(ctx, min_version);
  SSL_CTX_set_max_proto_version(ctx, max_version);
  // Read and write buffers are given back while a connection is idle: thousands of idle TLS
  // subscribers then cost no record buffers.
  SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
  // TLS 1.3's server traffic secret, for the record writer's key updates (net/tls_record.h).
  SSL_CTX_set_keylog_callback(ctx, TlsSession::keylog);
  if (cfg.tls_session_caching) {
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_SERVER);
    SSL_CTX_sess_set_cache_size(ctx, static_cast<long>(cfg.tls_session_cache_size));
    SSL_CTX_set_timeout(ctx, static_cast<long>(cfg.tls_session_cache_timeout_s));
    static const unsigned char kContext[] = "fanout";
    SSL_CTX_set_session_id_context(ctx, kContext, sizeof(kContext) - 1);
  } else {
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
    SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET);
    SSL_CTX_set_num_tickets(ctx, 0);
  }
  if (!cfg.tls_ciphers.empty() && SSL_CTX_set_cipher_list(ctx, cfg.tls_ciphers.c_str()) != 1) {
    return fail("--tls-ciphers '" + cfg.tls_ciphers + "'");
  }
  if (!cfg.tls_ciphersuites.empty() && SSL_CTX_set_ciphersuites(ctx, cfg.tls_ciphersuites.c_str()) != 1) {
    return fail("--tls-ciphersuites '" + cfg.tls_ciphersuites + "'");
  }
  if (SSL_CTX_use_certificate_chain_file(ctx, cfg.tls_cert_file.c_str()) != 1) {
    return fail("--tls-cert-file " + cfg.tls_cert_file);
  }
  std::string pass = cfg.tls_key_file_pass;
  SSL_CTX_set_default_passwd_cb(ctx, key_password);
  SSL_CTX_set_default_passwd_cb_userdata(ctx, &pass);
  const bool key_ok = SSL_CTX_use_PrivateKey_file(ctx, cfg.tls_key_file.c_str(), SSL_FILETYPE_PEM) == 1;
  SSL_CTX_set_default_passwd_cb_userdata(ctx, nullptr);
  OPENSSL_cleanse(pass.data(), pass.size());
  if (!key_ok) {
    return fail("--tls-key-file " + cfg.tls_key_file + (cfg.tls_key_file_pass.empty() ? "" : " (with --tls-key-file-pass)"));
  }
  if (SSL_CTX_check_private_key(ctx) != 1) {
    return fail("--tls-key-file " + cfg.tls_key_file + " does not match --tls-cert-file " + cfg.tls_cert_file);
  }
  const bool have_ca = !cfg.tls_ca_cert_file.empty() || !cfg.tls_ca_cert_dir.empty();
  if (have_ca && SSL_CTX_load_verify_locations(ctx, cfg.tls_ca_cert_file.empty() ? nullptr : cfg.tls_ca_cert_file.c_str(),
                                               cfg.tls_ca_cert_dir.empty() ? nullptr : cfg.tls_ca_cert_dir.c_str()) != 1) {
    return fail("--tls-ca-cert-file/--tls-ca-cert-dir");
  }
  if (!cfg.tls_ca_cert_file.empty()) {
    // The CAs a client's certificate may come from, sent in the CertificateRequest.
    if (STACK_OF(X509_NAME)* names = SSL_load_client_CA_file(cfg.tls_ca_cert_file.c_str())) {
      SSL_CTX_set_client_CA_list(ctx, names);
    }
  }
  if (cfg.tls_auth_clients == "yes") {
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, nullptr);
  } else if (cfg.tls_auth_clients == "optional") {
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, nullptr);
  } else {
    SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, nullptr);
  }
  ERR_clear_error();
  if (min_version < TLS1_2_VERSION && max_version < TLS1_2_VERSION) {
    // OpenSSL 3's default security level has no signature algorithm for TLS 1.0 and 1.1.
    *warning = "--tls-protocols '" + cfg.tls_protocols + "' allows only TLSv1 or TLSv1.1, which OpenSSL 3 "
               "refuses at its default security level: every handshake will fail (use TLSv1.2 TLSv1.3)";
  }
  if (X509* cert = SSL_CTX_get0_certificate(ctx)) {
    char name[256];
    X509_NAME_oneline(X509_get_subject_name(cert), name, sizeof(name));
    out->subject_ = name;
    out->not_after_ = asn1_time_text(X509_get0_notAfter(cert));
    std::string expiry;
    if (X509_cmp_current_time(X509_get0_notAfter(cert)) < 0) {
      expiry = "the certificate in " + cfg.tls_cert_file + " (" + out->subject_ + ") expired on " + out->not_after_ +
               ": clients that verify it will refuse every handshake";
    } else if (X509_cmp_current_time(X509_get0_notBefore(cert)) > 0) {
      expiry = "the certificate in " + cfg.tls_cert_file + " (" + out->subject_ + ") is not valid before " +
               asn1_time_text(X509_get0_notBefore(cert)) + ": clients that verify it will refuse every handshake";
    }
    if (!expiry.empty()) *warning += (warning->empty() ? "" : "; ") + expiry;
  }
  return out;
}

KernelTlsProbe probe_kernel_tls() {
  KernelTlsProbe out;
  int listener = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  int client = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  int server = -1;
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(a);
  if (listener < 0 || client < 0 || bind(listener, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0 ||
      listen(listener, 1) != 0 || getsockname(listener, reinterpret_cast<sockaddr*>(&a), &len) != 0 ||
      connect(client, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0 ||
      (server = accept4(listener, nullptr, nullptr, SOCK_CLOEXEC)) < 0) {
    out.detail = std::string("could not make a loopback TCP pair to probe: ") + strerror(errno);
  } else if (setsockopt(server, SOL_TCP, TCP_ULP, "tls", sizeof("tls")) != 0) {
    const int e = errno;
    out.detail = std::string("setsockopt(TCP_ULP, tls): ") + strerror(e) +
                 (e == ENOENT ? ": this kernel has no tls module" : "");
  } else {
    out.available = true;
    out.detail = "the kernel's tls module is loaded";
  }
  for (int fd : {server, client, listener}) {
    if (fd >= 0) close(fd);
  }
  return out;
}

}  // namespace fanout
