#include "tools/load/target.h"

#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
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

}  // namespace fanout::load
