#include "net/socket.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/tcp.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "core/proxy_protocol.h"
#include "net/config.h"

namespace fanout {

bool resolve_tcp(const std::string& host, int port, bool passive, std::vector<SocketAddress>* out,
                 std::string* err, int family) {
  struct addrinfo hints {};
  hints.ai_family = family;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_NUMERICSERV | (passive ? AI_PASSIVE : 0);
  struct addrinfo* res = nullptr;
  std::string service = std::to_string(port);
  int rc = getaddrinfo(host.c_str(), service.c_str(), &hints, &res);
  if (rc != 0) {
    *err = "'" + host + "' is not a valid address or host name (" + gai_strerror(rc) + ")";
    return false;
  }
  out->clear();
  for (auto* ai = res; ai != nullptr; ai = ai->ai_next) {
    SocketAddress a;
    std::memcpy(&a.ss, ai->ai_addr, ai->ai_addrlen);
    a.len = ai->ai_addrlen;
    out->push_back(a);
  }
  freeaddrinfo(res);
  return !out->empty();
}

bool resolve_bind(const std::string& host, int port, SocketAddress* out, std::string* err) {
  const bool v6 = host.find(':') != std::string::npos;
  std::string h = host == "*" ? "0.0.0.0" : host == "::*" ? "::" : host;
  std::vector<SocketAddress> addrs;
  if (!resolve_tcp(h, port, true, &addrs, err, v6 ? AF_INET6 : AF_INET)) return false;
  *out = addrs.front();
  return true;
}

bool is_loopback(const struct sockaddr* sa) {
  if (sa->sa_family == AF_INET) {
    uint32_t a = ntohl(reinterpret_cast<const sockaddr_in*>(sa)->sin_addr.s_addr);
    return (a >> 24) == 127;
  }
  if (sa->sa_family == AF_INET6) {
    const struct in6_addr& a = reinterpret_cast<const sockaddr_in6*>(sa)->sin6_addr;
    if (IN6_IS_ADDR_LOOPBACK(&a)) return true;
    return IN6_IS_ADDR_V4MAPPED(&a) && a.s6_addr[12] == 127;
  }
  return false;
}

bool is_loopback_host(const std::string& host) {
  std::vector<SocketAddress> addrs;
  std::string err;
  if (!resolve_tcp(host, 0, false, &addrs, &err)) return false;
  return std::all_of(addrs.begin(), addrs.end(), [](const SocketAddress& a) { return is_loopback(a.sa()); });
}

int listen_tcp(const SocketAddress& addr, int backlog, bool join, std::string* err) {
  int fd = socket(addr.family(), SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    *err = std::string("socket: ") + strerror(errno);
    return -1;
  }
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  if (join) setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one));
  if (addr.family() == AF_INET6) {
    // IPv6 only, except for an IPv4-mapped address (::ffff:a.b.c.d), which only a dual-stack
    // socket can bind.
    const struct in6_addr& a6 = reinterpret_cast<const sockaddr_in6*>(&addr.ss)->sin6_addr;
    int v6only = IN6_IS_ADDR_V4MAPPED(&a6) ? 0 : 1;
    setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &v6only, sizeof(v6only));
  }
  if (bind(fd, addr.sa(), addr.len) == 0 &&
      (join || setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) == 0) &&
      listen(fd, backlog) == 0) {
    return fd;
  }
  int port = addr.family() == AF_INET ? ntohs(reinterpret_cast<const sockaddr_in*>(&addr.ss)->sin_port)
                                      : ntohs(reinterpret_cast<const sockaddr_in6*>(&addr.ss)->sin6_port);
  const int e = errno;
  *err = "cannot listen on " + format_endpoint(address_text(addr), port) + ": " + strerror(e);
  close(fd);
  errno = e;
  return -1;
}

int listen_unix(const std::string& path, uint32_t perm, int backlog, std::string* err) {
  struct sockaddr_un sun {};
  if (path.empty() || path.size() >= sizeof(sun.sun_path)) {
    *err = "unix socket path '" + path + "' must be 1 to " + std::to_string(sizeof(sun.sun_path) - 1) + " bytes";
    return -1;
  }
  sun.sun_family = AF_UNIX;
  std::memcpy(sun.sun_path, path.data(), path.size());
  const auto* sa = reinterpret_cast<const struct sockaddr*>(&sun);
  auto fail = [&](const std::string& what, int fd) {
    *err = "cannot listen on unix socket " + path + ": " + what;
    if (fd >= 0) close(fd);
    return -1;
  };
  struct stat st {};
  if (lstat(path.c_str(), &st) == 0) {
    if (!S_ISSOCK(st.st_mode)) return fail("the path exists and is not a socket", -1);
    // Live when something accepts (or its backlog is full: EAGAIN); stale when refused.
    int probe = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (probe >= 0 && (connect(probe, sa, sizeof(sun)) == 0 || errno == EAGAIN)) {
      return fail("another process is listening on it", probe);
    }
    if (probe >= 0) close(probe);
    if (unlink(path.c_str()) != 0 && errno != ENOENT) return fail(std::string("removing the stale socket: ") + strerror(errno), -1);
  }
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return fail(strerror(errno), -1);
  if (bind(fd, sa, sizeof(sun)) != 0) return fail(strerror(errno), fd);
  if (perm != 0 && chmod(path.c_str(), static_cast<mode_t>(perm)) != 0) {
    const std::string why = std::string("chmod: ") + strerror(errno);
    unlink(path.c_str());
    return fail(why, fd);
  }
  if (listen(fd, backlog) != 0) {
    const std::string why = strerror(errno);
    unlink(path.c_str());
    return fail(why, fd);
  }
  return fd;
}

int listen_tcp(const std::string& host, int port, int backlog, bool join, std::string* err) {
  std::vector<SocketAddress> addrs;
  if (!resolve_tcp(host, port, true, &addrs, err)) return -1;
  for (const SocketAddress& a : addrs) {
    int fd = listen_tcp(a, backlog, join, err);
    if (fd >= 0) return fd;
  }
  return -1;
}

void stop_listening(int fd) { ::shutdown(fd, SHUT_RDWR); }

int local_port(int fd) {
  struct sockaddr_storage ss {};
  socklen_t len = sizeof(ss);
  if (getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len) != 0) return -1;
  if (ss.ss_family == AF_INET) return ntohs(reinterpret_cast<sockaddr_in*>(&ss)->sin_port);
  return ntohs(reinterpret_cast<sockaddr_in6*>(&ss)->sin6_port);
}

std::string format_endpoint(const std::string& host, int port) {
  if (host.find(':') != std::string::npos) return "[" + host + "]:" + std::to_string(port);
  return host + ":" + std::to_string(port);
}

std::string address_text(const SocketAddress& addr) {
  char buf[INET6_ADDRSTRLEN] = "?";
  if (addr.family() == AF_INET) {
    inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in*>(&addr.ss)->sin_addr, buf, sizeof(buf));
  } else if (addr.family() == AF_INET6) {
    inet_ntop(AF_INET6, &reinterpret_cast<const sockaddr_in6*>(&addr.ss)->sin6_addr, buf, sizeof(buf));
  }
  return buf;
}

std::string socket_endpoint(int fd, bool local) {
  SocketAddress a;
  a.len = sizeof(a.ss);
  int rc = local ? getsockname(fd, reinterpret_cast<sockaddr*>(&a.ss), &a.len)
                 : getpeername(fd, reinterpret_cast<sockaddr*>(&a.ss), &a.len);
  if (rc != 0 || (a.family() != AF_INET && a.family() != AF_INET6)) return "?:0";
  int port = a.family() == AF_INET ? ntohs(reinterpret_cast<const sockaddr_in*>(&a.ss)->sin_port)
                                   : ntohs(reinterpret_cast<const sockaddr_in6*>(&a.ss)->sin6_port);
  return format_endpoint(address_text(a), port);
}

std::string socket_local_ip(int fd) {
  SocketAddress a;
  a.len = sizeof(a.ss);
  if (getsockname(fd, reinterpret_cast<sockaddr*>(&a.ss), &a.len) != 0) return {};
  if (a.family() == AF_INET6) {
    const in6_addr& v6 = reinterpret_cast<const sockaddr_in6*>(&a.ss)->sin6_addr;
    if (IN6_IS_ADDR_V4MAPPED(&v6)) {
      char buf[INET_ADDRSTRLEN];
      return inet_ntop(AF_INET, &v6.s6_addr[12], buf, sizeof(buf)) ? std::string(buf) : std::string();
    }
  } else if (a.family() != AF_INET) {
    return {};
  }
  return address_text(a);
}

void tune_accepted(int fd, const ServerConfig& cfg) {
  tune_accepted(fd, cfg.tcp_keepalive_s, cfg.tcp_user_timeout_ms);
}

bool enable_kernel_tls_tx(int fd, const void* info, size_t size, std::string* err) {
  constexpr int kTcpUlp = 31;   // TCP_ULP (linux/tcp.h), absent from older libc headers
  constexpr int kSolTls = 282;  // SOL_TLS (linux/socket.h)
  constexpr int kTlsTx = 1;     // TLS_TX (linux/tls.h)
  if (setsockopt(fd, SOL_TCP, kTcpUlp, "tls", sizeof("tls")) != 0 && errno != EEXIST) {
    *err = std::string("setsockopt(TCP_ULP, tls): ") + strerror(errno) +
           (errno == ENOENT ? " (this kernel has no tls module)" : "");
    return false;
  }
  if (setsockopt(fd, kSolTls, kTlsTx, info, static_cast<socklen_t>(size)) != 0) {
    *err = std::string("setsockopt(SOL_TLS, TLS_TX): ") + strerror(errno);
    return false;
  }
  return true;
}

void tune_accepted(int fd, int keepalive_s, int user_timeout_ms) {
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  if (user_timeout_ms > 0) {
    unsigned t = static_cast<unsigned>(user_timeout_ms);
    setsockopt(fd, IPPROTO_TCP, TCP_USER_TIMEOUT, &t, sizeof(t));
  }
  if (keepalive_s <= 0) return;
  int idle = keepalive_s, intvl = std::max(1, keepalive_s / 3), cnt = 3;
  setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof(one));
  setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof(idle));
  setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &intvl, sizeof(intvl));
  setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &cnt, sizeof(cnt));
}

void refuse_socket(int fd, const char* reply) {
  ssize_t w = ::send(fd, reply, std::strlen(reply), MSG_NOSIGNAL | MSG_DONTWAIT);
  (void)w;
  ::close(fd);
}

int make_eventfd() { return eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC); }

void signal_eventfd(int fd) {
  uint64_t one = 1;
  ssize_t n = write(fd, &one, sizeof(one));
  (void)n;  // EAGAIN means the counter is already non-zero: the peer will wake anyway.
}

uint64_t raise_descriptor_limit(uint64_t needed) {
  struct rlimit rl {};
  if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur == RLIM_INFINITY) return UINT64_MAX;
  if (rl.rlim_cur < needed) {
    struct rlimit want = rl;
    want.rlim_cur = rl.rlim_max == RLIM_INFINITY ? needed : std::min<rlim_t>(needed, rl.rlim_max);
    if (setrlimit(RLIMIT_NOFILE, &want) == 0) rl = want;
  }
  return rl.rlim_cur == RLIM_INFINITY ? UINT64_MAX : rl.rlim_cur;
}

bool peer_ip(int fd, bool* v6, uint8_t* addr) {
  SocketAddress a;
  a.len = sizeof(a.ss);
  if (getpeername(fd, reinterpret_cast<sockaddr*>(&a.ss), &a.len) != 0) return false;
  if (a.family() == AF_INET) {
    *v6 = false;
    std::memcpy(addr, &reinterpret_cast<const sockaddr_in*>(&a.ss)->sin_addr, 4);
    return true;
  }
  if (a.family() == AF_INET6) {
    *v6 = true;
    std::memcpy(addr, &reinterpret_cast<const sockaddr_in6*>(&a.ss)->sin6_addr, 16);
    return true;
  }
  return false;
}

std::string proxy_client_endpoint(const ProxyHeader& h) {
  char buf[INET6_ADDRSTRLEN] = "?";
  switch (h.family) {
    case ProxyHeader::Family::kTcp4:
      inet_ntop(AF_INET, h.src, buf, sizeof(buf));
      return format_endpoint(buf, h.src_port);
    case ProxyHeader::Family::kTcp6:
      inet_ntop(AF_INET6, h.src, buf, sizeof(buf));
      return format_endpoint(buf, h.src_port);
    case ProxyHeader::Family::kUnix:
      return h.src_path + ":0";
    default:
      return "?:0";
  }
}

}  // namespace fanout
