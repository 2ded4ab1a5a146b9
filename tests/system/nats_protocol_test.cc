// The NATS encoder, parser and subject map against a real nats-server (Debian's, installed by
// tools/setup.sh --test): each test starts its own server on a loopback port the server picks,
// speaks to it over a plain blocking socket with core/'s encoder, and reads every reply with
// core/'s parser. Bounded: every read waits at most 5 s, the server's start at most 10 s.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <chrono>
#include <cstring>
#include <deque>
#include <optional>
#include <string>

#include "core/nats_parser.h"
#include "core/nats_protocol.h"
#include "core/subject_map.h"
#include "tests/system/nats_server.h"

namespace fanout {
namespace {

using namespace std::string_literals;
using Clock = std::chrono::steady_clock;
using test::NatsServer;

// An op copied out of the parser's views.
struct Op {
  NatsOp::Kind kind = NatsOp::Kind::kPing;
  std::string subject, reply, headers, payload, error_text;
  uint64_t sid = 0;
  bool has_headers = false;
  NatsServerInfo info;
};

// One client connection: blocking socket, replies read through NatsParser.
class Client {
 public:
  ~Client() {
    if (fd_ >= 0) ::close(fd_);
  }
  ::testing::AssertionResult connect(int port) {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<uint16_t>(port));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0) {
      return ::testing::AssertionFailure() << "connect: " << std::strerror(errno);
    }
    return ::testing::AssertionSuccess();
  }
  void send(const std::string& bytes) {
    size_t off = 0;
    while (off < bytes.size()) {
      ssize_t n = ::send(fd_, bytes.data() + off, bytes.size() - off, MSG_NOSIGNAL);
      if (n <= 0) return;  // the server closed: the next read says so
      off += static_cast<size_t>(n);
    }
  }
  // The next op; nullopt once the server closed the connection, after 5 s without one, or on a
  // parse error (closed_why() says which).
  std::optional<Op> next() {
    auto end = Clock::now() + std::chrono::seconds(5);
    while (ready_.empty()) {
      if (!why_.empty()) return std::nullopt;
      int left = static_cast<int>(std::chrono::duration_cast<std::chrono::milliseconds>(end - Clock::now()).count());
      pollfd p{fd_, POLLIN, 0};
      if (left <= 0 || ::poll(&p, 1, left) <= 0) {
        why_ = "no reply in 5 s";
        return std::nullopt;
      }
      char buf[4096];
      ssize_t n = ::recv(fd_, buf, sizeof(buf), 0);
      if (n <= 0) {
        why_ = "closed by the server";
        return std::nullopt;
      }
      std::string_view in(buf, static_cast<size_t>(n));
      while (true) {
        NatsOp op;
        auto st = parser_.next(&in, &op);
        if (st == NatsParser::Status::kNeedMore) break;
        if (st == NatsParser::Status::kError) {
          why_ = "parse error: " + parser_.error();
          break;
        }
        Op o;
        o.kind = op.kind;
        o.subject = op.subject;
        o.reply = op.reply_to;
        o.headers = op.headers;
        o.payload = op.payload;
        o.error_text = op.error_text;
        o.sid = op.sid;
        o.has_headers = op.has_headers;
        if (op.info) o.info = *op.info;
        ready_.push_back(std::move(o));
      }
    }
    Op o = std::move(ready_.front());
    ready_.pop_front();
    return o;
  }
  const std::string& closed_why() const { return why_; }
  NatsParser& parser() { return parser_; }

 private:
  int fd_ = -1;
  NatsParser parser_;
  std::deque<Op> ready_;
  std::string why_;
};

const SubjectMap& subjects() {
  static const SubjectMap m = *SubjectMap::create();
  return m;
}

// Connects, reads INFO, sends CONNECT and a PING, and waits for the PONG.
::testing::AssertionResult handshake(Client& c, int port, const NatsConnectOptions& o, NatsServerInfo* info) {
  if (auto r = c.connect(port); !r) return r;
  auto op = c.next();
  if (!op || op->kind != NatsOp::Kind::kInfo) return ::testing::AssertionFailure() << "no INFO: " << c.closed_why();
  *info = op->info;
  std::string out;
  if (!append_nats_connect(&out, o)) return ::testing::AssertionFailure() << "CONNECT refused";
  append_nats_ping(&out);
  c.send(out);
  op = c.next();
  if (!op) return ::testing::AssertionFailure() << "no reply to CONNECT: " << c.closed_why();
  if (op->kind != NatsOp::Kind::kPong) return ::testing::AssertionFailure() << "not PONG: -ERR " << op->error_text;
  return ::testing::AssertionSuccess();
}

TEST(NatsServerTest, HpubComesBackAsHmsgWithTheOriginHeader) {
  NatsServer server;
  ASSERT_TRUE(server.start({}));
  Client c;
  NatsServerInfo info;
  NatsConnectOptions o;
  o.name = "fanout nats_protocol_test";
  ASSERT_TRUE(handshake(c, server.port(), o, &info));
  EXPECT_TRUE(info.headers);
  EXPECT_EQ(info.max_payload, kNatsDefaultMaxPayload);
  EXPECT_EQ(info.proto, 1);
  EXPECT_FALSE(info.server_id.empty());
  // PSUBSCRIBE news.* upstream; PUBLISH to "news." (its last token empty) and to "news.a b".
  std::string out;
  ASSERT_TRUE(append_nats_sub(&out, subjects().covering_subject("news.*"), 7));
  const std::string payload = "binary\r\nMSG x 1 1\r\n\0\xff"s;
  for (const char* channel : {"news.", "news.a b"}) {
    ASSERT_EQ(append_nats_hpub(&out, subjects().subject_for_channel(ChannelKind::kChannel, channel),
                               {kFanoutOriginHeader, "node-1"}, payload, info.max_payload),
              NatsEncodeStatus::kOk);
  }
  append_nats_ping(&out);
  c.send(out);
  for (const char* channel : {"news.", "news.a b"}) {
    auto op = c.next();
    ASSERT_TRUE(op) << c.closed_why();
    ASSERT_EQ(op->kind, NatsOp::Kind::kMsg) << op->error_text;
    EXPECT_TRUE(op->has_headers);
    EXPECT_EQ(op->sid, 7u);
    EXPECT_EQ(op->payload, payload);
    auto mapped = subjects().channel_for_subject(op->subject);
    ASSERT_TRUE(mapped);
    EXPECT_EQ(mapped->channel, channel);
    auto h = NatsHeaders::parse(op->headers);
    ASSERT_TRUE(h);
    EXPECT_EQ(h->get(kFanoutOriginHeader), "node-1");
  }
  auto op = c.next();
  ASSERT_TRUE(op);
  EXPECT_EQ(op->kind, NatsOp::Kind::kPong);
}

// Echo concerns one connection's own publishes only: with echo false a link misses what it
// published itself, and another link (another shard, another node) still receives it.
TEST(NatsServerTest, EchoFalseSuppressesOnlyTheConnectionsOwnMessages) {
  NatsServer server;
  ASSERT_TRUE(server.start({}));
  Client quiet, other;
  NatsServerInfo info;
  NatsConnectOptions o;
  o.echo = false;
  ASSERT_TRUE(handshake(quiet, server.port(), o, &info));
  ASSERT_TRUE(handshake(other, server.port(), NatsConnectOptions(), &info));
  std::string sub;
  ASSERT_TRUE(append_nats_sub(&sub, "fanout.c.x", 1));
  append_nats_ping(&sub);
  quiet.send(sub);
  other.send(sub);
  ASSERT_EQ(quiet.next()->kind, NatsOp::Kind::kPong);
  ASSERT_EQ(other.next()->kind, NatsOp::Kind::kPong);
  std::string pub;
  ASSERT_EQ(append_nats_hpub(&pub, "fanout.c.x", {kFanoutOriginHeader, "n"}, "hi", info.max_payload),
            NatsEncodeStatus::kOk);
  append_nats_ping(&pub);
  quiet.send(pub);
  auto op = quiet.next();
  ASSERT_TRUE(op);
  EXPECT_EQ(op->kind, NatsOp::Kind::kPong);  // no HMSG before it
  op = other.next();
  ASSERT_TRUE(op);
  ASSERT_EQ(op->kind, NatsOp::Kind::kMsg);
  EXPECT_EQ(op->payload, "hi");
}

TEST(NatsServerTest, VerboseOkAndUnknownOperationErr) {
  NatsServer server;
  ASSERT_TRUE(server.start({}));
  Client c;
  ASSERT_TRUE(c.connect(server.port()));
  ASSERT_EQ(c.next()->kind, NatsOp::Kind::kInfo);
  // The encoder always says verbose false; +OK is asked for by hand here.
  std::string out = "CONNECT {\"verbose\":true,\"headers\":true}\r\n";
  ASSERT_TRUE(append_nats_sub(&out, "a", 1));
  out += "FOO\r\n";
  c.send(out);
  for (int i = 0; i < 2; ++i) {
    auto op = c.next();
    ASSERT_TRUE(op) << c.closed_why();
    EXPECT_EQ(op->kind, NatsOp::Kind::kOk);
  }
  auto op = c.next();
  ASSERT_TRUE(op) << c.closed_why();
  EXPECT_EQ(op->kind, NatsOp::Kind::kErr);
  EXPECT_EQ(op->error_text, "Unknown Protocol Operation");
  EXPECT_FALSE(c.next());
  EXPECT_EQ(c.closed_why(), "closed by the server");
}

TEST(NatsServerTest, MaxPayloadIsEnforcedByTheEncoderAndTheServer) {
  NatsServer server;
  ASSERT_TRUE(server.start({}, "max_payload: 64\n"));
  Client c;
  NatsServerInfo info;
  ASSERT_TRUE(handshake(c, server.port(), NatsConnectOptions(), &info));
  ASSERT_EQ(info.max_payload, 64u);
  // 35 bytes of header block and 29 of payload: 64, accepted.
  std::string out;
  ASSERT_TRUE(append_nats_sub(&out, "s", 1));
  ASSERT_EQ(append_nats_hpub(&out, "s", {kFanoutOriginHeader, "node-1"}, std::string(29, 'x'), info.max_payload),
            NatsEncodeStatus::kOk);
  EXPECT_EQ(append_nats_hpub(&out, "s", {kFanoutOriginHeader, "node-1"}, std::string(30, 'x'), info.max_payload),
            NatsEncodeStatus::kPayloadTooLarge);
  c.send(out);
  auto op = c.next();
  ASSERT_TRUE(op) << c.closed_why();
  ASSERT_EQ(op->kind, NatsOp::Kind::kMsg);
  EXPECT_EQ(op->headers.size() + op->payload.size(), 64u);
  // What the encoder refuses, the server punishes by closing the link.
  out.clear();
  ASSERT_EQ(append_nats_hpub(&out, "s", {kFanoutOriginHeader, "node-1"}, std::string(30, 'x'), 1000),
            NatsEncodeStatus::kOk);
  c.send(out);
  op = c.next();
  ASSERT_TRUE(op) << c.closed_why();
  EXPECT_EQ(op->kind, NatsOp::Kind::kErr);
  EXPECT_EQ(op->error_text, "Maximum Payload Violation");
  EXPECT_FALSE(c.next());
}

TEST(NatsServerTest, Credentials) {
  NatsServer server;
  ASSERT_TRUE(server.start({"--user", "fan", "--pass", "s3cret"}));
  Client good, bad;
  NatsServerInfo info;
  NatsConnectOptions o;
  o.user = "fan";
  o.pass = "s3cret";
  ASSERT_TRUE(handshake(good, server.port(), o, &info));
  EXPECT_TRUE(info.auth_required);
  o.pass = "wrong";
  ASSERT_TRUE(bad.connect(server.port()));
  ASSERT_EQ(bad.next()->kind, NatsOp::Kind::kInfo);
  std::string out;
  ASSERT_TRUE(append_nats_connect(&out, o));
  append_nats_ping(&out);
  bad.send(out);
  auto op = bad.next();
  ASSERT_TRUE(op) << bad.closed_why();
  EXPECT_EQ(op->kind, NatsOp::Kind::kErr);
  EXPECT_EQ(op->error_text, "Authorization Violation");
}

// subject_fits_control_line's room is what the server's 4096 leaves: the longest subject it
// allows works end to end (SUB, HPUB, and the HMSG back through the parser's default limits);
// past NATS's limit the server refuses the line.
TEST(NatsServerTest, ControlLineRoomMatchesTheServer) {
  NatsServer server;
  ASSERT_TRUE(server.start({}));
  Client c;
  NatsServerInfo info;
  ASSERT_TRUE(handshake(c, server.port(), NatsConnectOptions(), &info));
  const std::string channel(4064 - 9, 'x');  // "fanout.c." + 4055 = 4064
  const std::string subject = subjects().subject_for_channel(ChannelKind::kChannel, channel);
  ASSERT_TRUE(subject_fits_control_line(subject.size()));
  std::string out;
  ASSERT_TRUE(append_nats_sub(&out, subject, 18446744073709551615ull));
  ASSERT_EQ(append_nats_hpub(&out, subject, {kFanoutOriginHeader, "node-1"}, std::string(1000000, 'p'),
                             info.max_payload),
            NatsEncodeStatus::kOk);
  c.send(out);
  auto op = c.next();
  ASSERT_TRUE(op) << c.closed_why();
  ASSERT_EQ(op->kind, NatsOp::Kind::kMsg) << op->error_text;
  EXPECT_EQ(op->subject, subject);
  EXPECT_EQ(op->payload.size(), 1000000u);
  out.clear();
  ASSERT_TRUE(append_nats_sub(&out, std::string(4097, 'y'), 2));
  c.send(out);
  op = c.next();
  ASSERT_TRUE(op) << c.closed_why();
  EXPECT_EQ(op->kind, NatsOp::Kind::kErr);
  EXPECT_EQ(op->error_text, "maximum control line exceeded");
}

}  // namespace
}  // namespace fanout
