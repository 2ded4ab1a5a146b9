// The NATS server->client parser: every op (the protocol doc's examples), any case, any split of
// the stream, binary payloads, limits, and each malformed input with its error.
#include "core/nats_parser.h"

#include <gtest/gtest.h>

#include <memory>
#include <random>
#include <string>
#include <vector>

namespace fanout {
namespace {

using namespace std::string_literals;
using Kind = NatsOp::Kind;

// An op copied out of the parser's views.
struct Rec {
  Kind kind = Kind::kPing;
  std::string subject, reply, headers, payload, text, info_id;
  uint64_t sid = 0;
  bool has_headers = false;
  bool operator==(const Rec&) const = default;
};

Rec record(const NatsOp& op) {
  Rec r;
  r.kind = op.kind;
  r.subject = op.subject;
  r.reply = op.reply_to;
  r.headers = op.headers;
  r.payload = op.payload;
  r.text = op.error_text;
  r.sid = op.sid;
  r.has_headers = op.has_headers;
  if (op.info != nullptr) r.info_id = op.info->server_id;
  return r;
}

struct Outcome {
  std::vector<Rec> ops;
  std::string error;
  size_t max_buffered = 0;
};

// Feeds `stream` cut at the given offsets (ascending). Each piece lives in its own heap buffer,
// freed once parsed: a view kept across calls would be caught by ASan.
Outcome feed(const std::string& stream, const std::vector<size_t>& cuts, NatsLimits limits = {}) {
  NatsParser p(limits);
  Outcome run;
  size_t prev = 0;
  std::vector<size_t> ends = cuts;
  ends.push_back(stream.size());
  for (size_t end : ends) {
    auto piece = std::make_unique<char[]>(end - prev + 1);
    std::copy(stream.begin() + static_cast<long>(prev), stream.begin() + static_cast<long>(end), piece.get());
    std::string_view in(piece.get(), end - prev);
    prev = end;
    while (true) {
      NatsOp op;
      NatsParser::Status st = p.next(&in, &op);
      run.max_buffered = std::max(run.max_buffered, p.buffered());
      if (st == NatsParser::Status::kNeedMore) {
        EXPECT_TRUE(in.empty());
        break;
      }
      if (st == NatsParser::Status::kError) {
        run.error = p.error();
        EXPECT_FALSE(run.error.empty());
        return run;
      }
      run.ops.push_back(record(op));
    }
  }
  return run;
}

Outcome whole(const std::string& stream, NatsLimits limits = {}) { return feed(stream, {}, limits); }

Rec msg(std::string subject, uint64_t sid, std::string reply, std::string payload) {
  Rec r;
  r.kind = Kind::kMsg;
  r.subject = std::move(subject);
  r.sid = sid;
  r.reply = std::move(reply);
  r.payload = std::move(payload);
  return r;
}

Rec hmsg(std::string subject, uint64_t sid, std::string reply, std::string headers, std::string payload) {
  Rec r = msg(std::move(subject), sid, std::move(reply), std::move(payload));
  r.has_headers = true;
  r.headers = std::move(headers);
  return r;
}

Rec simple(Kind k, std::string text = "") {
  Rec r;
  r.kind = k;
  r.text = std::move(text);
  return r;
}

const std::string kInfoLine =
    "INFO {\"server_id\":\"S1\",\"version\":\"2.9.10\",\"proto\":1,\"headers\":true,"
    "\"max_payload\":1048576}\r\n";

// A stream of every op, with payloads that look like protocol and carry CRLF and NUL.
const std::string kMixed = kInfoLine + "PING\r\n" + "MSG FOO.BAR 9 11\r\nHello World\r\n" +
                           "MSG FOO.BAR 9 GREETING.34 11\r\nHello World\r\n" +
                           "HMSG FOO.BAR 9 34 45\r\nNATS/1.0\r\nFoodGroup: vegetable\r\n\r\nHello World\r\n" +
                           "hmsg  FOO.BAR\t9 BAZ.69 34 45 \r\nNATS/1.0\r\nFoodGroup: vegetable\r\n\r\nHello World\r\n" +
                           "MSG bin 1 16\r\n\r\nMSG x 1 1\r\n\0\r\n\r\n"s + "+OK\r\n" +
                           "-ERR 'Unknown Protocol Operation'\r\n" + "pong\r\n" + "MSG empty 2 0\r\n\r\n" +
                           "HMSG e 3 12 12\r\nNATS/1.0\r\n\r\n\r\n" + "Ping \t\r\n";

std::vector<Rec> mixed_ops() {
  Rec info;
  info.kind = Kind::kInfo;
  info.info_id = "S1";
  const std::string hdr = "NATS/1.0\r\nFoodGroup: vegetable\r\n\r\n";
  return {info,
          simple(Kind::kPing),
          msg("FOO.BAR", 9, "", "Hello World"),
          msg("FOO.BAR", 9, "GREETING.34", "Hello World"),
          hmsg("FOO.BAR", 9, "", hdr, "Hello World"),
          hmsg("FOO.BAR", 9, "BAZ.69", hdr, "Hello World"),
          msg("bin", 1, "", "\r\nMSG x 1 1\r\n\0\r\n"s),
          simple(Kind::kOk),
          simple(Kind::kErr, "Unknown Protocol Operation"),
          simple(Kind::kPong),
          msg("empty", 2, "", ""),
          hmsg("e", 3, "", "NATS/1.0\r\n\r\n", ""),
          simple(Kind::kPing)};
}

TEST(NatsParserTest, EveryOpOfTheDocs) {
  Outcome r = whole(kMixed);
  EXPECT_EQ(r.error, "");
  EXPECT_EQ(r.ops, mixed_ops());
  EXPECT_EQ(r.max_buffered, 0u);  // all in one input: nothing copied
}

TEST(NatsParserTest, OpsInAnyCase) {
  Outcome r = whole("ping\r\nPiNg\r\npONG\r\n+ok\r\n-err 'x'\r\nmsg a 1 1\r\nz\r\nMsG a 1 1\r\nz\r\n"
                "HmSg a 1 12 12\r\nNATS/1.0\r\n\r\n\r\ninfo {}\r\n");
  ASSERT_EQ(r.error, "");
  ASSERT_EQ(r.ops.size(), 9u);
  EXPECT_EQ(r.ops[0].kind, Kind::kPing);
  EXPECT_EQ(r.ops[2].kind, Kind::kPong);
  EXPECT_EQ(r.ops[3].kind, Kind::kOk);
  EXPECT_EQ(r.ops[4], simple(Kind::kErr, "x"));
  EXPECT_EQ(r.ops[6], msg("a", 1, "", "z"));
  EXPECT_TRUE(r.ops[7].has_headers);
  EXPECT_EQ(r.ops[8].kind, Kind::kInfo);
}

TEST(NatsParserTest, ViewsPointIntoTheInputWhenTheOpIsWhole) {
  const std::string s = "MSG FOO 7 5\r\nhello\r\nPING\r\n";
  NatsParser p;
  std::string_view in(s);
  NatsOp op;
  ASSERT_EQ(p.next(&in, &op), NatsParser::Status::kOp);
  EXPECT_EQ(op.payload.data(), s.data() + 13);
  EXPECT_EQ(op.subject.data(), s.data() + 4);
  EXPECT_EQ(in, "PING\r\n");
  ASSERT_EQ(p.next(&in, &op), NatsParser::Status::kOp);
  EXPECT_EQ(op.kind, Kind::kPing);
  EXPECT_TRUE(in.empty());
  EXPECT_EQ(p.next(&in, &op), NatsParser::Status::kNeedMore);
}

TEST(NatsParserTest, SameOpsAtEverySplitPoint) {
  const std::vector<Rec> want = mixed_ops();
  for (size_t i = 0; i <= kMixed.size(); ++i) {
    Outcome r = feed(kMixed, {i});
    ASSERT_EQ(r.error, "") << "split at " << i;
    ASSERT_EQ(r.ops, want) << "split at " << i;
  }
}

TEST(NatsParserTest, SameOpsAtEveryPairOfSplitPoints) {
  const std::string s = "INFO {}\r\nHMSG a.b 1 r 31 37\r\nNATS/1.0\r\nFanout-Origin: n1\r\n\r\n"
                        "\r\n\r\nxy\r\nPING\r\n";
  Outcome want = whole(s);
  ASSERT_EQ(want.ops.size(), 3u);
  for (size_t i = 0; i <= s.size(); ++i) {
    for (size_t j = i; j <= s.size(); ++j) {
      Outcome r = feed(s, {i, j});
      ASSERT_EQ(r.ops, want.ops) << i << "," << j;
      ASSERT_EQ(r.error, "");
    }
  }
}

TEST(NatsParserTest, ByteByByteAndRandomSplitsBufferOnlyTheOpAtHand) {
  std::vector<size_t> every;
  for (size_t i = 1; i < kMixed.size(); ++i) every.push_back(i);
  Outcome r = feed(kMixed, every);
  EXPECT_EQ(r.ops, mixed_ops());
  EXPECT_LE(r.max_buffered, kInfoLine.size());  // the longest op of the stream
  std::mt19937 rng(7);
  for (int round = 0; round < 300; ++round) {
    std::vector<size_t> cuts;
    for (size_t at = 0; at < kMixed.size();) {
      at += 1 + rng() % 24;
      if (at < kMixed.size()) cuts.push_back(at);
    }
    ASSERT_EQ(feed(kMixed, cuts).ops, mixed_ops()) << "round " << round;
  }
}

TEST(NatsParserTest, HmsgHeaderLookup) {
  Outcome r = whole("HMSG fanout.c.x 4 41 46\r\nNATS/1.0\r\nFanout-Origin: node-2\r\nA: b\r\n\r\nhello\r\n");
  ASSERT_EQ(r.ops.size(), 1u) << r.error;
  auto h = NatsHeaders::parse(r.ops[0].headers);
  ASSERT_TRUE(h.has_value());
  EXPECT_EQ(h->get(kFanoutOriginHeader), "node-2");
  EXPECT_EQ(h->get("A"), "b");
  EXPECT_EQ(r.ops[0].payload, "hello");
}

// A malformed header block is the payload's business, not the stream's: any publisher on the
// cluster could send one, and it must not cut the link (NatsHeaders::parse refuses it).
TEST(NatsParserTest, MalformedHeaderBlockIsNotAStreamError) {
  Outcome r = whole("HMSG a 1 3 5\r\nxyzab\r\nPING\r\n");
  ASSERT_EQ(r.error, "");
  ASSERT_EQ(r.ops.size(), 2u);
  EXPECT_EQ(r.ops[0].headers, "xyz");
  EXPECT_EQ(NatsHeaders::parse(r.ops[0].headers), std::nullopt);
}

TEST(NatsParserTest, InfoIsParsed) {
  NatsParser p;
  std::string s = kInfoLine;
  std::string_view in(s);
  NatsOp op;
  ASSERT_EQ(p.next(&in, &op), NatsParser::Status::kOp);
  ASSERT_EQ(op.kind, Kind::kInfo);
  ASSERT_NE(op.info, nullptr);
  EXPECT_EQ(op.info->server_id, "S1");
  EXPECT_EQ(op.info->max_payload, 1048576u);
  EXPECT_TRUE(op.info->headers);
  EXPECT_EQ(&p.info(), op.info);
}

struct Bad {
  std::string stream;
  std::string error;
};

TEST(NatsParserTest, MalformedInputsEachGiveTheirError) {
  const std::string long_subject(5000, 'a');
  for (const Bad& b : std::vector<Bad>{
           {"FOO\r\n", "unknown protocol operation 'F'"},
           {"PINGX\r\n", "unknown protocol operation 'PINGX'"},
           {"PIN\r\n", "unknown protocol operation 'PIN'"},
           {"MSGa 1 1\r\n", "unknown protocol operation 'MSGa'"},
           {"PING\r\r\n", "unknown protocol operation 'PING\\x0d'"},
           {"\r\n", "empty control line"},
           {" PING\r\n", "unknown protocol operation ' '"},
           {"PING\n", "control line ends in LF without CR"},
           {"MSG a 1 1\nx\r\n", "control line ends in LF without CR"},
           {"PING x\r\n", "PING followed by 'PING x'"},
           {"+OK ok\r\n", "+OK followed by '+OK ok'"},
           {"MSG\r\n", "MSG with 0 arguments: 'MSG'"},
           {"MSG a 1\r\n", "MSG with 2 arguments: 'MSG a 1'"},
           {"MSG a 1 r 2 3\r\n", "MSG with 5 arguments: 'MSG a 1 r 2 3'"},
           {"HMSG a 1 5\r\n", "HMSG with 3 arguments: 'HMSG a 1 5'"},
           {"HMSG a 1 r x 5 6\r\n", "HMSG with 6 arguments: 'HMSG a 1 r x 5 6'"},
           {"MSG a x 1\r\nz\r\n", "bad sid 'x'"},
           {"MSG a -1 1\r\nz\r\n", "bad sid '-1'"},
           {"MSG a 18446744073709551616 1\r\nz\r\n", "bad sid '18446744073709551616'"},
           {"MSG a 1 -1\r\n", "bad message size '-1'"},
           {"MSG a 1 +1\r\n", "bad message size '+1'"},
           {"MSG a 1 1x\r\n", "bad message size '1x'"},
           {"MSG a 1 99999999999999999999\r\n", "bad message size '99999999999999999999'"},
           {"HMSG a 1 x 5\r\n", "bad header size 'x'"},
           {"HMSG a 1 6 5\r\n", "header size 6 exceeds the message's 5 bytes"},
           {"MSG a 1 3\r\nabcX\r\n", "message of 3 bytes not followed by CRLF"},
           {"MSG a 1 3\r\nabc\n\r\n", "message of 3 bytes not followed by CRLF"},
           {"MSG a 1 1048577\r\n", "message of 1048577 bytes exceeds max_payload 1048576"},
           {"HMSG a 1 12 1048577\r\n", "message of 1048577 bytes exceeds max_payload 1048576"},
           {"INFO\r\n", "INFO without its JSON"},
           {"INFO  \r\n", "INFO without its JSON"},
           {"INFO {\r\n", "INFO is not valid JSON"},
           {"INFO {\"max_payload\":0}\r\n", "INFO field \"max_payload\" is 0"},
           {"MSG " + long_subject + " 1 0\r\n\r\n", "control line longer than 4160 bytes"},
           {"MSG " + long_subject, "control line longer than 4160 bytes"},
           {"INFO {\"a\":\"" + std::string(70000, 'x') + "\"}\r\n", "INFO line longer than 65536 bytes"},
           {"PING\r\nPONG\r\nGARBAGE", "unknown protocol operation 'G'"},
       }) {
    Outcome r = whole(b.stream);
    EXPECT_EQ(r.error, b.error) << b.stream.substr(0, 60);
    // The same error, after the same ops, however the stream is cut.
    for (size_t i = 0; i <= b.stream.size() && i < 200; ++i) {
      Outcome s = feed(b.stream, {i});
      ASSERT_EQ(s.error, b.error) << b.stream.substr(0, 60) << " split at " << i;
      ASSERT_EQ(s.ops, r.ops);
    }
  }
}

TEST(NatsParserTest, ErrorsAreStickyUntilReset) {
  NatsParser p;
  std::string s = "BAD\r\n";
  std::string_view in(s);
  NatsOp op;
  ASSERT_EQ(p.next(&in, &op), NatsParser::Status::kError);
  std::string ping = "PING\r\n";
  in = ping;
  EXPECT_EQ(p.next(&in, &op), NatsParser::Status::kError);
  EXPECT_EQ(p.error(), "unknown protocol operation 'B'");
  p.reset();
  EXPECT_EQ(p.error(), "");
  ASSERT_EQ(p.next(&in, &op), NatsParser::Status::kOp);
  EXPECT_EQ(op.kind, Kind::kPing);
}

TEST(NatsParserTest, PartialLinesAreBoundedByTheLimit) {
  NatsLimits limits;
  limits.max_control_line = 100;
  limits.max_info_line = 1000;
  // A line that never ends: refused once it cannot fit, never buffered past its limit.
  NatsParser p(limits);
  std::string chunk = "MSG " + std::string(30, 'a');
  std::string_view in(chunk);
  NatsOp op;
  ASSERT_EQ(p.next(&in, &op), NatsParser::Status::kNeedMore);
  NatsParser::Status st = NatsParser::Status::kNeedMore;
  std::string more(30, 'b');
  for (int i = 0; i < 10 && st == NatsParser::Status::kNeedMore; ++i) {
    in = more;
    st = p.next(&in, &op);
    EXPECT_LE(p.buffered(), 102u);
  }
  EXPECT_EQ(st, NatsParser::Status::kError);
  EXPECT_EQ(p.error(), "control line longer than 100 bytes");
  // INFO may be longer than a control line, up to its own limit.
  std::string info = "INFO {\"server_id\":\"" + std::string(500, 's') + "\"}\r\n";
  Outcome r = feed(info, {7, 300}, limits);
  ASSERT_EQ(r.error, "");
  EXPECT_EQ(r.ops.size(), 1u);
  EXPECT_EQ(r.ops[0].info_id, std::string(500, 's'));
  // An exact fit passes: a line of 100 bytes and its CRLF, byte by byte.
  std::string exact = "MSG " + std::string(100 - 8, 'c') + " 1 1\r\nz\r\n";
  std::vector<size_t> cuts;
  for (size_t i = 1; i < exact.size(); ++i) cuts.push_back(i);
  EXPECT_EQ(feed(exact, cuts, limits).error, "");
  std::string over = "MSG " + std::string(100 - 7, 'c') + " 1 1\r\nz\r\n";
  EXPECT_EQ(feed(over, cuts, limits).error, "control line longer than 100 bytes");
}

TEST(NatsParserTest, PayloadLimitAndLargeSplitMessages) {
  NatsLimits limits;
  limits.max_payload = 100000;
  const std::string payload(100000, '\r');
  const std::string s = "MSG big 1 100000\r\n" + payload + "\r\nPING\r\n";
  std::vector<size_t> cuts;
  for (size_t at = 5; at < s.size(); at += 4093) cuts.push_back(at);
  Outcome r = feed(s, cuts, limits);
  ASSERT_EQ(r.error, "");
  ASSERT_EQ(r.ops.size(), 2u);
  EXPECT_EQ(r.ops[0].payload, payload);
  EXPECT_LE(r.max_buffered, 18u + 100000u + 2u);
  limits.max_payload = 99999;
  EXPECT_EQ(feed(s, cuts, limits).error, "message of 100000 bytes exceeds max_payload 99999");
}

TEST(NatsParserTest, NewLimitsApplyFromTheNextOp) {
  NatsParser p;
  std::string s = "MSG a 1 10\r\n0123";
  std::string_view in(s);
  NatsOp op;
  ASSERT_EQ(p.next(&in, &op), NatsParser::Status::kNeedMore);
  NatsLimits small;
  small.max_payload = 5;
  p.set_limits(small);
  std::string rest = "456789\r\nMSG a 1 6\r\n";
  in = rest;
  ASSERT_EQ(p.next(&in, &op), NatsParser::Status::kOp);  // began under the old limits
  EXPECT_EQ(op.payload, "0123456789");
  EXPECT_EQ(p.next(&in, &op), NatsParser::Status::kError);
  EXPECT_EQ(p.error(), "message of 6 bytes exceeds max_payload 5");
}

TEST(NatsParserTest, InfoSetsMaxPayloadWithinTheCap) {
  NatsLimits limits;
  limits.max_payload_cap = 1000;
  // Lowered by the INFO, from the next op on.
  Outcome r = whole("INFO {\"max_payload\":3}\r\nMSG a 1 3\r\nabc\r\nMSG a 1 4\r\n", limits);
  EXPECT_EQ(r.ops.size(), 2u);
  EXPECT_EQ(r.error, "message of 4 bytes exceeds max_payload 3");
  // Raised, but not past the cap; an INFO without the field changes nothing.
  NatsParser p(limits);
  std::string s = "INFO {\"max_payload\":1000000000}\r\nINFO {}\r\n";
  std::string_view in(s);
  NatsOp op;
  ASSERT_EQ(p.next(&in, &op), NatsParser::Status::kOp);
  ASSERT_EQ(p.next(&in, &op), NatsParser::Status::kOp);
  EXPECT_EQ(p.limits().max_payload, 1000u);
  // A new connection starts from the limits as set.
  p.reset();
  EXPECT_EQ(p.limits().max_payload, kNatsDefaultMaxPayload);
}

TEST(NatsParserTest, TinyLimitsAreRaisedToAFloor) {
  NatsLimits limits;
  limits.max_control_line = 1;
  limits.max_info_line = 1;
  NatsParser p(limits);
  EXPECT_EQ(p.limits().max_control_line, 16u);
  EXPECT_EQ(whole("PING\r\n", limits).error, "");
}

}  // namespace
}  // namespace fanout
