// A blocking RESP client for integration tests: real sockets on loopback, replies parsed with
// core's RespValue parser. One thread per client object.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/resp_value.h"

namespace fanout::test {

class TestClient {
 public:
  // Connects to 127.0.0.1:port; rcvbuf > 0 shrinks the receive buffer before connecting.
  static std::unique_ptr<TestClient> connect(int port, int rcvbuf = 0);
  // Connects to a unix socket at `path`, or to [::1]:port; null if refused.
  static std::unique_ptr<TestClient> connect_unix(const std::string& path);
  static std::unique_ptr<TestClient> connect_ipv6_loopback(int port);
  ~TestClient();

  int fd() const { return fd_; }
  void send_raw(std::string_view bytes);
  void command(const std::vector<std::string>& args);
  void command(std::initializer_list<std::string_view> args);
  // Reads one value; false on timeout, EOF or a parse error.
  bool read(RespValue* v, int timeout_ms = 5000);
  // Reads exactly n raw bytes (fewer on timeout, EOF or error), for tests that check every byte.
  std::string read_bytes(size_t n, int timeout_ms = 5000);
  // Sends a command and reads its reply.
  RespValue call(std::initializer_list<std::string_view> args);
  // True if the server closed the connection within timeout_ms (discarding data before it).
  bool wait_closed(int timeout_ms = 5000);
  // Reads whatever arrives into the parse buffer; false on EOF/error. Non-blocking if timeout 0.
  bool fill(int timeout_ms);
  // Parses one buffered value without reading; false if none is complete.
  bool next_buffered(RespValue* v);
  // Resets with SO_LINGER 0: the server sees ECONNRESET.
  void reset();
  // shutdown(SHUT_WR): the server sees end of input but can still reply.
  void half_close();
  void close();

 private:
  static std::unique_ptr<TestClient> adopt(int fd);

  int fd_ = -1;
  std::string buf_;
  size_t off_ = 0;
  bool eof_ = false;
};

std::string encode_command(const std::vector<std::string>& args);
// A blocking TCP connection to 127.0.0.1:port (close-on-exec, Nagle off), or -1.
int connect_loopback(int port, int rcvbuf = 0);
// A field from an INFO reply ("name:value"), or -1.
int64_t info_field(const std::string& info, std::string_view name);

}  // namespace fanout::test
