// A shard: one thread running one event loop over its backend, owning its connections, topic
// table and memory (ShardCore). Templated on the backend so every backend call is static.
//
// One loop iteration (iterate()):
//   1. wait (offline for QSBR while it may block); on a stop request, stop accepting and
//      reading, and start the drain;
//   2. dispatch every completion due: accepts, received bytes -> commands (none once draining),
//      send results. Completions reach the shard only here, on every backend;
//   3. drain the inbound rings from other shards (bounded);
//   4. retry work that waited (blocked publishes once their ring has room, ENOBUFS back-off),
//      advance PUBSUB CHANNELS replies by a slice; reap stalled clients once a second; step the
//      NATS link (net/upstream.h: connect, keepalive, subscriptions);
//   5. make ring batches visible, waking a peer only on empty->non-empty; this comes before the
//      flush so that a client holding its PUBLISH reply knows every shard can see the message;
//   6. apply receive changes, then flush the pending-write list: one send per connection, at
//      most iov_batch iovecs and max_send_bytes bytes (a TLS client's: one buffer of records
//      made from them);
//   7. during shutdown, close everything once drained (or at the deadline);
//   8. cancel connections marked for close and free those whose last op has completed, then
//      push the blocks they released back to their shards;
//   9. announce a quiescent state. The next wait is chosen by next_timeout_ms(): zero while work
//      is queued, else until the next timer; a blocked publisher sleeps until woken.
// Thread: run() (or start(), iterate() and finish(), for tests that step a shard) on the
// shard's own thread; nothing else touches it while it runs.
#pragma once

#include <sys/uio.h>

#include <climits>
#include <cstdlib>
#include <string>
#include <vector>

#include "net/completion.h"
#include "net/listener.h"
#include "net/log.h"
#include "net/shard_core.h"
#include "net/socket.h"

namespace fanout {

template <class Backend>
class Shard final : public ShardCore {
 public:
  // listeners: what this shard accepts from (ListenerSet::for_shard), owned by the caller and
  // outliving the shard; none for tests that hand it connections.
  Shard(int id, SharedState* shared, std::vector<Listener*> listeners)
      : ShardCore(id, shared),
        listeners_(std::move(listeners)),
        accepting_(listeners_.size(), false),
        iov_(std::min<size_t>(shared->cfg.iov_batch, IOV_MAX)) {
    for (const Listener* l : listeners_) serves_http_ |= l->protocol == Protocol::kHttp;
  }
  ~Shard() override { final_release(); }

  bool init(std::string* err) { return backend_.init(shared_->wake_fds[id_], cfg_, &stats_->backend, err); }
  // The whole life of the shard on its thread: start, iterate until shut down, finish.
  void run();
  // Before the first iterate(), on the shard's thread. False with *err.
  bool start(std::string* err);
  // One loop iteration, waiting up to timeout_ms first. False once the shard has shut down.
  bool iterate(int timeout_ms);
  // How long the next iterate() may wait.
  int next_timeout() { return next_timeout_ms(); }
  // After the last iterate(), on the shard's thread.
  void finish();
  void on_completion(const Completion& e);
  Backend& backend() { return backend_; }
  void final_release() override {
    release_all([this](int fd) { backend_.close_socket(fd); });
  }

 private:
  static constexpr size_t kMailBudget = 1024;

  // Stops accepting from the listeners of `protocol`: RESP ones when the drain begins, HTTP ones
  // (which answer /healthz with 503 meanwhile) once it is over.
  void stop_accepting(Protocol protocol);
  void apply_recv_changes();
  void flush();

  Backend backend_;
  std::vector<Listener*> listeners_;  // a listener's index is its token on the backend
  std::vector<bool> accepting_;
  std::vector<struct iovec> iov_;
  size_t tls_unsubmitted_ = 0;  // bytes of TLS sends this flush has queued since the last submit
  static constexpr size_t kEarlySubmitTlsBytes = 1u << 20;
};

template <class Backend>
void Shard<Backend>::on_completion(const Completion& e) {
  if (e.op != Op::kAccept) {
    on_io_completion(e);
    return;
  }
  if (e.res < 0) {
    on_accept_error(-e.res);
    return;
  }
  const Listener& l = *listeners_[e.id.slot];
  Accepted a = accept(e.res, l);
  if (a.conn) {
    if (!l.local()) backend_.tune(e.res);  // TCP options
  } else if (a.refusal) {
    backend_.refuse(e.res, a.refusal);
  } else {
    backend_.close_socket(e.res);
  }
}

template <class Backend>
void Shard<Backend>::apply_recv_changes() {
  take_recv_changes([this](Conn* c) {
    if (c->want_recv && !c->recv_on) {
      c->recv_on = true;
      ++c->ops;
      backend_.recv(c->fd, c->id());
    } else if (!c->want_recv && c->recv_on) {
      backend_.stop_recv(c->fd, c->id());
    }
  });
}

template <class Backend>
void Shard<Backend>::flush() {
  take_pending([this](Conn* c) {
    if (c->send_inflight) return;
    size_t n = c->tls ? tls_next_send(c, iov_.data(), iov_.size())
                      : c->out.fill(iov_.data(), iov_.size(), cfg_.max_send_bytes);
    if (n == 0) return;
    size_t bytes = 0;
    for (size_t i = 0; i < n; ++i) bytes += iov_[i].iov_len;
    c->send_inflight = true;
    ++c->ops;
    backend_.send(c->fd, c->id(), iov_.data(), static_cast<int>(n), bytes);
    // TLS sends are encrypted as they are prepared: on io_uring, a flush that has prepared
    // kEarlySubmitTlsBytes of them hands them to the kernel before encrypting more, so that the
    // peers read while the shard encrypts (a flush to 1,000 subscribers at 1 KiB held back 32 MB
    // and each side sat idle a third of the time: 0.47 -> 0.58-0.62 M deliveries/s). Plaintext sends
    // are cheap to prepare and wait for the iteration's one submit (early submits cost them 10%).
    if (c->tls && c->tls->mode() == TlsMode::kUserspace && (tls_unsubmitted_ += bytes) >= kEarlySubmitTlsBytes) {
      tls_unsubmitted_ = 0;
      backend_.submit_queued();
    }
  });
  tls_unsubmitted_ = 0;
}

template <class Backend>
bool Shard<Backend>::start(std::string* err) {
  shared_->qsbr.online(id_);
  set_now(backend_.now_us() / 1000);
  if (!backend_.start(err)) return false;
  for (uint32_t i = 0; i < listeners_.size(); ++i) {
    backend_.listen(listeners_[i]->fd, i, listeners_[i]->shared);
    accepting_[i] = true;
  }
  return true;
}

template <class Backend>
void Shard<Backend>::stop_accepting(Protocol protocol) {
  for (size_t i = 0; i < listeners_.size(); ++i) {
    if (!accepting_[i] || listeners_[i]->protocol != protocol) continue;
    accepting_[i] = false;
    backend_.stop_listen(listeners_[i]->fd);
    listeners_[i]->release();  // the last shard refuses new clients, not leave them waiting
  }
}

template <class Backend>
bool Shard<Backend>::iterate(int timeout_ms) {
  Qsbr& qsbr = shared_->qsbr;
  if (timeout_ms != 0) qsbr.offline(id_);
  backend_.wait(timeout_ms);
  qsbr.online(id_);
  const int64_t woke_us = backend_.now_us();
  set_now(woke_us / 1000);
  // Before dispatching: input that arrives once a stop was requested is not run.
  if (!shutting_down_ && shared_->stopping.load(std::memory_order_acquire)) {
    stop_accepting(Protocol::kResp);
    begin_shutdown(now_ms_ + cfg_.shutdown_timeout_ms);
  }
  backend_.dispatch(*this);
  drain_mailboxes(kMailBudget);
  retry_blocked();
  retry_backoff();
  step_walks();
  reap_stalled();
  upstream_step();
  take_connects([this](const PendingConnect& p) {
    backend_.connect(p.conn->fd, p.conn->id(), p.addr.sa(), p.addr.len);
  });
  publish_mailboxes();
  apply_recv_changes();
  flush();
  shutdown_step();
  if (drained()) stop_accepting(Protocol::kHttp);
  take_closes([this](Conn* c) { backend_.cancel(c->fd, c->id()); },
              [this](int fd) { backend_.close_socket(fd); });
  publish_mailboxes();  // blocks returned by the connections just freed
  account_busy(backend_.now_us() - woke_us);
  if (may_exit()) return false;
  qsbr.quiescent(id_);
  return true;
}

template <class Backend>
void Shard<Backend>::finish() {
  backend_.finish();
  shared_->qsbr.offline(id_);
}

template <class Backend>
void Shard<Backend>::run() {
  std::string err;
  if (!start(&err)) {
    // The ring was created and checked in init(); failing to enable it now leaves nothing to
    // serve with.
    LOG_ERROR("%s backend failed to start: %s", Backend::kName, err.c_str()).field("shard", id_);
    std::abort();
  }
  int timeout = 0;
  while (iterate(timeout)) timeout = next_timeout();
  finish();
}

}  // namespace fanout
