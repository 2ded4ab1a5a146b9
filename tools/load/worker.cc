#include "tools/load/worker.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <deque>

#include "core/resp_writer.h"
#include "tools/load/payload.h"
#include "tools/load/stream_parser.h"

namespace fanout::load {
namespace {

constexpr uint64_t kWakeTag = ~0ull;
constexpr size_t kReadChunk = 256 * 1024;
enum Role { kSub = 0, kPub = 1 };

// Spreads slow and stopped subscribers evenly over indices (and so over topics).
double class_point(int sub) {
  return static_cast<double>((static_cast<uint64_t>(sub) * 2654435761u) % 10000) / 10000.0;
}

bool resolve(const std::string& host, int port, sockaddr_storage* ss, socklen_t* len) {
  std::memset(ss, 0, sizeof(*ss));
  auto* v4 = reinterpret_cast<sockaddr_in*>(ss);
  if (inet_pton(AF_INET, host == "localhost" ? "127.0.0.1" : host.c_str(), &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    v4->sin_port = htons(static_cast<uint16_t>(port));
    *len = sizeof(sockaddr_in);
    return true;
  }
  auto* v6 = reinterpret_cast<sockaddr_in6*>(ss);
  if (inet_pton(AF_INET6, host.c_str(), &v6->sin6_addr) == 1) {
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons(static_cast<uint16_t>(port));
    *len = sizeof(sockaddr_in6);
    return true;
  }
  return false;
}

}  // namespace

uint64_t now_ns() {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1'000'000'000ull + static_cast<uint64_t>(ts.tv_nsec);
}

Shared::Shared(const Options& o)
    : opt(o),
      subs_per_topic(o.topics, 0),
      received_normal(new std::atomic<uint64_t>[o.threads]),
      done_round(new std::atomic<uint64_t>[o.threads]),
      delivered(new std::atomic<uint64_t>[o.threads]),
      pub_seq(static_cast<size_t>(o.publishers) * o.topics, 0) {
  for (int s = 0; s < o.subscribers; ++s) ++subs_per_topic[s % o.topics];
  for (int w = 0; w < o.threads; ++w) {
    done_round[w].store(0);
    delivered[w].store(0);
    received_normal[w].store(0);
    wake_fds.push_back(eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC));
  }
  normal_on_topic.assign(o.threads, std::vector<int>(o.topics, 0));
  for (int s = 0; s < o.subscribers; ++s) {
    if (is_normal(s)) ++normal_on_topic[s % o.threads][s % o.topics];
  }
  for (int t = 0; t < o.topics; ++t) topic_names.push_back(o.topic_prefix + std::to_string(t));
  double total = 0;
  std::vector<std::pair<double, size_t>> mix;
  size_t pos = 0;
  while (pos < o.size_mix.size()) {
    size_t comma = o.size_mix.find(',', pos);
    std::string item = o.size_mix.substr(pos, comma == std::string::npos ? std::string::npos : comma - pos);
    size_t colon = item.find(':');
    size_t sz = std::stoul(item.substr(0, colon));
    double w = colon == std::string::npos ? 1.0 : std::stod(item.substr(colon + 1));
    if (w > 0) {
      total += w;
      mix.push_back({total, std::max(sz, kHeaderSize)});
    }
    if (comma == std::string::npos) break;
    pos = comma + 1;
  }
  for (auto& m : mix) size_cdf.push_back({m.first / total, m.second});
}

size_t Shared::size_for(uint64_t n) const {
  if (size_cdf.empty()) return opt.size;
  // A fixed, well-spread point in [0, 1) per message: the mix is exact over a run and
  // reproducible between runs and servers.
  double x = static_cast<double>((n * 0x9E3779B97F4A7C15ull) >> 11) / 9007199254740992.0;
  for (const auto& [cdf, size] : size_cdf) {
    if (x < cdf) return size;
  }
  return size_cdf.back().second;
}

bool Shared::is_stopped(int sub) const {
  return sub < opt.subscribers && class_point(sub) < opt.stop_fraction;
}
bool Shared::is_slow(int sub) const {
  if (sub >= opt.subscribers) return false;
  double x = class_point(sub);
  return x >= opt.stop_fraction && x < opt.stop_fraction + opt.slow_fraction;
}

struct Worker::Conn {
  int fd = -1;
  int role = kSub;
  int index = 0;
  int topic = 0;
  bool ready = false;
  bool closed = false;
  bool stopped = false;
  bool slow = false;
  bool normal = true;
  bool reading = true;
  bool writing = false;
  std::string in;
  std::string out;
  size_t out_off = 0;
  StreamVerifier verifier;
  std::deque<int> expect_counts;  // publisher: receivers each PUBLISH should report
  bool churn = false;             // reconnects during the run; not part of the accounting
  double tokens = 0;
  uint64_t refill_ns = 0;
};

Worker::Worker(int id, Shared* shared) : id_(id), sh_(shared), opt_(shared->opt) {
  for (int s = id; s < opt_.subscribers; s += opt_.threads) my_subs_.push_back(s);
  for (int s = opt_.subscribers + id; s < opt_.subscribers + opt_.churn_subscribers; s += opt_.threads) {
    my_subs_.push_back(s);
    my_churn_.push_back(s);
  }
  round_expected_ = sh_->round_expected(id_, 0);
}

Worker::~Worker() {
  for (auto* list : {&subs_, &pubs_}) {
    for (auto& c : *list) {
      if (c && c->fd >= 0) ::close(c->fd);
    }
  }
  if (ep_ >= 0) ::close(ep_);
}

void Worker::set_events(Conn* c, bool in, bool out) {
  c->reading = in;
  c->writing = out;
  struct epoll_event ev {};
  ev.events = (in ? uint32_t{EPOLLIN} : 0u) | (out ? uint32_t{EPOLLOUT} : 0u);
  ev.data.ptr = c;
  epoll_ctl(ep_, EPOLL_CTL_MOD, c->fd, &ev);
}

bool Worker::open_conn(int role, int index) {
  sockaddr_storage ss;
  socklen_t len;
  if (!resolve(opt_.host, opt_.port, &ss, &len)) return false;
  int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  if (role == kSub && opt_.rcvbuf > 0) setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &opt_.rcvbuf, sizeof(opt_.rcvbuf));
  if (::connect(fd, reinterpret_cast<sockaddr*>(&ss), len) != 0) {
    ::close(fd);
    return false;
  }
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
  auto c = std::make_unique<Conn>();
  c->fd = fd;
  c->role = role;
  c->index = index;
  if (role == kSub) {
    c->topic = sh_->topic_of(index);
    c->stopped = sh_->is_stopped(index);
    c->slow = sh_->is_slow(index);
    c->churn = index >= opt_.subscribers;
    c->normal = !c->stopped && !c->slow && !c->churn;
    c->tokens = static_cast<double>(opt_.slow_bps) / 10;
    const std::string& t = sh_->topic_names[c->topic];
    if (opt_.proto == "nats") {
      c->out = "CONNECT {\"verbose\":false,\"pedantic\":false,\"echo\":false}\r\nSUB " + t + " 1\r\nPING\r\n";
    } else {
      resp::StringOut o{&c->out};
      resp::array(o, 2);
      resp::bulk(o, "SUBSCRIBE");
      resp::bulk(o, t);
    }
  } else {
    if (opt_.proto == "nats") {
      c->out = "CONNECT {\"verbose\":false,\"pedantic\":false,\"echo\":false}\r\nPING\r\n";
    } else {
      c->ready = true;
    }
  }
  struct epoll_event ev {};
  ev.events = EPOLLIN | EPOLLOUT;
  ev.data.ptr = c.get();
  c->writing = true;
  epoll_ctl(ep_, EPOLL_CTL_ADD, fd, &ev);
  (role == kSub ? subs_ : pubs_).push_back(std::move(c));
  return true;
}

void Worker::connect_some(uint64_t now) {
  double per_worker = static_cast<double>(opt_.connect_rate) / opt_.threads;
  size_t allowed = static_cast<size_t>(static_cast<double>(now - connect_start_ns_) / 1e9 * per_worker) + 1;
  while (next_connect_ < my_subs_.size() && next_connect_ < allowed) {
    if (!open_conn(kSub, my_subs_[next_connect_])) {
      sh_->failed_connects.fetch_add(1);
      sh_->stop.store(true);
      return;
    }
    ++next_connect_;
  }
}

void Worker::close_conn(Conn* c, bool by_server) {
  if (c->closed) return;
  c->closed = true;
  epoll_ctl(ep_, EPOLL_CTL_DEL, c->fd, nullptr);
  ::close(c->fd);
  c->fd = -1;
  if (by_server) ++closed_by_server_;
}

void Worker::on_writable(Conn* c) {
  while (c->out_off < c->out.size()) {
    ssize_t n = ::send(c->fd, c->out.data() + c->out_off, c->out.size() - c->out_off, MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK) {
        if (!c->writing) set_events(c, c->reading, true);
        return;
      }
      close_conn(c, true);
      return;
    }
    c->out_off += static_cast<size_t>(n);
  }
  c->out.clear();
  c->out_off = 0;
  if (c->writing) set_events(c, c->reading && !(c->stopped && c->ready), false);
}

void Worker::deliver(Conn* c, std::string_view payload, uint64_t now) {
  PayloadHeader h;
  if (!decode_payload(payload, &h)) {
    sh_->protocol_errors.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  if (c->churn) {
    ++churn_local_received_;  // joined mid-stream: nothing to verify against
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
  if (opt_.mode != "closed") return;
  if (h.round > round_) {
    // Rounds in between expected nothing from this worker.
    round_ = h.round;
    round_received_ = 0;
    round_expected_ = sh_->round_expected(id_, round_);
  }
  if (h.round == round_ && ++round_received_ == round_expected_) {
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
}

// Parses frames from buf[0, len) with `parse`, handing each to `on_frame`. A malformed frame
// counts a protocol error and closes the connection. Returns the bytes consumed.
template <class Frame, class Parse, class OnFrame>
size_t Worker::for_each_frame(Conn* c, const char* buf, size_t len, Parse parse, OnFrame on_frame) {
  size_t off = 0;
  Frame f;
  while (off < len && !c->closed) {
    long n = parse(buf + off, len - off, &f);
    if (n == 0) break;
    if (n < 0) {
      sh_->protocol_errors.fetch_add(1, std::memory_order_relaxed);
      close_conn(c, false);
      return len;
    }
    off += static_cast<size_t>(n);
    on_frame(f);
  }
  return off;
}

size_t Worker::handle_sub_redis(Conn* c, const char* buf, size_t len, uint64_t now) {
  return for_each_frame<RespFrame>(c, buf, len, parse_resp_frame, [&](const RespFrame& f) {
    if ((f.type == '*' || f.type == '>') && f.n >= 3) {
      std::string_view kind = f.elems[0];
      if (kind == "message" && f.n == 3) return deliver(c, f.elems[2], now);
      if (kind == "pmessage" && f.n == 4) return deliver(c, f.elems[3], now);
      if (kind == "subscribe" && !c->ready) {
        c->ready = true;
        if (!sh_->go.load(std::memory_order_relaxed)) sh_->ready.fetch_add(1);
        if (c->stopped) set_events(c, false, c->writing);
        return;
      }
    }
    sh_->protocol_errors.fetch_add(1, std::memory_order_relaxed);
  });
}

size_t Worker::handle_sub_nats(Conn* c, const char* buf, size_t len, uint64_t now) {
  return for_each_frame<NatsFrame>(c, buf, len, parse_nats_frame, [&](const NatsFrame& f) {
    switch (f.kind) {
      case NatsFrame::kMsg:
        if (c->role == kSub) deliver(c, f.payload, now);
        break;
      case NatsFrame::kPing:
        c->out += "PONG\r\n";
        on_writable(c);
        break;
      case NatsFrame::kPong:
        if (!c->ready) {
          c->ready = true;
          if (c->role == kSub && !sh_->go.load(std::memory_order_relaxed)) {
            sh_->ready.fetch_add(1);
            if (c->stopped) set_events(c, false, c->writing);
          }
        }
        break;
      case NatsFrame::kErr:
        sh_->protocol_errors.fetch_add(1, std::memory_order_relaxed);
        break;
      default:
        break;
    }
  });
}

size_t Worker::handle_pub(Conn* c, const char* buf, size_t len) {
  if (opt_.proto == "nats") return handle_sub_nats(c, buf, len, 0);
  return for_each_frame<RespFrame>(c, buf, len, parse_resp_frame, [&](const RespFrame& f) {
    if (f.type != ':' || c->expect_counts.empty()) {
      sh_->protocol_errors.fetch_add(1, std::memory_order_relaxed);
      return;
    }
    int want = c->expect_counts.front();
    if (want >= 0 && f.integer != want) sh_->count_mismatches.fetch_add(1, std::memory_order_relaxed);
    c->expect_counts.pop_front();
  });
}

void Worker::on_readable(Conn* c, uint64_t now) {
  size_t limit = kReadChunk;
  if (c->slow) {
    if (c->tokens < 1) {
      set_events(c, false, c->writing);
      throttled_.push_back(c);
      return;
    }
    limit = std::min(limit, static_cast<size_t>(c->tokens));
  }
  // Read into the worker's scratch buffer and parse in place; only a partial frame is copied
  // into the connection (never a per-read allocation or zero-fill).
  ssize_t n = ::recv(c->fd, read_buf_.get(), limit, 0);
  if (n <= 0) {
    if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) close_conn(c, true);
    return;
  }
  if (c->slow) c->tokens -= static_cast<double>(n);
  const char* buf = read_buf_.get();
  size_t len = static_cast<size_t>(n);
  if (!c->in.empty()) {
    c->in.append(buf, len);
    buf = c->in.data();
    len = c->in.size();
  }
  size_t used;
  if (c->role == kPub) {
    used = handle_pub(c, buf, len);
  } else if (opt_.proto == "nats") {
    used = handle_sub_nats(c, buf, len, now);
  } else {
    used = handle_sub_redis(c, buf, len, now);
  }
  if (c->closed) return;
  if (buf == c->in.data()) {
    c->in.erase(0, used);
  } else if (used < len) {
    c->in.assign(buf + used, len - used);
  }
}

void Worker::refill_throttled(uint64_t now) {
  if (throttled_.empty()) return;
  size_t kept = 0;
  for (Conn* c : throttled_) {
    if (c->closed) continue;
    double add = static_cast<double>(now - c->refill_ns) / 1e9 * static_cast<double>(opt_.slow_bps);
    if (c->refill_ns == 0) add = static_cast<double>(opt_.slow_bps) / 10;
    c->refill_ns = now;
    c->tokens = std::min(c->tokens + add, static_cast<double>(opt_.slow_bps) / 10);
    if (c->tokens >= 1) {
      set_events(c, true, c->writing);
    } else {
      throttled_[kept++] = c;
    }
  }
  throttled_.resize(kept);
}

void Worker::queue_publish(int pub, int topic, uint64_t send_ns) {
  Conn* c = pubs_[pub].get();
  PayloadHeader h;
  h.publisher = static_cast<uint32_t>(pub);
  h.seq = sh_->pub_seq[static_cast<size_t>(pub) * opt_.topics + topic]++;
  h.send_ns = send_ns;
  h.round = pub_round_ == 0 ? 0 : pub_round_ - 1;
  encode_payload(h, sh_->size_for(sh_->published.load(std::memory_order_relaxed)), &scratch_);
  const std::string& t = sh_->topic_names[topic];
  if (opt_.proto == "nats") {
    c->out += "PUB " + t + " " + std::to_string(scratch_.size()) + "\r\n";
    c->out += scratch_;
    c->out += "\r\n";
  } else {
    resp::StringOut o{&c->out};
    resp::array(o, 3);
    resp::bulk(o, "PUBLISH");
    resp::bulk(o, t);
    resp::bulk(o, scratch_);
    // With churn the number subscribed at any instant is not known in advance: no check.
    c->expect_counts.push_back(opt_.churn_subscribers ? -1 : sh_->subs_per_topic[topic]);
  }
  sh_->published.fetch_add(1, std::memory_order_relaxed);
}

void Worker::flush_publishers() {
  for (auto& c : pubs_) {
    if (!c->closed && c->out.size() > c->out_off) on_writable(c.get());
  }
}

void Worker::start_round() {
  uint64_t now = now_ns();
  round_start_ns_ = now;
  ++pub_round_;  // rounds are numbered from 0 in payloads: pub_round_ - 1
  for (int m = 0; m < opt_.window; ++m) {
    queue_publish(m % opt_.publishers, sh_->round_topic(pub_round_ - 1, m), now);
  }
  round_open_ = true;
  flush_publishers();
}

bool Worker::round_complete() const {
  uint64_t r = pub_round_ - 1;
  for (int w = 0; w < opt_.threads; ++w) {
    if (sh_->round_expected(w, r) != 0 && sh_->done_round[w].load(std::memory_order_acquire) < r + 1) return false;
  }
  return true;
}

static uint64_t read_proc_cpu_ticks(int pid) {
  if (pid <= 0) return 0;
  char path[64];
  std::snprintf(path, sizeof(path), "/proc/%d/stat", pid);
  FILE* f = std::fopen(path, "r");
  if (!f) return 0;
  char buf[4096];
  size_t n = std::fread(buf, 1, sizeof(buf) - 1, f);
  std::fclose(f);
  buf[n] = 0;
  char* p = std::strrchr(buf, ')');
  if (!p) return 0;
  unsigned long long ut = 0, st = 0;
  // Fields after ")": state(3) ... utime(14) stime(15).
  int field = 2;
  for (char* tok = std::strtok(p + 1, " "); tok; tok = std::strtok(nullptr, " ")) {
    ++field;
    if (field == 14) ut = std::strtoull(tok, nullptr, 10);
    if (field == 15) {
      st = std::strtoull(tok, nullptr, 10);
      break;
    }
  }
  return ut + st;
}

void Worker::drive_publishers(uint64_t now) {
  if (publishing_done_) return;
  if (!sh_->go.load(std::memory_order_relaxed)) {
    bool pubs_ready = true;
    for (auto& c : pubs_) pubs_ready &= c->ready;
    if (!pubs_ready || sh_->ready.load() < opt_.subscribers + opt_.churn_subscribers) return;
    sh_->go.store(true);
    uint64_t ms = now + static_cast<uint64_t>(opt_.warmup * 1e9);
    sh_->measure_start_ns.store(ms == 0 ? 1 : ms);
    last_progress_ns_ = now;
    open_start_ns_ = now;
    if (opt_.mode == "closed") start_round();
    return;
  }
  uint64_t ms = sh_->measure_start_ns.load();
  if (sh_->server_cpu_start_ticks.load() == 0 && now >= ms && opt_.server_pid > 0) {
    sh_->server_cpu_start_ticks.store(read_proc_cpu_ticks(opt_.server_pid) + 1);
  }
  uint64_t end = ms + static_cast<uint64_t>(opt_.duration * 1e9);
  bool enough = opt_.max_messages && sh_->published.load() >= opt_.max_messages;
  if (opt_.mode == "closed") {
    if (round_open_ && round_complete()) {
      round_open_ = false;
      last_progress_ns_ = now;
      // Time alone ends a run only once a round that started inside the measurement window has
      // completed: a round longer than the window must still be measured, not reported as zero.
      bool measured_round = round_start_ns_ >= ms;
      if ((now >= end && measured_round) || enough) {
        publishing_done_ = true;
        sh_->measure_end_ns.store(now);
        if (opt_.server_pid > 0) sh_->server_cpu_end_ticks.store(read_proc_cpu_ticks(opt_.server_pid) + 1);
        sh_->stop.store(true);
        return;
      }
      start_round();
    } else if (round_open_ && now - last_progress_ns_ > static_cast<uint64_t>(opt_.stall_timeout * 1e9)) {
      sh_->stalled.store(true);
      publishing_done_ = true;
      sh_->measure_end_ns.store(now);
      sh_->stop.store(true);
    }
    return;
  }
  // Open loop: message i is due at open_start + i / rate; its timestamp is that intended time,
  // so a stall in the server or here shows up as latency instead of being hidden.
  uint64_t total = static_cast<uint64_t>(opt_.rate * (opt_.warmup + opt_.duration));
  if (opt_.max_messages) total = std::min(total, opt_.max_messages);
  uint64_t due = static_cast<uint64_t>(static_cast<double>(now - open_start_ns_) / 1e9 * opt_.rate) + 1;
  if (due > total) due = total;
  int batch = 0;
  while (open_sent_ < due && batch < 4096) {
    uint64_t i = open_sent_++;
    uint64_t intended = open_start_ns_ + static_cast<uint64_t>(static_cast<double>(i) * 1e9 / opt_.rate);
    int p = static_cast<int>(i % static_cast<uint64_t>(opt_.publishers));
    int t = static_cast<int>((i / static_cast<uint64_t>(opt_.publishers)) % static_cast<uint64_t>(opt_.topics));
    queue_publish(p, t, intended);
    ++batch;
  }
  if (batch) flush_publishers();
  if (open_sent_ >= total && drain_deadline_ns_ == 0) {
    sh_->measure_end_ns.store(open_start_ns_ + static_cast<uint64_t>(static_cast<double>(total) * 1e9 / opt_.rate));
    if (opt_.server_pid > 0) sh_->server_cpu_end_ticks.store(read_proc_cpu_ticks(opt_.server_pid) + 1);
    uint64_t expect = 0;
    for (int p = 0; p < opt_.publishers; ++p) {
      for (int t = 0; t < opt_.topics; ++t) {
        uint64_t n = sh_->pub_seq[static_cast<size_t>(p) * opt_.topics + t];
        for (int w = 0; w < opt_.threads; ++w) expect += n * static_cast<uint64_t>(sh_->normal_on_topic[w][t]);
      }
    }
    sh_->expected_normal_total = expect;
    sh_->expected_ready.store(true);
    drain_deadline_ns_ = now + static_cast<uint64_t>(std::max(2.0, opt_.stall_timeout) * 1e9);
  }
  if (drain_deadline_ns_) {
    uint64_t got = 0;
    for (int w = 0; w < opt_.threads; ++w) got += sh_->received_normal[w].load();
    if (got >= sh_->expected_normal_total || now >= drain_deadline_ns_) {
      publishing_done_ = true;
      sh_->stop.store(true);
    }
  }
}

void Worker::churn(uint64_t now) {
  if (my_churn_.empty() || opt_.churn_rate <= 0 || !sh_->go.load(std::memory_order_relaxed)) return;
  uint64_t start = sh_->measure_start_ns.load(std::memory_order_relaxed);
  if (now < start) return;
  double per_worker = opt_.churn_rate / opt_.threads;
  uint64_t due = static_cast<uint64_t>(static_cast<double>(now - start) / 1e9 * per_worker);
  while (churn_done_ < due) {
    int index = my_churn_[churn_next_++ % my_churn_.size()];
    for (auto& c : subs_) {
      if (c->index == index && !c->closed) {
        close_conn(c.get(), false);
        break;
      }
    }
    if (!open_conn(kSub, index)) {
      sh_->failed_connects.fetch_add(1);
      return;
    }
    ++churn_done_;
    sh_->churn_reconnects.fetch_add(1, std::memory_order_relaxed);
  }
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
  ep_ = epoll_create1(EPOLL_CLOEXEC);
  struct epoll_event wev {};
  wev.events = EPOLLIN;
  wev.data.u64 = kWakeTag;
  epoll_ctl(ep_, EPOLL_CTL_ADD, sh_->wake_fds[id_], &wev);
  connect_start_ns_ = now_ns();
  if (id_ == 0) {
    for (int p = 0; p < opt_.publishers; ++p) {
      if (!open_conn(kPub, p)) {
        sh_->failed_connects.fetch_add(1);
        sh_->stop.store(true);
      }
    }
  }
  std::vector<struct epoll_event> evs(1024);
  while (true) {
    uint64_t now = now_ns();
    bool connecting = next_connect_ < my_subs_.size();
    if (connecting && !sh_->stop.load(std::memory_order_relaxed)) connect_some(now);
    if (id_ == 0) drive_publishers(now);
    if (sh_->stop.load(std::memory_order_acquire)) break;
    int timeout = 100;
    if (connecting || !throttled_.empty()) timeout = 1;
    if (id_ == 0 && sh_->go.load(std::memory_order_relaxed) && opt_.mode == "open" && !publishing_done_) {
      uint64_t next_due = open_start_ns_ + static_cast<uint64_t>(static_cast<double>(open_sent_) * 1e9 / opt_.rate);
      timeout = next_due > now + 1'000'000 ? static_cast<int>((next_due - now) / 1'000'000) : 0;
    }
    if (id_ == 0 && !sh_->go.load(std::memory_order_relaxed)) timeout = 1;
    if (id_ == 0 && drain_deadline_ns_) timeout = 1;
    int n = epoll_wait(ep_, evs.data(), static_cast<int>(evs.size()), timeout);
    now = now_ns();
    for (int i = 0; i < n; ++i) {
      if (evs[i].data.u64 == kWakeTag) {
        uint64_t v;
        ssize_t r = ::read(sh_->wake_fds[id_], &v, sizeof(v));
        (void)r;
        continue;
      }
      Conn* c = static_cast<Conn*>(evs[i].data.ptr);
      if (c->closed) continue;
      if (evs[i].events & EPOLLOUT) on_writable(c);
      if (!c->closed && (evs[i].events & (EPOLLIN | EPOLLERR | EPOLLHUP)) && c->reading) on_readable(c, now);
    }
    refill_throttled(now);
    churn(now);
    snapshot(now);
  }
  sh_->churn_received.fetch_add(churn_local_received_);
  snapshot(now_ns() + 1'000'000'000);
  struct rusage ru;
  getrusage(RUSAGE_THREAD, &ru);  // this worker's own thread
  cpu_seconds_ = static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
                 static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

WorkerResult Worker::result() {
  WorkerResult r;
  r.latency = latency_;
  r.closed_by_server = closed_by_server_;
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
