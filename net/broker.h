// The broker: binds one SO_REUSEPORT listener per shard (the kernel spreads accepted connections
// over them), builds the shared state and the N×N shard rings, starts one thread per shard with
// the chosen backend, and on stop() asks every shard to drain and exit, then tears down.
// Thread: start(), stop() and join() from the main thread; stop() is also safe from a signal
// handler thread.
#pragma once

#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "net/config.h"
#include "net/shared_state.h"

namespace fanout {

class ShardCore;

class Broker {
 public:
  explicit Broker(const ServerConfig& cfg);
  ~Broker();
  Broker(const Broker&) = delete;
  Broker& operator=(const Broker&) = delete;

  // Binds, starts the shards. False with *err on failure.
  bool start(std::string* err);
  int port() const { return port_; }
  std::string endpoint() const;
  int shards() const { return nshards_; }
  void stop();
  void join();
  // Delivery accounting summed over the shards; exact after join().
  DeliveryTotals deliveries() const { return shared_ ? shared_->deliveries() : DeliveryTotals{}; }

 private:
  template <class Backend>
  bool start_shards(std::string* err);
  bool build_acl(Acl* acl, std::string* err);

  ServerConfig cfg_;
  int nshards_;
  int port_ = 0;
  std::unique_ptr<SharedState> shared_;
  std::vector<int> listen_fds_;
  std::vector<std::unique_ptr<ShardCore>> shards_;
  std::vector<std::thread> threads_;
  bool joined_ = false;
};

}  // namespace fanout
