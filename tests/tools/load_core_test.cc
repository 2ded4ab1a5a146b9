// fanout-load's own pieces: payload codec, stream parsers, the verifier catching injected
// loss, duplication and reordering, the protocol adapters, and the target's resolution.
#include <gtest/gtest.h>

#include <sys/socket.h>

#include <string>
#include <string_view>

#include "tools/load/payload.h"
#include "tools/load/protocol.h"
#include "tools/load/stream_parser.h"
#include "tools/load/target.h"
#include "tools/load/verifier.h"

namespace fanout::load {
namespace {

TEST(Payload, RoundTripAndMinimumSize) {
  std::string p;
  encode_payload(PayloadHeader{7, 42, 123456789, 3}, 10, &p);
  EXPECT_EQ(p.size(), kHeaderSize);
  PayloadHeader h;
  ASSERT_TRUE(decode_payload(p, &h));
  EXPECT_EQ(h.publisher, 7u);
  EXPECT_EQ(h.seq, 42u);
  EXPECT_EQ(h.send_ns, 123456789u);
  EXPECT_EQ(h.round, 3u);
  encode_payload(h, 1024, &p);
  EXPECT_EQ(p.size(), 1024u);
  EXPECT_FALSE(decode_payload("short", &h));
  p[0] = 'Z';
  EXPECT_FALSE(decode_payload(p, &h));
}

TEST(Verifier, CatchesLossDuplicatesAndReorders) {
  StreamVerifier v;
  for (uint64_t s : {0, 1, 2}) EXPECT_TRUE(v.record(0, s));
  EXPECT_FALSE(v.record(0, 5));  // 3 and 4 missing
  EXPECT_EQ(v.counts().lost, 2u);
  EXPECT_FALSE(v.record(0, 3));  // late: reordered, no longer lost
  EXPECT_EQ(v.counts().lost, 1u);
  EXPECT_EQ(v.counts().reordered, 1u);
  EXPECT_FALSE(v.record(0, 5));  // seen before: duplicate
  EXPECT_EQ(v.counts().duplicated, 1u);
  EXPECT_TRUE(v.record(1, 0));   // publishers are independent streams
  v.finish(0, 8);                // 6 and 7 never came
  v.finish(1, 1);
  EXPECT_EQ(v.counts().lost, 3u);
  EXPECT_EQ(v.counts().received, 7u);
}

TEST(RespFrame, PushesRepliesAndSplits) {
  std::string msg = "*3\r\n$7\r\nmessage\r\n$2\r\nch\r\n$3\r\nabc\r\n";
  RespFrame f;
  ASSERT_EQ(parse_resp_frame(msg.data(), msg.size(), &f), static_cast<long>(msg.size()));
  EXPECT_EQ(f.n, 3);
  EXPECT_EQ(f.elems[0], "message");
  EXPECT_EQ(f.elems[2], "abc");
  for (size_t cut = 0; cut < msg.size(); ++cut) EXPECT_EQ(parse_resp_frame(msg.data(), cut, &f), 0) << cut;
  std::string conf = ">3\r\n$9\r\nsubscribe\r\n$2\r\nch\r\n:1\r\n";
  ASSERT_GT(parse_resp_frame(conf.data(), conf.size(), &f), 0);
  EXPECT_EQ(f.type, '>');
  EXPECT_TRUE(f.is_int[2]);
  EXPECT_EQ(f.ints[2], 1);
  std::string n = ":1000\r\n";
  ASSERT_GT(parse_resp_frame(n.data(), n.size(), &f), 0);
  EXPECT_EQ(f.integer, 1000);
  std::string bad = "*9\r\n";
  EXPECT_EQ(parse_resp_frame(bad.data(), bad.size(), &f), -1);
}

TEST(NatsFrame, MessagesAndControl) {
  std::string s = "MSG t.1 1 5\r\nhello\r\nMSG t.1 1 inbox 2\r\nhi\r\nPING\r\n-ERR 'x'\r\n";
  NatsFrame f;
  size_t off = 0;
  long n = parse_nats_frame(s.data(), s.size(), &f);
  ASSERT_GT(n, 0);
  EXPECT_EQ(f.kind, NatsFrame::kMsg);
  EXPECT_EQ(f.subject, "t.1");
  EXPECT_EQ(f.payload, "hello");
  off += static_cast<size_t>(n);
  n = parse_nats_frame(s.data() + off, s.size() - off, &f);
  ASSERT_GT(n, 0);
  EXPECT_EQ(f.payload, "hi");
  off += static_cast<size_t>(n);
  n = parse_nats_frame(s.data() + off, s.size() - off, &f);
  EXPECT_EQ(f.kind, NatsFrame::kPing);
  off += static_cast<size_t>(n);
  n = parse_nats_frame(s.data() + off, s.size() - off, &f);
  EXPECT_EQ(f.kind, NatsFrame::kErr);
  std::string part = "MSG t 1 10\r\nabc";
  EXPECT_EQ(parse_nats_frame(part.data(), part.size(), &f), 0);
}

// Decodes the one frame in `s`; expects it whole. The event's payload views `s`.
Event decode_one(Proto p, Role role, bool ready, std::string_view s) {
  Event ev;
  EXPECT_EQ(decode_event(p, role, ready, s.data(), s.size(), &ev), static_cast<long>(s.size())) << s;
  return ev;
}

TEST(Protocol, RedisEvents) {
  const Proto r = Proto::kRedis;
  Event ev = decode_one(r, kSub, true, "*3\r\n$7\r\nmessage\r\n$2\r\nch\r\n$3\r\nabc\r\n");
  EXPECT_EQ(ev.kind, Event::kMessage);
  EXPECT_EQ(ev.payload, "abc");
  ev = decode_one(r, kSub, true, "*4\r\n$8\r\npmessage\r\n$2\r\nc*\r\n$2\r\nch\r\n$2\r\nhi\r\n");
  EXPECT_EQ(ev.kind, Event::kMessage);
  EXPECT_EQ(ev.payload, "hi");
  const std::string conf = "*3\r\n$9\r\nsubscribe\r\n$2\r\nch\r\n:1\r\n";
  EXPECT_EQ(decode_one(r, kSub, false, conf).kind, Event::kReady);
  EXPECT_EQ(decode_one(r, kSub, true, conf).kind, Event::kError);  // confirmed twice
  EXPECT_EQ(decode_one(r, kSub, true, "-ERR no\r\n").kind, Event::kError);
  ev = decode_one(r, kPub, true, ":42\r\n");
  EXPECT_EQ(ev.kind, Event::kCount);
  EXPECT_EQ(ev.count, 42);
  EXPECT_EQ(decode_one(r, kPub, true, "+OK\r\n").kind, Event::kError);
  Event partial;
  EXPECT_EQ(decode_event(r, kSub, true, conf.data(), conf.size() - 1, &partial), 0);
  EXPECT_EQ(decode_event(r, kSub, true, "*9\r\n", 4, &partial), -1);
}

TEST(Protocol, NatsEvents) {
  const Proto n = Proto::kNats;
  Event ev = decode_one(n, kSub, true, "MSG t 1 5\r\nhello\r\n");
  EXPECT_EQ(ev.kind, Event::kMessage);
  EXPECT_EQ(ev.payload, "hello");
  EXPECT_EQ(decode_one(n, kPub, true, "MSG t 1 5\r\nhello\r\n").kind, Event::kNone);
  EXPECT_EQ(decode_one(n, kSub, true, "PING\r\n").kind, Event::kPing);
  EXPECT_EQ(decode_one(n, kPub, false, "PONG\r\n").kind, Event::kReady);
  EXPECT_EQ(decode_one(n, kPub, true, "PONG\r\n").kind, Event::kNone);
  EXPECT_EQ(decode_one(n, kSub, true, "-ERR 'x'\r\n").kind, Event::kError);
  EXPECT_EQ(decode_one(n, kSub, false, "+OK\r\n").kind, Event::kNone);
}

TEST(Protocol, Encoders) {
  std::string out;
  encode_subscribe(Proto::kRedis, "t.1", &out);
  EXPECT_EQ(out, "*2\r\n$9\r\nSUBSCRIBE\r\n$3\r\nt.1\r\n");
  out.clear();
  EXPECT_TRUE(encode_publisher_hello(Proto::kRedis, &out));
  EXPECT_EQ(out, "");
  encode_publish(Proto::kRedis, "t", "ab", &out);
  EXPECT_EQ(out, "*3\r\n$7\r\nPUBLISH\r\n$1\r\nt\r\n$2\r\nab\r\n");
  out.clear();
  encode_subscribe(Proto::kNats, "t.1", &out);
  EXPECT_EQ(out, "CONNECT {\"verbose\":false,\"pedantic\":false,\"echo\":false}\r\nSUB t.1 1\r\nPING\r\n");
  out.clear();
  EXPECT_FALSE(encode_publisher_hello(Proto::kNats, &out));
  EXPECT_EQ(out, "CONNECT {\"verbose\":false,\"pedantic\":false,\"echo\":false}\r\nPING\r\n");
  out.clear();
  encode_publish(Proto::kNats, "t", "ab", &out);
  encode_pong(Proto::kNats, &out);
  EXPECT_EQ(out, "PUB t 2\r\nab\r\nPONG\r\n");
  EXPECT_TRUE(publish_is_counted(Proto::kRedis));
  EXPECT_FALSE(publish_is_counted(Proto::kNats));
}

// The target keeps the family it was given (the INFO fetch once fell back to IPv4) and refuses
// addresses off the loopback interface.
TEST(Target, KeepsTheAddressFamilyAndRefusesNonLoopback) {
  Target t;
  std::string err;
  ASSERT_TRUE(resolve_target("::1", 7379, &t, &err)) << err;
  EXPECT_EQ(t.addr.family(), AF_INET6);
  ASSERT_TRUE(resolve_target("127.0.0.2", 7379, &t, &err)) << err;
  EXPECT_EQ(t.addr.family(), AF_INET);
  EXPECT_EQ(address_text(t.addr), "127.0.0.2");
  EXPECT_FALSE(resolve_target("10.0.0.1", 7379, &t, &err));
  EXPECT_NE(err.find("not loopback"), std::string::npos) << err;
  EXPECT_FALSE(resolve_target("::ffff:10.0.0.1", 7379, &t, &err));
  EXPECT_TRUE(resolve_target("::ffff:127.0.0.1", 7379, &t, &err)) << err;
}

}  // namespace
}  // namespace fanout::load
