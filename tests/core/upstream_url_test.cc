#include "core/upstream_url.h"

#include <gtest/gtest.h>

namespace fanout {
namespace {

std::vector<UpstreamUrl> ok(std::string_view text) {
  std::vector<UpstreamUrl> out;
  std::string err;
  EXPECT_TRUE(parse_upstream_urls(text, &out, &err)) << text << ": " << err;
  return out;
}

std::string bad(std::string_view text) {
  std::vector<UpstreamUrl> out;
  std::string err;
  EXPECT_FALSE(parse_upstream_urls(text, &out, &err)) << text;
  EXPECT_TRUE(out.empty());
  return err;
}

TEST(UpstreamUrlTest, ListsSchemesPortsAndCredentials) {
  auto u = ok("nats://127.0.0.1:4223, tls://alice:p%40ss@nats.example:4443,nats://tok3n@h,nats://[::1]:5000,nats://[fe80::1]");
  ASSERT_EQ(u.size(), 5u);
  EXPECT_FALSE(u[0].tls);
  EXPECT_EQ(u[0].host, "127.0.0.1");
  EXPECT_EQ(u[0].port, 4223);
  EXPECT_TRUE(u[1].tls);
  EXPECT_EQ(u[1].user, "alice");
  EXPECT_EQ(u[1].password, "p@ss");
  EXPECT_EQ(u[1].display(), "nats.example:4443");  // never the credentials
  EXPECT_EQ(u[2].token, "tok3n");
  EXPECT_EQ(u[2].port, 4222);
  EXPECT_EQ(u[3].host, "::1");
  EXPECT_EQ(u[3].display(), "[::1]:5000");
  EXPECT_EQ(u[4].port, 4222);
}

TEST(UpstreamUrlTest, RefusesWhatIsNotANatsUrl) {
  EXPECT_NE(bad("redis://h:1").find("nats:// or tls://"), std::string::npos);
  EXPECT_NE(bad("nats://h:0").find("1 to 65535"), std::string::npos);
  EXPECT_NE(bad("nats://h:65536").find("1 to 65535"), std::string::npos);
  EXPECT_NE(bad("nats://h:x").find("1 to 65535"), std::string::npos);
  EXPECT_NE(bad("nats://h:").find("1 to 65535"), std::string::npos);
  EXPECT_NE(bad("nats://:4222").find("no host"), std::string::npos);
  EXPECT_NE(bad("nats://h/path").find("path"), std::string::npos);
  EXPECT_NE(bad("nats://[::1").find("unclosed"), std::string::npos);
  EXPECT_NE(bad("nats://[::1]x").find("only a port"), std::string::npos);
  EXPECT_NE(bad("nats://a%zz:b@h").find("%-escape"), std::string::npos);
  EXPECT_NE(bad("nats://h:1,,nats://g:2").find("empty"), std::string::npos);
  EXPECT_NE(bad("").find("empty"), std::string::npos);
  EXPECT_NE(bad("nats://ok:1,nats://bad:0").find("\"nats://bad:0\""), std::string::npos);
}

}  // namespace
}  // namespace fanout
