// A backend whose kernel is a script (tests only). It implements the seam of net/completion.h
// with no sockets: it records every operation a shard submits, holds the bytes each fake client
// has sent, and completes operations only when the script says, in any order and any way (data,
// short, EAGAIN, errors, ENOBUFS, cancelled), delivering them at the shard's next dispatch(), as
// a real backend does. An outbound connect is recorded with its address and completes as the
// script says (connected, refused, timed out, cancelled); its socket then works as an accepted
// one does. It checks what a kernel would not forgive: one receive and one send per
// connection at most, no socket closed while an op on it is outstanding, no op on a closed one
// or on one not connected.
// Completed send bytes are read from the shard's iovecs at completion time (the queue must still
// hold them) and appended to the client's wire.
// Thread: the test's (the shard it serves is stepped on that thread too).
#pragma once

#include <sys/socket.h>
#include <sys/uio.h>

#include <cerrno>
#include <cstdint>
#include <deque>
#include <map>
#include <string>
#include <vector>

#include "net/completion.h"
#include "net/config.h"
#include "net/stats.h"
#include "tests/fuzz/fuzz_target.h"

namespace fanout::test {

// One fake client socket, as the kernel would hold it.
struct FakeSocket {
  uint64_t serial = 0;   // tells this connection from a later one on the same fd
  std::string inbound;   // bytes the client sent, not yet received by the server
  bool eof = false;      // the client shut down its side after `inbound`
  bool reset = false;    // the client reset the connection
  std::string wire;      // bytes the server sent, in order
  bool http = false;     // connected to the second listener (the fuzz harness's metrics endpoint)
  bool outbound = false; // the shard's own connect() made it
  std::string peer;      // outbound: the sockaddr it was asked to connect to, as bytes (a copy)
  bool connected = true; // accepted, or an outbound connect that completed with 0
};

class FakeBackend {
 public:
  static constexpr const char* kName = "fake";

  struct PendingOp {
    Op op;
    int fd;
    ConnId id;
    bool stop = false;              // stop_recv or cancel asked for its end
    std::vector<struct iovec> iov;  // send: what the shard offered
    size_t bytes = 0;
  };

  bool init(int, const ServerConfig&, BackendCounters* c, std::string*) {
    c_ = c;
    return true;
  }
  bool start(std::string*) { return true; }
  void finish() {}
  int64_t now_us() const { return now_ms_ * 1000; }
  void listen(int, uint32_t token, bool = false) { tokens_.push_back(token); }
  void stop_listen(int) {}
  void recv(int fd, ConnId id) {
    FUZZ_CHECK(open_fd(fd) && sockets_.at(fd).connected);
    FUZZ_CHECK(find(Op::kRecv, id) == nullptr);  // one receive at a time
    ops_.push_back(PendingOp{Op::kRecv, fd, id, false, {}, 0});
    ids_seen_.push_back(id);
  }
  void stop_recv(int fd, ConnId id) {
    if (PendingOp* op = find(Op::kRecv, id)) op->stop = true;
  }
  void submit_queued() {}
  void send(int fd, ConnId id, const struct iovec* iov, int n, size_t bytes) {
    FUZZ_CHECK(open_fd(fd) && sockets_.at(fd).connected);
    FUZZ_CHECK(find(Op::kSend, id) == nullptr);  // one send at a time
    FUZZ_CHECK(n > 0 && bytes > 0);
    PendingOp op{Op::kSend, fd, id, false, {}, 0};
    op.iov.assign(iov, iov + n);
    op.bytes = bytes;
    ops_.push_back(std::move(op));
  }
  // fd is a socket the shard has just made: it becomes a fake socket now, so that the shard may
  // close it whatever the outcome, and receives and sends on it once connected.
  void connect(int fd, ConnId id, const struct sockaddr* addr, socklen_t len) {
    FUZZ_CHECK(!open_fd(fd));  // a new socket, never one the fake already has
    FUZZ_CHECK(len > 0 && len <= sizeof(struct sockaddr_storage));
    FakeSocket& s = sockets_[fd];
    s.serial = ++serial_;
    s.outbound = true;
    s.peer.assign(reinterpret_cast<const char*>(addr), len);
    s.connected = false;
    ops_.push_back(PendingOp{Op::kConnect, fd, id, false, {}, 0});
    ids_seen_.push_back(id);
  }
  void cancel(int fd, ConnId id) {
    for (PendingOp& op : ops_) {
      if (op.id == id) op.stop = true;
    }
  }
  void wait(int) {}
  template <class Sink>
  void dispatch(Sink& sink) {
    std::deque<Due> due;
    due.swap(due_);
    for (const Due& d : due) {
      Completion e = d.c;
      e.data = d.data.empty() ? nullptr : d.data.data();
      sink.on_completion(e);
    }
  }
  void tune(int) {}
  void refuse(int fd, const char*) { close_socket(fd); }
  void close_socket(int fd) {
    FUZZ_CHECK(open_fd(fd));
    for (const PendingOp& op : ops_) FUZZ_CHECK(op.fd != fd);  // no op may outlive its socket
    for (const Due& d : due_) FUZZ_CHECK(d.fd != fd);
    sockets_.erase(fd);
  }

  // --- The script's side. ---
  void advance(int64_t ms) { now_ms_ += ms; }
  // A new client of the listener-th listen() (0: the first): the lowest free fd, as the kernel
  // picks, so numbers are reused.
  int connect(size_t listener = 0) {
    int fd = 3;
    while (sockets_.count(fd)) ++fd;
    sockets_[fd] = FakeSocket{};
    sockets_[fd].serial = ++serial_;
    sockets_[fd].http = listener == 1;
    const uint32_t token = listener < tokens_.size() ? tokens_[listener] : 0;
    due_.push_back(Due{Completion{ConnId{token, 0}, Op::kAccept, kMore, fd, nullptr}, "", -1});
    return fd;
  }
  FakeSocket* socket(int fd) {
    auto it = sockets_.find(fd);
    return it == sockets_.end() ? nullptr : &it->second;
  }
  size_t outstanding() const { return ops_.size(); }
  // The operations outstanding, oldest first (complete()'s indices).
  const std::vector<PendingOp>& pending() const { return ops_; }
  // Completes op `i` (mod outstanding). mode 0: all it can (a receive takes every byte there,
  // or the end), 1: short (a receive takes `n` bytes, a send `n` of its bytes), 2: nothing moved
  // (EAGAIN for a send, ENOBUFS for a receive), 3: an error (EPIPE, ECONNRESET). A connect:
  // 0 connected (cancelled if cancel() asked), 1 connected all the same (the handshake won the
  // race with the cancel), 2 -ETIMEDOUT, 3 -ECONNREFUSED.
  void complete(size_t i, int mode, size_t n) {
    if (ops_.empty()) return;
    i %= ops_.size();
    PendingOp op = ops_[i];
    if (op.op == Op::kRecv) {
      complete_recv(i, op, mode, n);
    } else if (op.op == Op::kConnect) {
      complete_connect(i, op, mode);
    } else {
      complete_send(i, op, mode, n);
    }
  }
  // Completes everything outstanding as a healthy kernel would: receives take what is there (or
  // end), sends take every byte.
  void settle() {
    for (size_t guard = 0; guard < 64 && !ops_.empty(); ++guard) {
      size_t before = ops_.size();
      for (size_t i = ops_.size(); i-- > 0;) complete(i, 0, 0);
      if (ops_.size() == before) break;  // receives with nothing to say stay armed
    }
  }
  // A completion for a connection that no longer exists (an id whose slot has moved on).
  void stale(size_t i, bool send) {
    if (ids_seen_.empty()) return;
    ConnId id = ids_seen_[i % ids_seen_.size()];
    for (const PendingOp& op : ops_) {
      if (op.id == id) return;  // still current: not stale
    }
    for (const Due& d : due_) {
      if (d.c.id == id) return;
    }
    id.gen += 1000;  // a generation that slot has not reached: surely not the current one
    due_.push_back(Due{Completion{id, send ? Op::kSend : Op::kRecv, send ? 0u : kMore, 1, nullptr}, "x", -1});
  }
  std::map<int, FakeSocket>& sockets() { return sockets_; }

 private:
  struct Due {
    Completion c;
    std::string data;  // a receive's bytes, alive until dispatched
    int fd;
  };

  bool open_fd(int fd) const { return sockets_.count(fd) != 0; }
  PendingOp* find(Op op, ConnId id) {
    for (PendingOp& p : ops_) {
      if (p.op == op && p.id == id) return &p;
    }
    return nullptr;
  }
  void finish_op(size_t i, Completion c, std::string data = {}) {
    int fd = ops_[i].fd;
    ops_.erase(ops_.begin() + static_cast<long>(i));
    due_.push_back(Due{c, std::move(data), fd});
  }
  void complete_recv(size_t i, const PendingOp& op, int mode, size_t n) {
    FakeSocket& s = sockets_.at(op.fd);
    if (mode == 2) {
      finish_op(i, Completion{op.id, Op::kRecv, 0, -ENOBUFS, nullptr});
      c_->recv_buffers_exhausted.add();
      return;
    }
    if (mode == 3 || s.reset) {
      finish_op(i, Completion{op.id, Op::kRecv, 0, -ECONNRESET, nullptr});
      return;
    }
    if (!s.inbound.empty() && !(op.stop && mode == 0)) {
      size_t take = mode == 1 ? std::max<size_t>(1, n % (s.inbound.size() + 1)) : s.inbound.size();
      take = std::min(take, s.inbound.size());
      std::string data = s.inbound.substr(0, take);
      s.inbound.erase(0, take);
      due_.push_back(Due{Completion{op.id, Op::kRecv, kMore, static_cast<int32_t>(take), nullptr}, std::move(data), op.fd});
      return;  // multishot: the receive stays armed
    }
    if (op.stop) {
      finish_op(i, Completion{op.id, Op::kRecv, 0, -ECANCELED, nullptr});
    } else if (s.eof) {
      finish_op(i, Completion{op.id, Op::kRecv, 0, 0, nullptr});
    }
    // else: nothing to receive yet; the op stays armed
  }
  void complete_connect(size_t i, const PendingOp& op, int mode) {
    int32_t res = 0;
    if (mode == 3) {
      res = -ECONNREFUSED;
    } else if (mode == 2) {
      res = -ETIMEDOUT;
    } else if (op.stop && mode == 0) {
      res = -ECANCELED;
    }
    sockets_.at(op.fd).connected = res == 0;
    finish_op(i, Completion{op.id, Op::kConnect, 0, res, nullptr});
  }
  void complete_send(size_t i, const PendingOp& op, int mode, size_t n) {
    FakeSocket& s = sockets_.at(op.fd);
    int32_t res;
    if (s.reset || mode == 3) {
      res = -EPIPE;
    } else if (mode == 2) {
      res = -EAGAIN;
    } else if (op.stop && mode == 0) {
      res = -ECANCELED;
    } else {
      size_t take = mode == 1 ? n % (op.bytes + 1) : op.bytes;
      // The bytes are read now, from the shard's queue: it must still hold them.
      size_t left = take;
      for (const struct iovec& v : op.iov) {
        size_t k = std::min(left, v.iov_len);
        s.wire.append(static_cast<const char*>(v.iov_base), k);
        left -= k;
        if (left == 0) break;
      }
      res = static_cast<int32_t>(take);
    }
    finish_op(i, Completion{op.id, Op::kSend, 0, res, nullptr});
  }

  BackendCounters* c_ = nullptr;
  int64_t now_ms_ = 1'000'000;
  std::vector<uint32_t> tokens_;  // listen()'s, in order
  std::vector<PendingOp> ops_;
  std::deque<Due> due_;
  std::map<int, FakeSocket> sockets_;
  std::vector<ConnId> ids_seen_;
  uint64_t serial_ = 0;
};

}  // namespace fanout::test
