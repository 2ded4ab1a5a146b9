// The PROXY protocol parser against HAProxy's specification (doc/proxy-protocol.txt): its
// examples of both versions, each way a header can be cut short, and each way it can be wrong.
#include "core/proxy_protocol.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>

#include <string>

namespace fanout {
namespace {

const std::string kSig("\r\n\r\n\0\r\nQUIT\n", 12);

ProxyParse parse(const std::string& in, ProxyHeader* h, std::string* why = nullptr) {
  std::string unused;
  return parse_proxy_header(in.data(), in.size(), h, why ? why : &unused);
}

std::string v2(uint8_t ver_cmd, uint8_t fam, const std::string& payload) {
  std::string s = kSig;
  s += static_cast<char>(ver_cmd);
  s += static_cast<char>(fam);
  s += static_cast<char>(payload.size() >> 8);
  s += static_cast<char>(payload.size() & 0xff);
  return s + payload;
}

TEST(ProxyProtocolTest, Version1) {
  ProxyHeader h;
  const std::string tcp4 = "PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\n";
  ASSERT_EQ(parse(tcp4 + "PING\r\n", &h), ProxyParse::kOk);
  EXPECT_EQ(h.length, tcp4.size());
  EXPECT_EQ(h.family, ProxyHeader::Family::kTcp4);
  EXPECT_EQ(h.src_port, 56324);
  EXPECT_EQ(h.dst_port, 443);
  EXPECT_EQ(std::string(reinterpret_cast<char*>(h.src), 4), std::string("\xc0\xa8\x00\x01", 4));
  ASSERT_EQ(parse("PROXY TCP6 2001:db8::1 ::1 65535 6379\r\n", &h), ProxyParse::kOk);
  EXPECT_EQ(h.family, ProxyHeader::Family::kTcp6);
  EXPECT_EQ(h.src[0], 0x20);
  ASSERT_EQ(parse("PROXY UNKNOWN ffff::1 ::1 1 2\r\n", &h), ProxyParse::kOk);
  EXPECT_TRUE(h.local);
  // Every prefix needs more.
  for (size_t k = 0; k < tcp4.size(); ++k) EXPECT_EQ(parse(tcp4.substr(0, k), &h), ProxyParse::kNeedMore) << k;
}

TEST(ProxyProtocolTest, Version1Errors) {
  ProxyHeader h;
  for (std::string bad : std::initializer_list<std::string>{"PING\r\n", "PROXY TCP5 1.2.3.4 1.2.3.5 1 2\r\n", "PROXY TCP4 1.2.3.4 1.2.3.5 1\r\n",
                          "PROXY TCP4 1.2.3.4 ::1 1 2\r\n", "PROXY TCP4 1.2.3 1.2.3.5 1 2\r\n",
                          "PROXY TCP4 1.2.3.4 1.2.3.5 01 2\r\n", "PROXY TCP4 1.2.3.4 1.2.3.5 65536 2\r\n",
                          "PROXY TCP4 1.2.3.4 1.2.3.5 1 2\n", "PROXY TCP4 1.2.3.4 1.2.3.5 1 2\rX",
                          "PROXY TCP4  1.2.3.4 1.2.3.5 1 2\r\n", "proxy TCP4 1.2.3.4 1.2.3.5 1 2\r\n",
                          "PROXY UNKNOWN" + std::string(100, ' ') + "\r\n", "PROXY " + std::string(120, 'x')}) {
    EXPECT_EQ(parse(bad, &h), ProxyParse::kError) << bad;
  }
}

TEST(ProxyProtocolTest, Version2) {
  ProxyHeader h;
  const std::string tcp4 = v2(0x21, 0x11, std::string("\x7f\0\0\x01\x0a\0\0\x01\x12\x34\x18\xeb", 12));
  ASSERT_EQ(parse(tcp4 + "PING\r\n", &h), ProxyParse::kOk);
  EXPECT_EQ(h.length, 28u);
  EXPECT_EQ(h.family, ProxyHeader::Family::kTcp4);
  EXPECT_EQ(h.src_port, 0x1234);
  EXPECT_EQ(h.dst_port, 6379);
  for (size_t k = 0; k < tcp4.size(); ++k) EXPECT_EQ(parse(tcp4.substr(0, k), &h), ProxyParse::kNeedMore) << k;
  // TLVs after the addresses are skipped with them.
  ASSERT_EQ(parse(v2(0x21, 0x11, std::string(12, '\1') + std::string("\x04\x00\x02zz", 5)), &h), ProxyParse::kOk);
  EXPECT_EQ(h.length, 16u + 17u);
  std::string six(36, '\0');
  six[15] = 1;
  six[32] = 0;
  six[33] = 80;
  ASSERT_EQ(parse(v2(0x21, 0x21, six), &h), ProxyParse::kOk);
  EXPECT_EQ(h.family, ProxyHeader::Family::kTcp6);
  EXPECT_EQ(h.src_port, 80);
  std::string unix_paths(216, '\0');
  unix_paths.replace(0, 9, "/tmp/c.sk");
  ASSERT_EQ(parse(v2(0x21, 0x31, unix_paths), &h), ProxyParse::kOk);
  EXPECT_EQ(h.src_path, "/tmp/c.sk");
  ASSERT_EQ(parse(v2(0x20, 0x00, ""), &h), ProxyParse::kOk);  // LOCAL: a health check
  EXPECT_TRUE(h.local);
  ASSERT_EQ(parse(v2(0x21, 0x00, ""), &h), ProxyParse::kOk);  // UNSPEC
  EXPECT_TRUE(h.local);
}

TEST(ProxyProtocolTest, Version2Errors) {
  ProxyHeader h;
  // A unix path that would forge CLIENT LIST fields or lines (the review's case).
  std::string forged(216, '\0');
  forged.replace(0, 40, "x user=admin\r\nid=999 addr=6.6.6.6:1 fake");
  EXPECT_EQ(parse(v2(0x21, 0x31, forged), &h), ProxyParse::kError);
  EXPECT_EQ(parse(v2(0x11, 0x11, std::string(12, '\0')), &h), ProxyParse::kError);  // version 1 in v2 form
  EXPECT_EQ(parse(v2(0x22, 0x11, std::string(12, '\0')), &h), ProxyParse::kError);  // command 2
  EXPECT_EQ(parse(v2(0x21, 0x11, std::string(8, '\0')), &h), ProxyParse::kError);   // addresses cut
  EXPECT_EQ(parse(v2(0x21, 0x21, std::string(20, '\0')), &h), ProxyParse::kError);
  EXPECT_EQ(parse(v2(0x21, 0x41, std::string(12, '\0')), &h), ProxyParse::kError);  // no such family
  std::string huge = kSig + "\x21\x11\xff\xff";
  EXPECT_EQ(parse(huge, &h), ProxyParse::kError);  // over kMaxProxyV2Payload: refused before it arrives
}

TEST(ProxyProtocolTest, AddressBlocks) {
  std::vector<CidrBlock> blocks;
  std::string why;
  ASSERT_TRUE(parse_cidr_list("10.0.0.0/8, 192.168.1.7 ::1/128 fd00::/8", &blocks, &why)) << why;
  ASSERT_EQ(blocks.size(), 4u);
  auto v4 = [&](const char* a) {
    uint8_t b[4];
    inet_pton(AF_INET, a, b);
    return cidr_match(blocks, false, b);
  };
  auto v6 = [&](const char* a) {
    uint8_t b[16];
    inet_pton(AF_INET6, a, b);
    return cidr_match(blocks, true, b);
  };
  EXPECT_TRUE(v4("10.255.0.1"));
  EXPECT_FALSE(v4("11.0.0.1"));
  EXPECT_TRUE(v4("192.168.1.7"));
  EXPECT_FALSE(v4("192.168.1.8"));
  EXPECT_TRUE(v6("::1"));
  EXPECT_TRUE(v6("fd12::5"));
  EXPECT_FALSE(v6("fe80::1"));
  EXPECT_TRUE(v6("::ffff:10.1.2.3"));  // an IPv4 client on a dual-stack socket
  EXPECT_FALSE(v6("::ffff:11.1.2.3"));
  for (const char* bad : {"10.0.0.0/33", "::1/129", "10.0.0/8", "host", "10.0.0.0/", "10.0.0.0/x"}) {
    std::vector<CidrBlock> b;
    EXPECT_FALSE(parse_cidr_list(bad, &b, &why)) << bad;
  }
}

}  // namespace
}  // namespace fanout
