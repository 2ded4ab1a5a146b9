// The io_uring implementation of the completion-shaped backend seam (see completion.h).
//
// Owns: one ring per shard (SINGLE_ISSUER | DEFER_TASKRUN where the kernel has them, falling back
// step by step), one provided-buffer ring for receives, the staging area for send headers, and
// per-fd op state. Thread: created on the broker's thread with the ring disabled; start(), every
// op and finish() run on the shard's thread, which is the ring's only submitter.
//
// Operations and their SQEs:
//   listen   multishot ACCEPT; a final completion (an error such as EMFILE ends a multishot
//            accept) re-arms it after a short pause, so a full fd table cannot spin the loop.
//   recv     multishot RECV selecting from the buffer ring; each buffer goes back to the ring as
//            soon as its completion has been handled. A receive that ends while still wanted
//            (ENOBUFS when the ring ran dry) is re-armed by the shard, never treated as a close.
//   send     SENDMSG with MSG_NOSIGNAL, at most one per socket (the shard guarantees it). The
//            msghdr and iovecs live in a staging area (SendStaging, whose numbered lifecycle
//            send() follows) only until the kernel consumes the entry, which copies them then
//            (IORING_FEAT_SUBMIT_STABLE); the bytes they point at stay in the client's outbound
//            queue until the completion arrives.
//   cancel   ASYNC_CANCEL by fd with IORING_ASYNC_CANCEL_ALL; each op still outstanding ends with
//            its own completion, and the shard frees the connection after the last one.
//   wait     one io_uring_enter that submits everything the iteration queued and waits.
//   wake     a READ on the shard's eventfd is always in flight.
// Sockets enter the ring's registered file table (at index = fd) on their first receive and
// leave it on cancel, so sends and receives skip the per-op file lookup (--uring-fixed-files).
// user_data: op (8 bits) | low 24 bits of the connection generation | fd (32 bits). A completion
// whose generation does not match the fd's current owner is stale and dropped.
#pragma once

#include <liburing.h>
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
#include "net/send_staging.h"

namespace fanout {

// Empty if this kernel can run the io_uring backend, else why not (for the error message and
// for tests that skip).
std::string io_uring_unavailable_reason();

class IoUringBackend {
 public:
  static constexpr const char* kName = "io_uring";

  IoUringBackend() = default;
  ~IoUringBackend();
  IoUringBackend(const IoUringBackend&) = delete;
  IoUringBackend& operator=(const IoUringBackend&) = delete;

  bool init(int wake_fd, const ServerConfig& cfg, std::string* err);
  bool start(std::string* err);
  void finish();
  void listen(int fd, uint64_t token);
  void stop_listen(int fd);
  void recv(int fd, uint64_t id);
  template <class Sink>
  void stop_recv(int fd, uint64_t id, Sink& sink);
  template <class Sink>
  void send(int fd, uint64_t id, const struct iovec* iov, int n, size_t bytes, Sink& sink);
  template <class Sink>
  void cancel(int fd, uint64_t id, Sink& sink);
  int wait(int timeout_ms);
  template <class Sink>
  void dispatch(Sink& sink);
  const BackendCounters& counters() const { return c_; }
  // The setup flags the kernel accepted, for INFO ("defer_taskrun,single_issuer,...").
  const std::string& setup_description() const { return setup_desc_; }

 private:
  enum UOp : uint8_t { kAcceptOp = 1, kRecvOp, kSendOp, kCancelOp, kWakeOp };
  struct FdState {
    uint64_t id = 0;
    uint32_t send_bytes = 0;
    bool recv_armed = false;
    bool recv_cancel_sent = false;
    bool listening = false;   // wanted: a listener between listen() and stop_listen()
    bool accept_armed = false;
    bool fixed = false;       // in the registered file table, at index fd
  };
  static constexpr int kBufferGroup = 0;
  static constexpr int kAcceptBackoffMs = 100;
  static constexpr size_t kCqeBatch = 256;

  static uint64_t user_data(UOp op, uint64_t id, int fd) {
    return (static_cast<uint64_t>(op) << 56) | (((id >> 32) & 0xFFFFFF) << 32) |
           static_cast<uint32_t>(fd);
  }
  // False for a completion whose connection generation is not the fd's current owner's.
  static bool same_owner(const FdState& st, uint64_t ud) {
    return ((st.id >> 32) & 0xFFFFFF) == ((ud >> 32) & 0xFFFFFF);
  }
  FdState& state(int fd) {
    if (static_cast<size_t>(fd) >= fds_.size()) fds_.resize(fd * 2 + 64);
    return fds_[fd];
  }
  // An SQE, submitting what is queued first if the submission queue is full.
  struct io_uring_sqe* sqe();
  // Submits without waiting (the SQ or the send staging area is full), then releases the staging
  // area. Retries while the kernel refuses (EBUSY, EAGAIN); gives up only after many tries, as a
  // fatal error.
  void submit_now();
  void arm_accept(int fd);
  void arm_wake();
  void recycle(uint16_t bid);
  // Registered files: sockets enter the ring's file table (at index = fd) on their first receive
  // and leave it on cancel, so each SQE skips the per-op file reference count.
  void set_fd_target(struct io_uring_sqe* s, int fd) {
    if (state(fd).fixed) s->flags |= IOSQE_FIXED_FILE;
  }
  void register_fd(int fd);
  void unregister_fd(int fd);
  template <class Sink>
  void on_cqe(const struct io_uring_cqe* cqe, Sink& sink);

  struct io_uring ring_ {};
  bool ring_ok_ = false;
  bool started_ = false;
  int wake_fd_ = -1;
  uint64_t wake_buf_ = 0;
  bool wake_armed_ = false;

  struct io_uring_buf_ring* br_ = nullptr;
  unsigned nbufs_ = 0;
  unsigned buf_size_ = 0;
  std::unique_ptr<char[]> bufs_;
  int buf_adds_ = 0;  // buffers given back since the last advance

  SendStaging staging_;  // send headers until the kernel has consumed their entries

  std::vector<FdState> fds_;
  unsigned file_slots_ = 0;  // size of the registered file table (0: not used)
  std::vector<int> paused_listeners_;
  std::chrono::steady_clock::time_point listen_retry_at_{};
  std::string setup_desc_;
  BackendCounters c_;
};

template <class Sink>
void IoUringBackend::stop_recv(int fd, uint64_t id, Sink& sink) {
  FdState& st = state(fd);
  if (!st.recv_armed || st.recv_cancel_sent) return;
  st.recv_cancel_sent = true;
  struct io_uring_sqe* s = sqe();
  io_uring_prep_cancel64(s, user_data(kRecvOp, id, fd), 0);
  s->user_data = user_data(kCancelOp, id, fd);
}

template <class Sink>
void IoUringBackend::send(int fd, uint64_t id, const struct iovec* iov, int n, size_t bytes,
                          Sink& sink) {
  // The staging lifecycle (send_staging.h), steps 1-4; steps 5 and 6 are in submit_now() and
  // wait().
  const size_t count = static_cast<size_t>(n);
  // 1. Room: submitting here strands nothing, since nothing of this send is staged yet.
  if (io_uring_sq_space_left(&ring_) == 0 || !staging_.has_room(count)) submit_now();
  // 2. Take the entry. From here to step 4 nothing submits.
  struct io_uring_sqe* s = io_uring_get_sqe(&ring_);
  // 3. Stage the header and iovecs.
  struct msghdr* m = staging_.stage(iov, count);
  // 4. Point the entry at them.
  io_uring_prep_sendmsg(s, fd, m, MSG_NOSIGNAL);
  set_fd_target(s, fd);
  s->user_data = user_data(kSendOp, id, fd);
  state(fd).send_bytes = static_cast<uint32_t>(bytes);
  ++c_.sends_submitted;
}

template <class Sink>
void IoUringBackend::cancel(int fd, uint64_t id, Sink& sink) {
  struct io_uring_sqe* s = sqe();
  // By the plain fd: the cancel matches ops by their file, however they named it.
  io_uring_prep_cancel_fd(s, fd, IORING_ASYNC_CANCEL_ALL);
  s->user_data = user_data(kCancelOp, id, fd);
  state(fd).recv_cancel_sent = true;
  // Ops in flight keep their own hold on the file; the table's goes now, so the socket closes
  // when the shard closes the fd.
  unregister_fd(fd);
}

template <class Sink>
void IoUringBackend::dispatch(Sink& sink) {
  struct io_uring_cqe* cqes[kCqeBatch];
  while (true) {
    unsigned n = io_uring_peek_batch_cqe(&ring_, cqes, kCqeBatch);
    if (n == 0) break;
    for (unsigned i = 0; i < n; ++i) on_cqe(cqes[i], sink);
    io_uring_cq_advance(&ring_, n);
    c_.completions += n;
    if (n < kCqeBatch) break;
  }
  if (buf_adds_ != 0) {
    io_uring_buf_ring_advance(br_, buf_adds_);
    buf_adds_ = 0;
  }
}

template <class Sink>
void IoUringBackend::on_cqe(const struct io_uring_cqe* cqe, Sink& sink) {
  uint64_t ud = cqe->user_data;
  auto op = static_cast<UOp>(ud >> 56);
  int fd = static_cast<int>(static_cast<uint32_t>(ud));
  int res = cqe->res;
  bool more = (cqe->flags & IORING_CQE_F_MORE) != 0;
  switch (op) {
    case kWakeOp:
      wake_armed_ = false;
      if (started_) arm_wake();
      return;
    case kCancelOp:
      return;
    case kAcceptOp: {
      // Copied out: the sink's accept arms a receive, which may grow fds_.
      const uint64_t token = state(fd).id;
      const bool listening = state(fd).listening;
      if (!more) state(fd).accept_armed = false;
      if (res >= 0 && !listening) {
        ::close(res);  // raced with stop_listen: nobody will own it
      } else if (res >= 0 || (res != -ECANCELED && listening)) {
        sink.on_completion(Completion{token, Op::kAccept, kMore, res, nullptr});
      }
      if (!more && listening) {
        if (res >= 0) {
          arm_accept(fd);  // ended for a reason of its own (say, CQ overflow): go on at once
        } else {
          // EMFILE and friends end a multishot accept; pause before trying again.
          paused_listeners_.push_back(fd);
          listen_retry_at_ = std::chrono::steady_clock::now() + std::chrono::milliseconds(kAcceptBackoffMs);
        }
      }
      return;
    }
    case kRecvOp: {
      FdState& st = state(fd);
      bool has_buf = (cqe->flags & IORING_CQE_F_BUFFER) != 0;
      auto bid = static_cast<uint16_t>(cqe->flags >> IORING_CQE_BUFFER_SHIFT);
      if (!same_owner(st, ud)) {
        ++c_.stale_completions;
        if (has_buf) recycle(bid);
        return;
      }
      if (!more) {
        st.recv_armed = false;
        st.recv_cancel_sent = false;
        if (res == -ENOBUFS) ++c_.buffers_exhausted;
      }
      const char* data = has_buf ? bufs_.get() + static_cast<size_t>(bid) * buf_size_ : nullptr;
      sink.on_completion(Completion{st.id, Op::kRecv, more ? kMore : 0u, res, data});
      if (has_buf) recycle(bid);
      return;
    }
    case kSendOp: {
      FdState& st = state(fd);
      if (!same_owner(st, ud)) {
        ++c_.stale_completions;
        return;
      }
      ++c_.sends_completed;
      if (res >= 0 && static_cast<uint32_t>(res) < st.send_bytes) ++c_.short_sends;
      if (res == -EAGAIN) ++c_.eagain;
      sink.on_completion(Completion{st.id, Op::kSend, 0, res, nullptr});
      return;
    }
  }
}

}  // namespace fanout
