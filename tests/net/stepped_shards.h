// Real shards (real backends, real sockets on 127.0.0.1) whose loop iterations a test runs one at
// a time, so that what happens across shards happens in an order the test chooses: a peer that
// is stalled, a message still in a ring, two publishers on two shards. Each shard has a listener
// of its own (its own port), so the test decides which shard a client lands on. A shard may
// instead run by itself on a thread of its own (run_in_background). Thread: a shard is only ever
// touched by the thread that started it.
#pragma once

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "core/acl.h"
#include "net/shard.h"
#include "net/socket.h"
#include "tests/net/test_client.h"

namespace fanout::test {

template <class Backend>
class SteppedShards {
 public:
  // shared: listeners every shard accepts from too (a unix socket's), after its own.
  SteppedShards(const ServerConfig& cfg, int n, std::vector<Listener*> shared = {}) : cfg_(cfg) {
    cfg_.shards = n;
    shared_ = std::make_unique<SharedState>(cfg_, n, Acl(server_acl_catalog()));
    for (int s = 0; s < n; ++s) {
      std::string err;
      int fd = listen_tcp("127.0.0.1", 0, 1024, false, &err);
      EXPECT_GE(fd, 0) << err;
      listeners_.push_back(std::make_unique<Listener>());
      listeners_.back()->fd = fd;
      ports_.push_back(local_port(fd));
      shared_->wake_fds[s] = make_eventfd();
      std::vector<Listener*> mine{listeners_.back().get()};
      mine.insert(mine.end(), shared.begin(), shared.end());
      shards_.push_back(std::make_unique<Shard<Backend>>(s, shared_.get(), std::move(mine)));
      EXPECT_TRUE(shards_.back()->init(&err)) << err;
    }
    started_.assign(n, false);
    background_.resize(n);
  }
  ~SteppedShards() { stop(); }

  int port(int s) const { return ports_[s]; }
  Shard<Backend>& shard(int s) { return *shards_[s]; }
  SharedState& shared() { return *shared_; }

  // One iteration of shard s on this thread (which then owns it), not waiting.
  void step(int s, int times = 1) {
    start_here(s);
    for (int i = 0; i < times; ++i) shards_[s]->iterate(0);
  }
  // Steps shard s until pred() holds (true) or max_steps pass (false), pausing briefly between
  // steps so the kernel can deliver what the test's clients sent.
  bool step_until(int s, const std::function<bool()>& pred, int max_steps = 2000) {
    for (int i = 0; i < max_steps; ++i) {
      step(s);
      if (pred()) return true;
      std::this_thread::sleep_for(std::chrono::microseconds(200));
    }
    return false;
  }
  // Shard s runs its own loop on a thread of its own until stop().
  void run_in_background(int s) {
    background_[s] = std::thread([this, s] {
      std::string err;
      EXPECT_TRUE(shards_[s]->start(&err)) << err;
      int timeout = 0;
      while (shards_[s]->iterate(timeout)) timeout = shards_[s]->next_timeout();
      shards_[s]->finish();
    });
    started_[s] = true;
  }
  // Asks every shard to drain and exit (as SIGTERM does), without stepping any: the test steps
  // them through the drain.
  void request_stop() {
    shared_->stopping.store(true);
    for (int fd : shared_->wake_fds) signal_eventfd(fd);
  }
  // Asks every shard to drain and exit; steps the ones this thread owns until they have.
  void stop() {
    if (stopped_) return;
    stopped_ = true;
    request_stop();
    for (size_t s = 0; s < shards_.size(); ++s) {
      if (background_[s].joinable()) continue;
      if (!started_[s]) step(static_cast<int>(s), 0);
      for (int i = 0; i < 10000 && shards_[s]->iterate(10); ++i) {
      }
      shards_[s]->finish();
    }
    for (auto& t : background_) {
      if (t.joinable()) t.join();
    }
    std::vector<ShardCore*> all;
    for (auto& s : shards_) all.push_back(s.get());
    teardown_shards(all);
    for (auto& l : listeners_) ::close(l->fd);
    for (int fd : shared_->wake_fds) ::close(fd);
  }

 private:
  void start_here(int s) {
    if (started_[s]) return;
    started_[s] = true;
    std::string err;
    EXPECT_TRUE(shards_[s]->start(&err)) << err;
  }

  ServerConfig cfg_;
  std::unique_ptr<SharedState> shared_;
  std::vector<std::unique_ptr<Shard<Backend>>> shards_;
  std::vector<std::unique_ptr<Listener>> listeners_;
  std::vector<int> ports_;
  std::vector<bool> started_;
  std::vector<std::thread> background_;
  bool stopped_ = false;
};

}  // namespace fanout::test
