// The broker: validates the configuration, opens the listeners (net/listener.h: for every
// address one SO_REUSEPORT listener per shard, which the kernel spreads connections over; the
// unix socket; the metrics endpoint), builds the shared state and the N×N shard rings,
// starts one thread per shard with the chosen backend, and on stop() asks every shard to drain
// and exit, then tears down.
// Thread: start() and join() from one thread (the main one); stop() from any thread, at any time
// (a signal-handling thread, during start-up too: start() then gives up and says so).
#pragma once

#include <atomic>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "net/config.h"
#include "net/listener.h"
#include "net/shared_state.h"

namespace fanout {

class ShardCore;

// Why start() failed: the configuration (exit 2 in fanoutd), the system (exit 1), or a stop
// request that arrived during start-up (a clean exit).
enum class StartError { kNone, kConfig, kSystem, kStopped };

class Broker {
 public:
  explicit Broker(const ServerConfig& cfg);
  ~Broker();
  Broker(const Broker&) = delete;
  Broker& operator=(const Broker&) = delete;

  // Validates (validate_config, the ACL file, the bind addresses), adjusts --max-clients to the
  // descriptor limit, binds, starts the shards. False with *err and *why on failure.
  bool start(std::string* err, StartError* why = nullptr);
  // fanoutd --check-config: what start() checks before it binds (settings, ACL file, bind
  // address), without binding. Returns "" or the first error. Thread: any.
  static std::string check_config(const ServerConfig& cfg);
  // The TCP port RESP clients connect to (0 when only the unix socket is open), and the metrics
  // endpoint's (0: off).
  int port() const { return port_; }
  int tls_port() const { return listeners_.tls_port(); }
  int metrics_port() const { return listeners_.metrics_port(); }
  // The first RESP endpoint ("127.0.0.1:7379", or the unix socket's path), and every endpoint of
  // a protocol (TCP ones in --bind's order, then the unix socket).
  std::string endpoint() const;
  std::vector<std::string> endpoints(Protocol protocol) const;
  int shards() const { return nshards_; }
  // The configuration as the shards run it (after start-time adjustments such as max_clients).
  const ServerConfig& config() const { return cfg_; }
  // The configuration as CONFIG SET last left it (config() until start). Thread: any.
  ServerConfig live_config() const;
  // Asks the shards to drain and exit. Safe from any thread at any time, repeatedly.
  void stop();
  // SIGHUP: asks shard 0 to reload the ACL file as ACL LOAD does, without stopping; it logs the
  // result (the users loaded, or why not and that the previous rules stay). False (nothing
  // asked) before the shards run or once a stop was requested. Safe from any thread.
  bool reload_acl();
  // SIGHUP, with --tls-port: reads the certificate, key and CA files again and hands the new
  // context to new connections (open ones keep theirs). A failure keeps the old context and is
  // logged with OpenSSL's reason. False (nothing done) when there is no TLS listener, before the
  // shards run or once a stop was requested. Thread: any (it reads files: not a shard's).
  bool reload_tls();
  bool stop_requested() const { return stop_requested_.load(); }
  void join();
  // Delivery accounting summed over the shards; exact after join().
  DeliveryTotals deliveries() const { return shared_ ? shared_->deliveries() : DeliveryTotals{}; }
  // What the drain left undelivered at its deadline (after join()): clients and bytes.
  uint64_t undelivered_clients() const;
  uint64_t undelivered_bytes() const;

 private:
  template <class Backend>
  bool start_shards(std::string* err, StartError* why);
  bool fit_descriptor_limit(std::string* err);
  // Descriptors fanoutd needs besides its clients' (fit_descriptor_limit, CONFIG SET maxclients).
  uint64_t reserved_descriptors() const;
  void signal_shards();

  ServerConfig cfg_;
  int nshards_;
  int port_ = 0;
  ListenerSet listeners_;
  std::unique_ptr<SharedState> shared_;
  std::vector<std::unique_ptr<ShardCore>> shards_;
  std::vector<std::thread> threads_;
  std::atomic<bool> stop_requested_{false};
  std::atomic<bool> running_{false};
  // Held while stop() signals the shards and while join() tears down what that touches (the
  // wake fds, the shared state): a stop on another thread never signals a closed fd.
  std::mutex signal_mu_;
  bool torn_down_ = false;  // under signal_mu_
  bool joined_ = false;
};

}  // namespace fanout
