// fanout-load's own pieces: payload codec, stream parsers, and the verifier catching injected
// loss, duplication and reordering.
#include <gtest/gtest.h>

#include <string>

#include "tools/load/payload.h"
#include "tools/load/stream_parser.h"
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

}  // namespace
}  // namespace fanout::load
