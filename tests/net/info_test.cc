// INFO with Redis's sections and fields, CONFIG GET with Redis's names, CONFIG RESETSTAT on every
// shard, and LATENCY/SLOWLOG answered as a Redis with nothing recorded: the figures tools such as
// redis-cli --stat and prometheus-redis-exporter read. Both backends.
#include <map>
#include <set>
#include <thread>

#include "tests/net/server_fixture.h"
#include "tests/net/subscribers.h"

namespace fanout::test {
namespace {

using Type = RespValue::Type;

// The value of "name:value" in INFO text, or "<missing>".
std::string info_text(const std::string& info, std::string_view name) {
  std::string key = "\r\n" + std::string(name) + ":";
  size_t at = info.find(key);
  if (at == std::string::npos) return "<missing>";
  at += key.size();
  return info.substr(at, info.find("\r\n", at) - at);
}

class InfoTest : public ServerTest {};

TEST_P(InfoTest, RedisSectionsAndFields) {
  cfg.shards = 3;
  start();
  auto c = client();
  std::string def = c->call({"INFO"}).str;
  for (std::string_view section : {"# Server", "# Clients", "# Memory", "# Persistence", "# Stats", "# Replication",
                                   "# CPU", "# Errorstats", "# Cluster", "# Keyspace", "# Backpressure"}) {
    EXPECT_NE(def.find(section), std::string::npos) << section;
  }
  // Not in the default set, as in Redis.
  EXPECT_EQ(def.find("# Commandstats"), std::string::npos);
  EXPECT_EQ(def.find("# Latencystats"), std::string::npos);
  for (std::string_view field : {"redis_version", "process_id", "run_id", "tcp_port", "uptime_in_seconds", "executable",
                                 "connected_clients", "maxclients", "client_recent_max_output_buffer", "blocked_clients",
                                 "used_memory", "used_memory_rss", "used_memory_peak", "total_connections_received",
                                 "total_commands_processed", "instantaneous_ops_per_sec", "total_net_input_bytes",
                                 "total_net_output_bytes", "rejected_connections", "total_error_replies",
                                 "used_cpu_sys", "used_cpu_user", "role", "cluster_enabled"}) {
    EXPECT_NE(info_text(def, field), "<missing>") << field;
  }
  EXPECT_EQ(info_text(def, "tcp_port"), std::to_string(port));
  EXPECT_GT(std::stoll(info_text(def, "used_memory")), 0);
  EXPECT_EQ(info_text(def, "run_id").size(), 40u);
  // Commands on every shard, counted in commandstats, errorstats and latencystats.
  std::vector<std::unique_ptr<TestClient>> clients;
  for (int i = 0; i < 6; ++i) {
    clients.push_back(client());
    EXPECT_EQ(clients.back()->call({"PUBLISH", "x", "y"}).integer, 0);
    EXPECT_EQ(clients.back()->call({"PUBLISH", "x"}).type, Type::kError);  // arity: rejected
    EXPECT_EQ(clients.back()->call({"NOSUCH"}).type, Type::kError);
    EXPECT_EQ(clients.back()->call({"SELECT", "99"}).type, Type::kError);  // ran, failed
  }
  std::string all = c->call({"INFO", "all"}).str;
  EXPECT_EQ(info_text(all, "cmdstat_publish").substr(0, 9), "calls=6,u");
  EXPECT_NE(info_text(all, "cmdstat_publish").find(",rejected_calls=6,failed_calls=0"), std::string::npos)
      << info_text(all, "cmdstat_publish");
  EXPECT_NE(info_text(all, "cmdstat_select").find("calls=6,"), std::string::npos);
  EXPECT_NE(info_text(all, "cmdstat_select").find(",failed_calls=6"), std::string::npos);
  EXPECT_EQ(info_text(all, "errorstat_ERR"), "count=18");
  EXPECT_NE(info_text(all, "latency_percentiles_usec_publish").find("p50="), std::string::npos);
  EXPECT_NE(info_text(all, "latency_percentiles_usec_publish").find(",p99.9="), std::string::npos);
  EXPECT_EQ(c->call({"INFO", "commandstats"}).str.find("# Server"), std::string::npos);
  EXPECT_EQ(info_text(all, "pubsubshard_channels"), "0");  // Redis 7.0's name
  // LATENCY HISTOGRAM: calls and a cumulative histogram at powers of two, from every shard.
  RespValue hist = c->call({"LATENCY", "HISTOGRAM", "publish"});
  ASSERT_EQ(hist.elements.size(), 2u);  // RESP2: name, then its map as an array
  EXPECT_EQ(hist.elements[0].str, "publish");
  ASSERT_EQ(hist.elements[1].elements.size(), 4u);
  EXPECT_EQ(hist.elements[1].elements[1].integer, 6);
  const auto& buckets = hist.elements[1].elements[3].elements;
  ASSERT_GE(buckets.size(), 2u);
  EXPECT_EQ(buckets.back().integer, 6);  // cumulative: the last bucket counts every call
  // RESETSTAT resets every shard's counters.
  EXPECT_EQ(c->call({"CONFIG", "RESETSTAT"}).str, "OK");
  all = c->call({"INFO", "all"}).str;
  EXPECT_EQ(info_text(all, "cmdstat_publish"), "<missing>");
  EXPECT_EQ(info_text(all, "errorstat_ERR"), "<missing>");
  EXPECT_EQ(info_text(all, "total_error_replies"), "0");
  EXPECT_EQ(info_text(all, "latency_percentiles_usec_publish"), "<missing>");
  EXPECT_LE(std::stoll(info_text(all, "total_commands_processed")), 2);  // RESETSTAT and this INFO
}

TEST_P(InfoTest, ConfigGetLatencyAndSlowlogAnswerAsRedis) {
  cfg.max_clients = 1234;
  cfg.output.hard_bytes = 1 << 20;
  start();
  auto c = client();
  RespValue v = c->call({"CONFIG", "GET", "maxclients"});
  ASSERT_EQ(v.elements.size(), 2u);
  EXPECT_EQ(v.elements[1].str, "1234");
  v = c->call({"CONFIG", "GET", "CLIENT-OUTPUT-*", "maxclients", "save", "appendonly"});
  ASSERT_EQ(v.elements.size(), 8u);
  EXPECT_EQ(v.elements[1].str, "1234");
  EXPECT_EQ(v.elements[3].str, "normal 0 0 0 slave 268435456 67108864 60 pubsub 1048576 " +
                                   std::to_string(cfg.output.soft_bytes) + " " + std::to_string(cfg.output.soft_ms / 1000));
  EXPECT_EQ(c->call({"CONFIG", "GET", "fanout-shards"}).elements[1].str, "2");
  EXPECT_EQ(c->call({"CONFIG", "GET", "nothing-like-this"}).elements.size(), 0u);
  EXPECT_EQ(c->call({"CONFIG", "GET"}).str, "ERR wrong number of arguments for 'config|get' command");
  EXPECT_EQ(c->call({"LATENCY", "LATEST"}).elements.size(), 0u);
  EXPECT_EQ(c->call({"SLOWLOG", "LEN"}).integer, 0);
  EXPECT_EQ(c->call({"SLOWLOG", "GET", "10"}).elements.size(), 0u);
  EXPECT_EQ(c->call({"SLOWLOG", "RESET"}).str, "OK");
  EXPECT_EQ(c->call({"LATENCY", "NOPE"}).str, "ERR unknown subcommand 'NOPE'. Try LATENCY HELP.");
}

// CONFIG SET from clients on different shards at once: every shard ends on the same, latest
// configuration (a change crossing an older one in the rings never wins), each reply comes only
// once every shard has the change, and open clients' request limits follow proto-max-bulk-len.
TEST_P(InfoTest, ConcurrentConfigSetsLeaveEveryShardOnTheLatest) {
  cfg.shards = 3;
  start();
  std::vector<std::unique_ptr<TestClient>> clients;
  std::map<std::string, TestClient*> by_shard;
  for (int i = 0; i < 24 && by_shard.size() < 3; ++i) {
    clients.push_back(client());
    std::string info = clients.back()->call({"CLIENT", "INFO"}).str;
    size_t at = info.find(" shard=");
    by_shard.emplace(info.substr(at + 7, info.find(' ', at + 7) - at - 7), clients.back().get());
  }
  ASSERT_EQ(by_shard.size(), 3u);
  std::vector<std::thread> setters;
  int t = 0;
  for (auto& [shard, c] : by_shard) {
    setters.emplace_back([c = c, t] {
      for (int i = 0; i < 200; ++i) {
        const std::string v = std::to_string(1000 + t * 1000 + i);
        RespValue r = c->call({"CONFIG", "SET", "timeout", v, "fanout-client-max-messages", v});
        ASSERT_EQ(r.str, "OK") << r.str;
        // The reply means every shard has it (or a later change).
        ASSERT_NE(c->call({"CONFIG", "GET", "timeout"}).elements[1].str, "0");
      }
    });
    ++t;
  }
  for (auto& s : setters) s.join();
  std::set<std::string> seen;
  for (auto& [shard, c] : by_shard) {
    RespValue v = c->call({"CONFIG", "GET", "timeout", "fanout-client-max-messages"});
    ASSERT_EQ(v.elements.size(), 4u);
    EXPECT_EQ(v.elements[1].str, v.elements[3].str) << "shard " << shard << " has half of one CONFIG SET";
    seen.insert(v.elements[1].str);
  }
  EXPECT_EQ(seen.size(), 1u) << "shards disagree";
  // A limit an open client is held to changes with it.
  auto open = client();
  EXPECT_EQ(open->call({"CONFIG", "SET", "proto-max-bulk-len", "1kb"}).str, "OK");
  open->send_raw("*2\r\n$4\r\nECHO\r\n$2000\r\n");
  RespValue r;
  ASSERT_TRUE(open->read(&r));
  EXPECT_EQ(r.str, "ERR Protocol error: invalid bulk length");
}

INSTANTIATE_TEST_SUITE_P(Backends, InfoTest, ::testing::ValuesIn(kBackends),
                         [](const auto& info) { return info.param; });

}  // namespace
}  // namespace fanout::test
