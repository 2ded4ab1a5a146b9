// Listening sockets: what the shards accept from, and what the connections accepted from each
// speak. For every address of --bind, one SO_REUSEPORT listener per shard, all on one port (the
// kernel spreads connections over a shard's listeners); --unixsocket, one listener that every
// shard accepts from (AF_UNIX has no reuseport groups; the accepts race and one wins); and the
// same TCP layout for --metrics-port's addresses, whose connections speak HTTP.
// Thread: a ListenerSet is opened and closed by the broker's thread; shards read their
// listeners (fixed before they start) and call Listener::release from their own threads.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "net/config.h"

namespace fanout {

// What a connection speaks, decided by the listener that accepted it: RESP (Redis clients) or
// HTTP/1.1 (the metrics endpoint; a WebSocket endpoint will start as HTTP and upgrade).
enum class Protocol : uint8_t { kResp, kHttp };

// HTTP connections open at once, process-wide: scrapers and health probes need a few; more are
// refused with 503, so the endpoint cannot take the descriptors clients need.
inline constexpr uint64_t kMaxHttpConnections = 64;

struct Listener {
  int fd = -1;
  Protocol protocol = Protocol::kResp;
  std::string unix_path;  // a unix socket's path; empty for TCP
  std::string endpoint;   // as logged: "127.0.0.1:7379", "[::1]:7379", or the unix path
  bool shared = false;    // every shard accepts from this one socket (the unix socket)
  bool tls = false;       // --tls-port: its connections begin with a TLS handshake
  // Shards that still accept from it; the last one to stop shuts it down.
  std::atomic<int> holders{1};

  // A unix socket: its clients are local (protected mode), get no TCP options, and CLIENT LIST
  // shows them as Redis does ("addr=/path:0", flag U).
  bool local() const { return !unix_path.empty(); }
  // One shard has stopped accepting from it (after the backend's stop_listen). The last one shuts
  // the socket down (stop_listening), so new clients are refused instead of waiting in a backlog
  // nobody accepts from. Thread: any shard, once each.
  void release();
};

class ListenerSet {
 public:
  ListenerSet() = default;
  ~ListenerSet() { close(); }
  ListenerSet(const ListenerSet&) = delete;
  ListenerSet& operator=(const ListenerSet&) = delete;

  // Opens every listener cfg asks for, for `nshards` shards. Redis's listenToPort rules
  // (server.c): an address that is not on this host (EADDRNOTAVAIL) is skipped with a warning
  // when it is optional ('-'), and so is one whose address family the kernel lacks (IPv6
  // disabled); any other failure is an error. `unauthenticated`: clients get in without a
  // password, so with protected mode on every TCP address of --bind must be loopback (a unix
  // socket is local), except TLS listeners whose clients must present a certificate
  // (--tls-auth-clients yes). False with *err; *config_error tells a configuration mistake (an address
  // that does not resolve, protected mode) from one the system made (a port taken).
  bool open(const ServerConfig& cfg, int nshards, bool unauthenticated, std::string* err, bool* config_error);
  // What open() checks before it binds: every address of --bind (unless port is 0) and
  // --metrics-bind resolves, there is somewhere to listen, and protected mode allows the
  // addresses (`unauthenticated` as for open()). False with *err (fanoutd --check-config).
  // Thread: any.
  static bool check(const ServerConfig& cfg, bool unauthenticated, std::string* err);
  // Shard s's listeners, in a fixed order (a listener's index is its token on the backend).
  const std::vector<Listener*>& for_shard(int s) const { return per_shard_[s]; }
  // The TCP port RESP clients connect to, the TLS port and the metrics port (0: none).
  int port() const { return port_; }
  int tls_port() const { return tls_port_; }
  int metrics_port() const { return metrics_port_; }
  // Descriptors held.
  size_t size() const { return all_.size(); }
  // Where clients of `protocol` connect: TCP endpoints in --bind's order, then the unix socket,
  // then the TLS endpoints as "tls://127.0.0.1:6380".
  std::vector<std::string> endpoints(Protocol protocol) const;
  // Closes every listener and removes the unix socket file this set created (Redis removes it
  // at exit too).
  void close();

  struct Planned;  // an address of a bind list, resolved (open()'s working list)
  static bool resolve(const ServerConfig& cfg, std::vector<Planned>* resp, std::vector<Planned>* tls,
                      std::vector<Planned>* metrics, std::string* err);

 private:
  bool open_tcp(const std::vector<Planned>& planned, const char* flag, int port, Protocol protocol,
                int* bound_port, std::string* err, bool tls = false);
  Listener* add(int fd, Protocol protocol, std::string endpoint, bool tls = false);

  std::vector<std::unique_ptr<Listener>> all_;
  std::vector<std::vector<Listener*>> per_shard_;
  std::string unix_path_;  // to remove at close
  int port_ = 0, tls_port_ = 0, metrics_port_ = 0;
};

}  // namespace fanout
