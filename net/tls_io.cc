// A TLS client's bytes on their way in and out (net/tls_session.h): the handshake inside the
// shard's loop, decrypted input handed to the RESP path, the queue's plaintext packed into records
// for the backend's send (userspace) or handed to the kernel as is (kernel TLS, net/tls_kernel.h:
// the switch happens at the first send after the handshake), handshake failures counted, logged
// once per episode, and closed.
#include <openssl/crypto.h>

#include <algorithm>

#include "net/log.h"
#include "net/shard_core.h"
#include "net/socket.h"

namespace fanout {

void ShardCore::start_tls(Conn* c) {
  // A context replaced on SIGHUP is picked up here, at the next TLS accept after the change.
  if (tls_ctx_version_ != shared_->tls.version()) {
    tls_ctx_version_ = shared_->tls.version();
    tls_ctx_ = shared_->tls.current();
  }
  // Kernel TLS is offered only where the start-up probe found the tls module: once the keys are
  // taken from OpenSSL the switch is tried, and a kernel without the module would refuse it for
  // every connection.
  const bool offer_kernel =
      cfg_.tls_ktls_test != 0 || (cfg_.tls_ktls == "auto" && shared_->kernel_tls.available);
  c->tls = std::make_unique<TlsSession>(tls_ctx_->ctx(), &tls_buffers_, offer_kernel);
  // A handshake failure is often logged after the client has gone, when getpeername no longer
  // answers: the addresses are taken now (two syscalls beside a handshake's work).
  look_up_addresses(c);
  stats_->tls_userspace_clients.add();
}

void ShardCore::tls_start_kernel(Conn* c) {
  TlsSession& t = *c->tls;
  KernelTlsInfo info{};
  size_t size = 0;
  std::string err;
  bool ok = t.kernel_keys(&info, &size, &err);
  if (ok) ok = cfg_.tls_ktls_test == 2 || enable_kernel_tls_tx(c->fd, &info, size, &err);
  const char* cipher = kernel_tls_cipher_name(info);
  OPENSSL_cleanse(&info, sizeof(info));
  if (!ok) {
    // OpenSSL never stopped encrypting (the BIO refused its offer), so the client carries on in
    // userspace: a fallback, not a failure.
    t.kernel_declined();
    stats_->tls_kernel_fallbacks.add();
    if (tls_kernel_fallback_.hit(now_ms_)) {
      LOG_WARN("kernel TLS did not take over a TLS client's sending (%s); it stays in userspace (logged once "
               "until a quiet second; INFO tls_kernel_fallbacks counts them)", err.c_str())
          .field("shard", id_)
          .client(log_client(c))
          .field("tls_mode", tls_mode_name(TlsMode::kUserspace));
    }
    return;
  }
  t.kernel_started(cfg_.tls_test_key_limit);
  stats_->tls_userspace_clients.sub();
  stats_->tls_kernel_clients.add();
  LOG_DEBUG("TLS sending handed to the kernel: %s (%s)%s", t.describe().c_str(), cipher,
            cfg_.tls_ktls_test == 2 ? " [test: pretended, records go out in plaintext]" : "")
      .field("shard", id_)
      .client(log_client(c))
      .field("tls_mode", tls_mode_name(TlsMode::kKernel));
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
  const uint64_t updates = t.key_updates();
  const TlsSession::Result r = t.receive(data, n, &tls_plain_);
  stats_->tls_key_updates.add(t.key_updates() - updates);
  if (!was_established && t.established()) {
    stats_->tls_handshakes.add();
    if (t.resumed()) stats_->tls_resumptions.add();
    c->last_input_ms = now_ms_;
    std::string mode = !t.kernel_pending() ? "records written by OpenSSL in userspace"
                       : t.kernel_allowed() ? "the kernel takes over sending once the handshake's records are sent"
                                            : "records written by Fanout in userspace";
    if (*t.kernel_absent_reason() != '\0') mode = mode + " (" + t.kernel_absent_reason() + ")";
    LOG_DEBUG("TLS handshake done: %s%s, %s", t.describe().c_str(), t.resumed() ? " (resumed)" : "", mode.c_str())
        .field("shard", id_)
        .client(log_client(c))
        .field("tls_mode", tls_mode_name(TlsMode::kUserspace));
  }
  if (t.has_output()) mark_pending(c);  // handshake messages, session tickets, alerts
  // A KeyUpdate flood: each costs key derivations (KeyUpdateBudget).
  if (!t.key_updates_within_budget(now_ms_)) {
    stats_->tls_session_errors.add();
    tls_close(c, "the client sent TLS key updates faster than " + std::to_string(KeyUpdateBudget::kBurst) +
                     " at once and one a second after", false);
    return;
  }
  // A client that makes the session write (key updates requested, each answered) while it reads
  // nothing is closed once that ciphertext passes its bound: a client's own traffic never stages
  // that much (records are made from the queue only once the last ones are sent). (Pausing its
  // input is not enough on io_uring: a multishot receive keeps filling buffers until its cancel
  // lands, megabytes at loopback speed.)
  if (t.unsent() > kTlsMaxUnsentBytes) {
    stats_->tls_session_errors.add();
    tls_close(c, "the client makes the TLS session write more than it reads (" + std::to_string(t.unsent()) +
                     " bytes unsent)", false);
    return;
  }
  if (!tls_plain_.empty()) on_input(c, tls_plain_.data(), tls_plain_.size());
  if (r == TlsSession::Result::kClosed) {
    on_peer_eof(c);  // close_notify: the end of the client's input
  } else if (r == TlsSession::Result::kError) {
    if (!was_established) {
      tls_handshake_failed(c, t.error());
    } else {
      if (t.failure() == TlsFailure::kRenegotiation) {
        stats_->tls_renegotiations_refused.add();
      } else if (t.failure() == TlsFailure::kKernel) {
        stats_->tls_kernel_closes.add();
      } else {
        stats_->tls_session_errors.add();
      }
      tls_close(c, t.error(), false);
    }
  }
}

void ShardCore::tls_handshake_failed(Conn* c, const std::string& why, bool send_alert) {
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
  tls_close(c, "TLS handshake failed: " + why, send_alert);
}

void ShardCore::tls_close(Conn* c, const std::string& why, bool send_alert) {
  const TlsFailure kind = c->tls->failure() == TlsFailure::kNone ? TlsFailure::kOther : c->tls->failure();
  if (tls_failing_[static_cast<int>(kind)].hit(now_ms_)) {
    LOG_WARN("closing TLS client: %s (this kind logged once until a quiet second; INFO tls_handshake_failures "
             "and tls_session_errors count them)", why.c_str())
        .field("shard", id_)
        .client(log_client(c))
        .field("reason", tls_failure_name(c->tls->failure()));
  }
  c->in.clear();
  if (!send_alert || c->tls->mode() == TlsMode::kKernel) {
    // What is queued is not sent over a broken session, and a kernel TLS key may not send another
    // record (a key update is owed, or its limit is near).
    close_conn(c, "TLS error");
    return;
  }
  // A failed handshake's alert goes out first, best effort (nothing else is queued before the
  // handshake): nothing more is read, and the connection closes once it is sent.
  close_after_reply(c);
}

void ShardCore::tls_on_plaintext_port(Conn* c) {
  stats_->tls_clients_on_plaintext_port.add();
  if (tls_on_plaintext_port_.hit(now_ms_)) {
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
    // Every ciphertext byte is sent: the moment the kernel may take over (once per connection).
    if (t.kernel_pending() && t.kernel_allowed()) tls_start_kernel(c);
    // Otherwise (or when the kernel refused them) the keys go to Fanout's record writer; should
    // that fail too, OpenSSL, whose state is untouched, keeps writing the records.
    if (t.kernel_pending() && !t.start_records(cfg_.tls_test_key_limit)) {
      LOG_DEBUG("TLS records stay with OpenSSL: %s", t.kernel_absent_reason())
          .field("shard", id_)
          .client(log_client(c));
    }
    if (t.mode() == TlsMode::kKernel) return kernel_tls_next_send(c, iov, max_iov);
    // Step 2 of the queue's lifecycle: the entries stay in flight until their records are sent.
    const size_t n = c->out.fill(iov, max_iov, std::min(cfg_.max_send_bytes, kTlsSendBytes));
    if (n == 0) return 0;
    size_t bytes = 0;
    for (size_t i = 0; i < n; ++i) bytes += iov[i].iov_len;
    const uint64_t updates = t.key_updates();
    t.encrypt(iov, n, bytes, &tls_pack_);
    stats_->tls_key_updates.add(t.key_updates() - updates);
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

size_t ShardCore::kernel_tls_next_send(Conn* c, struct iovec* iov, size_t max_iov) {
  TlsSession& t = *c->tls;
  const size_t n = c->out.fill(iov, max_iov, cfg_.max_send_bytes);
  if (n == 0) return 0;
  size_t bytes = 0;
  for (size_t i = 0; i < n; ++i) bytes += iov[i].iov_len;
  if (!t.kernel_charge(bytes)) {
    // RFC 8446 section 5.5: the key has encrypted what it safely may and the kernel cannot take a
    // new one. The client reconnects (and gets a fresh key).
    c->out.send_failed();
    stats_->tls_kernel_closes.add();
    LOG_WARN("closing a kernel TLS client: its key has encrypted %llu of the %llu bytes it may (RFC 8446 "
             "section 5.5) and the kernel cannot change keys",
             static_cast<unsigned long long>(t.kernel_budget().used()),
             static_cast<unsigned long long>(t.kernel_budget().limit()))
        .field("shard", id_)
        .client(log_client(c))
        .field("tls_mode", tls_mode_name(TlsMode::kKernel));
    close_conn(c, "kernel TLS key limit");
    return 0;
  }
  return n;  // Step 2 of the queue's lifecycle, as a plaintext client's: in flight until on_sent
}

void ShardCore::on_tls_sent(Conn* c, int res) {
  if (res < 0) {
    // The records stay where they are: the plaintext behind them is still in flight in the
    // queue (no send_failed()), and the rest of the buffer goes out on the next try.
    on_send_error(c, -res);
    return;
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
