// The epoll implementation of the completion-shaped backend seam (see completion.h).
//
// Owns: one epoll instance, a receive scratch buffer, per-connection-slot interest state, and the
// completions due at the next dispatch. Thread: its shard only, except that the wake eventfd may
// be signalled from anywhere.
//
// Sends are attempted inline with sendmsg(MSG_NOSIGNAL); when the kernel takes bytes (or fails)
// the completion is queued and delivered by the next dispatch(), as io_uring delivers its own;
// only on EAGAIN is EPOLLOUT armed, and when it fires the send completes with -EAGAIN ("send
// again"). A connect is started inline too: connect(2) that succeeds or fails at once queues its
// completion; one in progress (EINPROGRESS) arms EPOLLOUT, and when that fires SO_ERROR says how
// it ended. stop_recv and cancel queue their final completions the same way, so the shard is never
// called back from inside an operation. Receives are level-triggered EPOLLIN with one recv(2) per
// readiness into the scratch buffer. An fd with no interest is removed from the set, so a hung-up
// socket cannot spin the loop. Each registration carries the connection's slot and generation
// (completion.h's op_tag), so an event for a slot's previous occupant is recognised and dropped.
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
#include "net/stats.h"

namespace fanout {

class EpollBackend {
 public:
  static constexpr const char* kName = "epoll";

  EpollBackend() = default;
  ~EpollBackend();
  EpollBackend(const EpollBackend&) = delete;
  EpollBackend& operator=(const EpollBackend&) = delete;

  // Creates the epoll instance watching wake_fd; counts into *counters. False with *err.
  bool init(int wake_fd, const ServerConfig& cfg, BackendCounters* counters, std::string* err);
  bool start(std::string* err) { return true; }
  void finish() {}
  // Monotonic time in microseconds (the loop's clock).
  int64_t now_us() const;
  // A shared listener is watched like any other: every shard watching it is woken and the first
  // accept4 wins (no EPOLLEXCLUSIVE, which would hand every connection to the first shard).
  void listen(int fd, uint32_t token, bool shared = false);
  void stop_listen(int fd);
  void recv(int fd, ConnId id);
  void stop_recv(int fd, ConnId id);
  void send(int fd, ConnId id, const struct iovec* iov, int n, size_t bytes);
  // connect(2) at once (the kernel copies addr); completes as completion.h says, at dispatch().
  void connect(int fd, ConnId id, const struct sockaddr* addr, socklen_t len);
  // Nothing to do: epoll's sends are made when asked (io_uring's queue them; see there).
  void submit_queued() {}
  void cancel(int fd, ConnId id);
  // Blocks for up to timeout_ms (-1: forever; 0 when completions are already due).
  void wait(int timeout_ms);
  template <class Sink>
  void dispatch(Sink& sink);
  void tune(int fd);
  void refuse(int fd, const char* reply);
  void close_socket(int fd) { ::close(fd); }

 private:
  struct SlotState {
    int fd = -1;
    uint32_t gen = 0;
    bool registered = false;
    bool recv = false;
    bool send_wait = false;
    bool connecting = false;  // a connect in progress, waiting for EPOLLOUT
  };
  struct Listener {
    int fd = -1;
    uint32_t token = 0;
    bool active = false;  // in the epoll set (not paused, not stopped)
  };
  enum Tag : uint8_t { kConnTag = 1, kListenTag = 2, kWakeTag = 3 };
  static constexpr size_t kScratch = 64 * 1024;
  static constexpr int kAcceptBatch = 64;
  static constexpr int kAcceptBackoffMs = 100;

  // The slot's state for connection `id`, reset when the slot has a new owner.
  SlotState& own(int fd, ConnId id);
  void update(SlotState& st, ConnId id);
  void set_listening(Listener& l, bool on);
  template <class Sink>
  void accept_ready(Listener& l, Sink& sink);
  template <class Sink>
  void conn_ready(uint64_t tag, uint32_t ev, Sink& sink);
  // How the connect in progress on st ended: 0 or -errno (SO_ERROR).
  int32_t connect_result(const SlotState& st, uint32_t ev);

  int ep_ = -1;
  int wake_fd_ = -1;
  const ServerConfig* cfg_ = nullptr;
  BackendCounters* c_ = nullptr;
  std::vector<SlotState> slots_;
  std::vector<Listener> listeners_;
  std::vector<Completion> due_;  // made inline by send, connect, stop_recv and cancel
  std::vector<struct epoll_event> events_ = std::vector<struct epoll_event>(512);
  int ready_ = 0;
  std::unique_ptr<char[]> scratch_{new char[kScratch]};
  std::chrono::steady_clock::time_point listen_retry_at_{};
  bool listeners_paused_ = false;
};

template <class Sink>
void EpollBackend::accept_ready(Listener& l, Sink& sink) {
  for (int i = 0; i < kAcceptBatch; ++i) {
    c_->accept_calls.add();
    int cfd = ::accept4(l.fd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (cfd >= 0) {
      sink.on_completion(Completion{ConnId{l.token, 0}, Op::kAccept, kMore, cfd, nullptr});
      continue;
    }
    int e = errno;
    if (e == EAGAIN || e == EWOULDBLOCK) return;
    if (e == EINTR || e == ECONNABORTED || e == EPROTO) continue;
    // EMFILE/ENFILE/ENOBUFS/ENOMEM: the listen queue stays readable, so a level-triggered
    // listener would spin. Take every listener out of the set and retry after a pause.
    for (Listener& other : listeners_) set_listening(other, false);
    listeners_paused_ = true;
    listen_retry_at_ = std::chrono::steady_clock::now() + std::chrono::milliseconds(kAcceptBackoffMs);
    sink.on_completion(Completion{ConnId{l.token, 0}, Op::kAccept, kMore, -e, nullptr});
    return;
  }
}

template <class Sink>
void EpollBackend::conn_ready(uint64_t tag, uint32_t ev, Sink& sink) {
  ConnId id = tag_id(tag);
  if (id.slot >= slots_.size() || slots_[id.slot].gen != id.gen || slots_[id.slot].fd < 0) {
    c_->stale_completions.add();
    return;
  }
  SlotState& st = slots_[id.slot];
  if ((ev & (EPOLLOUT | EPOLLERR | EPOLLHUP)) && st.connecting) {
    st.connecting = false;
    update(st, id);
    sink.on_completion(Completion{id, Op::kConnect, 0, connect_result(st, ev), nullptr});
    return;  // nothing else can be armed before the shard has seen the connect's outcome
  }
  if ((ev & (EPOLLIN | EPOLLERR | EPOLLHUP | EPOLLRDHUP)) && st.recv) {
    c_->recv_calls.add();
    ssize_t n = ::recv(st.fd, scratch_.get(), kScratch, 0);
    if (n > 0) {
      sink.on_completion(Completion{id, Op::kRecv, kMore, static_cast<int32_t>(n), scratch_.get()});
    } else if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) {
      int res = n == 0 ? 0 : -errno;
      st.recv = false;
      update(st, id);
      sink.on_completion(Completion{id, Op::kRecv, 0, res, nullptr});
    }
  }
  if ((ev & (EPOLLOUT | EPOLLERR | EPOLLHUP)) && st.send_wait) {
    st.send_wait = false;
    update(st, id);
    c_->sends_completed.add();
    sink.on_completion(Completion{id, Op::kSend, 0, -EAGAIN, nullptr});
  }
}

template <class Sink>
void EpollBackend::dispatch(Sink& sink) {
  // First what completed inline since the last dispatch, in the order it happened.
  if (!due_.empty()) {
    std::vector<Completion> due;
    due.swap(due_);
    c_->completions.add(due.size());
    for (const Completion& e : due) sink.on_completion(e);
    due.clear();
    if (due_.empty()) due_.swap(due);  // keep the capacity
  }
  c_->completions.add(static_cast<uint64_t>(ready_));
  for (int i = 0; i < ready_; ++i) {
    uint64_t tag = events_[i].data.u64;
    switch (tag_op(tag)) {
      case kWakeTag: {
        uint64_t v;
        ssize_t r = ::read(wake_fd_, &v, sizeof(v));
        (void)r;
        break;
      }
      case kListenTag: {
        uint32_t index = tag_id(tag).slot;
        if (index < listeners_.size() && listeners_[index].active) accept_ready(listeners_[index], sink);
        break;
      }
      default:
        conn_ready(tag, events_[i].events, sink);
    }
  }
  ready_ = 0;
}

}  // namespace fanout
