// The epoll implementation of the completion-shaped backend seam (see completion.h).
//
// Owns: one epoll instance, a receive scratch buffer, and per-fd interest state. Thread: its
// shard only, except that the wake eventfd may be signalled from anywhere.
//
// Sends are attempted inline with sendmsg(MSG_NOSIGNAL) and complete at once; only on EAGAIN is
// EPOLLOUT armed, and when it fires the send completes with -EAGAIN ("submit again"). Receives
// are level-triggered EPOLLIN with one recv(2) per readiness into the scratch buffer. An fd with
// no interest is removed from the set, so a hung-up socket cannot spin the loop.
#pragma once

#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "net/completion.h"
#include "net/config.h"

namespace fanout {

class EpollBackend {
 public:
  static constexpr const char* kName = "epoll";

  EpollBackend() = default;
  ~EpollBackend();
  EpollBackend(const EpollBackend&) = delete;
  EpollBackend& operator=(const EpollBackend&) = delete;

  bool init(int wake_fd, const ServerConfig& cfg, std::string* err);
  bool start(std::string* err) { return true; }
  void finish() {}
  void listen(int fd, uint64_t token);
  void stop_listen(int fd);
  void recv(int fd, uint64_t id);
  template <class Sink>
  void stop_recv(int fd, uint64_t id, Sink& sink);
  template <class Sink>
  void send(int fd, uint64_t id, const struct iovec* iov, int n, size_t bytes, Sink& sink);
  template <class Sink>
  void cancel(int fd, uint64_t id, Sink& sink);
  // Blocks for up to timeout_ms (-1: forever). Returns the number of ready events.
  int wait(int timeout_ms);
  template <class Sink>
  void dispatch(Sink& sink);
  // Submits nothing on epoll: sends already went out inline.
  void submit() {}
  const BackendCounters& counters() const { return c_; }

 private:
  struct FdState {
    uint64_t id = 0;
    bool registered = false;
    bool recv = false;
    bool send_wait = false;
    bool listener = false;
  };
  static constexpr uint64_t kWakeTag = ~0ull;
  static constexpr size_t kScratch = 64 * 1024;
  static constexpr int kAcceptBatch = 64;
  static constexpr int kAcceptBackoffMs = 100;

  FdState& state(int fd) {
    if (static_cast<size_t>(fd) >= fds_.size()) fds_.resize(fd * 2 + 64);
    return fds_[fd];
  }
  void update(int fd);
  template <class Sink>
  void accept_ready(int fd, Sink& sink);

  int ep_ = -1;
  int wake_fd_ = -1;
  std::vector<FdState> fds_;
  std::vector<struct epoll_event> events_ = std::vector<struct epoll_event>(512);
  int ready_ = 0;
  std::unique_ptr<char[]> scratch_{new char[kScratch]};
  std::vector<int> paused_listeners_;
  std::chrono::steady_clock::time_point listen_retry_at_{};
  BackendCounters c_;
};

template <class Sink>
void EpollBackend::stop_recv(int fd, uint64_t id, Sink& sink) {
  FdState& st = state(fd);
  if (!st.recv) return;
  st.recv = false;
  update(fd);
  sink.on_completion(Completion{id, Op::kRecv, 0, -ECANCELED, nullptr});
}

template <class Sink>
void EpollBackend::send(int fd, uint64_t id, const struct iovec* iov, int n, size_t bytes,
                        Sink& sink) {
  struct msghdr m {};
  m.msg_iov = const_cast<struct iovec*>(iov);
  m.msg_iovlen = static_cast<size_t>(n);
  ssize_t r;
  ++c_.sends_submitted;
  do {
    ++c_.sendmsg_calls;
    r = ::sendmsg(fd, &m, MSG_NOSIGNAL | MSG_DONTWAIT);
  } while (r < 0 && errno == EINTR);
  if (r >= 0) {
    ++c_.sends_completed;
    if (static_cast<size_t>(r) < bytes) ++c_.short_sends;
    sink.on_completion(Completion{id, Op::kSend, 0, static_cast<int32_t>(r), nullptr});
    return;
  }
  if (errno == EAGAIN || errno == EWOULDBLOCK) {
    ++c_.eagain;
    FdState& st = state(fd);
    st.send_wait = true;
    update(fd);
    return;  // completes when EPOLLOUT fires
  }
  ++c_.sends_completed;
  sink.on_completion(Completion{id, Op::kSend, 0, -errno, nullptr});
}

template <class Sink>
void EpollBackend::cancel(int fd, uint64_t id, Sink& sink) {
  FdState& st = state(fd);
  bool had_send = st.send_wait, had_recv = st.recv;
  st.send_wait = st.recv = false;
  update(fd);
  if (had_send) sink.on_completion(Completion{id, Op::kSend, 0, -ECANCELED, nullptr});
  if (had_recv) sink.on_completion(Completion{id, Op::kRecv, 0, -ECANCELED, nullptr});
}

template <class Sink>
void EpollBackend::accept_ready(int fd, Sink& sink) {
  uint64_t token = state(fd).id;
  for (int i = 0; i < kAcceptBatch; ++i) {
    ++c_.accept_calls;
    int cfd = ::accept4(fd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (cfd >= 0) {
      sink.on_completion(Completion{token, Op::kAccept, kMore, cfd, nullptr});
      continue;
    }
    int e = errno;
    if (e == EAGAIN || e == EWOULDBLOCK) return;
    if (e == EINTR || e == ECONNABORTED || e == EPROTO) continue;
    // EMFILE/ENFILE/ENOBUFS/ENOMEM: the listen queue stays readable, so a level-triggered
    // listener would spin. Take it out of the set and retry after a pause.
    FdState& st = state(fd);
    st.listener = false;
    update(fd);
    paused_listeners_.push_back(fd);
    listen_retry_at_ = std::chrono::steady_clock::now() + std::chrono::milliseconds(kAcceptBackoffMs);
    sink.on_completion(Completion{token, Op::kAccept, kMore, -e, nullptr});
    return;
  }
}

template <class Sink>
void EpollBackend::dispatch(Sink& sink) {
  for (int i = 0; i < ready_; ++i) {
    uint64_t tag = events_[i].data.u64;
    uint32_t ev = events_[i].events;
    ++c_.completions;
    if (tag == kWakeTag) {
      uint64_t v;
      ssize_t r = ::read(wake_fd_, &v, sizeof(v));
      (void)r;
      continue;
    }
    int fd = static_cast<int>(tag);
    if (state(fd).listener) {
      accept_ready(fd, sink);
      continue;
    }
    if ((ev & (EPOLLIN | EPOLLERR | EPOLLHUP | EPOLLRDHUP)) && state(fd).recv) {
      ++c_.recv_calls;
      ssize_t n = ::recv(fd, scratch_.get(), kScratch, 0);
      uint64_t id = state(fd).id;
      if (n > 0) {
        sink.on_completion(Completion{id, Op::kRecv, kMore, static_cast<int32_t>(n), scratch_.get()});
      } else if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) {
        int res = n == 0 ? 0 : -errno;
        state(fd).recv = false;
        update(fd);
        sink.on_completion(Completion{id, Op::kRecv, 0, res, nullptr});
      }
    }
    if ((ev & (EPOLLOUT | EPOLLERR | EPOLLHUP)) && state(fd).send_wait) {
      state(fd).send_wait = false;
      update(fd);
      ++c_.sends_completed;
      sink.on_completion(Completion{state(fd).id, Op::kSend, 0, -EAGAIN, nullptr});
    }
  }
  ready_ = 0;
}

}  // namespace fanout
