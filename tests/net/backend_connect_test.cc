// The backend seam's connect (completion.h), on both backends, over real sockets on 127.0.0.1
// only: a connect to a listener completes with 0 and the socket then sends and receives as an
// accepted one does; one to a port nobody listens on completes with -ECONNREFUSED; one the kernel
// cannot complete (the listener's accept queue is full, so its SYNs are dropped) ends with exactly
// one -ECANCELED when cancelled, and its slot then serves new connections while a completion
// still due for an earlier generation is dropped; the caller's sockaddr may change the moment
// connect() returns; and a connect the kernel refuses at once completes at the next dispatch.
// Every wait polls and is bounded.
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <chrono>
#include <cstring>
#include <memory>
#include <string>

#include "tests/net/backend_fixture.h"

namespace fanout {
namespace {

// Loopback gives every outcome here in microseconds; the bound is for slow sanitizer builds.
constexpr auto kPatience = std::chrono::seconds(10);

struct sockaddr_in loopback(int port) {
  struct sockaddr_in a {};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  return a;
}

const struct sockaddr* sa(const struct sockaddr_in& a) { return reinterpret_cast<const struct sockaddr*>(&a); }

// A new TCP socket as a shard makes one for an outbound link: non-blocking, nothing submitted.
int tcp_socket() { return ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0); }

// A socket bound to 127.0.0.1 on a port of its own, listening with `backlog`; or, with backlog
// -1, only bound: its port refuses connections, and nothing else can take it meanwhile.
int bound_socket(int backlog) {
  int fd = tcp_socket();
  struct sockaddr_in a = loopback(0);
  if (fd < 0 || ::bind(fd, sa(a), sizeof(a)) != 0 || (backlog >= 0 && ::listen(fd, backlog) != 0)) {
    ADD_FAILURE() << "socket on 127.0.0.1: " << strerror(errno);
    if (fd >= 0) ::close(fd);
    return -1;
  }
  return fd;
}

struct tcp_info tcp_info_of(int fd) {
  struct tcp_info ti {};
  socklen_t len = sizeof(ti);
  getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &len);
  return ti;
}

// One connection from listener l, as a blocking socket, within kPatience (-1 if none came).
int accept_within(int l) {
  struct pollfd p {l, POLLIN, 0};
  if (::poll(&p, 1, static_cast<int>(std::chrono::milliseconds(kPatience).count())) != 1) return -1;
  return ::accept4(l, nullptr, nullptr, SOCK_CLOEXEC);
}

// n bytes from a blocking socket, each read bounded by kPatience.
std::string read_within(int fd, size_t n) {
  std::string got;
  while (got.size() < n) {
    struct pollfd p {fd, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(std::chrono::milliseconds(kPatience).count())) != 1) break;
    char buf[256];
    ssize_t r = ::read(fd, buf, std::min(sizeof(buf), n - got.size()));
    if (r <= 0) break;
    got.append(buf, static_cast<size_t>(r));
  }
  return got;
}

template <class Backend>
class BackendConnectTest : public BackendFixture<Backend> {
 protected:
  // One iteration as a shard's loop makes it: submit and wait (briefly), then dispatch.
  void step(int timeout_ms = 10) {
    this->backend_.wait(timeout_ms);
    this->backend_.dispatch(rec_);
  }
  // Steps until cond() holds (true) or kPatience has passed (false).
  template <class Cond>
  bool step_until(Cond cond) {
    auto deadline = std::chrono::steady_clock::now() + kPatience;
    while (!cond()) {
      if (std::chrono::steady_clock::now() >= deadline) return false;
      step();
    }
    return true;
  }
  // How many completions of op have come for id.
  int count(ConnId id, Op op) const {
    int n = 0;
    for (const Completion& c : rec_.seen) n += c.id == id && c.op == op;
    return n;
  }
  // The first completion of op for id, stepping until it comes; its res, or 1 if none came.
  int32_t outcome(ConnId id, Op op) {
    if (!step_until([&] { return count(id, op) > 0; })) return 1;
    for (const Completion& c : rec_.seen) {
      if (c.id == id && c.op == op) return c.res;
    }
    return 1;
  }
  // A few more iterations, so that a second completion, were there one, would have come too.
  void settle() {
    for (int i = 0; i < 5; ++i) step();
  }
  // What id has received so far.
  std::string received(ConnId id) const {
    std::string s;
    for (size_t i = 0; i < rec_.seen.size(); ++i) {
      if (rec_.seen[i].id == id && rec_.seen[i].op == Op::kRecv) s += rec_.bytes[i];
    }
    return s;
  }

  Recorder rec_;
};

TYPED_TEST_SUITE(BackendConnectTest, Backends);

TYPED_TEST(BackendConnectTest, ConnectsToAListenerThenSendsAndReceivesLikeAnAcceptedSocket) {
  int l = bound_socket(16);
  int fd = tcp_socket();
  ASSERT_GE(l, 0);
  ASSERT_GE(fd, 0);
  const ConnId id{3, 1};
  struct sockaddr_in a = loopback(local_port(l));
  this->backend_.connect(fd, id, sa(a), sizeof(a));
  EXPECT_EQ(this->outcome(id, Op::kConnect), 0);
  EXPECT_EQ(this->rec_.seen.at(0).flags & kMore, 0u);  // the op's one and final completion
  EXPECT_EQ(this->counters_.connect_calls.get(), 1u);
  int peer = accept_within(l);
  ASSERT_GE(peer, 0);
  EXPECT_EQ(socket_endpoint(peer, false), socket_endpoint(fd, true));  // the peer is this socket

  char out[] = "ping";
  struct iovec v {out, 4};
  this->backend_.send(fd, id, &v, 1, 4);
  EXPECT_EQ(this->outcome(id, Op::kSend), 4);
  EXPECT_EQ(read_within(peer, 4), "ping");

  this->backend_.recv(fd, id);
  ASSERT_EQ(::write(peer, "pong", 4), 4);
  EXPECT_TRUE(this->step_until([&] { return this->received(id).size() >= 4; }));
  EXPECT_EQ(this->received(id), "pong");

  // Ended as a shard ends a connection: cancel, the receive's final completion, then close.
  size_t before = this->rec_.seen.size();
  this->backend_.cancel(fd, id);
  EXPECT_TRUE(this->step_until([&] {
    for (size_t i = before; i < this->rec_.seen.size(); ++i) {
      const Completion& c = this->rec_.seen[i];
      if (c.id == id && c.op == Op::kRecv && (c.flags & kMore) == 0) return true;
    }
    return false;
  }));
  EXPECT_EQ(this->count(id, Op::kConnect), 1);
  ::close(fd);
  ::close(peer);
  ::close(l);
}

TYPED_TEST(BackendConnectTest, AConnectToAPortNobodyListensOnIsRefused) {
  int refuser = bound_socket(-1);
  int fd = tcp_socket();
  ASSERT_GE(refuser, 0);
  ASSERT_GE(fd, 0);
  const ConnId id{4, 1};
  struct sockaddr_in a = loopback(local_port(refuser));
  this->backend_.connect(fd, id, sa(a), sizeof(a));
  EXPECT_EQ(this->outcome(id, Op::kConnect), -ECONNREFUSED);
  this->settle();
  EXPECT_EQ(this->count(id, Op::kConnect), 1);
  EXPECT_EQ(this->rec_.seen.size(), 1u);
  ::close(fd);
  ::close(refuser);
}

// A pending connect: the listener's backlog is 0 and one client already fills its accept queue,
// so Linux drops the next SYNs (tcp_conn_request, "accept queue full") and that connect stays in
// SYN_SENT, never leaving the machine.
TYPED_TEST(BackendConnectTest, APendingConnectCancelledEndsOnceWithECanceledAndItsSlotServesAgain) {
  int full = bound_socket(0);
  int open_listener = bound_socket(16);
  int filler = tcp_socket();
  ASSERT_GE(full, 0);
  ASSERT_GE(open_listener, 0);
  ASSERT_GE(filler, 0);
  struct sockaddr_in to_full = loopback(local_port(full)), to_open = loopback(local_port(open_listener));
  ASSERT_TRUE(::connect(filler, sa(to_full), sizeof(to_full)) == 0 || errno == EINPROGRESS);
  // A listener's TCP_INFO tcpi_unacked is its accept queue's length.
  ASSERT_TRUE(this->step_until([&] { return tcp_info_of(full).tcpi_unacked >= 1; }));

  const ConnId first{9, 1};
  int fd = tcp_socket();
  ASSERT_GE(fd, 0);
  this->backend_.connect(fd, first, sa(to_full), sizeof(to_full));
  // Submitted (io_uring submits at the wait) and in progress: its SYN was sent and dropped.
  ASSERT_TRUE(this->step_until([&] { return tcp_info_of(fd).tcpi_state == TCP_SYN_SENT; }));
  this->step();
  ASSERT_EQ(tcp_info_of(fd).tcpi_state, TCP_SYN_SENT);
  ASSERT_EQ(this->count(first, Op::kConnect), 0);

  this->backend_.cancel(fd, first);
  EXPECT_EQ(this->outcome(first, Op::kConnect), -ECANCELED);
  this->settle();
  EXPECT_EQ(this->count(first, Op::kConnect), 1);
  ::close(fd);  // as the shard does after the final completion

  // The slot's next connection (generation 2) connects; its outcome is in the backend (epoll's
  // ready event, io_uring's CQE) but not yet dispatched when that connection goes away and the
  // slot passes to generation 3, whose connect may reuse the fd number.
  const ConnId second{9, 2}, third{9, 3};
  int fd2 = tcp_socket();
  ASSERT_GE(fd2, 0);
  this->backend_.connect(fd2, second, sa(to_open), sizeof(to_open));
  this->backend_.wait(0);  // submits io_uring's CONNECT
  auto established = [&] { return tcp_info_of(fd2).tcpi_state == TCP_ESTABLISHED; };
  for (auto deadline = std::chrono::steady_clock::now() + kPatience;
       !established() && std::chrono::steady_clock::now() < deadline;) {
    struct pollfd p {fd2, POLLOUT, 0};
    ::poll(&p, 1, 10);
  }
  ASSERT_TRUE(established());
  this->backend_.wait(1000);  // returns with the outcome in hand: epoll's event, io_uring's CQE
  ::close(fd2);
  int fd3 = tcp_socket();
  ASSERT_GE(fd3, 0);
  this->backend_.connect(fd3, third, sa(to_open), sizeof(to_open));
  this->backend_.dispatch(this->rec_);  // what that wait brought, now that the slot is the third's
  EXPECT_GE(this->counters_.stale_completions.get(), 1u);
  EXPECT_EQ(this->outcome(third, Op::kConnect), 0);
  this->settle();
  EXPECT_EQ(this->count(second, Op::kConnect), 0);  // dropped: the slot was no longer its own
  EXPECT_EQ(this->count(first, Op::kConnect), 1);
  EXPECT_EQ(this->count(third, Op::kConnect), 1);
  ::close(fd3);
  ::close(filler);
  ::close(open_listener);
  ::close(full);
}

TYPED_TEST(BackendConnectTest, TheCallersAddressMayBeOverwrittenTheMomentConnectReturns) {
  int l = bound_socket(16);
  int refuser = bound_socket(-1);
  int fd = tcp_socket();
  ASSERT_GE(l, 0);
  ASSERT_GE(refuser, 0);
  ASSERT_GE(fd, 0);
  const ConnId id{5, 1};
  struct sockaddr_in a = loopback(local_port(l));
  this->backend_.connect(fd, id, sa(a), sizeof(a));
  // Had the backend kept the caller's pointer (io_uring submits at the next wait), the connect
  // would go here and be refused.
  a = loopback(local_port(refuser));
  EXPECT_EQ(this->outcome(id, Op::kConnect), 0);
  int peer = accept_within(l);
  ASSERT_GE(peer, 0);
  EXPECT_EQ(socket_endpoint(peer, false), socket_endpoint(fd, true));
  ::close(peer);
  ::close(fd);
  ::close(refuser);
  ::close(l);
}

// An address the kernel refuses outright (too short for AF_INET, or longer than any sockaddr):
// -EINVAL, delivered by dispatch() like every other outcome.
TYPED_TEST(BackendConnectTest, AnAddressTheKernelRefusesAtOnceCompletesWithEinvalAtDispatch) {
  int fd1 = tcp_socket(), fd2 = tcp_socket();
  ASSERT_GE(fd1, 0);
  ASSERT_GE(fd2, 0);
  const ConnId short_id{6, 1}, long_id{7, 1};
  struct sockaddr_in a = loopback(1);
  this->backend_.connect(fd1, short_id, sa(a), sizeof(a) - 1);
  alignas(struct sockaddr_storage) char big[sizeof(struct sockaddr_storage) + 8] = {};
  std::memcpy(big, &a, sizeof(a));
  this->backend_.connect(fd2, long_id, reinterpret_cast<const struct sockaddr*>(big), sizeof(big));
  EXPECT_EQ(this->outcome(short_id, Op::kConnect), -EINVAL);
  EXPECT_EQ(this->outcome(long_id, Op::kConnect), -EINVAL);
  this->settle();
  EXPECT_EQ(this->rec_.seen.size(), 2u);
  ::close(fd1);
  ::close(fd2);
}

}  // namespace
}  // namespace fanout
