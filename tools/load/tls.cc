#include "tools/load/tls.h"

#include <openssl/err.h>
#include <openssl/x509v3.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace fanout::load {
namespace {

// OpenSSL's first queued error as its reason ("no such file", "tlsv13 alert certificate
// required"), or `fallback`; clears the queue.
std::string openssl_reason(const char* fallback) {
  unsigned long e = ERR_get_error();
  ERR_clear_error();
  if (e == 0) return fallback;
  if (ERR_SYSTEM_ERROR(e)) return std::strerror(ERR_GET_REASON(e));
  if (const char* r = ERR_reason_error_string(e)) return r;
  char buf[256];
  ERR_error_string_n(e, buf, sizeof(buf));
  return buf;
}

// The password callback for encrypted keys: none is given, so decryption fails at once instead
// of prompting on the terminal.
int no_password(char*, int, int, void*) { return -1; }

bool is_ip_literal(const std::string& s) {
  ASN1_OCTET_STRING* ip = a2i_IPADDRESS(s.c_str());
  if (!ip) return false;
  ASN1_OCTET_STRING_free(ip);
  return true;
}

// Sets `ms` as the receive and send timeout of blocking socket fd.
void set_timeouts(int fd, int ms) {
  struct timeval tv {ms / 1000, (ms % 1000) * 1000};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
}

}  // namespace

std::unique_ptr<TlsClient> TlsClient::create(const Options& o, std::string* err) {
  std::unique_ptr<TlsClient> c(new TlsClient());
  ERR_clear_error();
  c->ctx_ = SSL_CTX_new(TLS_client_method());
  if (!c->ctx_) {
    *err = "TLS: cannot make a client context: " + openssl_reason("out of memory");
    return nullptr;
  }
  SSL_CTX* ctx = c->ctx_;
  SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
  SSL_CTX_set_default_passwd_cb(ctx, no_password);
  if (!o.tls_ca.empty()) {
    if (SSL_CTX_load_verify_locations(ctx, o.tls_ca.c_str(), nullptr) != 1) {
      *err = "--tls-ca " + o.tls_ca + ": cannot load CA certificates: " + openssl_reason("no certificate found");
      return nullptr;
    }
  } else if (SSL_CTX_set_default_verify_paths(ctx) != 1) {
    *err = "TLS: cannot load the system's CA certificates (give --tls-ca): " + openssl_reason("unknown error");
    return nullptr;
  }
  if (!o.tls_cert.empty()) {
    if (SSL_CTX_use_certificate_chain_file(ctx, o.tls_cert.c_str()) != 1) {
      *err = "--tls-cert " + o.tls_cert + ": cannot load the certificate: " + openssl_reason("no certificate found");
      return nullptr;
    }
    if (SSL_CTX_use_PrivateKey_file(ctx, o.tls_key.c_str(), SSL_FILETYPE_PEM) != 1) {
      std::string why = openssl_reason("no key found");
      if (why.find("mismatch") != std::string::npos) why = "it does not belong to --tls-cert " + o.tls_cert;
      if (why.find("password") != std::string::npos || why.find("decrypt") != std::string::npos ||
          why.find("interrupted") != std::string::npos) {
        why += " (is it encrypted? fanout-load takes unencrypted keys only)";
      }
      *err = "--tls-key " + o.tls_key + ": cannot use the private key: " + why;
      return nullptr;
    }
    if (SSL_CTX_check_private_key(ctx) != 1) {
      *err = "--tls-key " + o.tls_key + " does not belong to --tls-cert " + o.tls_cert + ": " +
             openssl_reason("key mismatch");
      return nullptr;
    }
  }
  SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, nullptr);
  // What the server's certificate must name: the SNI name if given, else the target as typed.
  const std::string name = o.tls_sni.empty() ? o.host : o.tls_sni;
  X509_VERIFY_PARAM* param = SSL_CTX_get0_param(ctx);
  bool named = is_ip_literal(name) ? X509_VERIFY_PARAM_set1_ip_asc(param, name.c_str()) == 1
                                   : X509_VERIFY_PARAM_set1_host(param, name.c_str(), name.size()) == 1;
  if (!named) {
    *err = "TLS: cannot check certificates for '" + name + "': " + openssl_reason("invalid name");
    return nullptr;
  }
  X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
  // SNI never carries an IP address (RFC 6066 section 3).
  c->sni_ = !o.tls_sni.empty() ? o.tls_sni : (is_ip_literal(o.host) ? "" : o.host);
  // Writes resume from the connection's output buffer, which may have grown (and moved) since a
  // write wanted to be retried; read-ahead takes a socket's bytes in one recv, not two per record.
  SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
  SSL_CTX_set_read_ahead(ctx, 1);
  return c;
}

TlsClient::~TlsClient() { SSL_CTX_free(ctx_); }

SSL* TlsClient::new_session(int fd) const {
  SSL* ssl = SSL_new(ctx_);
  if (!ssl) return nullptr;
  if (SSL_set_fd(ssl, fd) != 1 || (!sni_.empty() && SSL_set_tlsext_host_name(ssl, sni_.c_str()) != 1)) {
    SSL_free(ssl);
    return nullptr;
  }
  SSL_set_connect_state(ssl);
  return ssl;
}

std::string TlsClient::describe_failure(SSL* ssl, int ssl_error, int errno_value) {
  long v = ssl ? SSL_get_verify_result(ssl) : X509_V_OK;
  if (v != X509_V_OK) {
    ERR_clear_error();
    return std::string("server certificate verification failed: ") + X509_verify_cert_error_string(v);
  }
  switch (ssl_error) {
    case SSL_ERROR_ZERO_RETURN:
      ERR_clear_error();
      return "the server ended the TLS session";
    case SSL_ERROR_SYSCALL:
      if (ERR_peek_error() == 0) {
        return errno_value ? std::string(std::strerror(errno_value)) : "the server closed the connection";
      }
      [[fallthrough]];
    default: {
      std::string r = openssl_reason("unknown TLS error");
      if (r.find("certificate required") != std::string::npos) {
        r += " (the server wants a client certificate: --tls-cert and --tls-key)";
      }
      return r;
    }
  }
}

void TlsClient::note_failure(const std::string& message) {
  failures_.fetch_add(1, std::memory_order_relaxed);
  std::lock_guard<std::mutex> lock(mu_);
  if (first_failure_.empty()) first_failure_ = message;
}

std::string TlsClient::first_failure() const {
  std::lock_guard<std::mutex> lock(mu_);
  return first_failure_;
}

bool TlsClient::request(const Target& t, std::string_view request, bool (*complete)(const std::string&),
                        int timeout_ms, std::string* reply, TlsSessionInfo* info, std::string* err) const {
  int fd = connect_target(t, 0);
  if (fd < 0) {
    *err = std::string("cannot connect: ") + std::strerror(errno);
    return false;
  }
  set_timeouts(fd, timeout_ms);
  SSL* ssl = new_session(fd);
  bool ok = false;
  // Each step: the OpenSSL call, then on failure why (a timeout shows as WANT_READ/WRITE on a
  // blocking socket with SO_RCVTIMEO).
  auto failed = [&](const char* step, int ret) {
    int saved = errno;
    int e = SSL_get_error(ssl, ret);
    *err = std::string(step) + ": " +
           (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE
                ? "no answer within " + std::to_string(timeout_ms) + " ms"
                : describe_failure(ssl, e, saved));
  };
  if (!ssl) {
    *err = "cannot make a TLS session: " + openssl_reason("out of memory");
  } else if (int r = SSL_connect(ssl); r != 1) {
    failed("handshake", r);
  } else {
    if (info) *info = {SSL_get_version(ssl), SSL_get_cipher_name(ssl)};
    size_t written = 0;
    if (int w = SSL_write_ex(ssl, request.data(), request.size(), &written); w != 1) {
      failed("sending", w);
      // TLS 1.3: the server checks the client's certificate after the client's handshake is
      // over, so its refusal (an alert, then the close that makes this write fail) may be
      // waiting to be read: that is the reason to give.
      char buf[256];
      size_t n = 0;
      ERR_clear_error();
      if (int rr = SSL_read_ex(ssl, buf, sizeof(buf), &n); rr != 1 && SSL_get_error(ssl, rr) == SSL_ERROR_SSL) {
        *err = "after the handshake: " + describe_failure(ssl, SSL_ERROR_SSL, 0);
      }
      ERR_clear_error();
    } else {
      char buf[16384];
      reply->clear();
      while (!complete(*reply)) {
        size_t n = 0;
        if (int rr = SSL_read_ex(ssl, buf, sizeof(buf), &n); rr != 1) {
          failed("reading the reply", rr);
          break;
        }
        reply->append(buf, n);
      }
      ok = complete(*reply);
    }
    if (ok) SSL_shutdown(ssl);  // close_notify, not waiting for the server's
  }
  SSL_free(ssl);
  ::close(fd);
  return ok;
}

std::string tls_probe(const TlsClient& tls, const Target& t, const std::string& where, TlsSessionInfo* info) {
  std::string reply, err;
  auto line = [](const std::string& s) { return s.find("\r\n") != std::string::npos; };
  if (!tls.request(t, "*1\r\n$4\r\nPING\r\n", line, 5000, &reply, info, &err)) return "TLS with " + where + ": " + err;
  if (reply.rfind("+PONG\r\n", 0) != 0) {
    return "TLS with " + where + " works, but PING was answered with " + reply.substr(0, reply.find("\r\n"));
  }
  return "";
}

}  // namespace fanout::load
