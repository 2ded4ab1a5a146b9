#include "net/epoll_backend.h"

#include <cstring>

#include "net/socket.h"

namespace fanout {

EpollBackend::~EpollBackend() {
  if (ep_ >= 0) ::close(ep_);
}

bool EpollBackend::init(int wake_fd, const ServerConfig& cfg, BackendCounters* counters, std::string* err) {
  cfg_ = &cfg;
  c_ = counters;
  ep_ = epoll_create1(EPOLL_CLOEXEC);
  if (ep_ < 0) {
    *err = std::string("epoll_create1: ") + strerror(errno);
    return false;
  }
  wake_fd_ = wake_fd;
  struct epoll_event ev {};
  ev.events = EPOLLIN;
  ev.data.u64 = op_tag(kWakeTag, ConnId{});
  if (wake_fd >= 0 && epoll_ctl(ep_, EPOLL_CTL_ADD, wake_fd, &ev) != 0) {
    *err = std::string("epoll_ctl(eventfd): ") + strerror(errno);
    return false;
  }
  return true;
}

int64_t EpollBackend::now_us() const {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

EpollBackend::SlotState& EpollBackend::own(int fd, ConnId id) {
  if (id.slot >= slots_.size()) slots_.resize(std::max<size_t>(id.slot + 1, slots_.size() * 2));
  SlotState& st = slots_[id.slot];
  if (st.gen != id.gen || st.fd != fd) st = SlotState{fd, id.gen};  // a new owner
  return st;
}

void EpollBackend::update(SlotState& st, ConnId id) {
  uint32_t want = 0;
  if (st.recv) want |= EPOLLIN | EPOLLRDHUP;
  if (st.send_wait || st.connecting) want |= EPOLLOUT;
  struct epoll_event ev {};
  ev.events = want;
  ev.data.u64 = op_tag(kConnTag, id);
  int op;
  if (want == 0) {
    if (!st.registered) return;
    op = EPOLL_CTL_DEL;
    st.registered = false;
  } else {
    op = st.registered ? EPOLL_CTL_MOD : EPOLL_CTL_ADD;
    st.registered = true;
  }
  c_->epoll_ctl_calls.add();
  epoll_ctl(ep_, op, st.fd, &ev);
}

void EpollBackend::set_listening(Listener& l, bool on) {
  if (l.active == on || l.fd < 0) return;
  l.active = on;
  struct epoll_event ev {};
  ev.events = EPOLLIN;
  ev.data.u64 = op_tag(kListenTag, ConnId{static_cast<uint32_t>(&l - listeners_.data()), 0});
  c_->epoll_ctl_calls.add();
  epoll_ctl(ep_, on ? EPOLL_CTL_ADD : EPOLL_CTL_DEL, l.fd, &ev);
}

void EpollBackend::listen(int fd, uint32_t token, bool) {
  listeners_.push_back(Listener{fd, token, false});
  if (!listeners_paused_) set_listening(listeners_.back(), true);
}

void EpollBackend::stop_listen(int fd) {
  for (Listener& l : listeners_) {
    if (l.fd != fd) continue;
    set_listening(l, false);
    l.fd = -1;
  }
}

void EpollBackend::recv(int fd, ConnId id) {
  SlotState& st = own(fd, id);
  st.recv = true;
  update(st, id);
}

void EpollBackend::stop_recv(int fd, ConnId id) {
  SlotState& st = own(fd, id);
  if (!st.recv) return;
  st.recv = false;
  update(st, id);
  due_.push_back(Completion{id, Op::kRecv, 0, -ECANCELED, nullptr});
}

void EpollBackend::send(int fd, ConnId id, const struct iovec* iov, int n, size_t bytes) {
  struct msghdr m {};
  m.msg_iov = const_cast<struct iovec*>(iov);
  m.msg_iovlen = static_cast<size_t>(n);
  ssize_t r;
  c_->sends_submitted.add();
  do {
    c_->sendmsg_calls.add();
    r = ::sendmsg(fd, &m, MSG_NOSIGNAL | MSG_DONTWAIT);
  } while (r < 0 && errno == EINTR);
  if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
    c_->send_eagain.add();
    SlotState& st = own(fd, id);
    st.send_wait = true;
    update(st, id);
    return;  // completes when EPOLLOUT fires
  }
  c_->sends_completed.add();
  if (r >= 0 && static_cast<size_t>(r) < bytes) c_->short_sends.add();
  due_.push_back(Completion{id, Op::kSend, 0, r >= 0 ? static_cast<int32_t>(r) : -errno, nullptr});
}

void EpollBackend::connect(int fd, ConnId id, const struct sockaddr* addr, socklen_t len) {
  SlotState& st = own(fd, id);
  c_->connect_calls.add();
  int r = ::connect(fd, addr, len);
  // EINTR: the connect goes on asynchronously, as if EINPROGRESS (connect(2)); retrying would
  // only report EALREADY.
  if (r < 0 && (errno == EINPROGRESS || errno == EINTR)) {
    st.connecting = true;
    update(st, id);
    return;  // completes when EPOLLOUT fires
  }
  due_.push_back(Completion{id, Op::kConnect, 0, r == 0 ? 0 : -errno, nullptr});
}

int32_t EpollBackend::connect_result(const SlotState& st, uint32_t ev) {
  int err = 0;
  socklen_t len = sizeof(err);
  if (getsockopt(st.fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0) return -errno;
  if (err != 0) return -err;
  // Writable with no error pending: connected. A hang-up with no error and no EPOLLOUT should
  // not happen (a refused or reset connect sets SO_ERROR); never call it connected.
  return (ev & EPOLLOUT) ? 0 : -ECONNABORTED;
}

void EpollBackend::cancel(int fd, ConnId id) {
  SlotState& st = own(fd, id);
  bool had_send = st.send_wait, had_recv = st.recv, had_connect = st.connecting;
  st.send_wait = st.recv = st.connecting = false;
  update(st, id);
  if (had_connect) due_.push_back(Completion{id, Op::kConnect, 0, -ECANCELED, nullptr});
  if (had_send) {
    c_->sends_completed.add();
    due_.push_back(Completion{id, Op::kSend, 0, -ECANCELED, nullptr});
  }
  if (had_recv) due_.push_back(Completion{id, Op::kRecv, 0, -ECANCELED, nullptr});
}

void EpollBackend::wait(int timeout_ms) {
  if (listeners_paused_) {
    auto now = std::chrono::steady_clock::now();
    if (now >= listen_retry_at_) {
      listeners_paused_ = false;
      for (Listener& l : listeners_) set_listening(l, true);
    } else {
      int left = static_cast<int>(
          std::chrono::duration_cast<std::chrono::milliseconds>(listen_retry_at_ - now).count()) + 1;
      if (timeout_ms < 0 || left < timeout_ms) timeout_ms = left;
    }
  }
  if (!due_.empty()) timeout_ms = 0;
  c_->wait_calls.add();
  int n = epoll_wait(ep_, events_.data(), static_cast<int>(events_.size()), timeout_ms);
  ready_ = n < 0 ? 0 : n;
}

void EpollBackend::tune(int fd) { tune_accepted(fd, *cfg_); }

void EpollBackend::refuse(int fd, const char* reply) { refuse_socket(fd, reply); }

}  // namespace fanout
