#include "tests/net/test_client.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <stdexcept>

namespace fanout::test {

std::string encode_command(const std::vector<std::string>& args) {
  std::string s = "*" + std::to_string(args.size()) + "\r\n";
  for (const auto& a : args) s += "$" + std::to_string(a.size()) + "\r\n" + a + "\r\n";
  return s;
}

int64_t info_field(const std::string& info, std::string_view name) {
  std::string key = std::string(name) + ":";
  size_t at = 0;
  while ((at = info.find(key, at)) != std::string::npos) {
    if (at == 0 || info[at - 1] == '\n') return std::stoll(info.substr(at + key.size()));
    at += key.size();
  }
  return -1;
}

int connect_loopback(int port, int rcvbuf) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  if (rcvbuf > 0) setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0) {
    ::close(fd);
    return -1;
  }
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  return fd;
}

std::unique_ptr<TestClient> TestClient::adopt(int fd) {
  if (fd < 0) return nullptr;
  auto c = std::unique_ptr<TestClient>(new TestClient());
  c->fd_ = fd;
  return c;
}

std::unique_ptr<TestClient> TestClient::connect(int port, int rcvbuf) { return adopt(connect_loopback(port, rcvbuf)); }

std::unique_ptr<TestClient> TestClient::connect_unix(const std::string& path) {
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_un a{};
  a.sun_family = AF_UNIX;
  if (fd < 0 || path.size() >= sizeof(a.sun_path)) return nullptr;
  path.copy(a.sun_path, path.size());
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0) {
    ::close(fd);
    return nullptr;
  }
  return adopt(fd);
}

std::unique_ptr<TestClient> TestClient::connect_ipv6_loopback(int port) {
  int fd = socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return nullptr;
  sockaddr_in6 a{};
  a.sin6_family = AF_INET6;
  a.sin6_port = htons(static_cast<uint16_t>(port));
  a.sin6_addr = in6addr_loopback;
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0) {
    ::close(fd);
    return nullptr;
  }
  return adopt(fd);
}

TestClient::~TestClient() { close(); }

void TestClient::close() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

void TestClient::half_close() { ::shutdown(fd_, SHUT_WR); }

void TestClient::reset() {
  struct linger l {1, 0};
  setsockopt(fd_, SOL_SOCKET, SO_LINGER, &l, sizeof(l));
  close();
}

void TestClient::send_raw(std::string_view bytes) {
  size_t off = 0;
  while (off < bytes.size()) {
    ssize_t n = ::send(fd_, bytes.data() + off, bytes.size() - off, MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) continue;
      return;  // the server may have closed us; tests check for that explicitly
    }
    off += static_cast<size_t>(n);
  }
}

void TestClient::command(const std::vector<std::string>& args) { send_raw(encode_command(args)); }

void TestClient::command(std::initializer_list<std::string_view> args) {
  std::vector<std::string> v;
  for (auto a : args) v.emplace_back(a);
  command(v);
}

bool TestClient::fill(int timeout_ms) {
  if (eof_) return false;
  struct pollfd p {fd_, POLLIN, 0};
  int r = ::poll(&p, 1, timeout_ms);
  if (r <= 0) return r == 0;
  char tmp[65536];
  ssize_t n = ::recv(fd_, tmp, sizeof(tmp), 0);
  if (n <= 0) {
    eof_ = true;
    return false;
  }
  if (off_ > (1 << 20) && off_ * 2 > buf_.size()) {
    buf_.erase(0, off_);
    off_ = 0;
  }
  buf_.append(tmp, static_cast<size_t>(n));
  return true;
}

bool TestClient::next_buffered(RespValue* v) {
  std::string err;
  long n = parse_resp_value(buf_.data() + off_, buf_.size() - off_, v, &err);
  if (n <= 0) return false;
  off_ += static_cast<size_t>(n);
  return true;
}

bool TestClient::read(RespValue* v, int timeout_ms) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  while (true) {
    std::string err;
    long n = parse_resp_value(buf_.data() + off_, buf_.size() - off_, v, &err);
    if (n < 0) return false;
    if (n > 0) {
      off_ += static_cast<size_t>(n);
      return true;
    }
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now()).count();
    if (left <= 0) return false;
    size_t before = buf_.size();
    if (!fill(static_cast<int>(left))) return false;
    if (buf_.size() == before && left <= 0) return false;
  }
}

std::string TestClient::read_bytes(size_t n, int timeout_ms) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  while (buf_.size() - off_ < n) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now()).count();
    if (left <= 0 || !fill(static_cast<int>(left))) break;
  }
  std::string out = buf_.substr(off_, n);
  off_ += out.size();
  return out;
}

RespValue TestClient::call(std::initializer_list<std::string_view> args) {
  command(args);
  RespValue v;
  if (!read(&v)) throw std::runtime_error("no reply");
  return v;
}

bool TestClient::wait_closed(int timeout_ms) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  while (!eof_) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now()).count();
    if (left <= 0) return false;
    fill(static_cast<int>(left));
  }
  return true;
}

}  // namespace fanout::test
