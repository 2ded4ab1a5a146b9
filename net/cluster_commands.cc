// CLUSTER, READONLY and READWRITE: Fanout answers as a Redis Cluster of one node (this server)
// that owns every slot, 0 to 16383, so cluster clients (ioredis Cluster, redis-py RedisCluster,
// redis-cli -c) connect and send every command here. There is no cluster bus, no replica and no
// resharding: the subcommands that change the cluster are refused. The replies are Redis 7.0.15's
// (cluster.c clusterCommand, clusterReplyMultiBulkSlots, addNodeToNodeReply,
// addNodeDetailsToShardReply, clusterGenNodeDescription), checked byte for byte against a
// redis-server with cluster-enabled yes owning every slot (tests/compat/cluster_clients_test.py).
// With cluster-enabled no, they are a standalone Redis's error. Thread: the client's shard.
#include <openssl/rand.h>

#include <random>
#include <string>

#include "core/cluster_slot.h"
#include "core/resp_writer.h"
#include "net/command_util.h"
#include "net/shard_core.h"
#include "net/socket.h"

namespace fanout {
namespace {

using Args = std::span<const std::string_view>;

constexpr std::string_view kDisabled = "ERR This instance has cluster support disabled";

// Redis 7.0.15's CLUSTER HELP lines for the subcommands Fanout answers, in Redis's order.
constexpr const char* kClusterHelp[] = {
    "CLUSTER <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "COUNT-FAILURE-REPORTS <node-id>",
    "    Return number of failure reports for <node-id>.",
    "COUNTKEYSINSLOT <slot>",
    "    Return the number of keys in <slot>.",
    "GETKEYSINSLOT <slot> <count>",
    "    Return key names stored by current node in a slot.",
    "INFO",
    "    Return information about the cluster.",
    "KEYSLOT <key>",
    "    Return the hash slot for <key>.",
    "MYID",
    "    Return the node id.",
    "NODES",
    "    Return cluster configuration seen by node. Output format:",
    "    <id> <ip:port> <flags> <master> <pings> <pongs> <epoch> <link> <slot> ...",
    "REPLICAS <node-id>",
    "    Return <node-id> replicas.",
    "SLOTS",
    "    Return information about slots range mappings. Each range is made of:",
    "    start, end, master and replicas IP addresses, ports and ids",
    "SHARDS",
    "    Return information about slot range mappings and the nodes associated with them.",
    "LINKS",
    "    Return information about all network links between this node and its peers.",
    "    Output format is an array where each array element is a map containing attributes of a link",
    "HELP",
    "    Prints this help.",
};

// CLUSTER INFO of a healthy one-node cluster (cluster.c, the "info" branch): every slot assigned
// and ok, no bus messages. The epochs are 0, as on a node that was given its slots with
// CLUSTER ADDSLOTS and never failed over.
constexpr std::string_view kClusterInfo =
    "cluster_state:ok\r\n"
    "cluster_slots_assigned:16384\r\n"
    "cluster_slots_ok:16384\r\n"
    "cluster_slots_pfail:0\r\n"
    "cluster_slots_fail:0\r\n"
    "cluster_known_nodes:1\r\n"
    "cluster_size:1\r\n"
    "cluster_current_epoch:0\r\n"
    "cluster_my_epoch:0\r\n"
    "cluster_stats_messages_sent:0\r\n"
    "cluster_stats_messages_received:0\r\n"
    "total_cluster_links_buffer_limit_exceeded:0\r\n";

// Redis's getLongLongFromObjectOrReply and the slot checks of COUNTKEYSINSLOT and GETKEYSINSLOT.
constexpr std::string_view kNotInteger = "ERR value is not an integer or out of range";

// A subcommand's name as an error shows it ("ADDSLOTS"): one of Redis's, so ASCII.
std::string upper(std::string_view s) {
  std::string u(s);
  for (char& ch : u) ch = ch >= 'a' && ch <= 'z' ? static_cast<char>(ch - 32) : ch;
  return u;
}

}  // namespace

std::string make_cluster_node_id() {
  unsigned char bytes[20];
  if (RAND_bytes(bytes, sizeof(bytes)) != 1) {
    // OpenSSL's generator failed (it reports why in its error queue): the kernel's, as INFO run_id.
    std::random_device rd;
    for (unsigned char& b : bytes) b = static_cast<unsigned char>(rd());
  }
  static constexpr char kHex[] = "0123456789abcdef";
  std::string id;
  for (unsigned char b : bytes) {
    id += kHex[b >> 4];
    id += kHex[b & 15];
  }
  return id;
}

ShardCore::ClusterEndpoint ShardCore::cluster_endpoint(Conn* c) const {
  ClusterEndpoint e;
  e.plain_port = cfg_.cluster_announce_port != 0 ? cfg_.cluster_announce_port : shared_->port;
  e.tls_port = shared_->tls_port == 0               ? 0
               : cfg_.cluster_announce_tls_port != 0 ? cfg_.cluster_announce_tls_port
                                                     : shared_->tls_port;
  // As Redis with tls-cluster yes: a TLS client is given the TLS port, a plaintext one the
  // plaintext port (a unix socket client too, or the TLS port when there is no plaintext port).
  e.port = c->tls ? e.tls_port : (e.plain_port != 0 ? e.plain_port : e.tls_port);
  // The address the client reached this server at (Redis announces the one its peers saw it
  // at). A unix socket client gets "", as Redis gives when it does not know its address: redis-py
  // then keeps the address it connected to.
  if (!cfg_.cluster_announce_ip.empty()) {
    e.ip = cfg_.cluster_announce_ip;
  } else if (!c->local) {
    e.ip = socket_local_ip(c->fd);
  }
  return e;
}

// CLUSTER SLOTS (clusterReplyMultiBulkSlots, addNodeToNodeReply with cluster-preferred-endpoint-type
// ip and no hostname): one range, 0-16383, served by this node and no replica:
//   *1 *3 :0 :16383 *4 $ip :port $id %0     (the last map empty; RESP2: *0)
void ShardCore::cluster_slots(Conn* c) {
  const ClusterEndpoint e = cluster_endpoint(c);
  resp::array(c->out, 1);
  resp::array(c->out, 3);
  resp::integer(c->out, 0);
  resp::integer(c->out, kClusterSlots - 1);
  resp::array(c->out, 4);
  resp::bulk(c->out, e.ip);
  resp::integer(c->out, e.port);
  resp::bulk(c->out, shared_->cluster_node_id);
  resp::map(c->out, 0, c->proto);
}

// CLUSTER SHARDS (clusterReplyShards, addShardReplyForClusterShards, addNodeDetailsToShardReply):
// one shard, a map of "slots" [0, 16383] and "nodes", whose one node is a map of id, port (when
// there is a plaintext port), tls-port (when there is a TLS port: Redis gives both with
// tls-cluster yes), ip, endpoint (the ip), role master, replication-offset 0, health online.
// RESP2 writes each map as a flat array.
void ShardCore::cluster_shards(Conn* c) {
  const ClusterEndpoint e = cluster_endpoint(c);
  resp::array(c->out, 1);
  resp::map(c->out, 2, c->proto);
  resp::bulk(c->out, "slots");
  resp::array(c->out, 2);
  resp::integer(c->out, 0);
  resp::integer(c->out, kClusterSlots - 1);
  resp::bulk(c->out, "nodes");
  resp::array(c->out, 1);
  resp::map(c->out, 6 + (e.plain_port != 0) + (e.tls_port != 0), c->proto);
  resp::bulk(c->out, "id");
  resp::bulk(c->out, shared_->cluster_node_id);
  if (e.plain_port != 0) {
    resp::bulk(c->out, "port");
    resp::integer(c->out, e.plain_port);
  }
  if (e.tls_port != 0) {
    resp::bulk(c->out, "tls-port");
    resp::integer(c->out, e.tls_port);
  }
  resp::bulk(c->out, "ip");
  resp::bulk(c->out, e.ip);
  resp::bulk(c->out, "endpoint");
  resp::bulk(c->out, e.ip);
  resp::bulk(c->out, "role");
  resp::bulk(c->out, "master");
  resp::bulk(c->out, "replication-offset");
  resp::integer(c->out, 0);
  resp::bulk(c->out, "health");
  resp::bulk(c->out, "online");
}

// CLUSTER NODES (clusterGenNodeDescription): one line, verbatim text in RESP3,
//   <id> <ip>:<port>@0 myself,master - 0 0 0 connected 0-16383\n
// The bus port is 0: Fanout has no cluster bus (Redis writes port + 10000 for its own).
std::string ShardCore::cluster_nodes_line(Conn* c) const {
  const ClusterEndpoint e = cluster_endpoint(c);
  return shared_->cluster_node_id + " " + e.ip + ":" + std::to_string(e.port) +
         "@0 myself,master - 0 0 0 connected 0-" + std::to_string(kClusterSlots - 1);
}

void ShardCore::cmd_cluster(Conn* c, Args args) {
  if (!cfg_.cluster_enabled) return reply_error(c, kDisabled);
  const std::string_view sub = args[1];
  // Subcommands that name a node: only this one exists (cluster.c clusterLookupNode).
  auto is_myself = [&](std::string_view id) { return id == shared_->cluster_node_id; };
  auto unknown_node = [&](std::string_view id) { reply_error(c, sanitize("ERR Unknown node " + std::string(id))); };
  if (iequals(sub, "slots")) {
    cluster_slots(c);
  } else if (iequals(sub, "shards")) {
    cluster_shards(c);
  } else if (iequals(sub, "nodes")) {
    resp::verbatim(c->out, cluster_nodes_line(c) + "\n", c->proto);
  } else if (iequals(sub, "info")) {
    resp::verbatim(c->out, kClusterInfo, c->proto);
  } else if (iequals(sub, "myid")) {
    resp::bulk(c->out, shared_->cluster_node_id);
  } else if (iequals(sub, "keyslot")) {
    resp::integer(c->out, key_hash_slot(args[2]));
  } else if (iequals(sub, "countkeysinslot")) {
    long long slot;
    if (!parse_ll(args[2], &slot)) return reply_error(c, kNotInteger);
    if (slot < 0 || slot >= kClusterSlots) return reply_error(c, "ERR Invalid slot");
    resp::integer(c->out, 0);  // Fanout stores no keys
  } else if (iequals(sub, "getkeysinslot")) {
    long long slot, count;
    if (!parse_ll(args[2], &slot) || !parse_ll(args[3], &count)) return reply_error(c, kNotInteger);
    if (slot < 0 || slot >= kClusterSlots || count < 0) return reply_error(c, "ERR Invalid slot or number of keys");
    resp::array(c->out, 0);
  } else if (iequals(sub, "links")) {
    resp::array(c->out, 0);  // no peers
  } else if (iequals(sub, "replicas") || iequals(sub, "slaves")) {
    if (!is_myself(args[2])) return unknown_node(args[2]);
    resp::array(c->out, 0);
  } else if (iequals(sub, "count-failure-reports")) {
    if (!is_myself(args[2])) return unknown_node(args[2]);
    resp::integer(c->out, 0);
  } else if (iequals(sub, "help")) {
    reply_help(c, kClusterHelp);
  } else {
    // Redis 7.0's other subcommands (ADDSLOTS, MEET, SETSLOT, FAILOVER, RESET...: the dispatch has
    // checked the name and arity) change a cluster Fanout only emulates.
    reply_error(c, "ERR CLUSTER " + upper(sub) +
                       " is not supported by Fanout (it answers as one node that owns every slot, without a "
                       "cluster bus)");
  }
}

// READONLY and READWRITE (cluster.c readonlyCommand, readwriteCommand): +OK in cluster mode
// (every command may be read here: there are no replicas to redirect to).
void ShardCore::cmd_readonly(Conn* c) {
  if (!cfg_.cluster_enabled) return reply_error(c, kDisabled);
  resp::simple(c->out, "OK");
}

}  // namespace fanout
