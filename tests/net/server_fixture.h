// Runs a real server (the Broker, as fanoutd runs it) in-process on 127.0.0.1, port 0, for the
// integration suites. Parametrised by backend name so one suite covers every backend.
#pragma once

#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <tuple>

#include "net/broker.h"
#include "net/config.h"
#include "net/io_uring_backend.h"
#include "tests/net/test_client.h"

namespace fanout::test {

// Every backend the suites run on. One the kernel cannot offer is skipped with the reason.
inline const std::string kBackends[] = {"epoll", "io_uring"};

// Empty when `backend` can run here, else why not.
inline std::string backend_unavailable(const std::string& backend) {
  return backend == "io_uring" ? io_uring_unavailable_reason() : std::string();
}

#define SKIP_IF_BACKEND_UNAVAILABLE(backend)                                     \
  do {                                                                           \
    std::string why_ = ::fanout::test::backend_unavailable(backend);            \
    if (!why_.empty()) GTEST_SKIP() << (backend) << " backend skipped: " << why_; \
  } while (0)

// The delivery accounting invariant, checked by every suite that publishes once its server has
// stopped: each push owed to a subscriber was sent, dropped by policy or discarded with its
// connection, exactly once, and nothing is left queued.
inline void expect_deliveries_balanced(const Broker& broker) {
  DeliveryTotals d = broker.deliveries();
  EXPECT_TRUE(d.balanced()) << "due " << d.due << " != sent " << d.sent << " + dropped_newest "
                            << d.dropped_newest << " + dropped_oldest " << d.dropped_oldest
                            << " + discarded " << d.discarded << " + queued " << d.queued;
  EXPECT_EQ(d.queued, 0u);
}

// Runs one broker per test. Param is the backend name, or a tuple whose first element is.
template <class Param>
class BasicServerTest : public ::testing::TestWithParam<Param> {
 protected:
  static const std::string& backend_of(const std::string& p) { return p; }
  template <class... T>
  static const std::string& backend_of(const std::tuple<std::string, T...>& p) { return std::get<0>(p); }

  void SetUp() override {
    const std::string& backend = backend_of(this->GetParam());
    SKIP_IF_BACKEND_UNAVAILABLE(backend);
    cfg.backend = backend;
    cfg.shards = 2;
    cfg.port = kPortAuto;
  }
  void TearDown() override { stop(); }

  void start() {
    broker = std::make_unique<Broker>(cfg);
    std::string err;
    ASSERT_TRUE(broker->start(&err)) << err;
    port = broker->port();
  }
  void stop() {
    if (!broker) return;
    broker->stop();
    broker->join();
    expect_deliveries_balanced(*broker);
    broker.reset();
  }
  std::unique_ptr<TestClient> client(int rcvbuf = 0) {
    auto c = TestClient::connect(port, rcvbuf);
    EXPECT_NE(c, nullptr);
    return c;
  }
  std::string info(std::string_view section = "everything") {
    auto c = client();
    return c->call({"INFO", section}).str;
  }
  int64_t stat(std::string_view name) { return info_field(info(), name); }
  // Polls INFO until `name` equals `want` or timeout_ms passes; returns the last value seen.
  int64_t await_stat(std::string_view name, int64_t want, int timeout_ms = 10000) {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
    int64_t v = stat(name);
    while (v != want && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
      v = stat(name);
    }
    return v;
  }

  ServerConfig cfg;
  std::unique_ptr<Broker> broker;
  int port = 0;
};

using ServerTest = BasicServerTest<std::string>;
// Backend × slow-consumer policy.
using PolicyTest = BasicServerTest<std::tuple<std::string, std::string>>;

// "epoll_drop_oldest": a test-name suffix for PolicyTest parameters.
inline std::string policy_test_name(const ::testing::TestParamInfo<std::tuple<std::string, std::string>>& info) {
  std::string n = std::get<0>(info.param) + "_" + std::get<1>(info.param);
  for (char& c : n) if (c == '-') c = '_';
  return n;
}

}  // namespace fanout::test
