#include "core/resp_value.h"

#include <gtest/gtest.h>

#include "core/resp_writer.h"

namespace fanout {
namespace {

using Type = RespValue::Type;

RespValue parse_all(const std::string& s) {
  RespValue v;
  std::string err;
  long n = parse_resp_value(s.data(), s.size(), &v, &err);
  EXPECT_EQ(n, static_cast<long>(s.size())) << err;
  return v;
}

TEST(RespValue, EveryType) {
  EXPECT_EQ(parse_all("+OK\r\n").type, Type::kSimple);
  EXPECT_EQ(parse_all("-ERR x\r\n").str, "ERR x");
  EXPECT_EQ(parse_all(":-42\r\n").integer, -42);
  EXPECT_EQ(parse_all("$3\r\na\rb\r\n").str, "a\rb");
  EXPECT_EQ(parse_all("$-1\r\n").type, Type::kNull);
  EXPECT_EQ(parse_all("*-1\r\n").type, Type::kNull);
  EXPECT_EQ(parse_all("_\r\n").type, Type::kNull);
  EXPECT_EQ(parse_all("#t\r\n").integer, 1);
  EXPECT_DOUBLE_EQ(parse_all(",1.5\r\n").dbl, 1.5);
  EXPECT_EQ(parse_all("(123456789012345678901234567890\r\n").type, Type::kBigNumber);
  EXPECT_EQ(parse_all("=8\r\ntxt:abcd\r\n").str, "abcd");
  EXPECT_EQ(parse_all("!5\r\nERR x\r\n").type, Type::kError);
  RespValue m = parse_all("%1\r\n$1\r\nk\r\n:1\r\n");
  EXPECT_EQ(m.type, Type::kMap);
  EXPECT_EQ(m.elements.size(), 2u);
  RespValue push = parse_all(">3\r\n$7\r\nmessage\r\n$1\r\nc\r\n$1\r\np\r\n");
  EXPECT_EQ(push.type, Type::kPush);
  EXPECT_EQ(push.elements[2].str, "p");
  EXPECT_EQ(parse_all("~2\r\n:1\r\n:2\r\n").type, Type::kSet);
  EXPECT_EQ(parse_all("|1\r\n+a\r\n+b\r\n").type, Type::kAttribute);
}

TEST(RespValue, IncompleteAtEveryCut) {
  std::string s = "*3\r\n$7\r\nmessage\r\n%1\r\n+k\r\n,2.5\r\n=7\r\ntxt:abc\r\n";
  for (size_t cut = 0; cut < s.size(); ++cut) {
    RespValue v;
    std::string err;
    EXPECT_EQ(parse_resp_value(s.data(), cut, &v, &err), 0) << cut;
  }
  EXPECT_EQ(encode_resp_value(parse_all(s)), s);
}

TEST(RespValue, Malformed) {
  for (std::string s : {"?x\r\n", ":abc\r\n", "$3\r\nabcd\r\n", "#x\r\n", "*-2\r\n", "_x\r\n"}) {
    RespValue v;
    std::string err;
    EXPECT_EQ(parse_resp_value(s.data(), s.size(), &v, &err), -1) << s;
  }
}

TEST(RespWriter, Resp2AndResp3Forms) {
  std::string s;
  resp::StringOut out{&s};
  resp::push(out, 3, resp::kResp2);
  resp::push(out, 3, resp::kResp3);
  resp::null(out, resp::kResp2);
  resp::null(out, resp::kResp3);
  resp::map(out, 2, resp::kResp2);
  resp::map(out, 2, resp::kResp3);
  resp::verbatim(out, "x", resp::kResp3);
  resp::integer(out, -7);
  EXPECT_EQ(s, "*3\r\n>3\r\n$-1\r\n_\r\n*4\r\n%2\r\n=5\r\ntxt:x\r\n:-7\r\n");
}

}  // namespace
}  // namespace fanout
