#include "tools/load/connection.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

namespace fanout::load {

Conn::~Conn() {
  if (fd >= 0) ::close(fd);
}

Poller::Poller() : ep_(epoll_create1(EPOLL_CLOEXEC)) {}

Poller::~Poller() {
  if (ep_ >= 0) ::close(ep_);
}

bool Poller::connect(Conn* c, const Target& t, int rcvbuf) {
  int fd = connect_target(t, rcvbuf);
  if (fd < 0) return false;
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
  c->fd = fd;
  return true;
}

void Poller::add(Conn* c) {
  struct epoll_event ev {};
  ev.events = EPOLLIN | EPOLLOUT;
  ev.data.ptr = c;
  c->writing = true;
  epoll_ctl(ep_, EPOLL_CTL_ADD, c->fd, &ev);
}

void Poller::add_wake(int fd) {
  struct epoll_event ev {};
  ev.events = EPOLLIN;
  ev.data.u64 = kWakeTag;
  epoll_ctl(ep_, EPOLL_CTL_ADD, fd, &ev);
}

void Poller::set_events(Conn* c, bool in, bool out) {
  c->reading = in;
  c->writing = out;
  struct epoll_event ev {};
  ev.events = (in ? uint32_t{EPOLLIN} : 0u) | (out ? uint32_t{EPOLLOUT} : 0u);
  ev.data.ptr = c;
  epoll_ctl(ep_, EPOLL_CTL_MOD, c->fd, &ev);
}

int Poller::wait(struct epoll_event* evs, int max, int timeout_ms) {
  return epoll_wait(ep_, evs, max, timeout_ms);
}

void Poller::flush(Conn* c) {
  while (c->out_off < c->out.size()) {
    ssize_t n = ::send(c->fd, c->out.data() + c->out_off, c->out.size() - c->out_off, MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK) {
        if (!c->writing) set_events(c, c->reading, true);
        return;
      }
      close(c, true);
      return;
    }
    c->out_off += static_cast<size_t>(n);
  }
  c->out.clear();
  c->out_off = 0;
  if (c->writing) set_events(c, c->reading && !(c->stopped && c->ready), false);
}

size_t Poller::read(Conn* c, char* buf, size_t limit) {
  ssize_t n = ::recv(c->fd, buf, limit, 0);
  if (n > 0) return static_cast<size_t>(n);
  if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) close(c, true);
  return 0;
}

void Poller::close(Conn* c, bool by_server) {
  if (c->closed) return;
  c->closed = true;
  epoll_ctl(ep_, EPOLL_CTL_DEL, c->fd, nullptr);
  ::close(c->fd);
  c->fd = -1;
  if (by_server) ++closed_by_server_;
}

bool ReadThrottle::admit(Conn* c, size_t* limit) {
  if (c->tokens < 1) {
    poller_->set_events(c, false, c->writing);
    parked_.push_back(c);
    return false;
  }
  *limit = std::min(*limit, static_cast<size_t>(c->tokens));
  return true;
}

void ReadThrottle::refill(uint64_t now) {
  if (parked_.empty()) return;
  size_t kept = 0;
  for (Conn* c : parked_) {
    if (c->closed) continue;
    double add = static_cast<double>(now - c->refill_ns) / 1e9 * bps_;
    if (c->refill_ns == 0) add = bps_ / 10;
    c->refill_ns = now;
    c->tokens = std::min(c->tokens + add, bps_ / 10);
    if (c->tokens >= 1) {
      poller_->set_events(c, true, c->writing);
    } else {
      parked_[kept++] = c;
    }
  }
  parked_.resize(kept);
}

}  // namespace fanout::load
