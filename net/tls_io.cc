// A TLS client's bytes on their way in and out (userspace records, net/tls_session.h): the
// handshake inside the shard's loop, decrypted input handed to the RESP path, the queue's
// plaintext packed into records for the backend's send, handshake failures counted, logged
// once per episode, and closed.
#include <cerrno>
#include <algorithm>
#include <cstring>

#include "net/log.h"
#include "net/shard_core.h"

namespace fanout {

void ShardCore::start_tls(Conn* c) {
  // A context replaced on SIGHUP is picked up here, at the next TLS accept after the change.
  if (tls_ctx_version_ != shared_->tls.version()) {
    tls_ctx_version_ = shared_->tls.version();
    tls_ctx_ = shared_->tls.current();
  }
  c->tls = std::make_unique<TlsSession>(tls_ctx_->ctx(), &tls_buffers_);
  stats_->tls_clients.add();
}

void ShardCore::tls_input(Conn* c, const char* data, size_t n) {
  if (c->closing() || c->close_after_flush) return;
  if (c->awaiting_proxy) {
    // Behind a balancer the PROXY header comes first, in the clear; the TLS bytes follow it.
    c->in.append(data, n);
    if (!take_proxy_header(c)) return;
    std::string rest;
    rest.swap(c->in);
    if (!rest.empty()) tls_input(c, rest.data(), rest.size());
    return;
  }
  TlsSession& t = *c->tls;
  const bool was_established = t.established();
  tls_plain_.clear();
  const TlsSession::Result r = t.receive(data, n, &tls_plain_);
  if (!was_established && t.established()) {
    stats_->tls_handshakes.add();
    if (t.resumed()) stats_->tls_resumptions.add();
    c->last_input_ms = now_ms_;
    LOG_DEBUG("TLS handshake done: %s%s, records encrypted in userspace", t.describe().c_str(),
              t.resumed() ? " (resumed)" : "")
        .field("shard", id_)
        .client(log_client(c))
        .field("tls_mode", tls_mode_name(TlsMode::kUserspace));
  }
  if (t.has_output()) mark_pending(c);  // handshake messages, session tickets, alerts
  if (!tls_plain_.empty()) on_input(c, tls_plain_.data(), tls_plain_.size());
  if (r == TlsSession::Result::kClosed) {
    on_peer_eof(c);  // close_notify: the end of the client's input
  } else if (r == TlsSession::Result::kError) {
    if (!was_established) {
      tls_handshake_failed(c, t.error());
    } else {
      if (t.failure() == TlsFailure::kRenegotiation) {
        stats_->tls_renegotiations_refused.add();
      } else {
        stats_->tls_session_errors.add();
      }
      tls_close(c, t.error(), false);
    }
  }
}

void ShardCore::tls_handshake_failed(Conn* c, const std::string& why) {
  if (c->closing()) return;
  stats_->tls_handshake_failures.add();
  switch (c->tls->failure()) {
    case TlsFailure::kNotTls: stats_->tls_handshake_failures_not_tls.add(); break;
    case TlsFailure::kCertificate: stats_->tls_handshake_failures_certificate.add(); break;
    case TlsFailure::kProtocol: stats_->tls_handshake_failures_protocol.add(); break;
    case TlsFailure::kNone:  // a timeout, or the client left: counted by the caller or here
      if (now_ms_ - c->created_ms < cfg_.tls_handshake_timeout_ms) stats_->tls_handshake_failures_other.add();
      break;
    default: stats_->tls_handshake_failures_other.add(); break;
  }
  tls_close(c, "TLS handshake failed: " + why, true);
}

void ShardCore::tls_close(Conn* c, const std::string& why, bool send_alert) {
  if (tls_failing_.hit(now_ms_)) {
    LOG_WARN("closing TLS client: %s (logged once until a quiet second; INFO tls_handshake_failures and "
             "tls_session_errors count them)", why.c_str())
        .field("shard", id_)
        .client(log_client(c))
        .field("reason", tls_failure_name(c->tls->failure()));
  }
  c->in.clear();
  if (!send_alert) {
    close_conn(c, "TLS error");  // what is queued is not sent over a broken session
    return;
  }
  // A failed handshake's alert goes out first, best effort (nothing else is queued before the
  // handshake): nothing more is read, and the connection closes once it is sent.
  close_after_reply(c);
}

void ShardCore::tls_on_plaintext_port(Conn* c) {
  stats_->tls_clients_on_plaintext_port.add();
  if (tls_failing_.hit(now_ms_)) {
    const std::string hint = shared_->tls_port ? " (TLS is on port " + std::to_string(shared_->tls_port) + ")"
                                               : " (this server has no --tls-port)";
    LOG_WARN("closing client: it began a TLS handshake on the plaintext port%s (logged once until a quiet "
             "second; INFO tls_clients_on_plaintext_port counts them)", hint.c_str())
        .field("shard", id_)
        .client(log_client(c));
  }
  close_conn(c, "TLS handshake on the plaintext port");
}

size_t ShardCore::tls_next_send(Conn* c, struct iovec* iov, size_t max_iov) {
  TlsSession& t = *c->tls;
  if (!t.has_output()) {
    if (!t.established()) return 0;
    // Step 2 of the queue's lifecycle: the entries stay in flight until their records are sent.
    const size_t n = c->out.fill(iov, max_iov, std::min(cfg_.max_send_bytes, kTlsSendBytes));
    if (n == 0) return 0;
    size_t bytes = 0;
    for (size_t i = 0; i < n; ++i) bytes += iov[i].iov_len;
    t.encrypt(iov, n, bytes, &tls_pack_);
    // The pack buffer is the shard's: a burst to one client does not keep its size for ever.
    if (tls_pack_.capacity() > (1u << 20)) std::string().swap(tls_pack_);
    if (t.failure() != TlsFailure::kNone || !t.has_output()) {
      // The session cannot write (it failed since the last receive): nothing is sent again.
      stats_->tls_session_errors.add();
      tls_close(c, t.error().empty() ? "the TLS session cannot write" : t.error(), false);
      return 0;
    }
  }
  iov[0] = t.next_output();
  return 1;
}

void ShardCore::on_tls_sent(Conn* c, int res) {
  if (res < 0) {
    // The records stay where they are: the plaintext behind them is still in flight in the
    // queue, and the rest of the buffer goes out on the next try.
    if (c->closing()) return;
    switch (-res) {
      case EAGAIN:
      case EINTR: mark_pending(c); return;
      case ENOBUFS:
      case ENOMEM:
        backoff_.push_back(c);
        backoff_until_ms_ = now_ms_ + 10;
        return;
      case ECANCELED: return;
      default:
        stats_->send_errors.add();
        close_conn(c, strerror(-res));
        return;
    }
  }
  const size_t plain = c->tls->sent(static_cast<size_t>(res));
  if (plain > 0) {
    stats_->deliveries_sent.add(c->out.complete(plain));
    stats_->total_net_output_bytes.add(plain);  // as Redis counts a TLS client: the bytes it wrote
  }
  if (c->closing()) return;
  // The last reply is out: close_notify follows it (once), then the close.
  if (!c->output_pending() && c->close_after_flush) c->tls->close_notify();
  if (c->output_pending()) {
    mark_pending(c);
  } else if (c->close_after_flush) {
    close_conn(c, "closed after reply");
    return;
  }
  if (plain > 0) on_sent_resume_input(c);
}

}  // namespace fanout
