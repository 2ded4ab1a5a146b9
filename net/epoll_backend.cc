#include "net/epoll_backend.h"

#include <cstring>

namespace fanout {

EpollBackend::~EpollBackend() {
  if (ep_ >= 0) ::close(ep_);
}

bool EpollBackend::init(int wake_fd, const ServerConfig& cfg, std::string* err) {
  ep_ = epoll_create1(EPOLL_CLOEXEC);
  if (ep_ < 0) {
    *err = std::string("epoll_create1: ") + strerror(errno);
    return false;
  }
  wake_fd_ = wake_fd;
  struct epoll_event ev {};
  ev.events = EPOLLIN;
  ev.data.u64 = kWakeTag;
  if (epoll_ctl(ep_, EPOLL_CTL_ADD, wake_fd, &ev) != 0) {
    *err = std::string("epoll_ctl(eventfd): ") + strerror(errno);
    return false;
  }
  return true;
}

void EpollBackend::update(int fd) {
  FdState& st = state(fd);
  uint32_t want = 0;
  if (st.recv || st.listener) want |= EPOLLIN;
  if (st.send_wait) want |= EPOLLOUT;
  struct epoll_event ev {};
  ev.events = want | (st.recv ? static_cast<uint32_t>(EPOLLRDHUP) : 0u);
  ev.data.u64 = static_cast<uint64_t>(fd);
  int op;
  if (want == 0) {
    if (!st.registered) return;
    op = EPOLL_CTL_DEL;
    st.registered = false;
  } else {
    op = st.registered ? EPOLL_CTL_MOD : EPOLL_CTL_ADD;
    st.registered = true;
  }
  ++c_.ctl_calls;
  epoll_ctl(ep_, op, fd, &ev);
}

void EpollBackend::listen(int fd, uint64_t token) {
  FdState& st = state(fd);
  st.id = token;
  st.listener = true;
  update(fd);
}

void EpollBackend::stop_listen(int fd) {
  FdState& st = state(fd);
  st.listener = false;
  update(fd);
  std::erase(paused_listeners_, fd);
}

void EpollBackend::recv(int fd, uint64_t id) {
  FdState& st = state(fd);
  st.id = id;
  st.recv = true;
  update(fd);
}

int EpollBackend::wait(int timeout_ms) {
  if (!paused_listeners_.empty()) {
    auto now = std::chrono::steady_clock::now();
    if (now >= listen_retry_at_) {
      for (int fd : paused_listeners_) {
        state(fd).listener = true;
        update(fd);
      }
      paused_listeners_.clear();
    } else {
      int left = static_cast<int>(
          std::chrono::duration_cast<std::chrono::milliseconds>(listen_retry_at_ - now).count()) + 1;
      if (timeout_ms < 0 || left < timeout_ms) timeout_ms = left;
    }
  }
  ++c_.wait_calls;
  int n = epoll_wait(ep_, events_.data(), static_cast<int>(events_.size()), timeout_ms);
  ready_ = n < 0 ? 0 : n;
  return ready_;
}

}  // namespace fanout
