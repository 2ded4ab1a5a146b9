// The backend seam: completion-shaped, one completion per operation outcome.
//
// Operations a shard submits to its backend (EpollBackend, and the io_uring backend):
//   listen(fd, token)       multishot accept: a kAccept completion per accepted fd (res = fd)
//                           or per error (res = -errno); never ends on its own.
//   recv(fd, id)            multishot receive: kRecv completions with res = bytes and data
//                           pointing at backend-owned bytes valid only during the callback;
//                           res = 0 on EOF, -errno on error. The last completion of the op has
//                           kMore clear (EOF, error, or stop_recv/cancel).
//   stop_recv(fd, id, sink) ends the receive (final completion -ECANCELED).
//   send(fd, id, iov, n, sink)  one kSend completion: res = bytes taken (may be short), or
//                           -errno; -EAGAIN means "no bytes moved, the socket can take more now:
//                           submit again". At most one send per socket is outstanding.
//   cancel(fd, id, sink)    ends every op on fd; each still outstanding gets its final completion.
//   wait(timeout_ms)        submits what is queued, then blocks until completions or a wake;
//                           dispatch(sink) then delivers them.
//   start() / finish()      on the shard's own thread, before the first and after the last op.
// Wake-ups: any thread adds to the shard's eventfd, which every backend watches.
// A shard counts outstanding ops per connection and frees it only when that count is zero.
#pragma once

#include <cstdint>

namespace fanout {

enum class Op : uint8_t { kAccept, kRecv, kSend };

struct Completion {
  uint64_t id;  // connection id (generation << 32 | slot), or a listener token
  Op op;
  uint32_t flags;
  int32_t res;
  const char* data;  // kRecv only
};

inline constexpr uint32_t kMore = 1;  // more completions will follow for this op

// Counters every backend keeps, shown by INFO so the backends can be compared.
struct BackendCounters {
  uint64_t sendmsg_calls = 0;
  uint64_t recv_calls = 0;
  uint64_t wait_calls = 0;     // epoll_wait or io_uring_enter that waited
  uint64_t ctl_calls = 0;      // epoll_ctl
  uint64_t sends_submitted = 0;
  uint64_t sends_completed = 0;
  uint64_t short_sends = 0;
  uint64_t eagain = 0;
  uint64_t completions = 0;
  uint64_t accept_calls = 0;
  uint64_t enter_calls = 0;         // io_uring_enter, submitting and waiting alike
  uint64_t cq_overflows = 0;        // waits that found the completion queue overflowed
  uint64_t buffers_exhausted = 0;   // multishot receives ended by an empty buffer ring
  uint64_t stale_completions = 0;   // completions for an fd that has a new owner
  uint64_t register_calls = 0;      // io_uring_register (registered-file table updates)
};

}  // namespace fanout
