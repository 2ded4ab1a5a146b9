// The metrics endpoint on both backends: HTTP/1.1 on --metrics-port served by the shard loops.
// - GET /metrics: Prometheus text 0.0.4, figures that move with what clients do and agree with
//   INFO's (the same counters), per-shard samples, the latency histogram;
// - GET /healthz: 200 while serving, 503 once the drain has begun (on a kept-alive connection and
//   a new one alike);
// - 404, 405 (with Allow), HEAD, keep-alive and pipelining, HTTP/1.0, and the refusals that
//   close (400, 413, 431, 408 for a head that takes too long), the idle close, the connection cap;
// - its connections are not Redis clients (CLIENT LIST, connected_clients).
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <map>
#include <thread>

#include "net/listener.h"
#include "net/socket.h"
#include "tests/net/server_fixture.h"

namespace fanout::test {
namespace {

// A port that was free a moment ago (--metrics-port has no "pick one" value).
int free_port() {
  std::string err;
  int fd = listen_tcp("127.0.0.1", 0, 1, false, &err);
  int port = local_port(fd);
  ::close(fd);
  return port;
}

struct Response {
  int status = 0;
  std::map<std::string, std::string> headers;  // names lower-cased
  std::string body;
};

// A blocking HTTP client on one connection.
class Http {
 public:
  explicit Http(int port) : fd_(connect_loopback(port)) {}
  ~Http() {
    if (fd_ >= 0) ::close(fd_);
  }
  bool ok() const { return fd_ >= 0; }
  void send(std::string_view bytes) {
    size_t off = 0;
    while (off < bytes.size()) {
      ssize_t n = ::send(fd_, bytes.data() + off, bytes.size() - off, MSG_NOSIGNAL);
      if (n <= 0) return;
      off += static_cast<size_t>(n);
    }
  }
  // Reads one response (a HEAD's has no body whatever its Content-Length says).
  bool read(Response* r, bool head = false, int timeout_ms = 5000) {
    size_t end;
    while ((end = buf_.find("\r\n\r\n")) == std::string::npos) {
      if (!fill(timeout_ms)) return false;
    }
    std::string headers = buf_.substr(0, end);
    buf_.erase(0, end + 4);
    *r = Response{};
    r->status = std::stoi(headers.substr(9, 3));
    size_t at = headers.find("\r\n");
    while (at != std::string::npos) {
      size_t next = headers.find("\r\n", at + 2);
      std::string line = headers.substr(at + 2, next == std::string::npos ? std::string::npos : next - at - 2);
      size_t colon = line.find(':');
      std::string name = line.substr(0, colon);
      for (char& ch : name) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
      r->headers[name] = line.substr(colon + 2);
      at = next;
    }
    size_t len = head ? 0 : std::stoul(r->headers["content-length"]);
    while (buf_.size() < len) {
      if (!fill(timeout_ms)) return false;
    }
    r->body = buf_.substr(0, len);
    buf_.erase(0, len);
    return true;
  }
  Response get(std::string_view path) {
    send("GET " + std::string(path) + " HTTP/1.1\r\nHost: localhost\r\n\r\n");
    Response r;
    EXPECT_TRUE(read(&r)) << path;
    return r;
  }
  // True once the server has closed the connection (what arrives first is discarded).
  bool closed(int timeout_ms = 5000) {
    auto end = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
    while (std::chrono::steady_clock::now() < end) {
      if (!fill(100) && eof_) return true;
      buf_.clear();
    }
    return false;
  }

 private:
  bool fill(int timeout_ms) {
    pollfd p{fd_, POLLIN, 0};
    if (poll(&p, 1, timeout_ms) <= 0) return false;
    char tmp[65536];
    ssize_t n = ::recv(fd_, tmp, sizeof(tmp), 0);
    if (n <= 0) {
      eof_ = true;
      return false;
    }
    buf_.append(tmp, static_cast<size_t>(n));
    return true;
  }
  int fd_;
  std::string buf_;
  bool eof_ = false;
};

// The sum of a metric's samples whose labels contain `labels` ("" for all).
double metric_sum(const std::string& text, const std::string& name, const std::string& labels = "") {
  double sum = 0;
  size_t at = 0;
  while ((at = text.find("\n" + name, at)) != std::string::npos) {
    at += 1;
    size_t eol = text.find('\n', at);
    std::string line = text.substr(at, eol - at);
    std::string rest = line.substr(name.size());
    if (rest.empty() || (rest[0] != ' ' && rest[0] != '{')) continue;  // a longer name
    if (!labels.empty() && rest.find(labels) == std::string::npos) continue;
    sum += std::stod(line.substr(line.rfind(' ') + 1));
  }
  return sum;
}

class MetricsTest : public ServerTest {
 protected:
  void SetUp() override {
    ServerTest::SetUp();
    cfg.metrics_port = free_port();
  }
  std::string scrape() {
    Http h(broker->metrics_port());
    Response r = h.get("/metrics");
    EXPECT_EQ(r.status, 200);
    return r.body;
  }
};

TEST_P(MetricsTest, MetricsAreTheFiguresInfoShowsAndMoveWithTheTraffic) {
  start();
  EXPECT_EQ(broker->metrics_port(), cfg.metrics_port);
  Http h(broker->metrics_port());
  Response r = h.get("/metrics");
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(r.headers["content-type"], "text/plain; version=0.0.4; charset=utf-8");
  EXPECT_EQ(r.headers.count("connection"), 0u) << "kept alive";
  const std::string before = r.body;
  for (std::string family : {"fanout_connected_clients", "fanout_total_net_output_bytes_total",
                             "fanout_messages_published_total", "fanout_used_memory", "fanout_uptime_in_seconds"}) {
    EXPECT_NE(before.find("# TYPE " + family + " "), std::string::npos) << family;
    EXPECT_NE(before.find("# HELP " + family + " "), std::string::npos) << family;
  }
  EXPECT_NE(before.find("# TYPE fanout_total_net_output_bytes_total counter\n"), std::string::npos);
  EXPECT_NE(before.find("# TYPE fanout_connected_clients gauge\n"), std::string::npos);
  EXPECT_NE(before.find("\nfanout_messages_published_total{shard=\"1\"} "), std::string::npos) << "per shard";

  // Publish N messages to a subscriber: the counters grow by exactly N.
  constexpr int kN = 37;
  auto sub = client();
  sub->call({"SUBSCRIBE", "metrics.news"});
  auto pub = client();
  for (int i = 0; i < kN; ++i) EXPECT_EQ(pub->call({"PUBLISH", "metrics.news", "m"}).integer, 1);
  RespValue v;
  for (int i = 0; i < kN; ++i) ASSERT_TRUE(sub->read(&v));
  const std::string after = h.get("/metrics").body;  // the same connection, kept alive
  const std::string publish = "cmd=\"publish\"";
  EXPECT_EQ(metric_sum(after, "fanout_messages_published_total") - metric_sum(before, "fanout_messages_published_total"),
            kN);
  EXPECT_EQ(metric_sum(after, "fanout_cmdstat_calls_total", publish) -
                metric_sum(before, "fanout_cmdstat_calls_total", publish),
            kN);
  EXPECT_EQ(metric_sum(after, "fanout_command_latency_seconds_count", publish) -
                metric_sum(before, "fanout_command_latency_seconds_count", publish),
            kN);
  EXPECT_EQ(metric_sum(after, "fanout_command_latency_seconds_bucket", publish + ",le=\"+Inf\""), kN);
  EXPECT_EQ(metric_sum(after, "fanout_connected_clients"), 2);  // the scrape is not a client
  EXPECT_EQ(metric_sum(after, "fanout_pubsub_channels"), 1);
  // The same counters INFO reads: INFO's sums equal the samples' (nothing moves meanwhile).
  const std::string info_text = info();
  const std::string last = h.get("/metrics").body;
  EXPECT_EQ(metric_sum(last, "fanout_messages_published_total"), info_field(info_text, "messages_published"));
  EXPECT_EQ(metric_sum(last, "fanout_total_connections_received_total"),
            info_field(info_text, "total_connections_received"));
  EXPECT_EQ(metric_sum(last, "fanout_total_commands_processed_total"), info_field(info_text, "total_commands_processed"));
  // Histogram buckets are cumulative, and +Inf holds every call.
  double prev = 0;
  for (int k = 0; k < 25; ++k) {
    char le[32];
    std::snprintf(le, sizeof(le), "%.9g", static_cast<double>(uint64_t{1} << k) / 1e6);
    double b = metric_sum(after, "fanout_command_latency_seconds_bucket", publish + ",le=\"" + le + "\"");
    EXPECT_GE(b, prev) << le;
    prev = b;
  }
  EXPECT_LE(prev, kN);
}

TEST_P(MetricsTest, HealthzAnswers503OnceTheDrainBegins) {
  cfg.shutdown_timeout_ms = 20000;
  cfg.output.hard_bytes = 64u << 20;
  cfg.output.soft_bytes = 0;
  start();
  Http kept(broker->metrics_port());
  Response r = kept.get("/healthz");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "ok\n");
  // A subscriber that reads nothing holds the drain open: 16 MB is more than the socket buffers
  // take, so output stays queued.
  auto stalled = client(4096);
  stalled->call({"SUBSCRIBE", "held"});
  auto pub = client();
  const std::string payload(16384, 'x');
  for (int i = 0; i < 1000; ++i) pub->command({"PUBLISH", "held", payload});
  for (int i = 0; i < 1000; ++i) {
    RespValue v;
    ASSERT_TRUE(pub->read(&v));
  }
  ASSERT_GT(stat("queued_output_bytes"), 0);
  broker->stop();
  // The shards see the stop at their next iteration; poll until /healthz says so.
  Response during;
  for (int i = 0; i < 200 && during.status != 503; ++i) {
    kept.send("GET /healthz HTTP/1.1\r\nHost: a\r\n\r\n");
    ASSERT_TRUE(kept.read(&during)) << "answered while the drain lasts";
    if (during.status != 503) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_EQ(during.status, 503);
  EXPECT_EQ(during.body, "draining\n");
  EXPECT_EQ(during.headers["connection"], "close");
  EXPECT_TRUE(kept.closed());
  Http fresh(broker->metrics_port());  // the endpoint still accepts during the drain
  ASSERT_TRUE(fresh.ok());
  EXPECT_EQ(fresh.get("/healthz").status, 503);
  EXPECT_TRUE(TestClient::connect(port) == nullptr || client()->wait_closed(5000)) << "RESP clients are refused";
  stalled->close();  // the drain can finish
  broker->join();
}

TEST_P(MetricsTest, RoutesMethodsAndKeepAlive) {
  start();
  Http h(broker->metrics_port());
  Response r = h.get("/nope");
  EXPECT_EQ(r.status, 404);
  h.send("POST /metrics HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n");
  ASSERT_TRUE(h.read(&r));
  EXPECT_EQ(r.status, 405);
  EXPECT_EQ(r.headers["allow"], "GET, HEAD");
  h.send("HEAD /metrics HTTP/1.1\r\nHost: a\r\n\r\n");
  ASSERT_TRUE(h.read(&r, /*head=*/true));
  EXPECT_EQ(r.status, 200);
  EXPECT_GT(std::stoul(r.headers["content-length"]), 1000u);
  // Pipelined: answered in order, on one connection.
  h.send("GET /healthz HTTP/1.1\r\nHost: a\r\n\r\nGET /nope HTTP/1.1\r\nHost: a\r\n\r\nGET /healthz?x=1 HTTP/1.1\r\nHost: a\r\n\r\n");
  for (int want : {200, 404, 200}) {
    ASSERT_TRUE(h.read(&r));
    EXPECT_EQ(r.status, want);
  }
  // HTTP/1.0 without keep-alive, and Connection: close, end the connection after the answer.
  Http old(broker->metrics_port());
  old.send("GET /healthz HTTP/1.0\r\n\r\n");
  ASSERT_TRUE(old.read(&r));
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.headers["connection"], "close");
  EXPECT_TRUE(old.closed());
  // HTTP/1.0 asking for keep-alive is told it was kept (the review's case: it was kept, unsaid).
  Http kept(broker->metrics_port());
  kept.send("GET /healthz HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
  ASSERT_TRUE(kept.read(&r));
  EXPECT_EQ(r.headers["connection"], "keep-alive");
  kept.send("GET /healthz HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
  ASSERT_TRUE(kept.read(&r));
  EXPECT_EQ(r.status, 200);
  // Not Redis clients.
  auto c = client();
  std::string list = c->call({"CLIENT", "LIST"}).str;
  EXPECT_EQ(std::count(list.begin(), list.end(), '\n'), 1) << list;
  EXPECT_EQ(stat("connected_clients"), 2);  // c and INFO's own
  EXPECT_EQ(stat("http_connections"), 2);   // h and kept; `old` is closed
  EXPECT_GE(stat("http_requests"), 7);
}

TEST_P(MetricsTest, RefusedRequestsGetTheirStatusThenAClose) {
  cfg.request_timeout_s = 1;
  start();
  const std::pair<std::string, int> cases[] = {
      {"BREW /pot HTTP/1.1\r\nHost: a\r\n\r\n", 400},
      {"GET /metrics HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabc", 413},
      {"GET /" + std::string(9000, 'a') + " HTTP/1.1\r\n", 431},
      {"GET / HTTP/3.0\r\nHost: a\r\n\r\n", 505},
      {"GET /healthz HTTP/1.1\r\nHost: a\r\n", 408},  // the head never ends: --request-timeout
  };
  for (const auto& [text, status] : cases) {
    Http h(broker->metrics_port());
    h.send(text);
    Response r;
    ASSERT_TRUE(h.read(&r, false, 10000)) << text.substr(0, 40);
    EXPECT_EQ(r.status, status) << text.substr(0, 40);
    EXPECT_EQ(r.headers["connection"], "close");
    EXPECT_TRUE(h.closed()) << text.substr(0, 40);
  }
  EXPECT_EQ(stat("http_error_responses"), 5);
  EXPECT_EQ(stat("http_connections"), 0);
}

TEST_P(MetricsTest, IdleConnectionsCloseAndTheEndpointHoldsAFewAtOnce) {
  cfg.idle_timeout_s = 1;
  start();
  Http idle(broker->metrics_port());
  EXPECT_EQ(idle.get("/healthz").status, 200);
  EXPECT_TRUE(idle.closed(5000)) << "closed after --idle-timeout without a request";

  std::vector<std::unique_ptr<Http>> held;
  for (uint64_t i = 0; i < kMaxHttpConnections; ++i) {
    held.push_back(std::make_unique<Http>(broker->metrics_port()));
    ASSERT_EQ(held.back()->get("/healthz").status, 200);
  }
  Http over(broker->metrics_port());
  Response r;
  ASSERT_TRUE(over.read(&r));
  EXPECT_EQ(r.status, 503);
  EXPECT_TRUE(over.closed());
  auto c = client();  // clients are not held up by it
  EXPECT_EQ(c->call({"PING"}).str, "PONG");
  held.pop_back();
  Response ok;
  for (int i = 0; i < 100 && ok.status != 200; ++i) {
    Http again(broker->metrics_port());
    again.send("GET /healthz HTTP/1.1\r\nHost: a\r\n\r\n");
    if (!again.read(&ok) || ok.status != 200) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_EQ(ok.status, 200) << "a slot freed is taken again";
}

// The top channels by bytes (FANOUT TOPCHANNELS' figures), refreshed by shard 0 a second after
// each walk; channel names as label values: escaped, UTF-8, at most 128 bytes.
TEST_P(MetricsTest, TopChannelsByBytesWithTheirNamesAsLabels) {
  start();
  auto sub = client(), sub2 = client();
  const std::string weird = "we\"ird\n\xff";
  const std::string long_name(300, 'l');
  sub->command({"SUBSCRIBE", "big", weird, long_name});
  RespValue confirmation;
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(sub->read(&confirmation));
  sub2->call({"SUBSCRIBE", "big"});
  auto pub = client();
  for (int i = 0; i < 7; ++i) EXPECT_EQ(pub->call({"PUBLISH", "big", std::string(1000, 'x')}).integer, 2);
  EXPECT_EQ(pub->call({"PUBLISH", weird, "x"}).integer, 1);
  EXPECT_EQ(pub->call({"PUBLISH", long_name, "x"}).integer, 1);
  std::string text;
  // A walk that began before the PUBLISHes lists the three channels with nothing counted yet:
  // wait for one that saw them all.
  for (int i = 0; i < 300; ++i) {
    text = scrape();
    if (text.find("fanout_top_channel_bytes{rank=\"3\"") != std::string::npos &&
        metric_sum(text, "fanout_top_channel_messages", "rank=\"1\",channel=\"big\"") == 7) {
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_NE(text.find("# TYPE fanout_top_channel_bytes gauge\n"), std::string::npos);
  EXPECT_EQ(metric_sum(text, "fanout_top_channel_messages", "rank=\"1\",channel=\"big\""), 7);
  EXPECT_EQ(metric_sum(text, "fanout_top_channel_subscribers", "rank=\"1\",channel=\"big\""), 2);
  EXPECT_GT(metric_sum(text, "fanout_top_channel_bytes", "rank=\"1\",channel=\"big\""), 7000);
  EXPECT_NE(text.find("channel=\"we\\\"ird\\n?\"} "), std::string::npos) << "escaped, invalid UTF-8 replaced";
  EXPECT_NE(text.find("channel=\"" + std::string(128, 'l') + "...\"} "), std::string::npos) << "cut at 128 bytes";
}

INSTANTIATE_TEST_SUITE_P(Backends, MetricsTest, ::testing::ValuesIn(kBackends));

}  // namespace
}  // namespace fanout::test
