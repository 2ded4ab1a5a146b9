// CLUSTER, READONLY and READWRITE against the real server on both backends: Fanout answers as a
// Redis Cluster of one node that owns every slot. The byte strings are redis-server 7.0.15's
// replies (cluster-enabled yes, given slots 0-16383 with CLUSTER ADDSLOTSRANGE), with this node's
// id, address and port; tests/compat/cluster_clients_test.py compares them with a live one.
#include <unistd.h>

#include <cctype>
#include <set>
#include <string>
#include <vector>

#include "tests/net/server_fixture.h"
#include "tests/net/subscribers.h"

namespace fanout::test {
namespace {

using Type = RespValue::Type;

std::string bulk(std::string_view s) { return "$" + std::to_string(s.size()) + "\r\n" + std::string(s) + "\r\n"; }

// The bytes of CLUSTER SLOTS, SHARDS and NODES for a node reached at ip:port (RESP2 or RESP3).
std::string slots_reply(const std::string& id, const std::string& ip, int port, int proto) {
  return "*1\r\n*3\r\n:0\r\n:16383\r\n*4\r\n" + bulk(ip) + ":" + std::to_string(port) + "\r\n" + bulk(id) +
         (proto == 3 ? "%0\r\n" : "*0\r\n");
}
std::string shards_reply(const std::string& id, const std::string& ip, int port, int proto) {
  return std::string("*1\r\n") + (proto == 3 ? "%2\r\n" : "*4\r\n") + bulk("slots") + "*2\r\n:0\r\n:16383\r\n" +
         bulk("nodes") + "*1\r\n" + (proto == 3 ? "%7\r\n" : "*14\r\n") + bulk("id") + bulk(id) + bulk("port") + ":" +
         std::to_string(port) + "\r\n" + bulk("ip") + bulk(ip) + bulk("endpoint") + bulk(ip) + bulk("role") +
         bulk("master") + bulk("replication-offset") + ":0\r\n" + bulk("health") + bulk("online");
}
std::string nodes_line(const std::string& id, const std::string& ip, int port) {
  return id + " " + ip + ":" + std::to_string(port) + "@0 myself,master - 0 0 0 connected 0-16383\n";
}
// RESP3 verbatim text, RESP2 bulk (as Redis answers CLUSTER NODES and INFO).
std::string verbatim(const std::string& text, int proto) {
  if (proto == 2) return bulk(text);
  return "=" + std::to_string(text.size() + 4) + "\r\ntxt:" + text + "\r\n";
}
const std::string kInfo =
    "cluster_state:ok\r\ncluster_slots_assigned:16384\r\ncluster_slots_ok:16384\r\ncluster_slots_pfail:0\r\n"
    "cluster_slots_fail:0\r\ncluster_known_nodes:1\r\ncluster_size:1\r\ncluster_current_epoch:0\r\n"
    "cluster_my_epoch:0\r\ncluster_stats_messages_sent:0\r\ncluster_stats_messages_received:0\r\n"
    "total_cluster_links_buffer_limit_exceeded:0\r\n";

// Sends one command and reads exactly the bytes `want` has (or fewer, on a timeout).
std::string exchange(TestClient& c, std::initializer_list<std::string_view> args, const std::string& want) {
  c.command(args);
  return c.read_bytes(want.size());
}

RespValue call(TestClient& c, const std::vector<std::string>& args) {
  c.command(args);
  RespValue v;
  EXPECT_TRUE(c.read(&v)) << args[0];
  return v;
}

// The value of "name:value" in INFO text, or "<missing>".
std::string info_text(const std::string& info, std::string_view name) {
  const std::string key = "\r\n" + std::string(name) + ":";
  size_t at = info.find(key);
  if (at == std::string::npos) return "<missing>";
  at += key.size();
  return info.substr(at, info.find("\r\n", at) - at);
}

class ClusterTest : public ServerTest {};

TEST_P(ClusterTest, SlotsShardsNodesAndInfoAreRedisBytesInResp2AndResp3) {
  start();
  for (int proto : {2, 3}) {
    auto c = client();
    if (proto == 3) {
      EXPECT_EQ(c->call({"HELLO", "3"}).type, Type::kMap);
    }
    const std::string id = c->call({"CLUSTER", "MYID"}).str;
    EXPECT_EQ(exchange(*c, {"CLUSTER", "SLOTS"}, slots_reply(id, "127.0.0.1", port, proto)),
              slots_reply(id, "127.0.0.1", port, proto));
    EXPECT_EQ(exchange(*c, {"cluster", "shards"}, shards_reply(id, "127.0.0.1", port, proto)),
              shards_reply(id, "127.0.0.1", port, proto));
    const std::string nodes = verbatim(nodes_line(id, "127.0.0.1", port), proto);
    EXPECT_EQ(exchange(*c, {"CLUSTER", "NODES"}, nodes), nodes);
    EXPECT_EQ(exchange(*c, {"CLUSTER", "INFO"}, verbatim(kInfo, proto)), verbatim(kInfo, proto));
    EXPECT_EQ(exchange(*c, {"CLUSTER", "MYID"}, bulk(id)), bulk(id));
    EXPECT_EQ(exchange(*c, {"CLUSTER", "LINKS"}, "*0\r\n"), "*0\r\n");
    EXPECT_EQ(exchange(*c, {"READONLY"}, "+OK\r\n"), "+OK\r\n");
    EXPECT_EQ(exchange(*c, {"READWRITE"}, "+OK\r\n"), "+OK\r\n");
  }
}

TEST_P(ClusterTest, TheNodeIdIsOneOnEveryShardAndNewAtEachStart) {
  cfg.shards = 4;
  start();
  std::vector<std::unique_ptr<TestClient>> clients;
  std::set<std::string> ids;
  for (int i = 0; i < 16; ++i) {
    clients.push_back(client());
    ids.insert(clients.back()->call({"CLUSTER", "MYID"}).str);
  }
  ASSERT_EQ(ids.size(), 1u);
  const std::string id = *ids.begin();
  ASSERT_EQ(id.size(), 40u);
  for (char ch : id) EXPECT_TRUE(std::isdigit(static_cast<unsigned char>(ch)) || (ch >= 'a' && ch <= 'f')) << id;
  clients.clear();
  stop();
  start();
  EXPECT_NE(client()->call({"CLUSTER", "MYID"}).str, id);
}

TEST_P(ClusterTest, KeyslotAndTheSubcommandsOfAClusterWithoutKeysOrPeers) {
  start();
  auto c = client();
  const std::string id = c->call({"CLUSTER", "MYID"}).str;
  // CLUSTER KEYSLOT: CRC16 with Redis's hash tags (core/cluster_slot.h has the edge cases).
  EXPECT_EQ(c->call({"CLUSTER", "KEYSLOT", "123456789"}).integer, 12739);
  EXPECT_EQ(c->call({"CLUSTER", "KEYSLOT", "{user1000}.following"}).integer, 3443);
  EXPECT_EQ(c->call({"CLUSTER", "KEYSLOT", "foo{}{bar}"}).integer, 8363);
  EXPECT_EQ(c->call({"CLUSTER", "KEYSLOT", ""}).integer, 0);
  EXPECT_EQ(c->call({"CLUSTER", "COUNTKEYSINSLOT", "16383"}).integer, 0);
  EXPECT_EQ(c->call({"CLUSTER", "GETKEYSINSLOT", "0", "10"}).elements.size(), 0u);
  EXPECT_EQ(c->call({"CLUSTER", "REPLICAS", id}).elements.size(), 0u);
  EXPECT_EQ(c->call({"CLUSTER", "SLAVES", id}).type, Type::kArray);
  EXPECT_EQ(c->call({"CLUSTER", "COUNT-FAILURE-REPORTS", id}).integer, 0);
  // Redis's errors, word for word.
  const std::pair<std::vector<std::string>, std::string> errors[] = {
      {{"CLUSTER", "COUNTKEYSINSLOT", "x"}, "ERR value is not an integer or out of range"},
      {{"CLUSTER", "COUNTKEYSINSLOT", "16384"}, "ERR Invalid slot"},
      {{"CLUSTER", "COUNTKEYSINSLOT", "-1"}, "ERR Invalid slot"},
      {{"CLUSTER", "GETKEYSINSLOT", "1", "x"}, "ERR value is not an integer or out of range"},
      {{"CLUSTER", "GETKEYSINSLOT", "1", "-1"}, "ERR Invalid slot or number of keys"},
      {{"CLUSTER", "GETKEYSINSLOT", "16384", "1"}, "ERR Invalid slot or number of keys"},
      {{"CLUSTER", "REPLICAS", "nosuch"}, "ERR Unknown node nosuch"},
      {{"CLUSTER", "COUNT-FAILURE-REPORTS", "x\ny"}, "ERR Unknown node x y"},
      {{"CLUSTER", "FOO"}, "ERR unknown subcommand 'FOO'. Try CLUSTER HELP."},
      {{"CLUSTER"}, "ERR wrong number of arguments for 'cluster' command"},
      {{"CLUSTER", "SLOTS", "x"}, "ERR wrong number of arguments for 'cluster|slots' command"},
      {{"CLUSTER", "KEYSLOT"}, "ERR wrong number of arguments for 'cluster|keyslot' command"},
      {{"CLUSTER", "MEET", "1.2.3.4"}, "ERR wrong number of arguments for 'cluster|meet' command"},
      {{"READONLY", "x"}, "ERR wrong number of arguments for 'readonly' command"},
      // What would change the cluster: Fanout's own words.
      {{"CLUSTER", "ADDSLOTS", "1"},
       "ERR CLUSTER ADDSLOTS is not supported by Fanout (it answers as one node that owns every slot, without a "
       "cluster bus)"},
      {{"cluster", "failover"},
       "ERR CLUSTER FAILOVER is not supported by Fanout (it answers as one node that owns every slot, without a "
       "cluster bus)"},
  };
  for (const auto& [args, want] : errors) {
    RespValue v = call(*c, args);
    EXPECT_EQ(v.type, Type::kError) << want;
    EXPECT_EQ(v.str, want);
  }
  RespValue help = c->call({"CLUSTER", "HELP"});
  ASSERT_GE(help.elements.size(), 3u);
  EXPECT_EQ(help.elements[0].str, "CLUSTER <subcommand> [<arg> [value] [opt] ...]. Subcommands are:");
  EXPECT_EQ(help.elements.back().str, "    Prints this help.");
  // As Redis: RESP2's subscribed context refuses it, MULTI queues it.
  auto sub = client();
  subscribe(*sub, "SUBSCRIBE", "x");
  EXPECT_EQ(sub->call({"CLUSTER", "SLOTS"}).str,
            "ERR Can't execute 'cluster|slots': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are "
            "allowed in this context");
  EXPECT_EQ(c->call({"MULTI"}).str, "OK");
  EXPECT_EQ(c->call({"CLUSTER", "KEYSLOT", "foo"}).str, "QUEUED");
  RespValue exec = c->call({"EXEC"});
  ASSERT_EQ(exec.elements.size(), 1u);
  EXPECT_EQ(exec.elements[0].integer, 12182);
}

TEST_P(ClusterTest, AClientIsToldTheAddressItReached) {
  cfg.bind = "127.0.0.1 ::1";
  cfg.unixsocket = "/tmp/fanout-cluster-test-" + std::to_string(getpid()) + ".sock";
  start();
  auto v4 = client();
  auto v6 = TestClient::connect_ipv6_loopback(port);
  auto local = TestClient::connect_unix(cfg.unixsocket);
  ASSERT_NE(v6, nullptr);
  ASSERT_NE(local, nullptr);
  const std::string id = v4->call({"CLUSTER", "MYID"}).str;
  EXPECT_EQ(exchange(*v6, {"CLUSTER", "SLOTS"}, slots_reply(id, "::1", port, 2)), slots_reply(id, "::1", port, 2));
  EXPECT_EQ(v6->call({"CLUSTER", "NODES"}).str, nodes_line(id, "::1", port));
  EXPECT_EQ(v4->call({"CLUSTER", "NODES"}).str, nodes_line(id, "127.0.0.1", port));
  // A unix socket has no address: "" (as Redis gives when it knows none) and the TCP port.
  EXPECT_EQ(exchange(*local, {"CLUSTER", "SLOTS"}, slots_reply(id, "", port, 2)), slots_reply(id, "", port, 2));
}

TEST_P(ClusterTest, AnnouncedAddressAndPortAreRedisSettingsChangedLive) {
  cfg.cluster_announce_ip = "10.1.2.3";
  cfg.cluster_announce_port = 7000;
  start();
  auto c = client();
  const std::string id = c->call({"CLUSTER", "MYID"}).str;
  EXPECT_EQ(exchange(*c, {"CLUSTER", "SLOTS"}, slots_reply(id, "10.1.2.3", 7000, 2)),
            slots_reply(id, "10.1.2.3", 7000, 2));
  EXPECT_EQ(c->call({"CONFIG", "SET", "cluster-announce-ip", "fd00::7", "cluster-announce-port", "0"}).str, "OK");
  EXPECT_EQ(exchange(*c, {"CLUSTER", "SHARDS"}, shards_reply(id, "fd00::7", port, 2)),
            shards_reply(id, "fd00::7", port, 2));
  EXPECT_EQ(client()->call({"CLUSTER", "NODES"}).str, nodes_line(id, "fd00::7", port));  // every shard
  RespValue got = c->call({"CONFIG", "GET", "cluster-announce-*"});
  ASSERT_EQ(got.elements.size(), 6u);
  EXPECT_EQ(got.elements[0].str, "cluster-announce-ip");
  EXPECT_EQ(got.elements[1].str, "fd00::7");
  RespValue bad = c->call({"CONFIG", "SET", "cluster-announce-ip", "a b"});
  EXPECT_EQ(bad.type, Type::kError);
  EXPECT_NE(bad.str.find("--cluster-announce-ip must be an address of at most 45 printable characters"),
            std::string::npos)
      << bad.str;
  // As in Redis, cluster-enabled is set at start only.
  EXPECT_EQ(c->call({"CONFIG", "SET", "cluster-enabled", "no"}).str,
            "ERR CONFIG SET failed (possibly related to argument 'cluster-enabled') - can't set immutable config");
}

TEST_P(ClusterTest, InfoHelloAndConfigSayClusterModeAndNoSaysStandalone) {
  start();
  auto c = client();
  std::string info = c->call({"INFO"}).str;
  EXPECT_EQ(info_text(info, "cluster_enabled"), "1");  // redis-py's RedisCluster checks it
  EXPECT_EQ(info_text(info, "redis_mode"), "cluster");
  RespValue hello = c->call({"HELLO", "3"});
  ASSERT_EQ(hello.elements.size(), 14u);
  EXPECT_EQ(hello.elements[8].str, "mode");
  EXPECT_EQ(hello.elements[9].str, "cluster");
  EXPECT_EQ(c->call({"CONFIG", "GET", "cluster-enabled"}).elements[1].str, "yes");
  stop();

  cfg.cluster_enabled = false;
  start();
  c = client();
  info = c->call({"INFO"}).str;
  EXPECT_EQ(info_text(info, "cluster_enabled"), "0");
  EXPECT_EQ(info_text(info, "redis_mode"), "standalone");
  hello = c->call({"HELLO", "3"});
  ASSERT_EQ(hello.elements.size(), 14u);
  EXPECT_EQ(hello.elements[9].str, "standalone");
  EXPECT_EQ(c->call({"CONFIG", "GET", "cluster-enabled"}).elements[1].str, "no");
  for (const std::vector<std::string>& args : std::vector<std::vector<std::string>>{
           {"CLUSTER", "INFO"}, {"CLUSTER", "SLOTS"}, {"READONLY"}, {"READWRITE"}}) {
    EXPECT_EQ(call(*c, args).str, "ERR This instance has cluster support disabled") << args[0];
  }
  // Redis's command table checks come first, as there.
  EXPECT_EQ(c->call({"CLUSTER", "FOO"}).str, "ERR unknown subcommand 'FOO'. Try CLUSTER HELP.");
}

TEST_P(ClusterTest, AclRightsArePerSubcommandInRedisCategories) {
  cfg.acl_rules =
      "user admin on >pw +@all allchannels\n"
      "user client on >pw +@all -cluster|nodes allchannels\n"
      "user conn on >pw +@connection\n";
  start();
  auto c = client();
  ASSERT_EQ(c->call({"AUTH", "client", "pw"}).str, "OK");
  EXPECT_EQ(c->call({"CLUSTER", "SLOTS"}).type, Type::kArray);
  EXPECT_EQ(c->call({"CLUSTER", "NODES"}).str, "NOPERM this user has no permissions to run the 'cluster|nodes' command");
  // READONLY is @fast @connection; the CLUSTER subcommands Fanout answers are @slow only.
  auto conn = client();
  ASSERT_EQ(conn->call({"AUTH", "conn", "pw"}).str, "OK");
  EXPECT_EQ(conn->call({"READONLY"}).str, "OK");
  EXPECT_EQ(conn->call({"CLUSTER", "INFO"}).str,
            "NOPERM this user has no permissions to run the 'cluster|info' command");
  auto admin = client();
  ASSERT_EQ(admin->call({"AUTH", "admin", "pw"}).str, "OK");
  EXPECT_EQ(admin->call({"ACL", "DRYRUN", "client", "cluster", "shards"}).str, "OK");
  EXPECT_EQ(admin->call({"ACL", "DRYRUN", "client", "cluster", "nodes"}).str,
            "This user has no permissions to run the 'cluster|nodes' command");
  RespValue log = admin->call({"ACL", "LOG", "1"});  // the latest denial, of CLUSTER INFO
  ASSERT_EQ(log.elements.size(), 1u);
  bool named = false;
  for (const RespValue& v : log.elements[0].elements) named |= v.str == "cluster|info";
  EXPECT_TRUE(named);
  RespValue cat = admin->call({"ACL", "CAT", "slow"});
  std::set<std::string> slow;
  for (const RespValue& v : cat.elements) slow.insert(v.str);
  EXPECT_TRUE(slow.count("cluster|slots")) << "ACL CAT lists what Fanout answers";
  EXPECT_FALSE(slow.count("cluster|addslots"));
  // Of those, Redis 7.0 puts only the ones naming a node in @admin (and @dangerous).
  std::set<std::string> admin_cluster;
  for (const RespValue& v : admin->call({"ACL", "CAT", "admin"}).elements) {
    if (v.str.starts_with("cluster|")) admin_cluster.insert(v.str);
  }
  EXPECT_EQ(admin_cluster,
            (std::set<std::string>{"cluster|count-failure-reports", "cluster|replicas", "cluster|slaves"}));
}

TEST_P(ClusterTest, CommandTablesListClusterWithTheSubcommandsFanoutAnswers) {
  start();
  auto c = client();
  EXPECT_EQ(c->call({"COMMAND", "COUNT"}).integer, 29);
  RespValue info = c->call({"COMMAND", "INFO", "cluster", "readonly", "readwrite"});
  ASSERT_EQ(info.elements.size(), 3u);
  EXPECT_EQ(info.elements[0].elements[0].str, "cluster");
  std::set<std::string> subs;
  for (const RespValue& s : info.elements[0].elements[9].elements) subs.insert(s.elements[0].str);
  EXPECT_EQ(subs, (std::set<std::string>{"cluster|count-failure-reports", "cluster|countkeysinslot",
                                         "cluster|getkeysinslot", "cluster|help", "cluster|info", "cluster|keyslot",
                                         "cluster|links", "cluster|myid", "cluster|nodes", "cluster|replicas",
                                         "cluster|shards", "cluster|slaves", "cluster|slots"}));
  EXPECT_EQ(info.elements[1].elements[0].str, "readonly");
  EXPECT_EQ(info.elements[2].elements[0].str, "readwrite");
  RespValue docs = c->call({"COMMAND", "DOCS", "cluster"});
  ASSERT_EQ(docs.elements.size(), 2u);
  EXPECT_EQ(docs.elements[0].str, "cluster");
  RespValue list = c->call({"COMMAND", "LIST", "FILTERBY", "PATTERN", "cluster|s*"});
  std::set<std::string> listed;
  for (const RespValue& v : list.elements) listed.insert(v.str);
  EXPECT_EQ(listed, (std::set<std::string>{"cluster|shards", "cluster|slaves", "cluster|slots"}));
  EXPECT_EQ(c->call({"CLUSTER", "SLOTS"}).type, Type::kArray);
  std::string stats = c->call({"INFO", "commandstats"}).str;
  EXPECT_NE(stats.find("cmdstat_cluster|slots:calls=1,"), std::string::npos) << stats;
}

INSTANTIATE_TEST_SUITE_P(Backends, ClusterTest, ::testing::ValuesIn(kBackends),
                         [](const auto& info) { return info.param; });

}  // namespace
}  // namespace fanout::test
