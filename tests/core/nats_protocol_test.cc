// The NATS client's encoder, INFO and headers, against the protocol doc's examples
// (docs.nats.io, "Client Protocol") and ADR-4.
#include "core/nats_protocol.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>

namespace fanout {
namespace {

using namespace std::string_literals;

TEST(NatsEncoderTest, PingPongSubUnsubAreTheDocsBytes) {
  std::string out;
  append_nats_ping(&out);
  append_nats_pong(&out);
  EXPECT_TRUE(append_nats_sub(&out, "FOO", 1));
  EXPECT_TRUE(append_nats_sub(&out, "foo.*.>", 18446744073709551615ull));
  append_nats_unsub(&out, 1);
  append_nats_unsub(&out, 1, 5);
  EXPECT_EQ(out,
            "PING\r\nPONG\r\nSUB FOO 1\r\nSUB foo.*.> 18446744073709551615\r\nUNSUB 1\r\n"
            "UNSUB 1 5\r\n");
}

TEST(NatsEncoderTest, PubIsTheDocsBytesAndBinarySafe) {
  std::string out;
  EXPECT_EQ(append_nats_pub(&out, "FOO", "Hello NATS!", kNatsDefaultMaxPayload), NatsEncodeStatus::kOk);
  EXPECT_EQ(append_nats_pub(&out, "NOTIFY", "", kNatsDefaultMaxPayload), NatsEncodeStatus::kOk);
  EXPECT_EQ(out, "PUB FOO 11\r\nHello NATS!\r\nPUB NOTIFY 0\r\n\r\n");
  out.clear();
  const std::string binary = "a\r\nb\0\xff\r\n"s;
  EXPECT_EQ(append_nats_pub(&out, "x", binary, 100), NatsEncodeStatus::kOk);
  EXPECT_EQ(out, "PUB x 8\r\n"s + binary + "\r\n");
}

TEST(NatsEncoderTest, HpubIsTheDocsBytes) {
  std::string out;
  EXPECT_EQ(append_nats_hpub(&out, "FOO", {"Bar", "Baz"}, "Hello NATS!", kNatsDefaultMaxPayload),
            NatsEncodeStatus::kOk);
  EXPECT_EQ(append_nats_hpub(&out, "NOTIFY", {"Bar", "Baz"}, "", kNatsDefaultMaxPayload),
            NatsEncodeStatus::kOk);
  EXPECT_EQ(out,
            "HPUB FOO 22 33\r\nNATS/1.0\r\nBar: Baz\r\n\r\nHello NATS!\r\n"
            "HPUB NOTIFY 22 22\r\nNATS/1.0\r\nBar: Baz\r\n\r\n\r\n");
}

TEST(NatsEncoderTest, HpubPrefixIsTheFrameWithoutItsPayload) {
  std::string whole, prefix;
  const std::string payload = "\r\n\r\nbinary\0"s;
  ASSERT_EQ(append_nats_hpub(&whole, "fanout.c.x", {kFanoutOriginHeader, "node-1"}, payload, 1000),
            NatsEncodeStatus::kOk);
  ASSERT_EQ(append_nats_hpub_prefix(&prefix, "fanout.c.x", {kFanoutOriginHeader, "node-1"},
                                    payload.size(), 1000),
            NatsEncodeStatus::kOk);
  EXPECT_EQ(prefix + payload + "\r\n", whole);
  EXPECT_EQ(prefix, "HPUB fanout.c.x 35 46\r\nNATS/1.0\r\nFanout-Origin: node-1\r\n\r\n");
}

TEST(NatsEncoderTest, RefusalsAppendNothing) {
  std::string out = "kept";
  for (const char* bad : {"", ".", "a.", ".a", "a..b", "a b", "a\tb", "a\r\n", "a.*", "*", ">",
                          "a.>", "\x7f"}) {
    EXPECT_EQ(append_nats_pub(&out, bad, "x", 100), NatsEncodeStatus::kInvalidSubject) << bad;
    EXPECT_EQ(append_nats_hpub(&out, bad, {"A", "b"}, "x", 100), NatsEncodeStatus::kInvalidSubject)
        << bad;
  }
  for (const char* bad : {"", "a..b", "a b", "a.>.b", ">.a", "a.\x01"}) {
    EXPECT_FALSE(append_nats_sub(&out, bad, 1)) << bad;
  }
  // Wildcard bytes inside a token are literal in NATS: "a*b" is a valid publish subject.
  EXPECT_TRUE(nats_subject_valid("a*b.c>", false));
  for (NatsHeader bad : {NatsHeader{"", "v"}, NatsHeader{"a:b", "v"}, NatsHeader{"a b", "v"},
                         NatsHeader{"a", " v"}, NatsHeader{"a", "v "}, NatsHeader{"a", "v\r\nX: y"},
                         NatsHeader{"a", "\x80"}}) {
    EXPECT_EQ(append_nats_hpub(&out, "s", bad, "x", 100), NatsEncodeStatus::kInvalidHeader);
  }
  // max_payload counts the header block and the payload, as nats-server does: 22 + 11 = 33.
  EXPECT_EQ(append_nats_hpub(&out, "FOO", {"Bar", "Baz"}, "Hello NATS!", 32),
            NatsEncodeStatus::kPayloadTooLarge);
  EXPECT_EQ(append_nats_hpub_prefix(&out, "FOO", {"Bar", "Baz"}, SIZE_MAX, SIZE_MAX),
            NatsEncodeStatus::kPayloadTooLarge);
  EXPECT_EQ(append_nats_pub(&out, "FOO", "Hello NATS!", 10), NatsEncodeStatus::kPayloadTooLarge);
  EXPECT_EQ(out, "kept");
  EXPECT_STREQ(to_string(NatsEncodeStatus::kPayloadTooLarge), "larger than the server's max_payload");
}

TEST(NatsEncoderTest, ConnectSaysWhatTheLinkReliesOn) {
  std::string out;
  NatsConnectOptions o;
  o.name = "fanoutd node-1 shard 0";
  o.version = "0.9.0";
  ASSERT_TRUE(append_nats_connect(&out, o));
  EXPECT_EQ(out,
            "CONNECT {\"verbose\":false,\"pedantic\":false,\"tls_required\":false,"
            "\"name\":\"fanoutd node-1 shard 0\",\"lang\":\"c++\",\"version\":\"0.9.0\",\"protocol\":1,"
            "\"echo\":true,\"headers\":true,\"no_responders\":false}\r\n");
}

TEST(NatsEncoderTest, ConnectCarriesCredentialsEscaped) {
  std::string out;
  NatsConnectOptions o;
  o.user = "u\"1";
  o.pass = "p\\w\n";
  o.tls_required = true;
  o.echo = false;
  ASSERT_TRUE(append_nats_connect(&out, o));
  ASSERT_EQ(out.substr(0, 8), "CONNECT ");
  ASSERT_EQ(out.substr(out.size() - 2), "\r\n");
  auto j = nlohmann::json::parse(out.substr(8, out.size() - 10));
  EXPECT_EQ(j["user"], "u\"1");
  EXPECT_EQ(j["pass"], "p\\w\n");
  EXPECT_EQ(j["tls_required"], true);
  EXPECT_EQ(j["echo"], false);
  EXPECT_FALSE(j.contains("auth_token"));
  EXPECT_FALSE(j.contains("name"));
  EXPECT_EQ(out.find('\n'), out.size() - 1);  // one line: the newline in pass is escaped
  out.clear();
  o = NatsConnectOptions();
  o.auth_token = "s3cr3t";
  ASSERT_TRUE(append_nats_connect(&out, o));
  j = nlohmann::json::parse(out.substr(8, out.size() - 10));
  EXPECT_EQ(j["auth_token"], "s3cr3t");
  EXPECT_FALSE(j.contains("user"));
  EXPECT_FALSE(j.contains("pass"));
}

TEST(NatsEncoderTest, ConnectRefusesBytesJsonCannotCarry) {
  std::string out = "kept";
  NatsConnectOptions o;
  o.pass = "\xff\xfe";
  o.user = "u";
  EXPECT_FALSE(append_nats_connect(&out, o));
  EXPECT_EQ(out, "kept");
}

TEST(NatsInfoTest, ReadsTheFieldsALinkActsOn) {
  const std::string json =
      R"({"server_id":"NCXM","server_name":"n1","version":"2.9.10","proto":1,"go":"go1.19",)"
      R"("host":"0.0.0.0","port":4222,"headers":true,"max_payload":1048576,"client_id":5,)"
      R"("auth_required":true,"tls_required":false,"tls_available":true,"ldm":true,)"
      R"("nonce":"abc","connect_urls":["10.0.0.1:4222","10.0.0.2:4222"],"cluster":"c"})";
  NatsServerInfo info;
  std::string error;
  ASSERT_TRUE(parse_nats_info(json, &info, &error)) << error;
  EXPECT_EQ(info.server_id, "NCXM");
  EXPECT_EQ(info.server_name, "n1");
  EXPECT_EQ(info.version, "2.9.10");
  EXPECT_EQ(info.proto, 1);
  EXPECT_EQ(info.max_payload, 1048576u);
  EXPECT_TRUE(info.headers);
  EXPECT_TRUE(info.auth_required);
  EXPECT_FALSE(info.tls_required);
  EXPECT_TRUE(info.tls_available);
  EXPECT_TRUE(info.lame_duck_mode);
  EXPECT_EQ(info.nonce, "abc");
  EXPECT_EQ(info.connect_urls, (std::vector<std::string>{"10.0.0.1:4222", "10.0.0.2:4222"}));
}

TEST(NatsInfoTest, AbsentFieldsKeepTheirDefaults) {
  NatsServerInfo info;
  std::string error;
  ASSERT_TRUE(parse_nats_info("{}", &info, &error));
  EXPECT_EQ(info.max_payload, 0u);
  EXPECT_FALSE(info.headers);
  EXPECT_TRUE(info.connect_urls.empty());
}

TEST(NatsInfoTest, RefusesWhatIsNotAnInfo) {
  struct Case {
    const char* json;
    const char* error;
  };
  for (Case c : {Case{"", "INFO is not valid JSON"}, Case{"{\"a\":", "INFO is not valid JSON"},
                 Case{"[1]", "INFO is not a JSON object"},
                 Case{R"({"max_payload":"1"})", "INFO field \"max_payload\" is not a non-negative integer"},
                 Case{R"({"max_payload":-1})", "INFO field \"max_payload\" is not a non-negative integer"},
                 Case{R"({"max_payload":1.5})", "INFO field \"max_payload\" is not a non-negative integer"},
                 Case{R"({"max_payload":0})", "INFO field \"max_payload\" is 0"},
                 Case{R"({"headers":1})", "INFO field \"headers\" is not true or false"},
                 Case{R"({"server_id":7})", "INFO field \"server_id\" is not a string"},
                 Case{R"({"proto":99999})", "INFO field \"proto\" is out of range"},
                 Case{R"({"connect_urls":"a"})", "INFO field \"connect_urls\" is not an array"},
                 Case{R"({"connect_urls":[1]})",
                      "INFO field \"connect_urls\" holds a value that is not a string"}}) {
    NatsServerInfo info;
    std::string error;
    EXPECT_FALSE(parse_nats_info(c.json, &info, &error)) << c.json;
    EXPECT_EQ(error, c.error) << c.json;
  }
}

TEST(NatsHeadersTest, ReadsTheDocsHeaderBlock) {
  auto h = NatsHeaders::parse("NATS/1.0\r\nFoodGroup: vegetable\r\n\r\n");
  ASSERT_TRUE(h.has_value());
  EXPECT_EQ(h->status(), 0);
  EXPECT_EQ(h->get("FoodGroup"), "vegetable");
  EXPECT_EQ(h->get("Food"), std::nullopt);
}

TEST(NatsHeadersTest, FirstValueTrimmedAndNamesCaseSensitive) {
  auto h = NatsHeaders::parse(
      "NATS/1.0\r\nBREAKFAST: donut\r\nBREAKFAST: eggs\r\nFanout-Origin:\t n2 \r\nEmpty:\r\n"
      "fanout-origin: other\r\n\r\n");
  ASSERT_TRUE(h.has_value());
  EXPECT_EQ(h->get("BREAKFAST"), "donut");
  EXPECT_EQ(h->get(kFanoutOriginHeader), "n2");
  EXPECT_EQ(h->get("fanout-origin"), "other");  // ADR-4: another header
  EXPECT_EQ(h->get("FANOUT-ORIGIN"), std::nullopt);
  EXPECT_EQ(h->get("Empty"), "");
  EXPECT_EQ(h->get(""), std::nullopt);
}

TEST(NatsHeadersTest, StatusLines) {
  auto h = NatsHeaders::parse("NATS/1.0 503\r\n\r\n");
  ASSERT_TRUE(h.has_value());
  EXPECT_EQ(h->status(), 503);
  EXPECT_EQ(h->description(), "");
  h = NatsHeaders::parse("NATS/1.0 408 Request Timeout\r\nNats-Pending-Messages: 1\r\n\r\n");
  ASSERT_TRUE(h.has_value());
  EXPECT_EQ(h->status(), 408);
  EXPECT_EQ(h->description(), "Request Timeout");
  EXPECT_EQ(h->get("Nats-Pending-Messages"), "1");
}

TEST(NatsHeadersTest, RefusesMalformedBlocks) {
  for (std::string bad :
       {""s, "NATS/1.0\r\n"s, "NATS/1.0"s, "NATS/2.0\r\n\r\n"s, "nats/1.0\r\n\r\n"s,
        "NATS/1.0 50\r\n\r\n"s, "NATS/1.0 5x3\r\n\r\n"s, "NATS/1.0503\r\n\r\n"s,
        "NATS/1.0 5030\r\n\r\n"s, "NATS/1.0\r\nNoColon\r\n\r\n"s, "NATS/1.0\r\n: v\r\n\r\n"s,
        "NATS/1.0\r\nA b: v\r\n\r\n"s, "NATS/1.0\r\nA: v\rw\r\n\r\n"s, "NATS/1.0\r\nA: v\nw\r\n\r\n"s,
        "NATS/1.0\r\nA: v\r\n\r\nextra"s, "NATS/1.0\r\nA: v\r\n"s, "NATS/1.0\r\n\xff: v\r\n\r\n"s}) {
    EXPECT_EQ(NatsHeaders::parse(bad), std::nullopt) << bad;
  }
}

}  // namespace
}  // namespace fanout
