// --proxy-protocol against the real server on both backends: a connection from a listed balancer
// must begin with a PROXY v1 or v2 header, and is then known by the client address it names
// (CLIENT LIST, CLIENT INFO, CLIENT KILL ADDR), whether the header arrives whole, split over reads
// or with the first command behind it; a missing or malformed header closes the connection and is
// counted; sources not listed are ordinary clients.
#include <thread>

#include "tests/net/server_fixture.h"

namespace fanout::test {
namespace {

using Type = RespValue::Type;

std::string client_field(const std::string& info, std::string_view name) {
  const std::string key = " " + std::string(name) + "=";
  size_t at = (" " + info).find(key);
  if (at == std::string::npos) return "<missing>";
  size_t from = at + key.size() - 1;
  return info.substr(from, info.find(' ', from) - from);
}

const std::string kLocalHeader("\r\n\r\n\0\r\nQUIT\n\x20\x00\x00\x00", 16);

class ProxyProtocolTest : public ServerTest {
 protected:
  // INFO's figure, asked over a connection that first sends a balancer's health-check header
  // (this test's own connections come from a listed source).
  int64_t proxied_stat(std::string_view name) {
    auto c = client();
    c->send_raw(kLocalHeader);
    return info_field(c->call({"INFO", "everything"}).str, name);
  }
  void SetUp() override {
    ServerTest::SetUp();
    if (IsSkipped()) return;
    cfg.proxy_protocol = true;
    cfg.proxy_protocol_from = "127.0.0.1/32";
  }
};

TEST_P(ProxyProtocolTest, TheHeaderNamesTheClient) {
  start();
  auto c = client();
  c->send_raw("PROXY TCP4 203.0.113.7 198.51.100.1 40001 6379\r\n*2\r\n$6\r\nCLIENT\r\n$4\r\nINFO\r\n");
  RespValue v;
  ASSERT_TRUE(c->read(&v));
  EXPECT_EQ(client_field(v.str, "addr"), "203.0.113.7:40001") << v.str;
  // Split over reads, byte by byte, v2 binary form with IPv6.
  auto d = client();
  std::string six(36, '\0');
  six[0] = 0x20;
  six[1] = 0x01;
  six[15] = 9;
  six[31] = 1;
  six[32] = static_cast<char>(0x9c);
  six[33] = 0x41;
  std::string header = std::string("\r\n\r\n\0\r\nQUIT\n\x21\x21\x00\x24", 16) + six;
  for (char ch : header) {
    d->send_raw(std::string(1, ch));
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  v = d->call({"CLIENT", "INFO"});
  EXPECT_EQ(client_field(v.str, "addr"), "[2001::9]:40001") << v.str;
  // CLIENT LIST and CLIENT KILL ADDR see the real client.
  v = d->call({"CLIENT", "LIST"});
  EXPECT_NE(v.str.find("addr=203.0.113.7:40001 "), std::string::npos) << v.str;
  v = d->call({"CLIENT", "KILL", "ADDR", "203.0.113.7:40001"});
  EXPECT_EQ(v.integer, 1);
  EXPECT_TRUE(c->wait_closed());
  // A balancer's health check (v2 LOCAL) keeps the connection's own address.
  auto e = client();
  e->send_raw(kLocalHeader);
  v = e->call({"CLIENT", "INFO"});
  EXPECT_EQ(client_field(v.str, "addr").rfind("127.0.0.1:", 0), 0u) << v.str;
  EXPECT_EQ(proxied_stat("proxy_headers_accepted"), 4);  // with its own
}

TEST_P(ProxyProtocolTest, AMissingOrBadHeaderClosesAndIsCounted) {
  start();
  int closed = 0;
  for (std::string bad : {std::string("*1\r\n$4\r\nPING\r\n"), std::string("PROXY TCP4 1.2.3.4 5.6.7.8 1\r\n"),
                          std::string("PROXY TCP4 999.2.3.4 5.6.7.8 1 2\r\n"),
                          std::string("\r\n\r\n\0\r\nQUIT\n\x21\x11\xff\xff", 16), std::string(200, 'P')}) {
    auto c = client();
    c->send_raw(bad);
    RespValue v;
    EXPECT_FALSE(c->read(&v, 2000)) << "a reply to " << bad;
    EXPECT_TRUE(c->wait_closed()) << bad;
    ++closed;
  }
  EXPECT_EQ(proxied_stat("proxy_headers_refused"), closed);
}

TEST_P(ProxyProtocolTest, SourcesNotListedAreOrdinaryClients) {
  cfg.proxy_protocol_from = "10.0.0.0/8";
  start();
  auto c = client();
  EXPECT_EQ(c->call({"PING"}).str, "PONG");
  // From them a header is just a bad command.
  c->send_raw("PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\n");
  RespValue v;
  ASSERT_TRUE(c->read(&v));
  EXPECT_EQ(v.type, Type::kError);
}

TEST_P(ProxyProtocolTest, AnIncompleteHeaderTimesOut) {
  cfg.request_timeout_s = 1;
  start();
  auto c = client();
  c->send_raw("PROXY TCP4 1.2.3.4");
  EXPECT_TRUE(c->wait_closed(5000));
}

INSTANTIATE_TEST_SUITE_P(Backends, ProxyProtocolTest, ::testing::ValuesIn(kBackends));

}  // namespace
}  // namespace fanout::test
