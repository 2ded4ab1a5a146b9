#include "tools/load/connection.h"

#include <fcntl.h>
#include <openssl/err.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

namespace fanout::load {

Conn::~Conn() {
  SSL_free(ssl);
  if (fd >= 0) ::close(fd);
}

Poller::Poller() : ep_(epoll_create1(EPOLL_CLOEXEC)) {}

Poller::~Poller() {
  if (ep_ >= 0) ::close(ep_);
}

bool Poller::connect(Conn* c, const Target& t, int rcvbuf, const TlsClient* tls) {
  int fd = connect_target(t, rcvbuf);
  if (fd < 0) return false;
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
  if (tls) {
    c->ssl = tls->new_session(fd);
    if (!c->ssl) {
      ::close(fd);
      return false;
    }
  }
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

Poller::Handshake Poller::handshake(Conn* c, std::string* why) {
  ERR_clear_error();
  int r = SSL_do_handshake(c->ssl);
  if (r == 1) {
    c->tls_ready = true;
    flush(c);
    if (!c->closed) return Handshake::kDone;
    *why = "the server closed the connection once the handshake was done";
    return Handshake::kFailed;
  }
  int saved = errno;
  int e = SSL_get_error(c->ssl, r);
  if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
    bool out = e == SSL_ERROR_WANT_WRITE;
    if (!c->reading || c->writing != out) set_events(c, true, out);
    return Handshake::kWaiting;
  }
  *why = TlsClient::describe_failure(c->ssl, e, saved);
  close(c, false);
  return Handshake::kFailed;
}

void Poller::flush(Conn* c) {
  if (c->ssl) return flush_tls(c);
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

// The TLS form of flush: the handshake completes first (it flushes then); a write that wants
// the socket readable waits for EPOLLIN, which is always armed until the handshake is done.
void Poller::flush_tls(Conn* c) {
  if (!c->tls_ready) return;
  c->tls_write_wants_read = false;
  while (c->out_off < c->out.size()) {
    size_t n = 0;
    ERR_clear_error();
    int r = SSL_write_ex(c->ssl, c->out.data() + c->out_off, c->out.size() - c->out_off, &n);
    if (r != 1) {
      int e = SSL_get_error(c->ssl, r);
      if (e == SSL_ERROR_WANT_WRITE) {
        if (!c->writing) set_events(c, c->reading, true);
        return;
      }
      if (e == SSL_ERROR_WANT_READ) {
        c->tls_write_wants_read = true;
        if (!c->reading) set_events(c, true, c->writing);
        return;
      }
      ERR_clear_error();
      close(c, true);
      return;
    }
    c->out_off += n;
  }
  c->out.clear();
  c->out_off = 0;
  if (c->writing && !c->tls_read_wants_write) set_events(c, c->reading && !(c->stopped && c->ready), false);
}

size_t Poller::read(Conn* c, char* buf, size_t limit, std::string* tls_error) {
  if (c->ssl) return read_tls(c, buf, limit, tls_error);
  ssize_t n = ::recv(c->fd, buf, limit, 0);
  if (n > 0) return static_cast<size_t>(n);
  if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) close(c, true);
  return 0;
}

// Reads records until `limit` bytes or until the session holds no more bytes (then, as for a
// plain socket, the next EPOLLIN says when the socket has some: one recv per event, not a
// second one to hear EAGAIN). Read-ahead takes several records per recv; those not yet handed
// out when `limit` stops the loop stay in the session, which then joins the pending list, since
// epoll only sees the socket.
size_t Poller::read_tls(Conn* c, char* buf, size_t limit, std::string* tls_error) {
  size_t total = 0;
  c->tls_read_wants_write = false;
  while (total < limit) {
    size_t n = 0;
    ERR_clear_error();
    int r = SSL_read_ex(c->ssl, buf + total, limit - total, &n);
    if (r == 1) {
      total += n;
      if (!SSL_has_pending(c->ssl)) return total;
      continue;
    }
    int saved = errno;
    int e = SSL_get_error(c->ssl, r);
    if (e == SSL_ERROR_WANT_READ) return total;
    if (e == SSL_ERROR_WANT_WRITE) {
      c->tls_read_wants_write = true;
      if (!c->writing) set_events(c, c->reading, true);
      return total;
    }
    // The bytes already read are handed out first; the error comes back on the next call.
    if (total > 0) return total;
    if (e == SSL_ERROR_SSL || (e == SSL_ERROR_SYSCALL && ERR_peek_error() != 0)) {
      *tls_error = TlsClient::describe_failure(c->ssl, e, saved);
    }
    ERR_clear_error();
    close(c, true);
    return 0;
  }
  if (SSL_has_pending(c->ssl)) mark_tls_pending(c);
  return total;
}

void Poller::mark_tls_pending(Conn* c) {
  if (c->tls_pending) return;
  c->tls_pending = true;
  tls_pending_.push_back(c);
}

void Poller::resume_reading(Conn* c) {
  set_events(c, true, c->writing);
  if (c->ssl && SSL_has_pending(c->ssl)) mark_tls_pending(c);
}

void Poller::take_tls_pending(std::vector<Conn*>* out) {
  out->swap(tls_pending_);
  tls_pending_.clear();
  for (Conn* c : *out) c->tls_pending = false;
}

void Poller::close(Conn* c, bool by_server) {
  if (c->closed) return;
  c->closed = true;
  epoll_ctl(ep_, EPOLL_CTL_DEL, c->fd, nullptr);
  if (c->tls_pending) {
    std::erase(tls_pending_, c);
    c->tls_pending = false;
  }
  SSL_free(c->ssl);
  c->ssl = nullptr;
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
      poller_->resume_reading(c);
    } else {
      parked_[kept++] = c;
    }
  }
  parked_.resize(kept);
}

}  // namespace fanout::load
