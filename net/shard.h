// A shard: one thread running one event loop over its backend, owning its connections, topic
// table and memory (ShardCore). Templated on the backend so every backend call is static.
//
// One loop iteration:
//   1. wait, then dispatch completions (accepts, received bytes -> commands, send results);
//   2. drain the inbound rings from other shards (bounded);
//   3. retry work that waited (mailbox space, ENOBUFS back-off);
//   4. make ring batches visible, waking a peer only on empty->non-empty; this comes before the
//      flush so that a client holding its PUBLISH reply knows every shard can see the message;
//   5. apply receive changes, then flush the pending-write list: one send per connection, at
//      most iov_batch iovecs and max_send_bytes bytes;
//   6. cancel and free connections marked for close once no op is outstanding, and push the
//      blocks they released back to their shards;
//   7. choose the wait timeout: zero if work remains, else sleep (offline for QSBR).
// Thread: run() on the shard's own thread; nothing else touches it while it runs.
#pragma once

#include <sys/uio.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "net/completion.h"
#include "net/log.h"
#include "net/shard_core.h"

namespace fanout {

inline int64_t monotonic_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

template <class Backend>
class Shard : public ShardCore {
 public:
  Shard(int id, SharedState* shared, int listen_fd)
      : ShardCore(id, shared), listen_fd_(listen_fd), iov_(std::min<size_t>(shared->cfg.iov_batch, IOV_MAX)) {}

  bool init(std::string* err) {
    wake_fd_ = shared_->wake_fds[id_];
    return backend_.init(wake_fd_, cfg_, err);
  }

  void run();
  void on_completion(const Completion& e);
  const Backend& backend() const { return backend_; }

 private:
  static constexpr uint64_t kListenToken = ~0ull - 1;
  static constexpr size_t kMailBudget = 1024;

  void apply_recv_changes();
  void flush();
  void apply_closes();
  void copy_counters();

  Backend backend_;
  int listen_fd_;
  int wake_fd_ = -1;
  std::vector<struct iovec> iov_;
};

template <class Backend>
void Shard<Backend>::on_completion(const Completion& e) {
  switch (e.op) {
    case Op::kAccept: {
      if (e.res >= 0) {
        Conn* c = accept(e.res);
        if (c == nullptr) return;
        c->recv_on = true;
        ++c->ops;
        backend_.recv(c->fd, c->id());
        return;
      }
      on_accept_error(-e.res);
      return;
    }
    case Op::kRecv: {
      Conn* c = lookup(e.id);
      if (c == nullptr) return;  // a late completion for a connection that is gone
      bool final = (e.flags & kMore) == 0;
      if (final) {
        c->recv_on = false;
        --c->ops;
      }
      if (e.res > 0) {
        on_input(c, e.data, static_cast<size_t>(e.res));
      } else if (e.res == 0) {
        on_peer_eof(c);
      } else if (e.res != -ECANCELED && e.res != -ENOBUFS && e.res != -EAGAIN) {
        close_conn(c, strerror(-e.res));
      }
      // A multishot receive that ended while still wanted (out of provided buffers, or a
      // spurious EAGAIN) is re-armed, never treated as a close.
      if (final && c->want_recv && !c->closing) set_want_recv(c, true);
      return;
    }
    case Op::kSend: {
      Conn* c = lookup(e.id);
      if (c == nullptr) return;
      c->send_inflight = false;
      --c->ops;
      on_sent(c, e.res);
      return;
    }
  }
}

template <class Backend>
void Shard<Backend>::apply_recv_changes() {
  if (recv_changes_.empty()) return;
  std::vector<Conn*> list;
  list.swap(recv_changes_);
  for (Conn* c : list) {
    c->recv_queued = false;
    if (c->closing) continue;
    if (c->want_recv && !c->recv_on) {
      c->recv_on = true;
      ++c->ops;
      backend_.recv(c->fd, c->id());
    } else if (!c->want_recv && c->recv_on) {
      backend_.stop_recv(c->fd, c->id(), *this);
    }
  }
}

template <class Backend>
void Shard<Backend>::flush() {
  take_pending([this](Conn* c) {
    if (c->send_inflight) return;
    size_t n = c->out.fill(iov_.data(), iov_.size(), cfg_.max_send_bytes);
    if (n == 0) return;
    size_t bytes = 0;
    for (size_t i = 0; i < n; ++i) bytes += iov_[i].iov_len;
    c->send_inflight = true;
    ++c->ops;
    backend_.send(c->fd, c->id(), iov_.data(), static_cast<int>(n), bytes, *this);
  });
}

template <class Backend>
void Shard<Backend>::apply_closes() {
  if (close_list_.empty()) return;
  for (size_t i = 0; i < close_list_.size(); ++i) {
    Conn* c = close_list_[i];
    if (c->cancelled) continue;
    c->cancelled = true;
    unsubscribe_all(c);
    shared_->clients.fetch_sub(1, std::memory_order_relaxed);
    backend_.cancel(c->fd, c->id(), *this);
  }
  size_t kept = 0;
  for (Conn* c : close_list_) {
    if (c->ops == 0 && !c->pending) {
      free_conn(c);
    } else {
      close_list_[kept++] = c;
    }
  }
  close_list_.resize(kept);
}

template <class Backend>
void Shard<Backend>::copy_counters() {
  const BackendCounters& b = backend_.counters();
  stats_->sendmsg_calls.set(b.sendmsg_calls);
  stats_->recv_calls.set(b.recv_calls);
  stats_->wait_calls.set(b.wait_calls);
  stats_->ctl_calls.set(b.ctl_calls);
  stats_->sends_submitted.set(b.sends_submitted);
  stats_->sends_completed.set(b.sends_completed);
  stats_->short_sends.set(b.short_sends);
  stats_->eagain.set(b.eagain);
  stats_->completions.set(b.completions);
  stats_->accept_calls.set(b.accept_calls);
  stats_->enter_calls.set(b.enter_calls);
  stats_->cq_overflows.set(b.cq_overflows);
  stats_->buffers_exhausted.set(b.buffers_exhausted);
  stats_->stale_completions.set(b.stale_completions);
  stats_->register_calls.set(b.register_calls);
  stats_->loop_iterations.add();
}

template <class Backend>
void Shard<Backend>::run() {
  Qsbr& qsbr = shared_->qsbr;
  qsbr.online(id_);
  set_now(monotonic_ms());
  std::string err;
  if (!backend_.start(&err)) {
    // The ring was created and checked in init(); failing to enable it now leaves nothing to
    // serve with.
    LOG_ERROR("shard %d: %s backend failed to start: %s", id_, Backend::kName, err.c_str());
    std::abort();
  }
  backend_.listen(listen_fd_, kListenToken);
  bool draining = false;
  int64_t deadline = 0;
  int timeout = 0;
  while (true) {
    if (timeout != 0) qsbr.offline(id_);
    backend_.wait(timeout);
    qsbr.online(id_);
    set_now(monotonic_ms());
    backend_.dispatch(*this);

    if (!draining && shared_->stopping.load(std::memory_order_acquire)) {
      draining = true;
      deadline = now_ms_ + cfg_.shutdown_timeout_ms;
      backend_.stop_listen(listen_fd_);
      begin_shutdown();
    }
    drain_mailboxes(kMailBudget);
    retry_blocked();
    retry_backoff();
    reap_stalled();
    // Hand this iteration's publishes to the other shards before flushing the PUBLISH replies:
    // a client that has its reply knows every other shard can already see the message.
    publish_mailboxes();
    apply_recv_changes();
    flush();
    if (draining && ((drained() && mailboxes_idle()) || now_ms_ >= deadline)) {
      for_each_conn([this](Conn* c) { close_conn(c, "server shutting down"); });
    }
    apply_closes();
    bool more = publish_mailboxes();  // blocks returned by the connections just freed
    copy_counters();
    if (draining && connections() == 0) break;

    qsbr.quiescent(id_);
    bool busy = pending_head_ != nullptr || !blocked_.empty() || !recv_changes_.empty() || more;
    if (busy) {
      timeout = 0;
    } else if (draining) {
      timeout = 10;
    } else if (!backoff_.empty()) {
      timeout = static_cast<int>(std::max<int64_t>(1, backoff_until_ms_ - now_ms_));
    } else {
      timeout = 1000;
    }
    if (timeout != 0 && !mailboxes_idle()) timeout = 0;
  }
  backend_.finish();
  qsbr.offline(id_);
}

}  // namespace fanout
