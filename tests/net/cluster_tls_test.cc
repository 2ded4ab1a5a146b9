// CLUSTER SLOTS, SHARDS and NODES over TLS, both backends: as Redis does with tls-cluster yes, a
// client on the TLS port is told the TLS port and a plaintext client the plaintext port, and
// CLUSTER SHARDS lists both ("port" and "tls-port"); cluster-announce-tls-port overrides the TLS one.
#include <signal.h>

#include "tests/net/server_fixture.h"
#include "tests/net/tls_pki.h"
#include "tests/net/tls_socket_client.h"

namespace fanout::test {
namespace {

using Type = RespValue::Type;

const TestPki& pki() {
  static const TestPki* p = new TestPki("cluster");
  return *p;
}

// CLUSTER SHARDS' one node as name -> value (integers as their decimal text).
std::map<std::string, std::string> shard_node(const RespValue& shards) {
  std::map<std::string, std::string> out;
  if (shards.elements.size() != 1 || shards.elements[0].elements.size() != 4) return out;
  const RespValue& nodes = shards.elements[0].elements[3];
  if (nodes.elements.size() != 1) return out;
  const auto& kv = nodes.elements[0].elements;
  for (size_t i = 0; i + 1 < kv.size(); i += 2) {
    out[kv[i].str] = kv[i + 1].type == Type::kInteger ? std::to_string(kv[i + 1].integer) : kv[i + 1].str;
  }
  return out;
}

class ClusterTlsTest : public ServerTest {
 protected:
  void SetUp() override {
    signal(SIGPIPE, SIG_IGN);
    ServerTest::SetUp();
    if (IsSkipped()) return;
    cfg.tls_port = kPortAuto;
    cfg.tls_cert_file = pki().server_cert_file;
    cfg.tls_key_file = pki().server_key_file;
    cfg.tls_ca_cert_file = pki().ca_file;
    cfg.tls_auth_clients = "no";
  }
  std::unique_ptr<TlsSocketClient> tls_client() {
    auto c = TlsSocketClient::connect(broker->tls_port(), pki(), {});
    EXPECT_NE(c, nullptr);
    return c;
  }
};

TEST_P(ClusterTlsTest, TlsClientsAreToldTheTlsPort) {
  start();
  const int tls_port = broker->tls_port();
  auto tls = tls_client();
  auto plain = client();
  ASSERT_NE(tls, nullptr);
  RespValue slots = tls->call({"CLUSTER", "SLOTS"});
  ASSERT_EQ(slots.elements.size(), 1u);
  ASSERT_EQ(slots.elements[0].elements.size(), 3u);
  EXPECT_EQ(slots.elements[0].elements[2].elements[0].str, "127.0.0.1");
  EXPECT_EQ(slots.elements[0].elements[2].elements[1].integer, tls_port);
  EXPECT_EQ(plain->call({"CLUSTER", "SLOTS"}).elements[0].elements[2].elements[1].integer, port);
  const std::string id = plain->call({"CLUSTER", "MYID"}).str;
  EXPECT_EQ(tls->call({"CLUSTER", "NODES"}).str,
            id + " 127.0.0.1:" + std::to_string(tls_port) + "@0 myself,master - 0 0 0 connected 0-16383\n");
  // Both ports, in Redis's order (addNodeDetailsToShardReply), whoever asks.
  for (const RespValue& shards : {tls->call({"CLUSTER", "SHARDS"}), plain->call({"CLUSTER", "SHARDS"})}) {
    const RespValue& node = shards.elements[0].elements[3].elements[0];
    ASSERT_EQ(node.elements.size(), 16u);
    EXPECT_EQ(node.elements[2].str, "port");
    EXPECT_EQ(node.elements[4].str, "tls-port");
    auto fields = shard_node(shards);
    EXPECT_EQ(fields["port"], std::to_string(port));
    EXPECT_EQ(fields["tls-port"], std::to_string(tls_port));
    EXPECT_EQ(fields["ip"], "127.0.0.1");
  }
  // Announced ports replace the listeners' (as Redis's cluster-announce-port and -tls-port).
  ASSERT_EQ(plain->call({"CONFIG", "SET", "cluster-announce-tls-port", "16380", "cluster-announce-port", "16379"}).str,
            "OK");
  EXPECT_EQ(tls->call({"CLUSTER", "SLOTS"}).elements[0].elements[2].elements[1].integer, 16380);
  EXPECT_EQ(plain->call({"CLUSTER", "SLOTS"}).elements[0].elements[2].elements[1].integer, 16379);
  auto fields = shard_node(tls->call({"CLUSTER", "SHARDS"}));
  EXPECT_EQ(fields["port"], "16379");
  EXPECT_EQ(fields["tls-port"], "16380");
}

TEST_P(ClusterTlsTest, WithoutAPlaintextPortOnlyTheTlsPortIsListed) {
  cfg.port = 0;
  start();
  auto tls = tls_client();
  ASSERT_NE(tls, nullptr);
  auto fields = shard_node(tls->call({"CLUSTER", "SHARDS"}));
  EXPECT_EQ(fields.count("port"), 0u);
  EXPECT_EQ(fields["tls-port"], std::to_string(broker->tls_port()));
}

INSTANTIATE_TEST_SUITE_P(Backends, ClusterTlsTest, ::testing::ValuesIn(kBackends),
                         [](const auto& info) { return info.param; });

}  // namespace
}  // namespace fanout::test
