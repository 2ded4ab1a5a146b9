#include "tools/load/server_info.h"

#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cstdlib>
#include <sstream>

namespace fanout::load {
namespace {

// True once `s` holds a whole RESP bulk string ("$<n>\r\n" and n bytes and "\r\n") or an error.
bool reply_complete(const std::string& s) {
  if (!s.empty() && s[0] == '-') return true;
  size_t nl = s.find("\r\n");
  if (s.empty() || s[0] != '$' || nl == std::string::npos) return false;
  long n = std::strtol(s.c_str() + 1, nullptr, 10);
  return n < 0 || s.size() >= nl + 2 + static_cast<size_t>(n) + 2;
}

const char kInfoCommand[] = "*2\r\n$4\r\nINFO\r\n$10\r\neverything\r\n";

std::string fetch_info_text(const Target& t) {
  int fd = connect_target(t, 0);
  if (fd < 0) return "";
  struct timeval tv {2, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  std::string s;
  const ssize_t len = sizeof(kInfoCommand) - 1;
  if (send(fd, kInfoCommand, static_cast<size_t>(len), MSG_NOSIGNAL) == len) {
    char buf[65536];
    while (!reply_complete(s)) {
      ssize_t n = recv(fd, buf, sizeof(buf), 0);
      if (n <= 0) break;
      s.append(buf, static_cast<size_t>(n));
    }
  }
  close(fd);
  return !s.empty() && s[0] == '-' ? "" : s;
}

}  // namespace

InfoFields fetch_server_info(const Target& t, const std::string& proto, const TlsClient* tls) {
  if (proto != "redis") return {};
  if (!tls) return parse_info(fetch_info_text(t));
  std::string reply, err;
  if (!tls->request(t, kInfoCommand, reply_complete, 2000, &reply, nullptr, &err) || reply[0] == '-') return {};
  return parse_info(reply);
}

InfoFields parse_info(const std::string& text) {
  InfoFields m;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    size_t c = line.find(':');
    if (c == std::string::npos || line[0] == '#') continue;
    m[line.substr(0, c)] = line.substr(c + 1);
  }
  return m;
}

}  // namespace fanout::load
