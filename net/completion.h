// The backend seam: completion-shaped, one completion per operation outcome, on every backend.
//
// Operations a shard submits to its backend (EpollBackend, IoUringBackend, and the tests'
// FakeBackend), all from the shard's thread:
//   listen(fd, token, shared)  accepts: a kAccept completion per accepted fd (res = fd) or per
//                         error (res = -errno); never ends on its own. shared: other shards
//                         accept from fd too (the unix socket), and each should get its turn.
//   stop_listen(fd)       no more accepts from fd.
//   recv(fd, id)          multishot receive: kRecv completions with res = bytes and data pointing
//                         at backend-owned bytes valid only during the callback; res = 0 on EOF,
//                         -errno on error. The last completion of the op has kMore clear (EOF,
//                         error, stop_recv or cancel).
//   stop_recv(fd, id)     ends the receive (its final completion: -ECANCELED).
//   send(fd, id, iov, n, bytes)  one kSend completion: res = bytes taken (may be short), or
//                         -errno; -EAGAIN means "no bytes moved, the socket can take more now:
//                         send again". At most one send per socket is outstanding; the iovecs'
//                         memory stays valid until its completion.
//   connect(fd, id, addr, len)  connects fd, a non-blocking TCP socket the shard created and has
//                         submitted nothing on yet, to addr (len bytes; the backend copies it, so
//                         the caller's memory need not outlive the call). One kConnect completion:
//                         res = 0 when connected, else -errno (ECONNREFUSED, ETIMEDOUT,
//                         ENETUNREACH, ...; -ECANCELED when cancel(fd, id) ended it before it had
//                         an outcome). After res = 0 the shard receives and sends on fd/id as on
//                         an accepted socket.
//   cancel(fd, id)        ends every op on fd; each still outstanding gets its final completion.
//   wait(timeout_ms)      submits what is queued, then blocks until completions, a wake-up or
//                         the timeout (0: does not block; it never blocks while completions are
//                         already due).
//   dispatch(sink)        delivers every completion due, calling sink.on_completion(c).
//   start() / finish()    on the shard's own thread, before the first and after the last op.
//   tune(fd), refuse(fd, reply), close_socket(fd)   the socket calls a shard makes on an accepted
//                         fd (options; a best-effort error reply then close; close).
// Completions reach the shard only from dispatch(), never from inside another operation: a
// shard's state changes at one moment of its loop on every backend (DESIGN.md's loop).
// Wake-ups: any thread adds to the shard's eventfd, which every backend watches.
// A shard counts outstanding ops per connection and frees it only when that count is zero.
#pragma once

#include <cstdint>

namespace fanout {

// A connection's identity: its slot in the shard's table and the slot's generation, which
// changes every time the slot gets a new connection. A completion whose generation is not the
// slot's current one belongs to a connection that is gone, even if its fd has been reused.
struct ConnId {
  uint32_t slot = 0;  // < kMaxSlots
  uint32_t gen = 0;
  bool operator==(const ConnId&) const = default;
};

// Slots per shard (24 bits in an operation's tag): far above any descriptor limit.
inline constexpr uint32_t kMaxSlots = 1u << 24;

enum class Op : uint8_t { kAccept = 1, kRecv = 2, kSend = 3, kConnect = 4 };

// An operation's tag as the kernel carries it (io_uring user_data, epoll_event.data): op in the
// top 8 bits, slot in the next 24, the full generation in the low 32. Backends may use op values
// above kConnect for their own operations (cancels, wake-ups).
inline constexpr uint64_t op_tag(uint8_t op, ConnId id) {
  return (static_cast<uint64_t>(op) << 56) | (static_cast<uint64_t>(id.slot & (kMaxSlots - 1)) << 32) |
         id.gen;
}
inline constexpr uint8_t tag_op(uint64_t tag) { return static_cast<uint8_t>(tag >> 56); }
inline constexpr ConnId tag_id(uint64_t tag) {
  return ConnId{static_cast<uint32_t>(tag >> 32) & (kMaxSlots - 1), static_cast<uint32_t>(tag)};
}

struct Completion {
  ConnId id;  // the connection, or for kAccept {listener token, 0}
  Op op;
  uint32_t flags;
  int32_t res;
  const char* data;  // kRecv only
};

inline constexpr uint32_t kMore = 1;  // more completions will follow for this op

}  // namespace fanout
