// The metrics endpoint: connections accepted on --metrics-port speak HTTP/1.1 (Protocol::kHttp)
// over the same accept, receive and send operations as clients, on the same shard loops.
// Requests are read by HttpRequestReader one at a time: the next is read once the last response
// has been sent, so a connection holds at most one response and kMaxBufferedInput of input
// however many requests it pipelines. Routes: GET (or HEAD) /metrics, the Prometheus exposition
// (net/metrics.h); GET /healthz, 200 while serving and 503 once shutdown has begun (a load
// balancer stops sending clients during the drain); 404 for other paths, 405 for other methods;
// a request the reader refuses gets its status (400, 413, 431, 505) and a close. Keep-alive is
// allowed, for kMaxRequests requests; a connection idle (no request, no send progress) for
// kIdleMs, or --idle-timeout if shorter, is closed, and so is one whose request head takes longer
// than kRequestMs, or --request-timeout if shorter (with 408).
#include <algorithm>
#include <ctime>
#include <string>

#include "net/log.h"
#include "net/metrics.h"
#include "net/shard_core.h"

namespace fanout {
namespace {

constexpr size_t kMaxBufferedInput = 16 << 10;  // unread input (pipelined requests) before reads pause
constexpr uint64_t kMaxRequests = 1000;         // per connection; the last answer says Connection: close
constexpr int64_t kIdleMs = 60'000;             // Prometheus scrapes every 15-60 s on a kept-alive connection
constexpr int64_t kRequestMs = 10'000;          // from a request's first byte to the end of its head

const char* reason(int status) {
  switch (status) {
    case 200: return "OK";
    case 400: return "Bad Request";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 413: return "Content Too Large";
    case 431: return "Request Header Fields Too Large";
    case 503: return "Service Unavailable";
    case 505: return "HTTP Version Not Supported";
    default: return "Error";
  }
}

// RFC 9110 section 6.6.1's Date (IMF-fixdate), from the wall clock.
std::string http_date() {
  std::time_t now = std::time(nullptr);
  struct tm tm {};
  gmtime_r(&now, &tm);
  char buf[64];
  size_t n = std::strftime(buf, sizeof(buf), "%a, %d %b %Y %H:%M:%S GMT", &tm);
  return std::string(buf, n);
}

constexpr std::string_view kTextPlain = "text/plain; charset=utf-8";

}  // namespace

void ShardCore::http_input(Conn* c, const char* data, size_t n) {
  if (c->closing() || c->close_after_flush) return;
  c->last_input_ms = now_ms_;
  c->in.append(data, n);
  http_process(c);
}

void ShardCore::http_process(Conn* c) {
  HttpRequestReader& reader = *c->http;
  while (!c->closing() && !c->close_after_flush && c->out.empty() && !c->in.empty()) {
    size_t used = 0;
    const HttpRequestReader::Status st = reader.read(c->in.data(), c->in.size(), &used);
    c->in.erase(0, used);
    if (st == HttpRequestReader::Status::kNeedMore) break;
    if (st == HttpRequestReader::Status::kError) {
      LOG_DEBUG("shard %d: HTTP request refused (%d): %s", id_, reader.error_status(), reader.error().c_str());
      http_reply(c, reader.error_status(), kTextPlain, reader.error() + "\n", false);
      c->in.clear();
      break;
    }
    http_route(c, reader.request());
    reader.next();
  }
  if (c->closing() || c->close_after_flush) return;
  // The request clock runs from a request's first byte while its head is incomplete.
  if (!reader.mid_request()) {
    c->partial_since_ms = -1;
  } else if (c->partial_since_ms < 0) {
    c->partial_since_ms = now_ms_;
  }
  if (c->input_ended) {
    // Nothing more will come: what was whole has been answered (or waits in `in` for the send
    // in flight), and a partial request never completes.
    if (c->in.empty()) close_after_reply(c);
    return;
  }
  const bool want = c->in.size() < kMaxBufferedInput;
  if (want != c->want_recv) set_want_recv(c, want);
}

void ShardCore::http_on_sent(Conn* c) {
  c->last_input_ms = now_ms_;  // progress: a reader that keeps taking a large response is not idle
  if (c->out.empty()) http_process(c);
}

void ShardCore::http_route(Conn* c, const HttpRequest& req) {
  stats_->http_requests.add();
  const bool head = req.method == "HEAD";
  // An Upgrade request is answered and closed: what follows its head is another protocol's.
  const bool keep_alive = req.keep_alive && !req.upgrade && c->http->requests() < kMaxRequests &&
                          !shared_->stopping.load(std::memory_order_relaxed);
  // An HTTP/1.0 client keeps the connection only if told so (RFC 9112 section 9.3 and its
  // appendix C.2.2: 1.0's keep-alive is opt-in on both sides).
  const std::string_view kept = keep_alive && req.version_major == 1 && req.version_minor == 0
                                    ? "Connection: keep-alive\r\n"
                                    : "";
  if (req.method != "GET" && !head) {
    http_reply(c, 405, kTextPlain, "only GET and HEAD are served\n", keep_alive, false,
               std::string(kept) + "Allow: GET, HEAD\r\n");
    return;
  }
  const std::string_view path = req.path();
  if (path == "/metrics") {
    http_reply(c, 200, kMetricsContentType, metrics_text(*shared_, cfg_, now_ms_), keep_alive, head, kept);
  } else if (path == "/healthz") {
    const bool draining = shared_->stopping.load(std::memory_order_relaxed);
    http_reply(c, draining ? 503 : 200, kTextPlain, draining ? "draining\n" : "ok\n", keep_alive, head, kept);
  } else {
    http_reply(c, 404, kTextPlain, "not found: try /metrics or /healthz\n", keep_alive, head, kept);
  }
}

void ShardCore::http_reply(Conn* c, int status, std::string_view content_type, std::string_view body,
                           bool keep_alive, bool head_only, std::string_view extra_headers) {
  std::string h = "HTTP/1.1 " + std::to_string(status) + " " + reason(status) + "\r\nDate: " + http_date() +
                  "\r\nContent-Type: ";
  h.append(content_type);
  h += "\r\nContent-Length: " + std::to_string(body.size()) + "\r\n";
  h.append(extra_headers);
  if (!keep_alive) h += "Connection: close\r\n";
  h += "\r\n";
  c->out.append(h);
  if (!head_only) c->out.append(body);
  mark_pending(c);
  if (status >= 400) stats_->http_error_responses.add();
  if (!keep_alive) close_after_reply(c);
}

void ShardCore::http_timeouts(Conn* c) {
  if (c->close_after_flush) return;
  const auto bound = [](int seconds, int64_t cap_ms) {
    return seconds > 0 ? std::min<int64_t>(int64_t{seconds} * 1000, cap_ms) : cap_ms;
  };
  if (c->partial_since_ms >= 0 && now_ms_ - c->partial_since_ms >= bound(cfg_.request_timeout_s, kRequestMs)) {
    http_reply(c, 408, kTextPlain, "the request took too long\n", false);
  } else if (!c->http->mid_request() && now_ms_ - c->last_input_ms >= bound(cfg_.idle_timeout_s, kIdleMs)) {
    close_conn(c, "HTTP connection idle");
  }
}

}  // namespace fanout
