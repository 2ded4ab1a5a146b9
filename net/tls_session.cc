#include "net/tls_session.h"

#include <openssl/bio.h>
#include <openssl/err.h>

#include <cstring>
#include <utility>

#include "net/tls_context.h"

namespace fanout {

// OpenSSL's internal BIO controls for kernel TLS (include/internal/bio.h in OpenSSL 3.0; the public
// bio.h lists their numbers in a comment): the write keys offered, and the type of the next record
// when a kTLS socket BIO must send a control record.
constexpr int kBioCtrlSetKtls = 72;
constexpr int kBioCtrlSetKtlsTxSendCtrlMsg = 74;
constexpr int kBioCtrlClearKtlsTxCtrlMsg = 75;

// The BIO between a session and its buffers: reads take from the bytes receive() was given and
// report "retry" once they are used up; writes append to the staged buffer and always succeed.
// With kernel TLS: the write keys OpenSSL offers are copied and refused (net/tls_kernel.h says
// why), the records written under them before the switch are counted, and once the kernel sends
// for the connection whatever OpenSSL writes is dropped: it is encrypted with a sequence number
// the kernel has already used, so it must never reach the socket.
struct TlsBio {
  static int write(BIO* b, const char* data, size_t n, size_t* written) {
    auto* s = static_cast<TlsSession*>(BIO_get_data(b));
    *written = n;
    if (s->kernel_ == TlsSession::Kernel::kOn || s->kernel_ == TlsSession::Kernel::kRecords) {
      if (s->key_update_write_expected_) {
        s->key_update_write_expected_ = false;  // OpenSSL's KeyUpdate, named already
      } else if (s->kernel_dropped_type_ == 0) {
        s->kernel_dropped_type_ = -1;  // the msg callback names it
      }
      return 1;
    }
    if (s->kernel_ == TlsSession::Kernel::kCaptured) s->kernel_after_.feed(data, n);
    s->staging().append(data, n);
    return 1;
  }
  // BIO_CTRL_SET_KTLS with is_tx: `info` is OpenSSL's ktls_crypto_info_t, which begins with
  // Linux's struct tls12_crypto_info_* for the cipher (ssl/ktls.c ktls_configure_crypto).
  static void offer(TlsSession* s, const void* info) {
    if (s->kernel_ != TlsSession::Kernel::kOffered || info == nullptr) return;
    KernelTlsInfo k{};
    std::memcpy(&k.base, info, sizeof(k.base));
    const size_t size = kernel_tls_info_size(k);
    if (size == 0) return;  // AES-128-CCM and the like: stays in userspace
    std::memcpy(&s->kernel_info_, info, size);
    s->kernel_after_ = KernelTlsRecords();
    s->kernel_ = TlsSession::Kernel::kCaptured;
  }
  // What OpenSSL writes after the switch, named for the error (SSL_set_msg_callback).
  static void on_message(int write_p, int, int content_type, const void* buf, size_t len, SSL* ssl, void* arg) {
    auto* s = static_cast<TlsSession*>(arg);
    const auto* p = static_cast<const unsigned char*>(buf);
    // A renegotiation request (TLS 1.2 and earlier): OpenSSL answers it with a no_renegotiation
    // warning alert (SSL_OP_NO_RENEGOTIATION) and carries on; Fanout closes such a client instead.
    if (write_p && content_type == SSL3_RT_ALERT && len == 2 && p[1] == SSL_AD_NO_RENEGOTIATION) {
      s->renegotiation_ = true;
    }
    // RFC 8446 section 4.6.3: a KeyUpdate (TLS 1.3 only; type 24 means nothing in TLS 1.2), whose
    // request_update is update_requested (1) when the client asks for ours. Counted for the
    // client's KeyUpdateBudget.
    if (!write_p && content_type == SSL3_RT_HANDSHAKE && len >= 5 && p[0] == SSL3_MT_KEY_UPDATE &&
        SSL_version(ssl) == TLS1_3_VERSION) {
      if (p[4] == 1) s->key_update_requested_ = true;
      ++s->key_updates_read_;
    }
    // OpenSSL sends a KeyUpdate it owes at its next write or read, and moves to its next key
    // without offering that key to the BIO: captured keys are stale from then on.
    if (write_p && content_type == SSL3_RT_HANDSHAKE && len > 0 && p[0] == SSL3_MT_KEY_UPDATE &&
        s->kernel_ == TlsSession::Kernel::kCaptured) {
      s->keys_stale_ = true;
    }
    const bool dropped = s->kernel_ == TlsSession::Kernel::kOn || s->kernel_ == TlsSession::Kernel::kRecords;
    if (write_p && dropped && content_type != SSL3_RT_HEADER && content_type != SSL3_RT_INNER_CONTENT_TYPE &&
        s->kernel_dropped_type_ <= 0) {
      // OpenSSL's own answer to a requested key update: the record writer sends one instead.
      // OpenSSL names a record before or after writing it, depending on the path: if its write
      // came first, the unnamed record just dropped is this KeyUpdate; if not, the next write is.
      if (s->kernel_ == TlsSession::Kernel::kRecords && content_type == SSL3_RT_HANDSHAKE && len > 0 &&
          p[0] == SSL3_MT_KEY_UPDATE) {
        if (s->kernel_dropped_type_ == -1) {
          s->kernel_dropped_type_ = 0;
        } else {
          s->key_update_write_expected_ = true;
        }
        return;
      }
      s->kernel_dropped_type_ = content_type;
      if (content_type == SSL3_RT_HANDSHAKE && len > 0) s->kernel_dropped_handshake_ = p[0];
    }
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
  static long ctrl(BIO* b, int cmd, long num, void* ptr) {
    switch (cmd) {
      case BIO_CTRL_FLUSH: return 1;  // the staged buffer is sent by the shard
      case BIO_CTRL_PENDING:
      case BIO_CTRL_WPENDING: return 0;
      case kBioCtrlSetKtls:
        // Receive keys (num 0) are never taken: decryption stays with OpenSSL.
        if (num != 0) offer(static_cast<TlsSession*>(BIO_get_data(b)), ptr);
        return 0;  // refused: OpenSSL keeps encrypting until the shard switches
      case BIO_CTRL_GET_KTLS_SEND:
      case BIO_CTRL_GET_KTLS_RECV:
      case kBioCtrlSetKtlsTxSendCtrlMsg:
      case kBioCtrlClearKtlsTxCtrlMsg: return 0;  // never asked once SET_KTLS is refused
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
    case TlsFailure::kKernel: return "kernel";
    case TlsFailure::kOther: return "other";
  }
  return "other";
}

TlsSession::TlsSession(SSL_CTX* ctx, TlsBufferPool* pool, bool offer_kernel) : ssl_(SSL_new(ctx)), pool_(pool) {
  // SSL_new fails only when memory does: the connection then cannot be served at all.
  if (ssl_ == nullptr) std::abort();
  BIO* bio = BIO_new(TlsBio::method());
  BIO_set_data(bio, this);
  SSL_set_bio(ssl_, bio, bio);  // one BIO both ways; the SSL owns it
  SSL_set_accept_state(ssl_);
  SSL_set_msg_callback(ssl_, TlsBio::on_message);
  SSL_set_msg_callback_arg(ssl_, this);
  SSL_set_app_data(ssl_, this);  // for keylog()
  // The write keys are asked for always: the kernel or the record writer takes them.
  SSL_set_options(ssl_, SSL_OP_ENABLE_KTLS);
  kernel_ = Kernel::kOffered;
  kernel_allowed_ = offer_kernel;
}

void TlsSession::keylog(const SSL* ssl, const char* line) {
  // "SERVER_TRAFFIC_SECRET_0 <client random, hex> <secret, hex>" (the NSS key log format).
  static constexpr char kLabel[] = "SERVER_TRAFFIC_SECRET_0 ";
  if (std::strncmp(line, kLabel, sizeof(kLabel) - 1) != 0) return;
  auto* s = static_cast<TlsSession*>(SSL_get_app_data(ssl));
  if (s == nullptr) return;
  const char* hex = std::strchr(line + sizeof(kLabel) - 1, ' ');
  if (hex == nullptr) return;
  ++hex;
  size_t n = 0;
  auto nibble = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  for (; hex[0] != '\0' && hex[1] != '\0' && n < sizeof(s->secret_); hex += 2) {
    const int hi = nibble(hex[0]), lo = nibble(hex[1]);
    if (hi < 0 || lo < 0) break;
    s->secret_[n++] = static_cast<unsigned char>(hi << 4 | lo);
  }
  s->secret_len_ = n;
}

TlsSession::~TlsSession() {
  OPENSSL_cleanse(&kernel_info_, sizeof(kernel_info_));
  OPENSSL_cleanse(secret_, sizeof(secret_));
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
  if (kernel_ == Kernel::kOn || kernel_ == Kernel::kRecords) {
    check_kernel_after_receive();
    if (failure_ != TlsFailure::kNone) result = Result::kError;
  }
  in_ = nullptr;
  in_len_ = 0;
  return result;
}

void TlsSession::encrypt(const struct iovec* iov, size_t n, size_t bytes, std::string* pack) {
  if (kernel_ == Kernel::kOn) std::abort();  // the kernel encrypts: the shard sends the plaintext
  ERR_clear_error();
  if (kernel_ == Kernel::kRecords) {
    if (failure_ != TlsFailure::kNone || bytes == 0) return;
    std::string why;
    // RFC 8446 section 5.5: a key that has encrypted its share is replaced first (TLS 1.3).
    if (!records_.charge(bytes) && (!records_.update_key(&staging(), &why) || !records_.charge(bytes))) {
      if (why.empty()) why = "the limit is below one send";
      fail(TlsFailure::kOther, "the TLS key reached its limit (RFC 8446 section 5.5) and cannot be updated: " + why);
      return;
    }
    if (!records_.seal(iov, n, bytes, &staging())) {
      fail(TlsFailure::kOther, "encrypting a record failed: " + take_openssl_errors());
      return;
    }
    staged_plain_ += bytes;
    return;
  }
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
    sending_ = TlsBuffer();
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
  sending_ = TlsBuffer();
  return plain;
}

bool TlsSession::close_notify() {
  // On kernel TLS OpenSSL's alert would carry a sequence number the kernel has used: not sent.
  if (close_notify_ || !established_ || failure_ != TlsFailure::kNone || kernel_ == Kernel::kOn) return false;
  close_notify_ = true;
  if (kernel_ == Kernel::kRecords) {
    // An alert {warning (1), close_notify (0)} (RFC 8446 section 6), in a record of our own.
    static const unsigned char kCloseNotify[] = {SSL3_AL_WARNING, SSL_AD_CLOSE_NOTIFY};
    if (!records_.seal_one(SSL3_RT_ALERT, kCloseNotify, sizeof(kCloseNotify), &staging())) {
      fail(TlsFailure::kOther, "encrypting close_notify failed: " + take_openssl_errors());
      return false;
    }
    return true;
  }
  ERR_clear_error();
  SSL_shutdown(ssl_);  // writes the alert into the staged buffer; the peer's is not waited for
  ERR_clear_error();
  return has_output();
}

void TlsSession::check_kernel_after_receive() {
  if (kernel_ == Kernel::kRecords && key_update_requested_) {
    // RFC 8446 section 4.6.3: our KeyUpdate goes before our next application record; requests
    // that arrive together are answered by one update.
    key_update_requested_ = false;
    std::string why;
    if (!records_.update_key(&staging(), &why)) {
      fail(TlsFailure::kOther, "the client requested a TLS key update, which failed: " + why);
      return;
    }
  }
  // RFC 8446 section 4.6.3: a KeyUpdate with update_requested obliges us to update our sending
  // key before our next record; the kernel's key cannot change (OpenSSL would send the reply with
  // its next SSL_write, which kernel mode never makes).
  if (kernel_ == Kernel::kOn && SSL_get_key_update_type(ssl_) != SSL_KEY_UPDATE_NONE) {
    fail(TlsFailure::kKernel, "the client requested a TLS 1.3 key update, which kernel TLS cannot make "
                              "(its sending key is fixed): closing");
    return;
  }
  if (kernel_dropped_type_ == 0) return;
  std::string what = "a record";
  switch (kernel_dropped_type_) {
    case SSL3_RT_ALERT: what = "an alert"; break;
    case SSL3_RT_APPLICATION_DATA: what = "application data"; break;
    case SSL3_RT_HANDSHAKE:
      what = kernel_dropped_handshake_ == SSL3_MT_KEY_UPDATE         ? "a KeyUpdate"
             : kernel_dropped_handshake_ == SSL3_MT_NEWSESSION_TICKET ? "a NewSessionTicket"
                                                                      : "a handshake message";
      break;
    default: break;
  }
  if (kernel_ == Kernel::kRecords) {
    fail(TlsFailure::kOther, "OpenSSL had " + what + " to send after Fanout's record writer took over sending: "
                             "closing");
    return;
  }
  fail(TlsFailure::kKernel, "OpenSSL had " + what + " to send after the kernel took over sending; only "
                            "application data goes through kernel TLS here: closing");
}

bool TlsSession::kernel_keys(KernelTlsInfo* info, size_t* size, std::string* why) const {
  if (kernel_ != Kernel::kCaptured || !established_ || has_output()) {
    *why = "the session is not ready for kernel TLS";
    return false;
  }
  if (SSL_get_key_update_type(ssl_) != SSL_KEY_UPDATE_NONE) {
    *why = "the client requested a key update before the switch (sent in userspace)";
    return false;
  }
  if (keys_stale_) {
    *why = "OpenSSL updated its key before the switch";
    return false;
  }
  if (kernel_after_.mid_record()) {  // OpenSSL writes whole records: never expected
    *why = "a record written under the new key was cut short";
    return false;
  }
  *info = kernel_info_;
  kernel_tls_advance(info, kernel_after_.records());
  *size = kernel_tls_info_size(*info);
  return true;
}

void TlsSession::kernel_started(uint64_t limit_bytes) {
  kernel_ = Kernel::kOn;
  OPENSSL_cleanse(secret_, sizeof(secret_));  // the kernel cannot update keys: not needed
  secret_len_ = 0;
  budget_.start(kernel_info_, limit_bytes);
  budget_.charge_records(kernel_after_.records(), kernel_after_.bytes());
  OPENSSL_cleanse(&kernel_info_, sizeof(kernel_info_));
  pool_->put(std::move(sending_));  // neither buffer is used again
  pool_->put(std::move(staged_));
  sending_ = TlsBuffer();
  staged_ = TlsBuffer();
}

void TlsSession::kernel_declined() {
  kernel_allowed_ = false;  // the keys stay captured, for start_records()
}

bool TlsSession::start_records(uint64_t key_limit_bytes) {
  KernelTlsInfo info{};
  size_t size = 0;
  std::string why;
  bool ok = kernel_keys(&info, &size, &why);
  if (ok) {
    const SSL_CIPHER* c = SSL_get_current_cipher(ssl_);
    const EVP_MD* md = c != nullptr ? SSL_CIPHER_get_handshake_digest(c) : nullptr;
    ok = records_.start(info, secret_len_ > 0 ? secret_ : nullptr, secret_len_, md, &why);
  }
  OPENSSL_cleanse(&info, sizeof(info));
  OPENSSL_cleanse(&kernel_info_, sizeof(kernel_info_));
  OPENSSL_cleanse(secret_, sizeof(secret_));
  secret_len_ = 0;
  if (!ok) {
    kernel_ = Kernel::kDeclined;
    return false;
  }
  if (key_limit_bytes != 0) records_.set_key_limit(key_limit_bytes);
  records_.charge_records(kernel_after_.records(), kernel_after_.bytes());
  kernel_ = Kernel::kRecords;
  return true;
}

const char* TlsSession::kernel_absent_reason() const {
  switch (kernel_) {
    case Kernel::kOffered:
      return "OpenSSL offered no write keys: the cipher or version is not one kTLS takes here, or a max_fragment_length "
             "was negotiated";
    case Kernel::kDeclined: return "the keys could not be used: OpenSSL writes the records";
    default: return "";
  }
}

std::string TlsSession::describe() const {
  return std::string(SSL_get_version(ssl_)) + " " + SSL_get_cipher_name(ssl_);
}

}  // namespace fanout
