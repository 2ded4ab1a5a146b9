#include "net/listener.h"

#include <unistd.h>

#include <cerrno>

#include "net/log.h"
#include "net/socket.h"

namespace fanout {
namespace {

constexpr int kBacklog = 4096;

// Failures Redis's listenToPort skips for any address: the kernel lacks the address family or
// protocol (an IPv6 address on a host with IPv6 disabled).
bool family_unavailable(int e) {
  return e == ENOPROTOOPT || e == EPROTONOSUPPORT || e == ESOCKTNOSUPPORT || e == EPFNOSUPPORT || e == EAFNOSUPPORT;
}

void set_port(SocketAddress* a, int port) {
  if (a->family() == AF_INET) {
    reinterpret_cast<sockaddr_in*>(&a->ss)->sin_port = htons(static_cast<uint16_t>(port));
  } else {
    reinterpret_cast<sockaddr_in6*>(&a->ss)->sin6_port = htons(static_cast<uint16_t>(port));
  }
}

}  // namespace

struct ListenerSet::Planned {
  SocketAddress addr;
  BindAddress bind;
};

namespace {

bool resolve_all(const std::string& list, const char* flag, int port, std::vector<ListenerSet::Planned>* out,
                 std::string* err) {
  std::vector<BindAddress> binds;
  if (!parse_bind_list(list, &binds, err)) {
    *err = std::string(flag) + ": " + *err;
    return false;
  }
  for (const BindAddress& b : binds) {
    ListenerSet::Planned p{{}, b};
    if (!resolve_bind(b.host, port, &p.addr, err)) {
      *err = std::string(flag) + ": " + *err;
      return false;
    }
    out->push_back(p);
  }
  return true;
}

// --port or --tls-port as a port to bind: 0 (the kernel picks) for auto. Only called when there
// is a TCP listener (the port is not 0).
int tcp_port(int port) { return port == kPortAuto ? 0 : port; }

}  // namespace

bool ListenerSet::resolve(const ServerConfig& cfg, std::vector<Planned>* resp, std::vector<Planned>* tls,
                          std::vector<Planned>* metrics, std::string* err) {
  // port 0: no TCP listener, as in Redis (a unix socket may still listen).
  if (cfg.port != 0 && !resolve_all(cfg.bind, "--bind", tcp_port(cfg.port), resp, err)) return false;
  if (cfg.tls_port != 0 && !resolve_all(cfg.bind, "--bind", tcp_port(cfg.tls_port), tls, err)) return false;
  return cfg.metrics_port == 0 || resolve_all(cfg.metrics_bind, "--metrics-bind", cfg.metrics_port, metrics, err);
}

namespace {

// Redis's protected mode, made strict: a relay open to the network with no password is a mistake
// far more often than a choice, so it needs saying explicitly. Decided on each address bound,
// never on how it is spelled; a unix socket is local, and a TLS listener that requires client
// certificates authenticates every client itself. False with *err.
bool protected_mode_allows(const ServerConfig& cfg, const std::vector<ListenerSet::Planned>& resp,
                           const std::vector<ListenerSet::Planned>& tls, bool unauthenticated, bool warn,
                           std::string* err) {
  std::vector<const ListenerSet::Planned*> open_to_anyone;
  for (const ListenerSet::Planned& p : resp) open_to_anyone.push_back(&p);
  if (cfg.tls_auth_clients != "yes") {
    for (const ListenerSet::Planned& p : tls) open_to_anyone.push_back(&p);
  }
  for (const ListenerSet::Planned* p : open_to_anyone) {
    if (is_loopback(p->addr.sa()) || !unauthenticated) continue;
    if (cfg.protected_mode) {
      *err = "refusing to listen on " + address_text(p->addr) +
             " without authentication: set --requirepass (or --aclfile with a password for the default user, or "
             "the default user off), require client certificates on a TLS port (--tls-auth-clients yes), or pass "
             "--protected-mode=false to serve anyone who can connect";
      return false;
    }
    if (warn) {
      LOG_WARN("protected mode is off: %s accepts unauthenticated clients from the network",
               address_text(p->addr).c_str());
    }
  }
  return true;
}

// Port 0 and no other listener: nowhere to listen (Redis refuses this too).
const char kNowhere[] =
    "port 0 turns the TCP listener off (as in Redis), and there is no --unixsocket or --tls-port: listening "
    "nowhere (give a port, or 'auto' for any free one)";

}  // namespace

bool ListenerSet::check(const ServerConfig& cfg, bool unauthenticated, std::string* err) {
  std::vector<Planned> resp, tls, metrics;
  if (!resolve(cfg, &resp, &tls, &metrics, err)) return false;
  if (cfg.port == 0 && cfg.tls_port == 0 && cfg.unixsocket.empty()) {
    *err = kNowhere;
    return false;
  }
  return protected_mode_allows(cfg, resp, tls, unauthenticated, false, err);
}

void Listener::release() {
  if (holders.fetch_sub(1, std::memory_order_acq_rel) == 1) stop_listening(fd);
}

Listener* ListenerSet::add(int fd, Protocol protocol, std::string endpoint, bool tls) {
  auto l = std::make_unique<Listener>();
  l->fd = fd;
  l->protocol = protocol;
  l->tls = tls;
  l->endpoint = std::move(endpoint);
  all_.push_back(std::move(l));
  return all_.back().get();
}

bool ListenerSet::open(const ServerConfig& cfg, int nshards, bool unauthenticated, std::string* err,
                       bool* config_error) {
  *config_error = true;
  per_shard_.assign(static_cast<size_t>(nshards), {});
  // Every address resolves before anything is bound: a mistake in the flags is reported as one.
  std::vector<Planned> resp, tls, metrics;
  if (!resolve(cfg, &resp, &tls, &metrics, err)) return false;
  if (!protected_mode_allows(cfg, resp, tls, unauthenticated, true, err)) return false;
  for (const Planned& p : metrics) {
    if (!is_loopback(p.addr.sa())) {
      LOG_WARN("the metrics endpoint on %s answers anyone who can connect (HTTP has no authentication here)",
               address_text(p.addr).c_str());
    }
  }
  *config_error = false;
  if (!open_tcp(resp, "--bind", tcp_port(cfg.port), Protocol::kResp, &port_, err)) return false;
  if (!cfg.unixsocket.empty()) {
    int fd = listen_unix(cfg.unixsocket, cfg.unixsocketperm, kBacklog, err);
    if (fd < 0) return false;
    unix_path_ = cfg.unixsocket;
    Listener* l = add(fd, Protocol::kResp, cfg.unixsocket);
    l->unix_path = cfg.unixsocket;
    l->shared = true;
    l->holders.store(nshards);
    for (auto& list : per_shard_) list.push_back(l);
  }
  if (cfg.tls_port != 0 && !open_tcp(tls, "--bind", tcp_port(cfg.tls_port), Protocol::kResp, &tls_port_, err, true)) {
    return false;
  }
  if (endpoints(Protocol::kResp).empty()) {
    *config_error = cfg.port == 0;  // asked for no listener at all
    *err = cfg.port == 0 ? kNowhere
                         : "none of the --bind addresses is on this host, and there is no --unixsocket: listening nowhere";
    return false;
  }
  if (cfg.metrics_port != 0) {
    if (!open_tcp(metrics, "--metrics-bind", cfg.metrics_port, Protocol::kHttp, &metrics_port_, err)) return false;
    if (endpoints(Protocol::kHttp).empty()) {
      *err = "none of the --metrics-bind addresses is on this host";
      return false;
    }
  }
  return true;
}

bool ListenerSet::open_tcp(const std::vector<Planned>& planned, const char* flag, int port, Protocol protocol,
                           int* bound_port, std::string* err, bool tls) {
  const int nshards = static_cast<int>(per_shard_.size());
  for (Planned p : planned) {
    // Every address on one port: the first one bound picks it when the flag asks for any (0).
    if (*bound_port != 0) set_port(&p.addr, *bound_port);
    int fd = listen_tcp(p.addr, kBacklog, /*join=*/false, err);
    if (fd < 0) {
      const int e = errno;
      if ((e == EADDRNOTAVAIL && p.bind.optional) || family_unavailable(e)) {
        LOG_WARN("%s: skipping %s: %s", flag, p.bind.host.c_str(), err->c_str());
        continue;
      }
      return false;
    }
    *bound_port = local_port(fd);
    set_port(&p.addr, *bound_port);
    const std::string endpoint = (tls ? "tls://" : "") + format_endpoint(address_text(p.addr), *bound_port);
    per_shard_[0].push_back(add(fd, protocol, endpoint, tls));
    // The other shards join its SO_REUSEPORT group.
    for (int s = 1; s < nshards; ++s) {
      fd = listen_tcp(p.addr, kBacklog, /*join=*/true, err);
      if (fd < 0) return false;
      per_shard_[s].push_back(add(fd, protocol, endpoint, tls));
    }
  }
  return true;
}

std::vector<std::string> ListenerSet::endpoints(Protocol protocol) const {
  std::vector<std::string> out;
  if (per_shard_.empty()) return out;
  for (bool tls : {false, true}) {
    for (const Listener* l : per_shard_[0]) {
      if (l->protocol == protocol && l->tls == tls) out.push_back(l->endpoint);
    }
  }
  return out;
}

void ListenerSet::close() {
  for (auto& l : all_) {
    if (l->fd >= 0) ::close(l->fd);
    l->fd = -1;
  }
  all_.clear();
  per_shard_.clear();
  if (!unix_path_.empty()) unlink(unix_path_.c_str());
  unix_path_.clear();
}

}  // namespace fanout
