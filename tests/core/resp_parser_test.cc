#include "core/ascii.h"
#include "core/resp_parser.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace fanout {
namespace {

using Status = RequestParser::Status;

std::vector<std::string> args_of(const RequestParser& p) {
  std::vector<std::string> v;
  for (auto a : p.args()) v.emplace_back(a);
  return v;
}

// Feeds `input` in pieces cut at `cuts`, the way a connection accumulates bytes, and collects
// every command.
std::vector<std::vector<std::string>> feed(const std::string& input, size_t step) {
  RequestParser p;
  std::string buf;
  std::vector<std::vector<std::string>> out;
  size_t pos = 0;
  while (pos < input.size()) {
    size_t n = std::min(step, input.size() - pos);
    buf.append(input, pos, n);
    pos += n;
    while (!buf.empty()) {
      Status st = p.parse(buf.data(), buf.size());
      if (st == Status::kNeedMore) break;
      EXPECT_EQ(st, Status::kCommand) << p.error();
      if (st != Status::kCommand) return out;
      if (!p.args().empty()) out.push_back(args_of(p));
      buf.erase(0, p.consumed());
    }
  }
  EXPECT_TRUE(buf.empty());
  return out;
}

TEST(RequestParser, Multibulk) {
  RequestParser p;
  std::string in = "*3\r\n$7\r\nPUBLISH\r\n$2\r\nch\r\n$5\r\nhello\r\n";
  ASSERT_EQ(p.parse(in.data(), in.size()), Status::kCommand);
  EXPECT_EQ(args_of(p), (std::vector<std::string>{"PUBLISH", "ch", "hello"}));
  EXPECT_EQ(p.consumed(), in.size());
}

TEST(RequestParser, BinarySafeBulk) {
  RequestParser p;
  std::string payload("a\r\n\0b", 5);
  std::string in = "*2\r\n$4\r\nECHO\r\n$5\r\n" + payload + "\r\n";
  ASSERT_EQ(p.parse(in.data(), in.size()), Status::kCommand);
  EXPECT_EQ(std::string(p.args()[1]), payload);
}

TEST(RequestParser, EveryByteBoundaryOfAPipeline) {
  std::string in =
      "*3\r\n$7\r\nPUBLISH\r\n$2\r\nch\r\n$5\r\nhello\r\n"
      "PING\r\n"
      "*1\r\n$4\r\nPING\r\n"
      "echo \"a b\" 'c'\n"
      "*0\r\n"
      "\r\n"
      "*2\r\n$4\r\nECHO\r\n$0\r\n\r\n";
  std::vector<std::vector<std::string>> want = {
      {"PUBLISH", "ch", "hello"}, {"PING"}, {"PING"}, {"echo", "a b", "c"}, {"ECHO", ""}};
  for (size_t step = 1; step <= in.size(); ++step) {
    EXPECT_EQ(feed(in, step), want) << "step " << step;
  }
}

TEST(RequestParser, SplitsAtEveryOffsetOfOneCommand) {
  std::string in = "*2\r\n$9\r\nSUBSCRIBE\r\n$3\r\nabc\r\n";
  for (size_t cut = 0; cut <= in.size(); ++cut) {
    RequestParser p;
    std::string buf = in.substr(0, cut);
    Status st = p.parse(buf.data(), buf.size());
    if (cut < in.size()) {
      ASSERT_EQ(st, Status::kNeedMore) << cut;
      buf = in;
      st = p.parse(buf.data(), buf.size());
    }
    ASSERT_EQ(st, Status::kCommand) << cut;
    EXPECT_EQ(args_of(p), (std::vector<std::string>{"SUBSCRIBE", "abc"}));
  }
}

TEST(RequestParser, ReportsBytesNeededForLargeBulk) {
  RequestParser p;
  std::string in = "*2\r\n$4\r\nECHO\r\n$100000\r\nxx";
  ASSERT_EQ(p.parse(in.data(), in.size()), Status::kNeedMore);
  EXPECT_EQ(p.bytes_needed(), in.size() - 2 + 100000 + 2);
}

struct BadCase {
  const char* input;
  const char* error;
};

class RequestParserErrors : public ::testing::TestWithParam<BadCase> {};

TEST_P(RequestParserErrors, MatchRedis) {
  RequestParser p;
  std::string in = GetParam().input;
  ASSERT_EQ(p.parse(in.data(), in.size()), Status::kError);
  EXPECT_EQ(p.error(), GetParam().error);
}

INSTANTIATE_TEST_SUITE_P(
    Malformed, RequestParserErrors,
    ::testing::Values(BadCase{"*99999999999\r\n", "Protocol error: invalid multibulk length"},
                      BadCase{"*x\r\n", "Protocol error: invalid multibulk length"},
                      BadCase{"*1\r\n$999999999999\r\n", "Protocol error: invalid bulk length"},
                      BadCase{"*1\r\n$-3\r\n", "Protocol error: invalid bulk length"},
                      BadCase{"*1\r\nfoo\r\n", "Protocol error: expected '$', got 'f'"},
                      BadCase{"*1\r\n$3\r\nfooXY", "Protocol error: invalid bulk terminator"},
                      BadCase{"echo 'x\r\n", "Protocol error: unbalanced quotes in request"},
                      BadCase{"echo \"x\"y\r\n", "Protocol error: unbalanced quotes in request"},
                      // Redis reads lengths with string2ll: no leading zero, no "-0", no '+'.
                      BadCase{"*01\r\n", "Protocol error: invalid multibulk length"},
                      BadCase{"*-0\r\n", "Protocol error: invalid multibulk length"},
                      BadCase{"*+1\r\n", "Protocol error: invalid multibulk length"},
                      BadCase{"*1\r\n$04\r\n", "Protocol error: invalid bulk length"},
                      BadCase{"*1\r\n$-0\r\n", "Protocol error: invalid bulk length"}));

TEST(RequestParser, Limits) {
  RequestLimits lim;
  lim.max_bulk_len = 10;
  lim.max_args = 2;
  lim.max_inline_len = 16;
  {
    RequestParser p(lim);
    std::string in = "*1\r\n$11\r\n";
    EXPECT_EQ(p.parse(in.data(), in.size()), Status::kError);
  }
  {
    RequestParser p(lim);
    std::string in = "*3\r\n";
    EXPECT_EQ(p.parse(in.data(), in.size()), Status::kError);
  }
  {
    RequestParser p(lim);
    std::string in(17, 'a');
    EXPECT_EQ(p.parse(in.data(), in.size()), Status::kError);
    EXPECT_EQ(p.error(), "Protocol error: too big inline request");
  }
  {
    RequestParser p(lim);
    std::string in = "*1\r\n$1" + std::string(20, '0');
    EXPECT_EQ(p.parse(in.data(), in.size()), Status::kError);
    EXPECT_EQ(p.error(), "Protocol error: too big bulk count string");
  }
}

// Found by tools/fuzz.sh: an over-long count line must fail the same way whether its CRLF has
// arrived (one read) or not yet (split reads).
TEST(RequestParser, OverlongCountLinesFailAlikeWholeOrSplit) {
  RequestLimits lim;
  lim.max_inline_len = 16;
  for (std::string line : {"*3" + std::string(20, '\r') + "\n", "*1\r\n$3" + std::string(20, '\r') + "\n"}) {
    RequestParser whole(lim);
    ASSERT_EQ(whole.parse(line.data(), line.size()), Status::kError);
    RequestParser split(lim);
    Status st = Status::kNeedMore;
    for (size_t n = 1; n <= line.size() && st == Status::kNeedMore; ++n) st = split.parse(line.data(), n);
    ASSERT_EQ(st, Status::kError);
    EXPECT_EQ(whole.error(), split.error());
    EXPECT_NE(whole.error().find("too big"), std::string::npos) << whole.error();
  }
}

TEST(SplitInlineArgs, QuotesAndEscapes) {
  std::string storage;
  std::vector<std::pair<size_t, size_t>> out;
  ASSERT_TRUE(split_inline_args(R"(set "a\x41\n" 'it\'s' plain)", &storage, &out));
  ASSERT_EQ(out.size(), 4u);
  EXPECT_EQ(storage.substr(out[1].first, out[1].second), "aA\n");
  EXPECT_EQ(storage.substr(out[2].first, out[2].second), "it's");
  EXPECT_EQ(storage.substr(out[3].first, out[3].second), "plain");
  out.clear();
  EXPECT_TRUE(split_inline_args("   ", &storage, &out));
  EXPECT_TRUE(out.empty());
}

// Redis's sdssplitargs ends an unquoted argument at space, tab, CR, LF or NUL only: a vertical
// tab or form feed is part of it (but is skipped between arguments, as isspace() is).
TEST(SplitInlineArgs, ArgumentsEndWhereRedisEndsThem) {
  std::string storage;
  std::vector<std::pair<size_t, size_t>> out;
  ASSERT_TRUE(split_inline_args(std::string("PUBLISH a\x0b" "b\tx\x0c" "y \x0b z"), &storage, &out));
  ASSERT_EQ(out.size(), 4u);
  EXPECT_EQ(storage.substr(out[1].first, out[1].second), "a\x0b" "b");
  EXPECT_EQ(storage.substr(out[2].first, out[2].second), "x\x0c" "y");
  EXPECT_EQ(storage.substr(out[3].first, out[3].second), "z");
  out.clear();
  ASSERT_TRUE(split_inline_args(std::string("ECHO a\0b", 8), &storage, &out));
  ASSERT_EQ(out.size(), 3u);
  EXPECT_EQ(storage.substr(out[1].first, out[1].second), "a");
}

TEST(String2ll, AsRedisReadsIntegers) {
  long long v = 7;
  EXPECT_TRUE(string2ll("0", &v) && v == 0);
  EXPECT_TRUE(string2ll("-1", &v) && v == -1);
  EXPECT_TRUE(string2ll("9223372036854775807", &v) && v == 9223372036854775807LL);
  EXPECT_TRUE(string2ll("-9223372036854775808", &v) && v == -9223372036854775807LL - 1);
  for (const char* bad : {"", "01", "-0", "+1", " 1", "1 ", "-", "00", "9223372036854775808",
                          "-9223372036854775809", "12a", "99999999999999999999"}) {
    EXPECT_FALSE(string2ll(bad, &v)) << bad;
  }
}

}  // namespace
// split_args (redis.conf lines, as Redis splits them with sdssplitargs, sds.c).
std::vector<std::string> split(std::string_view line, bool* ok = nullptr) {
  std::vector<std::string> out;
  bool r = split_args(line, &out);
  if (ok) *ok = r;
  return out;
}

TEST(SplitArgsTest, SplitsAsRedisSplits) {
  using V = std::vector<std::string>;
  EXPECT_EQ(split("maxclients 100"), (V{"maxclients", "100"}));
  EXPECT_EQ(split("  bind\t127.0.0.1   ::1  "), (V{"bind", "127.0.0.1", "::1"}));
  EXPECT_EQ(split("save \"\""), (V{"save", ""}));
  EXPECT_EQ(split(R"(requirepass "a b\n\x41\x4a\"\\\q")"), (V{"requirepass", "a b\nAJ\"\\q"}));
  EXPECT_EQ(split(R"(x 'it\'s' '\n')"), (V{"x", "it's", "\\n"}));
  EXPECT_EQ(split(R"(x "\x4")"), (V{"x", "x4"}));  // not two hex digits: \x is an x
  EXPECT_EQ(split(""), V{});
  EXPECT_EQ(split("   "), V{});
}

TEST(SplitArgsTest, RefusesWhatRedisRefuses) {
  for (std::string_view bad : {R"(x "unterminated)", R"(x 'unterminated)", R"(x "a"b)", R"(x 'a'b)", R"(x a"b c"d)",
                               R"(x "trailing\)"}) {
    bool ok = true;
    split(bad, &ok);
    EXPECT_FALSE(ok) << bad;
  }
}

}  // namespace fanout
