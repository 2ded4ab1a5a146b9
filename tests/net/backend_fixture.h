// A backend on its own, driven through the seam directly (no shard): a typed fixture run on both
// backends, with a sink that records every completion. The io_uring cases skip (saying why) on a
// kernel that cannot run that backend. Thread: the test's, which is the backend's shard thread.
#pragma once

#include <unistd.h>

#include <gtest/gtest.h>

#include <string>
#include <type_traits>
#include <vector>

#include "net/epoll_backend.h"
#include "net/io_uring_backend.h"
#include "net/socket.h"

namespace fanout {

// Every completion, in order; a receive's bytes are copied as they arrive (seen[i].data points
// at the backend's memory, valid only during the callback).
struct Recorder {
  std::vector<Completion> seen;
  std::vector<std::string> bytes;  // bytes[i]: seen[i]'s received bytes, if any
  void on_completion(const Completion& c) {
    seen.push_back(c);
    bool has = c.op == Op::kRecv && c.res > 0 && c.data != nullptr;
    bytes.push_back(has ? std::string(c.data, static_cast<size_t>(c.res)) : std::string());
  }
};

template <class Backend>
class BackendFixture : public ::testing::Test {
 protected:
  void SetUp() override {
    if constexpr (std::is_same_v<Backend, IoUringBackend>) {
      std::string why = io_uring_unavailable_reason();
      if (!why.empty()) GTEST_SKIP() << "io_uring backend skipped: " << why;
    }
    wake_ = make_eventfd();
    std::string err;
    ASSERT_TRUE(backend_.init(wake_, cfg_, &counters_, &err)) << err;
    ASSERT_TRUE(backend_.start(&err)) << err;
  }
  void TearDown() override {
    backend_.finish();
    if (wake_ >= 0) close(wake_);
  }
  ServerConfig cfg_;
  BackendCounters counters_;
  Backend backend_;
  int wake_ = -1;
};

using Backends = ::testing::Types<EpollBackend, IoUringBackend>;

}  // namespace fanout
