#include "tools/load/target.h"

#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>
#include <vector>

namespace fanout::load {
namespace {

int connect_address(const SocketAddress& a, int rcvbuf) {
  int fd = ::socket(a.family(), SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  if (rcvbuf > 0) setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
  if (::connect(fd, a.sa(), a.len) != 0) {
    int e = errno;
    ::close(fd);
    errno = e;
    return -1;
  }
  return fd;
}

}  // namespace

bool resolve_target(const std::string& host, int port, Target* out, std::string* err) {
  std::vector<SocketAddress> addrs;
  if (!resolve_tcp(host, port, false, &addrs, err)) return false;
  for (const SocketAddress& a : addrs) {
    if (!is_loopback(a.sa())) {
      *err = "'" + host + "' resolves to " + address_text(a) + ", which is not loopback";
      return false;
    }
  }
  out->addr = addrs.front();
  if (addrs.size() == 1) return true;
  for (const SocketAddress& a : addrs) {
    int fd = connect_address(a, 0);
    if (fd < 0) continue;
    ::close(fd);
    out->addr = a;
    break;
  }
  return true;
}

int connect_target(const Target& t, int rcvbuf) { return connect_address(t.addr, rcvbuf); }

std::string probe_plaintext(const Target& t, const std::string& where, int timeout_ms) {
  const int fd = connect_target(t, 0);
  if (fd < 0) return "cannot connect to " + where + ": " + std::strerror(errno);
  timeval tv{timeout_ms / 1000, (timeout_ms % 1000) * 1000};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  static const char kPing[] = "*1\r\n$4\r\nPING\r\n";
  std::string why;
  if (::send(fd, kPing, sizeof(kPing) - 1, MSG_NOSIGNAL) != static_cast<ssize_t>(sizeof(kPing) - 1)) {
    why = "cannot send PING to " + where + ": " + std::strerror(errno);
  } else {
    unsigned char c = 0;
    ssize_t r;
    do {
      r = ::recv(fd, &c, 1, 0);
    } while (r < 0 && errno == EINTR);
    const char* tls_hint = " (a TLS port? add --tls and --tls-ca)";
    if (r == 0 || (r < 0 && (errno == ECONNRESET || errno == EPIPE))) {
      why = "the server at " + where + " closed the connection without answering PING" + tls_hint;
    } else if (r < 0) {
      why = "no answer to PING from " + where + " within " + std::to_string(timeout_ms) + " ms";
    } else if (c == 0x15 || c == 0x16) {  // a TLS alert or handshake record (RFC 8446 section 5.1)
      why = "the server at " + where + " answered PING with TLS" + tls_hint;
    }
  }
  ::close(fd);
  return why;
}

}  // namespace fanout::load
