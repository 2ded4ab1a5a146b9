// HTTP/1.1 requests read from a connection's bytes (RFC 9112), with Debian's libhttp-parser
// (http_parser.h) doing the parsing, bounded for a server that takes requests from the network:
// a request head of at most Limits::max_head_bytes and max_headers header lines, no body (a
// Content-Length above 0 or a chunked body is refused), HTTP/1.x only, Host required in
// HTTP/1.1 (RFC 9112 section 3.2). Pipelined requests are read one at a time.
// Used by the metrics endpoint; a WebSocket endpoint will read its handshake with it too
// (HttpRequest::upgrade and the headers).
// Thread: one reader per connection, on the connection's shard.
#pragma once

#include <http_parser.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace fanout {

// One request head.
struct HttpRequest {
  std::string method;  // "GET", as http_parser names it
  std::string target;  // the request-target as sent: "/metrics?x=1"
  unsigned version_major = 1, version_minor = 1;
  // The connection may carry another request after this one's response (http_should_keep_alive:
  // HTTP/1.1 unless "Connection: close"; HTTP/1.0 only with "Connection: keep-alive").
  bool keep_alive = false;
  bool upgrade = false;  // "Connection: upgrade" with an Upgrade header (or CONNECT)
  // Header fields in order, names lower-cased, values without surrounding whitespace.
  std::vector<std::pair<std::string, std::string>> headers;

  // The target's path, without the query ("/metrics").
  std::string_view path() const;
  // The first header named `lower_name` ("host"), or null.
  const std::string* header(std::string_view lower_name) const;
};

class HttpRequestReader {
 public:
  struct Limits {
    size_t max_head_bytes = 8192;  // request line and header lines, with their CRLFs
    size_t max_headers = 64;
  };
  enum class Status { kNeedMore, kRequest, kError };

  explicit HttpRequestReader(Limits limits);
  HttpRequestReader() : HttpRequestReader(Limits{}) {}
  HttpRequestReader(const HttpRequestReader&) = delete;
  HttpRequestReader& operator=(const HttpRequestReader&) = delete;

  // Reads from data[0, n) and sets *used to the bytes taken. kRequest: request() holds a whole
  // request head; the bytes after *used belong to the next request, read after next().
  // kNeedMore: everything was taken, the request is not complete. kError: the input is not a
  // request this server takes; error_status() and error() say why, and nothing more may be
  // read (reply, then close).
  Status read(const char* data, size_t n, size_t* used);
  const HttpRequest& request() const { return request_; }
  // Done with request(): the reader takes the next one.
  void next();
  // After kError: the status to answer with (400 malformed, 413 a body, 431 a head over the
  // limits, 505 not HTTP/1.x) and why, for the response body.
  int error_status() const { return error_status_; }
  const std::string& error() const { return error_; }
  // Some bytes of a request have been read and it is not complete (the request-time clock runs).
  bool mid_request() const { return in_message_; }
  // Whole requests read so far.
  uint64_t requests() const { return requests_; }

 private:
  static int on_message_begin(http_parser* p);
  static int on_url(http_parser* p, const char* at, size_t n);
  static int on_header_field(http_parser* p, const char* at, size_t n);
  static int on_header_value(http_parser* p, const char* at, size_t n);
  static int on_headers_complete(http_parser* p);
  static int on_message_complete(http_parser* p);
  // Stops the parser with `status` (a callback then returns its result).
  int fail(int status, std::string why);

  const Limits limits_;
  http_parser parser_{};
  http_parser_settings settings_{};
  HttpRequest request_;
  size_t head_bytes_ = 0;   // of the request being read
  bool in_message_ = false;
  bool complete_ = false;   // request_ is whole, not yet taken by next()
  bool last_was_value_ = false;
  int error_status_ = 0;
  std::string error_;
  uint64_t requests_ = 0;
};

}  // namespace fanout
