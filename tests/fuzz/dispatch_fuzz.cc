// Fuzz target: the real shard loop (Shard<Backend>::iterate: dispatch, mailboxes, retries, flush,
// closes) of two shards joined by their rings, over a fake backend whose kernel is the fuzz
// input: clients connect, send bytes, half-close and reset; operations complete in any order and
// any way (data, short, EAGAIN, errors, ENOBUFS, cancelled, stale ids from connections that are
// gone, after their fd was reused); time advances; either shard runs an iteration.
// Properties: nothing crashes or trips a sanitizer (the fake reads a send's bytes from the
// shard's queue when it completes, so a queue freed too early shows); the fake's kernel rules
// hold (one receive and one send per connection, no socket closed under an op); every client's
// wire is well-formed RESP with no push inside another value; after every step each push owed is
// sent, dropped, discarded or queued
// (DeliveryTotals); and once every client has gone, the shards hold no connection, subscription
// or queued byte, and no op is outstanding.
//
// Clients 6 and 7 connect to the metrics endpoint (HTTP): their wire must be HTTP responses only,
// and they too are gone once every client has left.
// Input: steps of [op][arg...]. op bits 0-2: action, bits 3-5: client (0-7; client c lives on
// shard c % 2), bits 6-7: mode.
//   0 send:     [len][len bytes] from the client (connecting it first if needed)
//   1 complete: [index][n] completes op index of the client's shard: mode 0 all, 1 short (n),
//               2 nothing moved (EAGAIN, ENOBUFS), 3 an error
//   2 the client half-closes          3 the client resets          4 the client connects
//   5 stale:    [index] a completion for a connection that is gone (mode bit 0: a send)
//   6 iterate the client's shard, mode+1 times (mode 1 and 3 settle every op first)
//   7 time:     [n] advance both shards' clocks n x 100 ms
#include <cstdlib>
#include <string>
#include <vector>

#include "core/resp_value.h"
#include "net/log.h"
#include "net/shard.h"
#include "tests/fuzz/fake_backend.h"
#include "tests/fuzz/fuzz_target.h"

namespace fanout {
namespace {

using test::FakeBackend;
using test::FakeSocket;

constexpr int kShards = 2;
constexpr int kClients = 8;
constexpr int kFirstHttpClient = 6;

// An HTTP client's wire: responses, each a status line, headers with a Content-Length, and that
// many bytes of body, except a HEAD's (the next response follows its head at once). The last may
// be incomplete.
bool http_responses(const std::string& wire) {
  size_t at = 0;
  while (at < wire.size()) {
    if (wire.compare(at, 9, "HTTP/1.1 ", 0, std::min<size_t>(9, wire.size() - at)) != 0) return false;
    const size_t end = wire.find("\r\n\r\n", at);
    if (end == std::string::npos) return true;  // a head still arriving
    const size_t cl = wire.find("\r\nContent-Length: ", at);
    if (cl == std::string::npos || cl > end) return false;
    const size_t len = std::strtoul(wire.c_str() + cl + 18, nullptr, 10);
    at = end + 4;
    if (wire.compare(at, 9, "HTTP/1.1 ") == 0) continue;  // a HEAD's: no body
    at += len;
  }
  return true;  // the last body may still be arriving
}

// A RESP3 push is always a value of its own, never an element of another (a push that landed
// inside an array reply would corrupt it for the client).
bool no_nested_push(const RespValue& v) {
  for (const RespValue& e : v.elements) {
    if (e.type == RespValue::Type::kPush || !no_nested_push(e)) return false;
  }
  return true;
}

// Parses every complete value at the front of `wire` (dropping it); false if malformed.
bool well_formed(std::string* wire) {
  while (!wire->empty()) {
    RespValue v;
    std::string err;
    long n = parse_resp_value(wire->data(), wire->size(), &v, &err);
    if (n < 0) {
      std::fprintf(stderr, "malformed reply stream: %s\n", err.c_str());
      return false;
    }
    if (n == 0) break;
    if (!no_nested_push(v)) {
      std::fprintf(stderr, "a push inside another value\n");
      return false;
    }
    wire->erase(0, static_cast<size_t>(n));
  }
  return true;
}

struct Client {
  int fd = -1;
  uint64_t serial = 0;
};

class Harness {
 public:
  explicit Harness(const ServerConfig& cfg, const Acl& acl) : shared_(cfg, kShards, acl) {
    for (int s = 0; s < kShards; ++s) {
      // Never real sockets: the fake's kernel has its own numbers.
      listeners_[s][0].fd = 100 + s;
      listeners_[s][1].fd = 200 + s;
      listeners_[s][1].protocol = Protocol::kHttp;
      shards_.push_back(std::make_unique<Shard<FakeBackend>>(
          s, &shared_, std::vector<Listener*>{&listeners_[s][0], &listeners_[s][1]}));
      std::string err;
      FUZZ_CHECK(shards_[s]->init(&err) && shards_[s]->start(&err));
    }
  }
  ~Harness() {
    std::vector<ShardCore*> all;
    for (auto& s : shards_) {
      s->finish();
      all.push_back(s.get());
    }
    teardown_shards(all);
  }

  FakeBackend& fake(int s) { return shards_[s]->backend(); }
  FakeSocket* socket(int c) {
    Client& cl = clients_[c];
    if (cl.fd < 0) return nullptr;
    FakeSocket* s = fake(c % kShards).socket(cl.fd);
    if (s == nullptr || s->serial != cl.serial) {
      cl.fd = -1;  // the server closed it
      return nullptr;
    }
    return s;
  }
  FakeSocket* connect(int c) {
    if (FakeSocket* s = socket(c)) return s;
    Client& cl = clients_[c];
    cl.fd = fake(c % kShards).connect(c >= kFirstHttpClient ? 1 : 0);
    FakeSocket* s = fake(c % kShards).socket(cl.fd);
    cl.serial = s->serial;
    return s;
  }
  void iterate(int s, int times, bool settle) {
    for (int i = 0; i < times; ++i) {
      if (settle) fake(s).settle();
      shards_[s]->iterate(0);
    }
  }
  // Properties that hold after every step.
  void check() {
    for (int s = 0; s < kShards; ++s) {
      for (auto& [fd, sock] : fake(s).sockets()) {
        FUZZ_CHECK(sock.http ? http_responses(sock.wire) : well_formed(&sock.wire));
      }
    }
    FUZZ_CHECK(shared_.deliveries().balanced());
  }
  // Every client goes away; the shards must end with nothing held.
  void finish() {
    for (int c = 0; c < kClients; ++c) {
      if (FakeSocket* s = socket(c)) s->eof = true;
    }
    for (int round = 0; round < 200; ++round) {
      for (int s = 0; s < kShards; ++s) {
        fake(s).settle();
        shards_[s]->iterate(0);
      }
      check();
      bool idle = true;
      for (int s = 0; s < kShards; ++s) {
        idle &= shards_[s]->connections() == 0 && fake(s).outstanding() == 0;
        for (int o = 0; o < kShards; ++o) idle &= o == s || !shared_.ring(o, s).idle_check();
      }
      if (idle) break;
    }
    for (int s = 0; s < kShards; ++s) {
      FUZZ_CHECK(shards_[s]->connections() == 0);
      FUZZ_CHECK(fake(s).outstanding() == 0);
      FUZZ_CHECK(shards_[s]->arena().live_blocks() == 0);  // every message went back and was freed
      for (TopicKind kind : {TopicKind::kChannel, TopicKind::kPattern, TopicKind::kShardChannel}) {
        FUZZ_CHECK(shards_[s]->table().size(kind) == 0);
      }
    }
    DeliveryTotals d = shared_.deliveries();
    FUZZ_CHECK(d.balanced() && d.queued == 0);
    FUZZ_CHECK(shared_.sum(&ShardStats::queued_bytes) == 0);
  }

 private:
  SharedState shared_;
  Listener listeners_[kShards][2];  // RESP, then the metrics endpoint
  std::vector<std::unique_ptr<Shard<FakeBackend>>> shards_;
  Client clients_[kClients];
};

}  // namespace
}  // namespace fanout

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace fanout;
  set_log_level(LogLevel::kError);
  ServerConfig cfg;
  cfg.max_query_buffer = 64 * 1024;
  cfg.request.max_bulk_len = 4096;
  cfg.request.max_args = 64;
  cfg.request.max_inline_len = 1024;
  cfg.output.hard_bytes = 8 * 1024;
  cfg.output.soft_bytes = 0;
  cfg.output.max_messages = 64;
  cfg.mailbox_depth = 16;  // small rings, so blocked publishes and their wake-ups are reached
  cfg.request_timeout_s = 5;
  cfg.idle_timeout_s = 30;
  cfg.iov_batch = 8;
  cfg.max_send_bytes = 4096;
  cfg.metrics_port = 9;  // shard 0 walks the top channels for /metrics (no socket: the harness has its own)
  // Users with partial rights, so AUTH, NOPERM and channel checks are reachable.
  static const Acl acl = [] {
    Acl a(server_acl_catalog());
    std::string err = a.load_file("user pub on >p resetchannels &news.* +publish +ping\n"
                                  "user sub on >s &news.* &a?c +@pubsub -publish -pubsub\n", "fuzz");
    FUZZ_CHECK(err.empty());
    return a;
  }();
  {
    Harness h(cfg, acl);
    size_t i = 0;
    auto next = [&]() -> uint8_t { return i < size ? data[i++] : 0; };
    while (i < size) {
      uint8_t op = next();
      int c = ((op >> 3) & 7) % kClients;
      int shard = c % kShards;
      int mode = op >> 6;
      switch (op & 7) {
        case 0: {
          size_t len = std::min<size_t>(next(), size - i);
          FakeSocket* s = h.connect(c);
          if (!s->eof && !s->reset) s->inbound.append(reinterpret_cast<const char*>(data + i), len);
          i += len;
          break;
        }
        case 1: {
          size_t index = next(), n = next();
          h.fake(shard).complete(index, mode, n);
          break;
        }
        case 2:
          if (FakeSocket* s = h.socket(c)) s->eof = true;
          break;
        case 3:
          if (FakeSocket* s = h.socket(c)) s->reset = true;
          break;
        case 4:
          h.connect(c);
          break;
        case 5:
          h.fake(shard).stale(next(), mode & 1);
          break;
        case 6:
          h.iterate(shard, mode + 1, mode & 1);
          break;
        case 7: {
          int64_t ms = next() * 100;
          for (int s = 0; s < kShards; ++s) h.fake(s).advance(ms);
          break;
        }
      }
      h.check();
    }
    h.finish();
  }
  return 0;
}
