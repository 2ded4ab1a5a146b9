#include "net/io_uring_backend.h"

#include <sys/resource.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "net/io_uring_setup.h"
#include "net/socket.h"
#include "net/uring_compat.h"

namespace fanout {
namespace {

// Send headers staged per submit: the SQ bounds the messages, this bounds their iovecs.
constexpr size_t kStagedIovecs = 64 * 1024;

std::string errno_text(int neg) { return strerror(-neg); }

}  // namespace

IoUringBackend::~IoUringBackend() {
  if (!ring_ok_) return;
  // Normally finish() unregistered the buffer ring on the issuing thread; if the shard never
  // ran, nothing has used it and this thread may.
  if (br_ != nullptr) uring::free_buf_ring(&ring_, br_, nbufs_, kBufferGroup);
  io_uring_queue_exit(&ring_);
}

bool IoUringBackend::init(int wake_fd, const ServerConfig& cfg, BackendCounters* counters, std::string* err) {
  cfg_ = &cfg;
  c_ = counters;
  std::string why = io_uring_unavailable_reason();
  if (!why.empty()) {
    *err = "io_uring is not available: " + why + "; use --backend epoll";
    return false;
  }
  int r = setup_ring(&ring_, static_cast<unsigned>(cfg.uring_sq_entries), &setup_desc_);
  if (r != 0) {
    *err = "io_uring is not available: " + why_setup_failed(r) + "; use --backend epoll";
    return false;
  }
  ring_ok_ = true;
  wake_fd_ = wake_fd;
  nbufs_ = static_cast<unsigned>(cfg.uring_buffers);
  buf_size_ = static_cast<unsigned>(cfg.uring_buffer_size);
  int e = 0;
  br_ = uring::setup_buf_ring(&ring_, nbufs_, kBufferGroup, &e);
  if (br_ == nullptr) {
    *err = "io_uring provided-buffer ring: " + errno_text(e) + " (needs Linux 5.19+); use --backend epoll";
    return false;
  }
  // Allocated, not touched: a buffer's pages count only once the kernel has received into it.
  bufs_.reset(new char[static_cast<size_t>(nbufs_) * buf_size_]);
  for (unsigned i = 0; i < nbufs_; ++i) {
    io_uring_buf_ring_add(br_, bufs_.get() + static_cast<size_t>(i) * buf_size_, buf_size_,
                          static_cast<unsigned short>(i), io_uring_buf_ring_mask(nbufs_),
                          static_cast<int>(i));
  }
  io_uring_buf_ring_advance(br_, static_cast<int>(nbufs_));

  if (cfg.uring_fixed_files) {
    struct rlimit rl {};
    getrlimit(RLIMIT_NOFILE, &rl);
    unsigned slots = static_cast<unsigned>(std::min<rlim_t>(rl.rlim_cur, 1u << 17));  // fds above use plain fds
    // Optional: without a table every op names its socket by plain fd.
    if (io_uring_register_files_sparse(&ring_, slots) == 0) {
      file_slots_ = slots;
      setup_desc_ += ",registered_files";
    }
  }
  staging_.init(cfg.uring_sq_entries, kStagedIovecs);
  return true;
}

int64_t IoUringBackend::now_us() const {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

bool IoUringBackend::start(std::string* err) {
  if (ring_.flags & IORING_SETUP_R_DISABLED) {
    int r = uring::enable_rings(&ring_);
    if (r != 0) {
      *err = "io_uring enable: " + errno_text(r);
      return false;
    }
  }
  // Registered ring fd: io_uring_enter skips the fd table lookup. Optional: kernels before 5.18
  // lack it, and the backend works without.
  if (io_uring_register_ring_fd(&ring_) == 1) c_->io_uring_registered_ring_fds.add();
  started_ = true;
  if (wake_fd_ >= 0) arm_wake();
  return true;
}

void IoUringBackend::finish() {
  // Nothing may still write into this object's memory (or the connections' queues) once the
  // shard's thread is gone: cancel everything still in flight and collect the completions.
  started_ = false;
  struct io_uring_sqe* s = sqe();
  io_uring_prep_cancel64(s, 0, IORING_ASYNC_CANCEL_ANY | IORING_ASYNC_CANCEL_ALL);
  s->user_data = op_tag(kCancelOp, ConnId{});
  struct NullSink {
    void on_completion(const Completion&) {}
  } sink;
  for (int i = 0; i < 100 && inflight_ != 0; ++i) {
    wait(10);
    dispatch(sink);
  }
  if (inflight_ != 0) {
    std::fprintf(stderr, "io_uring: %llu operations still in flight at exit\n",
                 static_cast<unsigned long long>(inflight_));
  }
  if (br_ != nullptr) {
    uring::free_buf_ring(&ring_, br_, nbufs_, kBufferGroup);
    br_ = nullptr;
  }
}

IoUringBackend::SlotState& IoUringBackend::own(int fd, ConnId id) {
  if (id.slot >= slots_.size()) slots_.resize(std::max<size_t>(id.slot + 1, slots_.size() * 2));
  SlotState& st = slots_[id.slot];
  if (st.gen != id.gen || st.fd != fd) st = SlotState{id.gen, fd};  // a new owner
  return st;
}

struct io_uring_sqe* IoUringBackend::sqe() {
  struct io_uring_sqe* s = io_uring_get_sqe(&ring_);
  if (s == nullptr) {
    submit_now();
    s = io_uring_get_sqe(&ring_);  // non-null: submit_now() returns only with the queue empty
  }
  return s;
}

void IoUringBackend::submit_now() {
  for (int attempt = 0; attempt < 10'000; ++attempt) {
    c_->io_uring_enter_calls.add();
    int r = io_uring_submit(&ring_);
    if (io_uring_sq_ready(&ring_) == 0) {
      staging_.release(0);  // SendStaging step 6: every entry was consumed
      return;
    }
    if (r < 0 && r != -EINTR && r != -EBUSY && r != -EAGAIN) {
      std::fprintf(stderr, "fatal: io_uring submit failed: %s\n", strerror(-r));
      std::abort();
    }
    // The kernel is short of memory or its completion backlog is full: let it make progress.
    io_uring_get_events(&ring_);
  }
  std::fprintf(stderr, "fatal: io_uring submission queue stuck full\n");
  std::abort();
}

void IoUringBackend::submit_queued() {
  if (io_uring_sq_ready(&ring_) > 0) submit_now();
}

void IoUringBackend::send(int fd, ConnId id, const struct iovec* iov, int n, size_t bytes) {
  // SendStaging's lifecycle, steps 1-4; steps 5 and 6 are in submit_now() and wait().
  const size_t count = static_cast<size_t>(n);
  // 1. Room: submitting here strands nothing, since nothing of this send is staged yet.
  if (io_uring_sq_space_left(&ring_) == 0 || !staging_.has_room(count)) submit_now();
  // 2. Take the entry. From here to step 4 nothing submits.
  struct io_uring_sqe* s = io_uring_get_sqe(&ring_);
  // 3. Stage the header and iovecs.
  struct msghdr* m = staging_.stage(iov, count);
  // 4. Point the entry at them.
  io_uring_prep_sendmsg(s, fd, m, MSG_NOSIGNAL);
  set_fd_target(s, fd, id);
  s->user_data = op_tag(kSendOp, id);
  own(fd, id).send_bytes = static_cast<uint32_t>(bytes);
  ++inflight_;
  c_->sends_submitted.add();
}

void IoUringBackend::connect(int fd, ConnId id, const struct sockaddr* addr, socklen_t len) {
  own(fd, id);
  // ConnectAddr's lifecycle, steps 1-3; step 4 is release_connect_addr(), on the CQE.
  // 1. Take a free entry, or a new one.
  ConnectAddr* a = nullptr;
  for (auto& e : connect_addrs_) {
    if (!e->busy) {
      a = e.get();
      break;
    }
  }
  if (a == nullptr) a = connect_addrs_.emplace_back(std::make_unique<ConnectAddr>()).get();
  // 2. Fill it. A len over the storage is passed on as it is: the kernel refuses it (EINVAL)
  // before reading any of it, as connect(2) would.
  a->id = id;
  a->busy = true;
  a->len = len;
  if (len > 0) std::memcpy(&a->addr, addr, std::min<size_t>(len, sizeof(a->addr)));
  // 3. Point the entry at it. By plain fd: a socket enters the file table on its first receive.
  struct io_uring_sqe* s = sqe();
  io_uring_prep_connect(s, fd, reinterpret_cast<const struct sockaddr*>(&a->addr), a->len);
  s->user_data = op_tag(kConnectOp, id);
  ++inflight_;
  c_->connect_calls.add();
}

void IoUringBackend::release_connect_addr(ConnId id) {
  for (auto& e : connect_addrs_) {
    if (e->busy && e->id == id) {
      e->busy = false;
      return;
    }
  }
}

void IoUringBackend::stop_recv(int fd, ConnId id) {
  SlotState& st = own(fd, id);
  if (!st.recv_armed || st.recv_cancel_sent) return;
  st.recv_cancel_sent = true;
  struct io_uring_sqe* s = sqe();
  io_uring_prep_cancel64(s, op_tag(kRecvOp, id), 0);
  s->user_data = op_tag(kCancelOp, id);
}

void IoUringBackend::cancel(int fd, ConnId id) {
  struct io_uring_sqe* s = sqe();
  // By the plain fd: the cancel matches ops by their file, however they named it.
  io_uring_prep_cancel_fd(s, fd, IORING_ASYNC_CANCEL_ALL);
  s->user_data = op_tag(kCancelOp, id);
  own(fd, id).recv_cancel_sent = true;
  // Ops in flight keep their own hold on the file; the table's goes now, so the socket closes
  // when the shard closes the fd.
  unregister_fd(fd);
}

void IoUringBackend::arm_accept(uint32_t index) {
  Listener& l = listeners_[index];
  struct io_uring_sqe* s = sqe();
  if (l.multishot) {
    io_uring_prep_multishot_accept(s, l.fd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
  } else {
    io_uring_prep_accept(s, l.fd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
  }
  s->user_data = op_tag(kAcceptOp, ConnId{index, 0});
  l.armed = true;
  ++inflight_;
}

void IoUringBackend::arm_wake() {
  struct io_uring_sqe* s = sqe();
  io_uring_prep_read(s, wake_fd_, &wake_buf_, sizeof(wake_buf_), 0);
  s->user_data = op_tag(kWakeOp, ConnId{});
  wake_armed_ = true;
  ++inflight_;
}

void IoUringBackend::recycle(uint16_t bid) {
  io_uring_buf_ring_add(br_, bufs_.get() + static_cast<size_t>(bid) * buf_size_, buf_size_, bid,
                        io_uring_buf_ring_mask(nbufs_), buf_adds_++);
}

void IoUringBackend::register_fd(int fd, ConnId id) {
  if (static_cast<unsigned>(fd) >= file_slots_ || is_fixed(fd, id)) return;
  if (static_cast<size_t>(fd) >= fixed_.size()) fixed_.resize(std::max<size_t>(fd + 1, fixed_.size() * 2));
  // Replaces whatever the entry held (a previous connection's file, if it was never cancelled).
  c_->io_uring_register_calls.add();
  bool ok = io_uring_register_files_update(&ring_, static_cast<unsigned>(fd), &fd, 1) == 1;
  fixed_[fd] = FixedFile{ok, id};
}

void IoUringBackend::unregister_fd(int fd) {
  if (static_cast<size_t>(fd) >= fixed_.size() || !fixed_[fd].in_table) return;
  int none = -1;
  c_->io_uring_register_calls.add();
  io_uring_register_files_update(&ring_, static_cast<unsigned>(fd), &none, 1);
  fixed_[fd] = FixedFile{};
}

void IoUringBackend::listen(int fd, uint32_t token, bool shared) {
  listeners_.push_back(Listener{fd, token, true, false, !shared});
  if (!listeners_paused_) arm_accept(static_cast<uint32_t>(listeners_.size() - 1));
}

void IoUringBackend::stop_listen(int fd) {
  for (uint32_t i = 0; i < listeners_.size(); ++i) {
    Listener& l = listeners_[i];
    if (l.fd != fd || !l.listening) continue;
    l.listening = false;
    if (!l.armed) continue;
    struct io_uring_sqe* s = sqe();
    io_uring_prep_cancel64(s, op_tag(kAcceptOp, ConnId{i, 0}), 0);
    s->user_data = op_tag(kCancelOp, ConnId{});
  }
}

void IoUringBackend::recv(int fd, ConnId id) {
  SlotState& st = own(fd, id);
  st.recv_armed = true;
  st.recv_cancel_sent = false;
  register_fd(fd, id);
  struct io_uring_sqe* s = sqe();
  io_uring_prep_recv_multishot(s, fd, nullptr, 0, 0);
  set_fd_target(s, fd, id);
  s->flags |= IOSQE_BUFFER_SELECT;
  s->buf_group = kBufferGroup;
  s->user_data = op_tag(kRecvOp, id);
  ++inflight_;
  c_->recv_calls.add();
}

void IoUringBackend::wait(int timeout_ms) {
  if (listeners_paused_) {
    auto now = std::chrono::steady_clock::now();
    if (now >= listen_retry_at_) {
      listeners_paused_ = false;
      for (uint32_t i = 0; i < listeners_.size(); ++i) {
        if (listeners_[i].listening && !listeners_[i].armed) arm_accept(i);
      }
    } else {
      int left = static_cast<int>(
          std::chrono::duration_cast<std::chrono::milliseconds>(listen_retry_at_ - now).count()) + 1;
      if (timeout_ms < 0 || left < timeout_ms) timeout_ms = left;
    }
  }
  c_->io_uring_enter_calls.add();
  c_->wait_calls.add();
  if (timeout_ms == 0) {
    // Submits and runs deferred task work (which posts completions) without sleeping.
    io_uring_submit_and_get_events(&ring_);
  } else if (timeout_ms < 0) {
    io_uring_submit_and_wait(&ring_, 1);
  } else {
    struct __kernel_timespec ts {};
    ts.tv_sec = timeout_ms / 1000;
    ts.tv_nsec = static_cast<long long>(timeout_ms % 1000) * 1'000'000;
    struct io_uring_cqe* cqe = nullptr;
    io_uring_submit_and_wait_timeout(&ring_, &cqe, 1, &ts, nullptr);
  }
  // -ETIME, -EINTR and -EBUSY all mean: dispatch what is there and go round again.
  staging_.release(io_uring_sq_ready(&ring_));  // SendStaging step 6
  if (io_uring_cq_has_overflow(&ring_)) c_->cq_overflows.add();
}

void IoUringBackend::tune(int fd) { tune_accepted(fd, *cfg_); }

void IoUringBackend::refuse(int fd, const char* reply) { refuse_socket(fd, reply); }

}  // namespace fanout
