#include "tools/load/worker.h"

#include <sys/resource.h>
#include <unistd.h>

#include "tools/load/payload.h"

namespace fanout::load {
namespace {

constexpr size_t kReadChunk = 256 * 1024;
// TLS handshakes a worker keeps in flight while connecting. The server does each handshake's
// public-key work on its event loop; opening connections faster than it completes them only
// overflows its accept backlog, and a blocking connect whose SYN was dropped stalls this whole
// loop for the kernel's one-second retry.
constexpr int kMaxHandshakesInFlight = 64;

int churners_of(int id, const Options& o) {
  int n = 0;
  for (int s = o.subscribers + id; s < o.subscribers + o.churn_subscribers; s += o.threads) ++n;
  return n;
}

}  // namespace

Worker::Worker(int id, Shared* shared)
    : id_(id),
      sh_(shared),
      opt_(shared->opt),
      proto_(proto_from_name(shared->opt.proto)),
      closed_loop_(shared->opt.mode == "closed"),
      throttle_(&poller_, shared->opt.slow_bps),
      churn_(*shared, churners_of(id, shared->opt)),
      read_buf_(new char[kReadChunk]) {
  if (id_ == 0) publishers_ = std::make_unique<PublishSchedule>(sh_, &poller_);
  for (int s = id; s < opt_.subscribers; s += opt_.threads) my_subs_.push_back(s);
  first_churn_ = my_subs_.size();
  for (int s = opt_.subscribers + id; s < opt_.subscribers + opt_.churn_subscribers; s += opt_.threads) {
    my_subs_.push_back(s);
  }
  round_expected_ = sh_->round_expected(id_, 0);
}

std::unique_ptr<Conn> Worker::open_subscriber(int index) {
  auto c = std::make_unique<Conn>();
  if (!Poller::connect(c.get(), sh_->target, opt_.rcvbuf, sh_->tls)) return nullptr;
  c->role = kSub;
  c->index = index;
  c->topic = sh_->topic_of(index);
  c->stopped = sh_->is_stopped(index);
  c->slow = sh_->is_slow(index);
  c->churn = index >= opt_.subscribers;
  c->normal = !c->stopped && !c->slow && !c->churn;
  c->tokens = throttle_.initial_tokens();
  encode_subscribe(proto_, sh_->topic_names[c->topic], &c->out);
  poller_.add(c.get());
  if (c->ssl) ++handshaking_;
  return c;
}

void Worker::connect_some(uint64_t now) {
  double per_worker = static_cast<double>(opt_.connect_rate) / opt_.threads;
  size_t allowed = static_cast<size_t>(static_cast<double>(now - connect_start_ns_) / 1e9 * per_worker) + 1;
  while (subs_.size() < my_subs_.size() && subs_.size() < allowed && handshaking_ < kMaxHandshakesInFlight) {
    std::unique_ptr<Conn> c = open_subscriber(my_subs_[subs_.size()]);
    if (!c) {
      sh_->failed_connects.fetch_add(1);
      sh_->stop.store(true);
      return;
    }
    subs_.push_back(std::move(c));
  }
}

void Worker::handle(const struct epoll_event& ev, uint64_t now) {
  if (ev.data.u64 == Poller::kWakeTag) {
    uint64_t v;
    ssize_t r = ::read(sh_->wake_fds[id_], &v, sizeof(v));
    (void)r;
    return;
  }
  Conn* c = static_cast<Conn*>(ev.data.ptr);
  if (c->closed) return;
  if (c->ssl && !c->tls_ready) {
    std::string why;
    Poller::Handshake h = poller_.handshake(c, &why);
    if (h == Poller::Handshake::kWaiting) return;
    if (c->role == kSub) --handshaking_;
    if (h == Poller::Handshake::kFailed) return tls_failed(c, why);
  }
  // A TLS session may want the other direction first (a write that waits to read, and back).
  bool out = (ev.events & EPOLLOUT) || (c->tls_write_wants_read && (ev.events & EPOLLIN));
  bool in = (ev.events & (EPOLLIN | EPOLLERR | EPOLLHUP)) || (c->tls_read_wants_write && (ev.events & EPOLLOUT));
  if (out) poller_.flush(c);
  if (!c->closed && in && c->reading) on_readable(c, now);
}

// A TLS handshake that failed: a failed connect (which, before publishing starts, stops the run
// as a refused connect does), and the reason for the report.
void Worker::tls_failed(Conn* c, const std::string& why) {
  sh_->tls->note_failure(why);
  sh_->failed_connects.fetch_add(1);
  if (!c->churn && !sh_->go.load()) sh_->stop.store(true);
}

// TLS sessions that stopped reading at the read limit with records already taken from the
// socket: no epoll event will come for those bytes.
void Worker::read_tls_pending(uint64_t now) {
  poller_.take_tls_pending(&tls_retry_);
  for (Conn* c : tls_retry_) {
    if (!c->closed && c->reading) on_readable(c, now);
  }
}

void Worker::on_readable(Conn* c, uint64_t now) {
  size_t limit = kReadChunk;
  if (c->slow && !throttle_.admit(c, &limit)) return;
  // Read into the worker's scratch buffer and parse in place; only a partial frame is copied
  // into the connection (never a per-read allocation or zero-fill).
  std::string tls_error;
  size_t n = poller_.read(c, read_buf_.get(), limit, &tls_error);
  if (!tls_error.empty()) sh_->tls->note_failure(tls_error);
  if (n == 0) return;
  if (c->slow) throttle_.charge(c, n);
  const char* buf = read_buf_.get();
  size_t len = n;
  if (!c->in.empty()) {
    c->in.append(buf, len);
    buf = c->in.data();
    len = c->in.size();
  }
  size_t used = decode(c, buf, len, now);
  if (c->closed) return;
  if (buf == c->in.data()) {
    c->in.erase(0, used);
  } else if (used < len) {
    c->in.assign(buf + used, len - used);
  }
}

// Acts on each whole frame in buf[0, len); returns the bytes consumed. A malformed frame counts
// a protocol error and closes the connection.
size_t Worker::decode(Conn* c, const char* buf, size_t len, uint64_t now) {
  size_t off = 0;
  Event ev;
  while (off < len && !c->closed) {
    long n = decode_event(proto_, c->role, c->ready, buf + off, len - off, &ev);
    if (n == 0) break;
    if (n < 0) {
      sh_->protocol_errors.fetch_add(1, std::memory_order_relaxed);
      poller_.close(c, false);
      return len;
    }
    off += static_cast<size_t>(n);
    on_event(c, ev, now);
  }
  return off;
}

void Worker::on_event(Conn* c, const Event& ev, uint64_t now) {
  switch (ev.kind) {
    case Event::kMessage:
      return deliver(c, ev.payload, now);
    case Event::kReady:
      return on_ready(c);
    case Event::kPing:
      encode_pong(proto_, &c->out);
      return poller_.flush(c);
    case Event::kCount:
      if (publishers_) return publishers_->on_count(c, ev.count);
      [[fallthrough]];
    case Event::kError:
      sh_->protocol_errors.fetch_add(1, std::memory_order_relaxed);
      return;
    case Event::kNone:
      return;
  }
}

// A subscriber counts towards the start of publishing only until publishing starts (a churner's
// later re-subscriptions do not); a stopped reader stops reading from here on.
void Worker::on_ready(Conn* c) {
  c->ready = true;
  if (c->role != kSub) return;
  if (!sh_->go.load(std::memory_order_relaxed)) sh_->ready.fetch_add(1);
  if (c->stopped) poller_.set_events(c, false, c->writing);
}

void Worker::deliver(Conn* c, std::string_view payload, uint64_t now) {
  PayloadHeader h;
  if (!decode_payload(payload, &h)) {
    sh_->protocol_errors.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  if (c->churn) {
    churn_.count_received();  // joined mid-stream: nothing to verify against
    return;
  }
  c->verifier.record(h.publisher, h.seq);
  if (!c->normal) return;
  ++received_normal_local_;
  uint64_t ms = sh_->measure_start_ns.load(std::memory_order_relaxed);
  if (ms != 0 && h.send_ns >= ms) {
    uint64_t lat = now > h.send_ns ? now - h.send_ns : 0;
    latency_.record(lat);
    interval_.record(lat);
    ++delivered_local_;
  }
  if (closed_loop_) count_round(h.round);
}

// Closed loop: one more normal delivery of `round`. Once this worker has all of its round, it
// says so in done_round and wakes worker 0, which starts the next round when every worker has.
void Worker::count_round(uint64_t round) {
  if (round > round_) {
    // Rounds in between expected nothing from this worker.
    round_ = round;
    round_received_ = 0;
    round_expected_ = sh_->round_expected(id_, round_);
  }
  if (round != round_ || ++round_received_ != round_expected_) return;
  sh_->done_round[id_].store(round_ + 1, std::memory_order_release);
  ++round_;
  round_received_ = 0;
  round_expected_ = sh_->round_expected(id_, round_);
  if (id_ != 0) {
    uint64_t one = 1;
    ssize_t w = ::write(sh_->wake_fds[0], &one, sizeof(one));
    (void)w;
  }
}

// Reconnects the churners that are due, each into its own slot (its previous connection, if
// still open, is closed first as ours, not the server's).
void Worker::churn(uint64_t now) {
  int k;
  while (churn_.next_due(now, &k)) {
    size_t slot = first_churn_ + static_cast<size_t>(k);
    if (slot >= subs_.size()) return;
    if (Conn* old = subs_[slot].get(); !old->closed) {
      if (old->ssl && !old->tls_ready) --handshaking_;
      poller_.close(old, false);
    }
    std::unique_ptr<Conn> c = open_subscriber(my_subs_[slot]);
    if (!c) {
      sh_->failed_connects.fetch_add(1);
      return;
    }
    subs_[slot] = std::move(c);
    churn_.done();
    sh_->churn_reconnects.fetch_add(1, std::memory_order_relaxed);
  }
}

int Worker::loop_timeout(uint64_t now, bool connecting) const {
  if (poller_.has_tls_pending()) return 0;
  int t = 100;
  if (connecting || !throttle_.idle()) t = 1;
  return publishers_ ? publishers_->timeout_ms(now, t) : t;
}

void Worker::snapshot(uint64_t now) {
  sh_->delivered[id_].store(delivered_local_, std::memory_order_relaxed);
  sh_->received_normal[id_].store(received_normal_local_, std::memory_order_relaxed);
  if (now - last_snap_ns_ < 250'000'000) return;
  last_snap_ns_ = now;
  std::lock_guard<std::mutex> lock(sh_->snap_mu);
  sh_->interval.merge(interval_);
  interval_.reset();
}

void Worker::run() {
  if (!poller_.ok()) {
    sh_->failed_connects.fetch_add(1);
    sh_->stop.store(true);
  }
  poller_.add_wake(sh_->wake_fds[id_]);
  connect_start_ns_ = now_ns();
  if (publishers_) publishers_->connect();
  std::vector<struct epoll_event> evs(1024);
  while (true) {
    uint64_t now = now_ns();
    bool connecting = subs_.size() < my_subs_.size();
    if (connecting && !sh_->stop.load(std::memory_order_relaxed)) connect_some(now);
    if (publishers_) publishers_->drive(now);
    if (sh_->stop.load(std::memory_order_acquire)) break;
    int n = poller_.wait(evs.data(), static_cast<int>(evs.size()), loop_timeout(now, connecting));
    now = now_ns();
    for (int i = 0; i < n; ++i) handle(evs[i], now);
    if (poller_.has_tls_pending()) read_tls_pending(now);
    throttle_.refill(now);
    churn(now);
    snapshot(now);
  }
  sh_->churn_received.fetch_add(churn_.received());
  snapshot(now_ns() + 1'000'000'000);
  cpu_seconds_ = cpu_seconds(RUSAGE_THREAD);
}

WorkerResult Worker::result() {
  WorkerResult r;
  r.latency = latency_;
  r.closed_by_server = poller_.closed_by_server();
  for (auto& c : subs_) {
    if (c->churn) continue;
    for (int p = 0; p < opt_.publishers; ++p) {
      c->verifier.finish(static_cast<uint32_t>(p), sh_->pub_seq[static_cast<size_t>(p) * opt_.topics + c->topic]);
    }
    VerifyCounts v = c->verifier.counts();
    (c->stopped ? r.stopped : c->slow ? r.slow : r.normal) += v;
  }
  r.cpu_seconds = cpu_seconds_;
  return r;
}

}  // namespace fanout::load
