#include "net/tls_session.h"

#include <openssl/bio.h>
#include <openssl/err.h>

#include <cstring>
#include <utility>

#include "net/tls_context.h"

namespace fanout {

// The BIO between a session and its buffers: reads take from the bytes receive() was given and
// report "retry" once they are used up; writes append to the staged buffer and always succeed.
struct TlsBio {
  static int write(BIO* b, const char* data, size_t n, size_t* written) {
    auto* s = static_cast<TlsSession*>(BIO_get_data(b));
    if (s->staged_.empty() && s->staged_.capacity() < TlsBufferPool::kMinKept) s->staged_ = s->pool_->get();
    s->staged_.append(data, n);
    *written = n;
    return 1;
  }
  static int read(BIO* b, char* out, size_t n, size_t* got) {
    auto* s = static_cast<TlsSession*>(BIO_get_data(b));
    BIO_clear_retry_flags(b);
    if (s->in_len_ == 0) {
      BIO_set_retry_read(b);
      *got = 0;
      return 0;
    }
    const size_t k = n < s->in_len_ ? n : s->in_len_;
    std::memcpy(out, s->in_, k);
    s->in_ += k;
    s->in_len_ -= k;
    *got = k;
    return 1;
  }
  static long ctrl(BIO*, int cmd, long, void*) {
    switch (cmd) {
      case BIO_CTRL_FLUSH: return 1;  // the staged buffer is sent by the shard
      case BIO_CTRL_PENDING:
      case BIO_CTRL_WPENDING: return 0;
      default: return 0;
    }
  }
  static int create(BIO* b) {
    BIO_set_init(b, 1);
    return 1;
  }
  static const BIO_METHOD* method() {
    // Built once, on first use (thread-safe static initialisation); never freed.
    static BIO_METHOD* m = [] {
      BIO_METHOD* bm = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "fanout-tls");
      BIO_meth_set_write_ex(bm, write);
      BIO_meth_set_read_ex(bm, read);
      BIO_meth_set_ctrl(bm, ctrl);
      BIO_meth_set_create(bm, create);
      return bm;
    }();
    return m;
  }
};

namespace {

// A renegotiation request (TLS 1.2 and earlier): OpenSSL answers it with a no_renegotiation
// warning alert (SSL_OP_NO_RENEGOTIATION) and carries on; Fanout closes such a client instead.
void on_message(int write_p, int, int content_type, const void* buf, size_t len, SSL*, void* arg) {
  if (write_p && content_type == SSL3_RT_ALERT && len == 2 &&
      static_cast<const unsigned char*>(buf)[1] == SSL_AD_NO_RENEGOTIATION) {
    *static_cast<bool*>(arg) = true;
  }
}

TlsFailure classify(int reason) {
  switch (reason) {
    case SSL_R_WRONG_VERSION_NUMBER:
    case SSL_R_HTTP_REQUEST:
    case SSL_R_HTTPS_PROXY_REQUEST:
    case SSL_R_PACKET_LENGTH_TOO_LONG:
    case SSL_R_UNKNOWN_PROTOCOL:
    case SSL_R_RECORD_LENGTH_MISMATCH:
    case SSL_R_UNEXPECTED_MESSAGE:
    case SSL_R_UNEXPECTED_RECORD:
    case SSL_R_LENGTH_MISMATCH:
      return TlsFailure::kNotTls;
    case SSL_R_PEER_DID_NOT_RETURN_A_CERTIFICATE:
    case SSL_R_CERTIFICATE_VERIFY_FAILED:
    case SSL_R_NO_CERTIFICATES_RETURNED:
    case SSL_R_SSLV3_ALERT_BAD_CERTIFICATE:
    case SSL_R_SSLV3_ALERT_CERTIFICATE_EXPIRED:
    case SSL_R_SSLV3_ALERT_CERTIFICATE_REVOKED:
    case SSL_R_SSLV3_ALERT_CERTIFICATE_UNKNOWN:
    case SSL_R_SSLV3_ALERT_UNSUPPORTED_CERTIFICATE:
    case SSL_R_TLSV1_ALERT_UNKNOWN_CA:
    case SSL_R_TLSV1_ALERT_ACCESS_DENIED:
    case SSL_R_TLSV13_ALERT_CERTIFICATE_REQUIRED:
      return TlsFailure::kCertificate;
    case SSL_R_UNSUPPORTED_PROTOCOL:
    case SSL_R_NO_SHARED_CIPHER:
    case SSL_R_NO_PROTOCOLS_AVAILABLE:
    case SSL_R_VERSION_TOO_LOW:
    case SSL_R_VERSION_TOO_HIGH:
    case SSL_R_TLSV1_ALERT_PROTOCOL_VERSION:
    case SSL_R_SSLV3_ALERT_HANDSHAKE_FAILURE:
    case SSL_R_NO_SUITABLE_SIGNATURE_ALGORITHM:
    case SSL_R_NO_SHARED_GROUPS:
      return TlsFailure::kProtocol;
    default:
      return TlsFailure::kOther;
  }
}

}  // namespace

const char* tls_failure_name(TlsFailure f) {
  switch (f) {
    case TlsFailure::kNone: return "none";
    case TlsFailure::kNotTls: return "not_tls";
    case TlsFailure::kCertificate: return "certificate";
    case TlsFailure::kProtocol: return "protocol";
    case TlsFailure::kRenegotiation: return "renegotiation";
    case TlsFailure::kOther: return "other";
  }
  return "other";
}

TlsSession::TlsSession(SSL_CTX* ctx, TlsBufferPool* pool) : ssl_(SSL_new(ctx)), pool_(pool) {
  // SSL_new fails only when memory does: the connection then cannot be served at all.
  if (ssl_ == nullptr) std::abort();
  BIO* bio = BIO_new(TlsBio::method());
  BIO_set_data(bio, this);
  SSL_set_bio(ssl_, bio, bio);  // one BIO both ways; the SSL owns it
  SSL_set_accept_state(ssl_);
  SSL_set_msg_callback(ssl_, on_message);
  SSL_set_msg_callback_arg(ssl_, &renegotiation_);
}

TlsSession::~TlsSession() {
  SSL_free(ssl_);
  pool_->put(std::move(sending_));
  pool_->put(std::move(staged_));
}

void TlsSession::fail(TlsFailure why, std::string text) {
  if (failure_ != TlsFailure::kNone) return;
  failure_ = why;
  error_ = std::move(text);
}

void TlsSession::classify_openssl_error() {
  const unsigned long e = ERR_peek_last_error();
  const TlsFailure why = e ? classify(ERR_GET_REASON(e)) : TlsFailure::kOther;
  std::string text = take_openssl_errors();
  if (text.empty()) text = "the connection ended mid-record";
  fail(why, std::move(text));
}

bool TlsSession::handshake() {
  const int r = SSL_do_handshake(ssl_);
  if (r == 1) {
    established_ = true;
    return true;
  }
  const int e = SSL_get_error(ssl_, r);
  if (e == SSL_ERROR_WANT_READ) return false;
  classify_openssl_error();
  return false;
}

TlsSession::Result TlsSession::receive(const char* data, size_t n, std::string* plain) {
  if (failure_ != TlsFailure::kNone) return Result::kError;
  ERR_clear_error();
  in_ = data;
  in_len_ = n;
  Result result = Result::kOk;
  if (!established_ && !handshake()) {
    result = failure_ != TlsFailure::kNone ? Result::kError : Result::kOk;
  }
  while (established_ && result == Result::kOk) {
    // Straight into the caller's buffer: one record's plaintext at most per call.
    const size_t at = plain->size();
    plain->resize(at + 16384);
    size_t got = 0;
    const int r = SSL_read_ex(ssl_, plain->data() + at, 16384, &got);
    plain->resize(at + got);
    if (r == 1) continue;
    const int e = SSL_get_error(ssl_, r);
    if (e == SSL_ERROR_WANT_READ) break;  // every byte given is consumed
    if (e == SSL_ERROR_ZERO_RETURN) {
      result = Result::kClosed;
    } else {
      classify_openssl_error();
      result = Result::kError;
    }
  }
  if (renegotiation_) {
    fail(TlsFailure::kRenegotiation, "the client asked to renegotiate (refused)");
    result = Result::kError;
  }
  in_ = nullptr;
  in_len_ = 0;
  return result;
}

void TlsSession::encrypt(const struct iovec* iov, size_t n, size_t bytes, std::string* pack) {
  ERR_clear_error();
  const char* from;
  if (n == 1) {
    from = static_cast<const char*>(iov[0].iov_base);  // already contiguous
  } else {
    pack->clear();
    pack->reserve(bytes);
    for (size_t i = 0; i < n; ++i) pack->append(static_cast<const char*>(iov[i].iov_base), iov[i].iov_len);
    from = pack->data();
  }
  size_t written = 0;
  // The BIO takes everything, so the write completes: records of up to 16 KiB of plaintext.
  if (bytes > 0 && SSL_write_ex(ssl_, from, bytes, &written) != 1) {
    classify_openssl_error();  // the next receive() reports it
  }
  staged_plain_ += bytes;
}

struct iovec TlsSession::next_output() {
  if (sending_off_ == sending_.size()) {
    // Step 2: the staged bytes become the buffer in flight; the session writes into the other.
    pool_->put(std::move(sending_));
    sending_ = std::string();
    sending_off_ = 0;
    std::swap(sending_, staged_);
    sending_plain_ = staged_plain_;
    staged_plain_ = 0;
  }
  return {sending_.data() + sending_off_, sending_.size() - sending_off_};
}

size_t TlsSession::sent(size_t n) {
  sending_off_ += n;
  if (sending_off_ < sending_.size()) return 0;
  const size_t plain = sending_plain_;
  sending_plain_ = 0;
  sending_off_ = 0;
  pool_->put(std::move(sending_));  // an idle subscriber keeps no buffer
  sending_ = std::string();
  return plain;
}

bool TlsSession::close_notify() {
  if (close_notify_ || !established_ || failure_ != TlsFailure::kNone) return false;
  close_notify_ = true;
  ERR_clear_error();
  SSL_shutdown(ssl_);  // writes the alert into the staged buffer; the peer's is not waited for
  ERR_clear_error();
  return has_output();
}

std::string TlsSession::describe() const {
  return std::string(SSL_get_version(ssl_)) + " " + SSL_get_cipher_name(ssl_);
}

}  // namespace fanout
