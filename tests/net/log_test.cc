// net/log: the text and json line formats, byte for byte where it matters. Any bytes in a value
// (a client name or user name from the network) keep a line one line: text escapes them to
// printable ASCII and they decode back exactly; json parses, with valid UTF-8 kept and other
// bytes replaced by U+FFFD.
#include "net/log.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace fanout {
namespace {

constexpr int64_t kMs = 1764532036123;  // 2025-11-30T19:47:16.123Z

std::string text_line(std::string_view msg, std::vector<LogField> fields, LogLevel level = LogLevel::kWarn) {
  return format_log_line(LogFormat::kText, level, kMs, msg, fields);
}

std::string json_line(std::string_view msg, std::vector<LogField> fields, LogLevel level = LogLevel::kWarn) {
  return format_log_line(LogFormat::kJson, level, kMs, msg, fields);
}

// Decodes a quoted text value (without its quotes) back to its bytes.
std::string unescape(std::string_view v) {
  std::string out;
  for (size_t i = 0; i < v.size(); ++i) {
    if (v[i] != '\\') {
      out += v[i];
      continue;
    }
    char e = v[++i];
    if (e == 'n') out += '\n';
    else if (e == 'r') out += '\r';
    else if (e == 't') out += '\t';
    else if (e == 'x') {
      out += static_cast<char>(std::stoi(std::string(v.substr(i + 1, 2)), nullptr, 16));
      i += 2;
    } else {
      out += e;  // \" and \\.
    }
  }
  return out;
}

std::string all_bytes() {
  std::string s;
  for (int b = 0; b < 256; ++b) s += static_cast<char>(b);
  return s;
}

TEST(LogFormat, TextHasTimeLevelMessageAndFields) {
  EXPECT_EQ(text_line("disconnecting slow subscriber", {{"shard", "0", true}, {"id", "7", true},
                                                        {"addr", "127.0.0.1:5555", false}, {"name", "", false}}),
            "time=2025-11-30T19:47:16.123Z level=warn msg=\"disconnecting slow subscriber\" shard=0 id=7 "
            "addr=127.0.0.1:5555 name=\"\"\n");
}

TEST(LogFormat, JsonHasTheSameInOrder) {
  EXPECT_EQ(json_line("ready", {{"shards", "2", true}, {"backend", "epoll", false}}, LogLevel::kInfo),
            "{\"time\":\"2025-11-30T19:47:16.123Z\",\"level\":\"info\",\"msg\":\"ready\",\"shards\":2,"
            "\"backend\":\"epoll\"}\n");
}

TEST(LogFormat, OkIsInfoAndTimesAreUtcWithMilliseconds) {
  EXPECT_EQ(format_log_line(LogFormat::kText, LogLevel::kOk, 0, "x", {}),
            "time=1970-01-01T00:00:00.000Z level=info msg=x\n");
  EXPECT_EQ(format_log_line(LogFormat::kText, LogLevel::kDebug, 951782400999, "x", {}),
            "time=2000-02-29T00:00:00.999Z level=debug msg=x\n");
  EXPECT_EQ(format_log_line(LogFormat::kText, LogLevel::kError, 1, "x", {}),
            "time=1970-01-01T00:00:00.001Z level=error msg=x\n");
}

TEST(LogFormat, TextQuotesWhatWouldBreakAPair) {
  EXPECT_EQ(text_line("m", {{"a", "plain", false}}), "time=2025-11-30T19:47:16.123Z level=warn msg=m a=plain\n");
  for (std::string v : {"two words", "a=b", "q\"q", "back\\slash", "", "tab\t", "nl\n"}) {
    std::string line = text_line("m", {{"v", v, false}});
    std::string prefix = "time=2025-11-30T19:47:16.123Z level=warn msg=m v=\"";
    ASSERT_EQ(line.substr(0, prefix.size()), prefix) << line;
    ASSERT_EQ(line.substr(line.size() - 2), "\"\n") << line;
    EXPECT_EQ(unescape(line.substr(prefix.size(), line.size() - prefix.size() - 2)), v) << line;
  }
}

TEST(LogFormat, TextKeepsAnyBytesOnOnePrintableLineAndExact) {
  std::string v = all_bytes();
  std::string line = text_line(v, {{"name", v, false}});
  ASSERT_EQ(line.back(), '\n');
  for (size_t i = 0; i + 1 < line.size(); ++i) {
    ASSERT_TRUE(line[i] >= ' ' && line[i] <= '~') << "byte " << i << " of " << line;
  }
  // msg="..." name="...": both decode to the 256 bytes.
  size_t m = line.find(" msg=\"") + 6, n = line.find("\" name=\"");
  ASSERT_NE(n, std::string::npos);
  EXPECT_EQ(unescape(line.substr(m, n - m)), v);
  size_t start = n + 8;
  EXPECT_EQ(unescape(line.substr(start, line.size() - start - 2)), v);
}

TEST(LogFormat, JsonParsesForAnyBytes) {
  std::string v = all_bytes();
  std::string line = json_line(v, {{"name", v, false}, {"id", "18446744073709551615", true}});
  ASSERT_EQ(line.find('\n'), line.size() - 1) << line;
  for (size_t i = 0; i + 1 < line.size(); ++i) ASSERT_TRUE(line[i] >= ' ' && line[i] <= '~') << line;
  nlohmann::json j = nlohmann::json::parse(line);
  // The ASCII half is kept exactly; each byte above 0x7f (none of them UTF-8 alone) is U+FFFD.
  std::string want = v.substr(0, 128);
  for (int i = 0; i < 128; ++i) want += "\xef\xbf\xbd";
  EXPECT_EQ(j["name"].get<std::string>(), want);
  EXPECT_EQ(j["msg"].get<std::string>(), want);
  EXPECT_EQ(j["id"].get<uint64_t>(), 18446744073709551615ull);
}

TEST(LogFormat, JsonKeepsUtf8) {
  std::string v = "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80 \"q\" \\ \n";
  nlohmann::json j = nlohmann::json::parse(json_line("m", {{"name", v, false}}));
  EXPECT_EQ(j["name"].get<std::string>(), v);
}

TEST(LogFormat, NegativeNumbers) {
  EXPECT_EQ(nlohmann::json::parse(json_line("m", {{"n", "-5", true}}))["n"].get<int>(), -5);
  EXPECT_NE(text_line("m", {{"n", "-5", true}}).find(" n=-5\n"), std::string::npos);
}

TEST(LogFormat, LongValuesAreCut) {
  std::string v(10000, 'a');
  nlohmann::json j = nlohmann::json::parse(json_line(v, {{"name", v, false}}));
  EXPECT_EQ(j["name"].get<std::string>(), std::string(kLogValueMax, 'a') + "...");
  EXPECT_EQ(j["msg"].get<std::string>(), std::string(kLogMessageMax, 'a') + "...");
}

TEST(LogFormat, ParsesFlags) {
  LogFormat f;
  EXPECT_TRUE(parse_log_format("json", &f));
  EXPECT_EQ(f, LogFormat::kJson);
  EXPECT_TRUE(parse_log_format("text", &f));
  EXPECT_EQ(f, LogFormat::kText);
  EXPECT_FALSE(parse_log_format("JSON", &f));
  EXPECT_FALSE(parse_log_format("", &f));
}

}  // namespace
}  // namespace fanout
