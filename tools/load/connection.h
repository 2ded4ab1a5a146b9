// A load-generator connection and its socket I/O: the Conn record (role, subscriber class,
// buffers, verifier), the worker's epoll set that owns the sockets' events, and the token
// bucket that paces slow readers. With --tls the same I/O goes through the connection's SSL
// session, non-blocking: the handshake first, then SSL_write_ex and SSL_read_ex, re-arming
// EPOLLIN or EPOLLOUT for whichever the session wants. Every object here belongs to one worker
// and is used on that worker's thread only.
#pragma once

#include <openssl/ssl.h>
#include <sys/epoll.h>
#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <deque>
#include <string>
#include <vector>

#include "tools/load/protocol.h"
#include "tools/load/target.h"
#include "tools/load/tls.h"
#include "tools/load/verifier.h"

namespace fanout::load {

// One TCP connection: a subscriber (measured, slow, stopped or churning) or a publisher. Owned
// by its worker (subscribers) or PublishSchedule (publishers); touched on that worker's thread,
// and read by Worker::result() on the main thread once the worker has joined.
struct Conn {
  Conn() = default;
  Conn(const Conn&) = delete;
  Conn& operator=(const Conn&) = delete;
  ~Conn();  // frees ssl and closes fd if still open (Poller::close has not run)

  int fd = -1;
  SSL* ssl = nullptr;      // --tls: the session on fd, owned
  bool tls_ready = false;  // the handshake is complete
  bool tls_read_wants_write = false;  // SSL_read_ex wants the socket writable before it goes on
  bool tls_write_wants_read = false;  // SSL_write_ex wants the socket readable before it goes on
  bool tls_pending = false;  // in the Poller's list of sessions holding bytes already received
  Role role = kSub;
  int index = 0;  // subscriber index (see Shared) or publisher number
  int topic = 0;
  bool ready = false;  // subscribed (or, for a publisher, may publish)
  bool closed = false;
  bool stopped = false;  // never reads once subscribed
  bool slow = false;     // reads at most opt.slow_bps bytes per second
  bool churn = false;    // reconnects during the run; not part of the accounting
  bool normal = true;    // measured: none of the above
  bool reading = true;   // EPOLLIN is armed
  bool writing = false;  // EPOLLOUT is armed
  std::string in;        // a partial frame carried over to the next read
  std::string out;       // bytes to send, from out_off
  size_t out_off = 0;
  StreamVerifier verifier;
  std::deque<int> expect_counts;  // publisher: receivers each PUBLISH should report (-1: any)
  double tokens = 0;              // slow reader: bytes it may read now
  uint64_t refill_ns = 0;         // slow reader: last refill (0: never)
};

// A worker's epoll set and the I/O on its connections. Events carry the Conn* (or
// kWakeTag for the worker's eventfd); a closed connection is removed from the set before its fd
// is closed, so no later event names it. Built with its worker (main thread), then used on the
// worker's thread only; connect() is static and blocking, callable from any thread.
class Poller {
 public:
  static constexpr uint64_t kWakeTag = ~0ull;

  Poller();  // epoll_create1
  ~Poller();
  // False if the epoll set could not be created (out of descriptors).
  bool ok() const { return ep_ >= 0; }
  Poller(const Poller&) = delete;
  Poller& operator=(const Poller&) = delete;

  enum class Handshake { kDone, kWaiting, kFailed };

  // Connects c to `t` (blocking connect; SO_RCVBUF `rcvbuf` bytes if > 0), then makes it
  // non-blocking with TCP_NODELAY and sets c->fd; with `tls`, c->ssl too (its handshake starts
  // in handshake()). False (c untouched) if it cannot connect.
  static bool connect(Conn* c, const Target& t, int rcvbuf, const TlsClient* tls);
  // Watches c (connected, c->out holding its opening bytes) for input and output.
  void add(Conn* c);
  // Watches an eventfd; its events carry kWakeTag.
  void add_wake(int fd);
  // Arms EPOLLIN if `in` and EPOLLOUT if `out` (recorded in c->reading and c->writing).
  void set_events(Conn* c, bool in, bool out);
  // Waits up to timeout_ms for at most `max` events.
  int wait(struct epoll_event* evs, int max, int timeout_ms);
  // TLS: advances c's handshake. kDone once complete (c->tls_ready set, c->out flushed);
  // kWaiting with EPOLLIN or EPOLLOUT armed for what it needs; kFailed with c closed and *why
  // naming the reason (the certificate problem, or the server's alert).
  Handshake handshake(Conn* c, std::string* why);
  // Sends c->out from c->out_off until done or EAGAIN (then EPOLLOUT is armed; once drained it is
  // disarmed, and so is EPOLLIN for a stopped reader that is subscribed). A send error closes c
  // as closed by the server.
  void flush(Conn* c);
  // Reads at most `limit` bytes into buf. Returns the count (> 0), or 0 if there is nothing now
  // or the connection was closed (end of stream or an error: closed by the server; a TLS error
  // also goes to *tls_error, which must not be null with --tls). A TLS session that filled
  // `limit` may hold more bytes already received, which no epoll event will announce: it joins
  // the pending list (take_tls_pending).
  size_t read(Conn* c, char* buf, size_t limit, std::string* tls_error);
  // Arms EPOLLIN again for a reader the throttle had parked; a TLS session holding received
  // bytes joins the pending list.
  void resume_reading(Conn* c);
  // The TLS sessions to read from again without waiting for an event, moved into *out (whose
  // previous contents are dropped). The worker waits with a zero timeout while any are listed.
  void take_tls_pending(std::vector<Conn*>* out);
  bool has_tls_pending() const { return !tls_pending_.empty(); }
  // Removes c from the set (and the pending list), frees its TLS session and closes its fd
  // (once); `by_server` counts it in closed_by_server().
  void close(Conn* c, bool by_server);
  uint64_t closed_by_server() const { return closed_by_server_; }

 private:
  void flush_tls(Conn* c);
  size_t read_tls(Conn* c, char* buf, size_t limit, std::string* tls_error);
  void mark_tls_pending(Conn* c);

  int ep_ = -1;
  uint64_t closed_by_server_ = 0;
  std::vector<Conn*> tls_pending_;  // TLS sessions with received bytes unread (Conn::tls_pending)
};

// Paces slow readers to `bps` bytes per second with a bucket of at most bps / 10 bytes: a reader
// out of tokens stops reading (EPOLLIN off) until refill() gives it some back. The worker's
// thread only.
class ReadThrottle {
 public:
  ReadThrottle(Poller* poller, size_t bps) : poller_(poller), bps_(static_cast<double>(bps)) {}
  // The bucket a new slow reader starts with, in bytes.
  double initial_tokens() const { return bps_ / 10; }
  // Before reading from slow c: false (and c parked) if it has no tokens; else true with *limit
  // lowered to what it may read.
  bool admit(Conn* c, size_t* limit);
  // After slow c read n bytes.
  void charge(Conn* c, size_t n) { c->tokens -= static_cast<double>(n); }
  // Refills the parked readers by the time elapsed up to `now` (ns) and resumes those with a
  // token; once per loop iteration.
  void refill(uint64_t now);
  bool idle() const { return parked_.empty(); }

 private:
  Poller* poller_;
  double bps_;
  std::vector<Conn*> parked_;
};

}  // namespace fanout::load
