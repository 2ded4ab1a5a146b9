// The io_uring implementation of the completion-shaped backend seam (see completion.h).
//
// Owns: one ring per shard (SINGLE_ISSUER | DEFER_TASKRUN where the kernel has them, falling back
// step by step: io_uring_setup.cc), one provided-buffer ring for receives, the staging area for
// send headers, per-connection-slot op state and the registered file table. Thread: created on
// the broker's thread with the ring disabled; start(), every op and finish() run on the shard's
// thread, which is the ring's only submitter.
//
// Operations and their SQEs:
//   listen   multishot ACCEPT; a final completion (an error such as EMFILE ends a multishot
//            accept) re-arms it after a short pause, so a full fd table cannot spin the loop. On a
//            listener other shards share, one ACCEPT at a time, re-armed after each: the kernel
//            wakes one accept per connection (exclusive poll) and a multishot one stays first
//            in line, so it would take every connection; a re-armed one goes to the back.
//   recv     multishot RECV selecting from the buffer ring; each buffer goes back to the ring as
//            soon as its completion has been handled. A receive that ends while still wanted
//            (ENOBUFS when the ring ran dry) is re-armed by the shard, never treated as a close.
//   send     SENDMSG with MSG_NOSIGNAL, at most one per socket (the shard guarantees it). The
//            msghdr and iovecs live in a staging area (SendStaging, whose numbered lifecycle
//            send() follows) only until the kernel consumes the entry, which copies them then
//            (IORING_FEAT_SUBMIT_STABLE); the bytes they point at stay in the client's outbound
//            queue until the completion arrives.
//   connect  CONNECT on a copy of the address in a backend-owned ConnectAddr, kept until the op's
//            CQE (the kernel copies it when it consumes the entry, IORING_FEAT_SUBMIT_STABLE, but
//            that may be at a later submit than the caller expects; until the CQE is the rule
//            that needs no reasoning). The kernel waits for the handshake itself (its internal
//            poll): no readiness is emulated. Submitted with the iteration's other ops.
//   cancel   ASYNC_CANCEL by fd with IORING_ASYNC_CANCEL_ALL; each op still outstanding ends with
//            its own completion, and the shard frees the connection after the last one.
//   wait     one io_uring_enter that submits everything the iteration queued and waits.
//   wake     a READ on the shard's eventfd is always in flight.
// Sockets enter the ring's registered file table (at index = fd) on their first receive and
// leave it on cancel, so sends and receives skip the per-op file lookup (--uring-fixed-files).
// user_data is completion.h's op_tag: the op, the connection's slot and its full generation; a
// completion whose generation is not the slot's current owner's is stale and dropped.
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
#include "net/stats.h"

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

  // Sets up the ring (disabled until start()), the buffer ring and the file table; counts into
  // *counters. False with *err ("io_uring is not available: why; use --backend epoll").
  bool init(int wake_fd, const ServerConfig& cfg, BackendCounters* counters, std::string* err);
  // On the shard's thread: enables the ring (making this thread its single issuer).
  bool start(std::string* err);
  // On the shard's thread, last: cancels what is still in flight and waits (bounded) for it.
  void finish();
  // Monotonic time in microseconds (the loop's clock).
  int64_t now_us() const;
  void listen(int fd, uint32_t token, bool shared = false);
  void stop_listen(int fd);
  void recv(int fd, ConnId id);
  void stop_recv(int fd, ConnId id);
  void send(int fd, ConnId id, const struct iovec* iov, int n, size_t bytes);
  // Queues a CONNECT (submitted with the iteration's other ops) on a copy of addr; completes as
  // completion.h says (a len over sizeof(sockaddr_storage) gets the kernel's -EINVAL, as
  // connect(2) does).
  void connect(int fd, ConnId id, const struct sockaddr* addr, socklen_t len);
  // Submits the operations queued so far now, instead of at the next wait(): the shard calls it
  // during a flush whose sends took long to prepare (TLS encryption), so that the kernel and the
  // peers start on them meanwhile. One io_uring_enter if anything is queued.
  void submit_queued();
  void cancel(int fd, ConnId id);
  void wait(int timeout_ms);
  template <class Sink>
  void dispatch(Sink& sink);
  void tune(int fd);
  void refuse(int fd, const char* reply);
  void close_socket(int fd) { ::close(fd); }
  // The setup flags the kernel accepted, for INFO ("defer_taskrun,single_issuer,...").
  const std::string& setup_description() const { return setup_desc_; }

 private:
  enum UOp : uint8_t { kAcceptOp = 1, kRecvOp = 2, kSendOp = 3, kConnectOp = 4, kCancelOp = 5, kWakeOp = 6 };
  struct SlotState {
    uint32_t gen = 0;
    int fd = -1;
    uint32_t send_bytes = 0;
    bool recv_armed = false;
    bool recv_cancel_sent = false;
  };
  // A connect's address, from connect() until its CQE, as the CONNECT entry points at it: 1. taken
  // by connect(), 2. filled with the caller's address, 3. named by the entry, 4. given back when
  // the CQE arrives, whatever its result and even if it is stale.
  struct ConnectAddr {
    ConnId id;
    bool busy = false;
    socklen_t len = 0;
    struct sockaddr_storage addr {};
  };
  struct Listener {
    int fd = -1;
    uint32_t token = 0;
    bool listening = false;  // wanted: between listen() and stop_listen()
    bool armed = false;      // an accept is in flight
    bool multishot = true;   // false on a shared listener
  };
  static constexpr int kBufferGroup = 0;
  static constexpr int kAcceptBackoffMs = 100;
  static constexpr size_t kCqeBatch = 256;

  SlotState& own(int fd, ConnId id);
  // An SQE for an op other than send, submitting what is queued first if the SQ is full (no
  // send is ever half-staged here: send() takes its own, see SendStaging).
  struct io_uring_sqe* sqe();
  // Submits without waiting, then releases the staging area. Retries while the kernel refuses
  // (EBUSY, EAGAIN); gives up only after many tries, as a fatal error.
  void submit_now();
  void arm_accept(uint32_t index);
  void arm_wake();
  void recycle(uint16_t bid);
  // Registered files: sockets enter the ring's file table (at index = fd) on their first receive
  // and leave it on cancel, so each SQE skips the per-op file reference count. An entry names
  // the connection it was registered for: a table entry holds the file it was given, so an fd
  // number reused by another connection must be registered again, never used as it stands.
  bool is_fixed(int fd, ConnId id) const {
    return static_cast<size_t>(fd) < fixed_.size() && fixed_[fd].in_table && fixed_[fd].owner == id;
  }
  void set_fd_target(struct io_uring_sqe* s, int fd, ConnId id) {
    if (is_fixed(fd, id)) s->flags |= IOSQE_FIXED_FILE;
  }
  void register_fd(int fd, ConnId id);
  void unregister_fd(int fd);
  template <class Sink>
  void on_cqe(const struct io_uring_cqe* cqe, Sink& sink);
  template <class Sink>
  void on_accept_cqe(uint32_t index, int res, bool more, Sink& sink);
  // Gives back the address of id's connect (step 4 above).
  void release_connect_addr(ConnId id);

  struct io_uring ring_ {};
  bool ring_ok_ = false;
  bool started_ = false;
  const ServerConfig* cfg_ = nullptr;
  BackendCounters* c_ = nullptr;
  int wake_fd_ = -1;
  uint64_t wake_buf_ = 0;
  bool wake_armed_ = false;
  uint64_t inflight_ = 0;  // ops whose final completion has not arrived (for finish())

  struct io_uring_buf_ring* br_ = nullptr;
  unsigned nbufs_ = 0;
  unsigned buf_size_ = 0;
  std::unique_ptr<char[]> bufs_;
  int buf_adds_ = 0;  // buffers given back since the last advance

  SendStaging staging_;  // send headers until the kernel has consumed their entries
  // Connects in flight are few (a shard's outbound links): a short list, scanned; each entry is
  // allocated once and reused, and never moves while the kernel may read it.
  std::vector<std::unique_ptr<ConnectAddr>> connect_addrs_;

  std::vector<SlotState> slots_;
  std::vector<Listener> listeners_;
  struct FixedFile {
    bool in_table = false;
    ConnId owner;
  };
  std::vector<FixedFile> fixed_;  // by fd: in the registered file table, and for whom
  unsigned file_slots_ = 0;     // size of the registered file table (0: not used)
  bool listeners_paused_ = false;
  std::chrono::steady_clock::time_point listen_retry_at_{};
  std::string setup_desc_;
};

template <class Sink>
void IoUringBackend::dispatch(Sink& sink) {
  struct io_uring_cqe* cqes[kCqeBatch];
  // Everything the CQ holds, and what overflowed it: the kernel keeps those (FEAT_NODROP) and
  // moves them in when asked, once there is room. Bounded, so a stream of completions cannot
  // keep the loop here.
  for (int round = 0; round < 1024; ++round) {
    unsigned n = io_uring_peek_batch_cqe(&ring_, cqes, kCqeBatch);
    if (n == 0) {
      if (!io_uring_cq_has_overflow(&ring_)) break;
      c_->io_uring_enter_calls.add();
      io_uring_get_events(&ring_);
      n = io_uring_peek_batch_cqe(&ring_, cqes, kCqeBatch);
      if (n == 0) break;
    }
    for (unsigned i = 0; i < n; ++i) on_cqe(cqes[i], sink);
    io_uring_cq_advance(&ring_, n);
    c_->completions.add(n);
  }
  if (buf_adds_ != 0) {
    io_uring_buf_ring_advance(br_, buf_adds_);
    buf_adds_ = 0;
  }
}

template <class Sink>
void IoUringBackend::on_accept_cqe(uint32_t index, int res, bool more, Sink& sink) {
  if (index >= listeners_.size()) return;
  Listener& l = listeners_[index];
  if (!more) {
    l.armed = false;
    --inflight_;
  }
  if (res >= 0 && !l.listening) {
    ::close(res);  // raced with stop_listen: nobody will own it
  } else if (res >= 0 || (res != -ECANCELED && l.listening)) {
    sink.on_completion(Completion{ConnId{l.token, 0}, Op::kAccept, kMore, res, nullptr});
  }
  if (!more && l.listening) {
    if (res >= 0) {
      arm_accept(index);  // ended for a reason of its own (say, CQ overflow): go on at once
    } else {
      // EMFILE and friends end a multishot accept; pause before trying again.
      listeners_paused_ = true;
      listen_retry_at_ = std::chrono::steady_clock::now() + std::chrono::milliseconds(kAcceptBackoffMs);
    }
  }
}

template <class Sink>
void IoUringBackend::on_cqe(const struct io_uring_cqe* cqe, Sink& sink) {
  const uint64_t tag = cqe->user_data;
  const ConnId id = tag_id(tag);
  const int res = cqe->res;
  const bool more = (cqe->flags & IORING_CQE_F_MORE) != 0;
  switch (tag_op(tag)) {
    case kWakeOp:
      wake_armed_ = false;
      --inflight_;
      if (started_) arm_wake();
      return;
    case kCancelOp:
      return;
    case kAcceptOp:
      on_accept_cqe(id.slot, res, more, sink);
      return;
    case kRecvOp: {
      const bool has_buf = (cqe->flags & IORING_CQE_F_BUFFER) != 0;
      const auto bid = static_cast<uint16_t>(cqe->flags >> IORING_CQE_BUFFER_SHIFT);
      if (!more) --inflight_;
      if (id.slot >= slots_.size() || slots_[id.slot].gen != id.gen) {
        c_->stale_completions.add();
        if (has_buf) recycle(bid);
        return;
      }
      SlotState& st = slots_[id.slot];
      if (!more) {
        st.recv_armed = false;
        st.recv_cancel_sent = false;
        if (res == -ENOBUFS) c_->recv_buffers_exhausted.add();
      }
      const char* data = has_buf ? bufs_.get() + static_cast<size_t>(bid) * buf_size_ : nullptr;
      sink.on_completion(Completion{id, Op::kRecv, more ? kMore : 0u, res, data});
      if (has_buf) recycle(bid);
      return;
    }
    case kConnectOp:
      --inflight_;
      release_connect_addr(id);
      if (id.slot >= slots_.size() || slots_[id.slot].gen != id.gen) {
        c_->stale_completions.add();
        return;
      }
      sink.on_completion(Completion{id, Op::kConnect, 0, res, nullptr});
      return;
    case kSendOp: {
      --inflight_;
      if (id.slot >= slots_.size() || slots_[id.slot].gen != id.gen) {
        c_->stale_completions.add();
        return;
      }
      c_->sends_completed.add();
      if (res >= 0 && static_cast<uint32_t>(res) < slots_[id.slot].send_bytes) c_->short_sends.add();
      if (res == -EAGAIN) c_->send_eagain.add();
      sink.on_completion(Completion{id, Op::kSend, 0, res, nullptr});
      return;
    }
  }
}

}  // namespace fanout
