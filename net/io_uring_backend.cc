#include "net/io_uring_backend.h"

#include <fcntl.h>
#include <sys/resource.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "net/uring_compat.h"

namespace fanout {
namespace {

constexpr unsigned kSqEntries = 4096;
// Completions can outnumber submissions many times over (multishot accept and receive), so the
// CQ is sized well above the work in flight; an overflow is still survived (FEAT_NODROP) and
// counted.
constexpr unsigned kCqEntries = 32768;
constexpr size_t kStagedIovecs = 64 * 1024;

std::string errno_text(int neg) { return strerror(-neg); }

// Multishot receive arrived in Linux 6.0; there is no feature bit to probe for it.
bool kernel_at_least(int major, int minor, std::string* release) {
  struct utsname u {};
  if (uname(&u) != 0) return true;
  *release = u.release;
  int ma = 0, mi = 0;
  if (std::sscanf(u.release, "%d.%d", &ma, &mi) != 2) return true;
  return ma > major || (ma == major && mi >= minor);
}

std::string why_setup_failed(int neg) {
  std::string why = "io_uring_setup failed: " + errno_text(neg);
  if (neg == -EPERM || neg == -EACCES) {
    FILE* f = std::fopen("/proc/sys/kernel/io_uring_disabled", "r");
    int v = -1;
    if (f != nullptr) {
      if (std::fscanf(f, "%d", &v) != 1) v = -1;
      std::fclose(f);
    }
    if (v > 0) {
      why += " (sysctl kernel.io_uring_disabled is " + std::to_string(v) + ")";
    } else {
      why += " (blocked by a seccomp filter or a container policy?)";
    }
  } else if (neg == -ENOSYS) {
    why += " (this kernel was built without io_uring)";
  }
  return why;
}

struct SetupStep {
  unsigned flags;
  const char* desc;
};

// Tried in order until the kernel accepts one. R_DISABLED lets the shard's own thread enable
// the ring and so become its single issuer.
constexpr SetupStep kSetupSteps[] = {
    {IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN | IORING_SETUP_COOP_TASKRUN |
         IORING_SETUP_TASKRUN_FLAG | IORING_SETUP_SUBMIT_ALL | IORING_SETUP_R_DISABLED,
     "single_issuer,defer_taskrun,coop_taskrun,taskrun_flag,submit_all"},
    {IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN | IORING_SETUP_SUBMIT_ALL |
         IORING_SETUP_R_DISABLED,
     "single_issuer,defer_taskrun,submit_all"},
    {IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_COOP_TASKRUN | IORING_SETUP_TASKRUN_FLAG |
         IORING_SETUP_SUBMIT_ALL | IORING_SETUP_R_DISABLED,
     "single_issuer,coop_taskrun,taskrun_flag,submit_all"},
    {IORING_SETUP_COOP_TASKRUN | IORING_SETUP_TASKRUN_FLAG | IORING_SETUP_SUBMIT_ALL,
     "coop_taskrun,taskrun_flag,submit_all"},
    {IORING_SETUP_SUBMIT_ALL, "submit_all"},
    {0, "none"},
};

int setup_ring(struct io_uring* ring, unsigned sq_entries, std::string* desc) {
  int r = -EINVAL;
  for (const SetupStep& step : kSetupSteps) {
    struct io_uring_params p {};
    p.flags = step.flags | IORING_SETUP_CQSIZE | IORING_SETUP_CLAMP;
    p.cq_entries = kCqEntries;
    r = io_uring_queue_init_params(sq_entries, ring, &p);
    if (r == 0) {
      if (!(p.features & IORING_FEAT_SUBMIT_STABLE) || !(p.features & IORING_FEAT_NODROP)) {
        io_uring_queue_exit(ring);
        return -EOPNOTSUPP;
      }
      *desc = step.desc;
      return 0;
    }
    if (r != -EINVAL) return r;  // not a flag problem: io_uring itself is unavailable
  }
  return r;
}

}  // namespace

std::string io_uring_unavailable_reason() {
  std::string release;
  if (!kernel_at_least(6, 0, &release)) {
    return "the io_uring backend needs Linux 6.0 or later (multishot receive); this kernel is " + release;
  }
  struct io_uring ring {};
  std::string desc;
  int r = setup_ring(&ring, kSqEntries, &desc);
  if (r == -EOPNOTSUPP) return "this kernel's io_uring lacks stable submission or no-drop completions";
  if (r != 0) return why_setup_failed(r);
  std::string why;
  struct io_uring_probe* probe = io_uring_get_probe_ring(&ring);
  if (probe == nullptr) {
    why = "io_uring opcode probe failed";
  } else {
    for (int op : {IORING_OP_ACCEPT, IORING_OP_RECV, IORING_OP_SENDMSG, IORING_OP_READ,
                   IORING_OP_ASYNC_CANCEL}) {
      if (!io_uring_opcode_supported(probe, op)) {
        why = "this kernel's io_uring lacks opcode " + std::to_string(op);
        break;
      }
    }
    io_uring_free_probe(probe);
  }
  io_uring_queue_exit(&ring);
  return why;
}

IoUringBackend::~IoUringBackend() {
  if (!ring_ok_) return;
  // Normally finish() unregistered the buffer ring on the issuing thread; if the shard never
  // ran, nothing has used it and this thread may.
  if (br_ != nullptr) uring::free_buf_ring(&ring_, br_, nbufs_, kBufferGroup);
  io_uring_queue_exit(&ring_);
}

bool IoUringBackend::init(int wake_fd, const ServerConfig& cfg, std::string* err) {
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
  if (nbufs_ == 0 || (nbufs_ & (nbufs_ - 1)) != 0 || nbufs_ > 32768) {
    *err = "--uring-buffers must be a power of two from 1 to 32768";
    return false;
  }
  if (buf_size_ < 512) {
    *err = "--uring-buffer-size must be at least 512 bytes";
    return false;
  }
  int e = 0;
  br_ = uring::setup_buf_ring(&ring_, nbufs_, kBufferGroup, &e);
  if (br_ == nullptr) {
    *err = "io_uring provided-buffer ring: " + errno_text(e) + " (needs Linux 5.19+); use --backend epoll";
    return false;
  }
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
  io_uring_register_ring_fd(&ring_);
  started_ = true;
  arm_wake();
  return true;
}

void IoUringBackend::finish() {
  // Nothing may still write into this object's memory once the shard's thread is gone: cancel
  // the wake read and any accept, and collect their completions.
  started_ = false;
  struct io_uring_sqe* s = sqe();
  io_uring_prep_cancel64(s, 0, IORING_ASYNC_CANCEL_ANY);
  s->user_data = user_data(kCancelOp, 0, 0);
  for (int i = 0; i < 100; ++i) {
    bool accepting = false;
    for (const FdState& st : fds_) accepting |= st.accept_armed;
    if (!wake_armed_ && !accepting) break;
    wait(10);
    struct NullSink {
      void on_completion(const Completion&) {}
    } sink;
    dispatch(sink);
  }
  if (br_ != nullptr) {
    uring::free_buf_ring(&ring_, br_, nbufs_, kBufferGroup);
    br_ = nullptr;
  }
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
    ++c_.enter_calls;
    int r = io_uring_submit(&ring_);
    if (io_uring_sq_ready(&ring_) == 0) {
      staging_.release(0);  // step 6: every entry was consumed
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

void IoUringBackend::arm_accept(int fd) {
  FdState& st = state(fd);
  struct io_uring_sqe* s = sqe();
  io_uring_prep_multishot_accept(s, fd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
  s->user_data = user_data(kAcceptOp, st.id, fd);
  st.accept_armed = true;
}

void IoUringBackend::arm_wake() {
  struct io_uring_sqe* s = sqe();
  io_uring_prep_read(s, wake_fd_, &wake_buf_, sizeof(wake_buf_), 0);
  s->user_data = user_data(kWakeOp, 0, wake_fd_);
  wake_armed_ = true;
}

void IoUringBackend::recycle(uint16_t bid) {
  io_uring_buf_ring_add(br_, bufs_.get() + static_cast<size_t>(bid) * buf_size_, buf_size_, bid,
                        io_uring_buf_ring_mask(nbufs_), buf_adds_++);
}

void IoUringBackend::register_fd(int fd) {
  FdState& st = state(fd);
  if (st.fixed || static_cast<unsigned>(fd) >= file_slots_) return;
  ++c_.register_calls;
  st.fixed = io_uring_register_files_update(&ring_, static_cast<unsigned>(fd), &fd, 1) == 1;
}

void IoUringBackend::unregister_fd(int fd) {
  FdState& st = state(fd);
  if (!st.fixed) return;
  int none = -1;
  ++c_.register_calls;
  io_uring_register_files_update(&ring_, static_cast<unsigned>(fd), &none, 1);
  st.fixed = false;
}

void IoUringBackend::listen(int fd, uint64_t token) {
  FdState& st = state(fd);
  st.id = token;
  st.listening = true;
  arm_accept(fd);
}

void IoUringBackend::stop_listen(int fd) {
  FdState& st = state(fd);
  st.listening = false;
  std::erase(paused_listeners_, fd);
  if (!st.accept_armed) return;
  struct io_uring_sqe* s = sqe();
  io_uring_prep_cancel64(s, user_data(kAcceptOp, st.id, fd), 0);
  s->user_data = user_data(kCancelOp, st.id, fd);
}

void IoUringBackend::recv(int fd, uint64_t id) {
  FdState& st = state(fd);
  st.id = id;
  st.recv_armed = true;
  st.recv_cancel_sent = false;
  register_fd(fd);
  struct io_uring_sqe* s = sqe();
  io_uring_prep_recv_multishot(s, fd, nullptr, 0, 0);
  set_fd_target(s, fd);
  s->flags |= IOSQE_BUFFER_SELECT;
  s->buf_group = kBufferGroup;
  s->user_data = user_data(kRecvOp, id, fd);
  ++c_.recv_calls;
}

int IoUringBackend::wait(int timeout_ms) {
  if (!paused_listeners_.empty()) {
    auto now = std::chrono::steady_clock::now();
    if (now >= listen_retry_at_) {
      for (int fd : paused_listeners_) {
        if (state(fd).listening && !state(fd).accept_armed) arm_accept(fd);
      }
      paused_listeners_.clear();
    } else {
      int left = static_cast<int>(
          std::chrono::duration_cast<std::chrono::milliseconds>(listen_retry_at_ - now).count()) + 1;
      if (timeout_ms < 0 || left < timeout_ms) timeout_ms = left;
    }
  }
  ++c_.enter_calls;
  ++c_.wait_calls;
  int r;
  if (timeout_ms == 0) {
    // Submits and runs deferred task work (which posts completions) without sleeping.
    r = io_uring_submit_and_get_events(&ring_);
  } else if (timeout_ms < 0) {
    r = io_uring_submit_and_wait(&ring_, 1);
  } else {
    struct __kernel_timespec ts {};
    ts.tv_sec = timeout_ms / 1000;
    ts.tv_nsec = static_cast<long long>(timeout_ms % 1000) * 1'000'000;
    struct io_uring_cqe* cqe = nullptr;
    r = io_uring_submit_and_wait_timeout(&ring_, &cqe, 1, &ts, nullptr);
  }
  (void)r;  // -ETIME, -EINTR and -EBUSY all mean: dispatch what is there and go round again
  staging_.release(io_uring_sq_ready(&ring_));  // step 6
  if (io_uring_cq_has_overflow(&ring_)) ++c_.cq_overflows;
  return static_cast<int>(io_uring_cq_ready(&ring_));
}

}  // namespace fanout
