// Completion ids that cannot collide: a completion carries its connection's slot and full
// generation, so one that was still due for a slot's previous owner (its fd closed and reused,
// the slot given to a new connection) is dropped and counted, never delivered to the new owner.
// Driven through the backend seam directly, on both backends.
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "tests/net/backend_fixture.h"

namespace fanout {
namespace {

template <class Backend>
class BackendIdTest : public BackendFixture<Backend> {};

TYPED_TEST_SUITE(BackendIdTest, Backends);

// The old owner's receive has data ready (a completion due), then the connection goes away, its
// fd number is reused by a new socket, and the slot by a new connection (generation 2).
TYPED_TEST(BackendIdTest, ACompletionDueForASlotsPreviousOwnerIsDroppedAfterTheFdIsReused) {
  int a[2], b[2];
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, a), 0);
  const ConnId old_id{7, 1}, new_id{7, 2};
  this->backend_.recv(a[0], old_id);
  ASSERT_EQ(write(a[1], "hello", 5), 5);
  // Let the backend see the readiness / post the completion, without dispatching it.
  this->backend_.wait(50);
  // The old connection is gone: its fd is closed and the number reused for a new socket, which
  // the same slot's next connection (generation 2) receives on. A real shard would first wait
  // for the old owner's final completion; this is the case op counting alone used to guard.
  int old_fd = a[0];
  ASSERT_EQ(close(a[0]), 0);
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, b), 0);
  if (b[0] != old_fd) {
    ASSERT_EQ(dup2(b[0], old_fd), old_fd);
    close(b[0]);
    b[0] = old_fd;
  }
  this->backend_.recv(b[0], new_id);
  ASSERT_EQ(write(b[1], "world", 5), 5);
  // What was due from the first wait (epoll's ready event, io_uring's CQE) is dispatched now,
  // with the slot already the new owner's.
  Recorder r;
  this->backend_.dispatch(r);
  EXPECT_GE(this->counters_.stale_completions.get(), 1u);
  for (int i = 0; i < 50; ++i) {
    this->backend_.wait(10);
    this->backend_.dispatch(r);
    bool got = false;
    for (const Completion& c : r.seen) got |= c.id == new_id && c.res > 0;
    if (got) break;
  }
  std::string to_new;
  for (const Completion& c : r.seen) {
    EXPECT_FALSE(c.id == old_id && c.res > 0 && std::string(c.data, c.res) == "world")
        << "the new owner's bytes reached the old id";
    if (c.id == new_id && c.op == Op::kRecv && c.res > 0) to_new.append(c.data, static_cast<size_t>(c.res));
  }
  EXPECT_EQ(to_new, "world");  // only its own bytes: never the previous owner's "hello"
  this->backend_.cancel(b[0], new_id);
  for (int i = 0; i < 5; ++i) {
    this->backend_.wait(10);
    this->backend_.dispatch(r);
  }
  close(b[0]);
  close(b[1]);
  close(a[1]);
}

}  // namespace
}  // namespace fanout
