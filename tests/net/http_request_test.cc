// HttpRequestReader: requests as RFC 9112 writes them, whole or a byte at a time, pipelined; the
// bounds (head size, header count, no body) and the statuses each refusal answers with.
#include "net/http_request.h"

#include <gtest/gtest.h>

#include <string>

namespace fanout {
namespace {

using Status = HttpRequestReader::Status;

// Reads `text` in pieces of `step` bytes; returns the status of the read that ended it, and the
// bytes taken in all.
Status read_in_pieces(HttpRequestReader& r, const std::string& text, size_t step, size_t* taken) {
  *taken = 0;
  Status st = Status::kNeedMore;
  while (*taken < text.size()) {
    const size_t n = std::min(step, text.size() - *taken);
    size_t used = 0;
    st = r.read(text.data() + *taken, n, &used);
    *taken += used;
    if (st != Status::kNeedMore) return st;
    EXPECT_EQ(used, n);
  }
  return st;
}

TEST(HttpRequestTest, AGetWholeOrAByteAtATime) {
  const std::string get = "GET /metrics?name[]=x HTTP/1.1\r\nHost: localhost:9121\r\nUser-Agent:  Prometheus/2.42 \r\n"
                          "Accept: text/plain\r\n\r\n";
  for (size_t step : {get.size(), size_t{1}, size_t{7}}) {
    HttpRequestReader r;
    size_t taken = 0;
    ASSERT_EQ(read_in_pieces(r, get, step, &taken), Status::kRequest) << step;
    EXPECT_EQ(taken, get.size());
    const HttpRequest& q = r.request();
    EXPECT_EQ(q.method, "GET");
    EXPECT_EQ(q.target, "/metrics?name[]=x");
    EXPECT_EQ(q.path(), "/metrics");
    EXPECT_EQ(q.version_major, 1u);
    EXPECT_EQ(q.version_minor, 1u);
    EXPECT_TRUE(q.keep_alive);
    EXPECT_FALSE(q.upgrade);
    ASSERT_EQ(q.headers.size(), 3u);
    EXPECT_EQ(q.headers[1].first, "user-agent");
    EXPECT_EQ(q.headers[1].second, "Prometheus/2.42");
    EXPECT_EQ(*q.header("host"), "localhost:9121");
    EXPECT_EQ(q.header("cookie"), nullptr);
    EXPECT_FALSE(r.mid_request());
    EXPECT_EQ(r.requests(), 1u);
  }
}

TEST(HttpRequestTest, PipelinedRequestsAreReadOneAtATime) {
  const std::string one = "GET /metrics HTTP/1.1\r\nHost: a\r\n\r\n";
  const std::string two = "HEAD /healthz HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n";
  const std::string both = one + two + "GET /par";
  HttpRequestReader r;
  size_t used = 0;
  ASSERT_EQ(r.read(both.data(), both.size(), &used), Status::kRequest);
  EXPECT_EQ(used, one.size());
  EXPECT_EQ(r.request().path(), "/metrics");
  // Not taken yet: reading again returns it again, taking nothing.
  size_t again = 1;
  EXPECT_EQ(r.read(both.data() + used, both.size() - used, &again), Status::kRequest);
  EXPECT_EQ(again, 0u);
  r.next();
  size_t used2 = 0;
  ASSERT_EQ(r.read(both.data() + used, both.size() - used, &used2), Status::kRequest);
  EXPECT_EQ(used2, two.size());
  EXPECT_EQ(r.request().method, "HEAD");
  EXPECT_FALSE(r.request().keep_alive);
  r.next();
  size_t used3 = 0;
  EXPECT_EQ(r.read(both.data() + used + used2, 8, &used3), Status::kNeedMore);
  EXPECT_EQ(used3, 8u);
  EXPECT_TRUE(r.mid_request());
  EXPECT_EQ(r.requests(), 2u);
}

TEST(HttpRequestTest, KeepAliveFollowsTheVersionAndConnection) {
  auto keep_alive = [](const std::string& text) {
    HttpRequestReader r;
    size_t used = 0;
    EXPECT_EQ(r.read(text.data(), text.size(), &used), Status::kRequest) << text;
    return r.request().keep_alive;
  };
  EXPECT_FALSE(keep_alive("GET / HTTP/1.0\r\n\r\n"));  // HTTP/1.0 needs no Host
  EXPECT_TRUE(keep_alive("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"));
  EXPECT_FALSE(keep_alive("GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"));
  EXPECT_TRUE(keep_alive("GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n"));  // an empty body is none
}

TEST(HttpRequestTest, AbsoluteFormAndUpgrade) {
  HttpRequestReader r;
  std::string text = "GET HTTP://example.com:80/healthz?x HTTP/1.1\r\nHost: example.com\r\n\r\n";
  size_t used = 0;
  ASSERT_EQ(r.read(text.data(), text.size(), &used), Status::kRequest);
  EXPECT_EQ(r.request().path(), "/healthz");
  HttpRequestReader u;
  text = "GET /ws HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\nbinary";
  ASSERT_EQ(u.read(text.data(), text.size(), &used), Status::kRequest);
  EXPECT_TRUE(u.request().upgrade);
  EXPECT_EQ(used, text.size() - 6);  // what follows is the other protocol's
}

TEST(HttpRequestTest, RefusalsSayWhichStatus) {
  struct Case {
    std::string text;
    int status;
  };
  const Case cases[] = {
      {"HELLO / HTTP/1.1\r\n\r\n", 400},
      {"GET / HTTP/1.1\r\n\r\n", 400},  // no Host
      {"GET /\r\n\r\n", 505},           // HTTP/0.9's form
      {"GET / HTTP/1.1\r\nHost: a\r\nBad Header: x\r\n\r\n", 400},
      {"GET / HTTP/2.0\r\nHost: a\r\n\r\n", 505},
      {"POST /metrics HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello", 413},
      {"POST /metrics HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n", 413},
      {"GET /" + std::string(9000, 'a') + " HTTP/1.1\r\nHost: a\r\n\r\n", 431},
      {"GET / HTTP/1.1\r\nHost: a\r\nX: " + std::string(9000, 'v') + "\r\n\r\n", 431},
      {std::string(10000, '\n'), 431},  // blank lines before a request count toward the head
  };
  for (const Case& c : cases) {
    for (size_t step : {c.text.size(), size_t{1}}) {
      HttpRequestReader r;
      size_t taken = 0;
      EXPECT_EQ(read_in_pieces(r, c.text, step, &taken), Status::kError) << c.text.substr(0, 60);
      EXPECT_EQ(r.error_status(), c.status) << c.text.substr(0, 60) << ": " << r.error();
      EXPECT_FALSE(r.error().empty());
      size_t more = 1;
      EXPECT_EQ(r.read("GET", 3, &more), Status::kError);  // nothing more is read
      EXPECT_EQ(more, 0u);
    }
  }
  std::string many = "GET / HTTP/1.1\r\nHost: a\r\n";
  for (int i = 0; i < 70; ++i) many += "X-" + std::to_string(i) + ": y\r\n";
  HttpRequestReader r;
  size_t taken = 0;
  EXPECT_EQ(read_in_pieces(r, many + "\r\n", 5, &taken), Status::kError);
  EXPECT_EQ(r.error_status(), 431);
}

TEST(HttpRequestTest, AHeadJustUnderTheLimitIsRead) {
  HttpRequestReader::Limits limits;
  limits.max_head_bytes = 256;
  const std::string start = "GET / HTTP/1.1\r\nHost: a\r\nX: ";
  std::string text = start + std::string(256 - start.size() - 4, 'v') + "\r\n\r\n";
  ASSERT_EQ(text.size(), 256u);
  HttpRequestReader r(limits);
  size_t taken = 0;
  EXPECT_EQ(read_in_pieces(r, text, 3, &taken), Status::kRequest);
  HttpRequestReader over(limits);
  text.insert(start.size(), "v");
  EXPECT_EQ(read_in_pieces(over, text, 3, &taken), Status::kError);
  EXPECT_EQ(over.error_status(), 431);
}

}  // namespace
}  // namespace fanout
