// What the shards of one server share: read-only config, the shard-to-shard rings (an N×N
// matrix of SPSC rings, ring(src, dst), each growing on demand up to --mailbox-depth), each
// shard's topic table (read lock-free for PUBLISH counts, under QSBR), statistics, and a few
// process-wide atomics. Built by the Broker before any shard thread starts; outlives them all.
#pragma once

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "core/acl.h"
#include "core/acl_log.h"
#include "core/message.h"
#include "core/qsbr.h"
#include "core/spsc_ring.h"
#include "core/topic_table.h"
#include "net/acl_authority.h"
#include "net/config.h"
#include "net/stats.h"
#include "net/tls_context.h"
#include "net/upstream.h"

namespace fanout {

struct AdminRequest;

// What the rings carry: a message to deliver, a block going back to its shard, or a command
// every shard answers (net/admin.h), on its way out (kAdmin) or back (kAdminDone).
struct MailItem {
  // kUpstreamInterest: a shard's first or last local subscriber of a topic, for the shard that
  // owns its upstream subscription (net/upstream.h); the receiver frees it.
  enum Kind : uint8_t { kPublish = 0, kReturn = 1, kAdmin = 2, kAdminDone = 3, kUpstreamInterest = 4 };
  Kind kind = kPublish;
  union {
    Block* block = nullptr;
    AdminRequest* admin;
    UpstreamInterestItem* interest;
  };
};

// One channel's figures, for FANOUT TOPCHANNELS and /metrics (net/top_channels.h).
struct ChannelFigures {
  std::string name;
  uint64_t messages = 0;     // delivered on the channel (on the shard that delivered the most)
  uint64_t bytes = 0;        // their RESP2 message frames: what each subscriber is charged
  uint64_t subscribers = 0;  // now, on every shard
};

// The top list /metrics shows, which shard 0 refreshes: readers load the pointer and use it until
// their next quiescent state; shard 0 retires the one it replaces (QSBR).
struct TopChannelsSnapshot {
  std::vector<ChannelFigures> channels;  // most first
};

// What a shard's drain left undelivered when it met --shutdown-timeout-ms.
struct DrainShortfall {
  std::atomic<uint64_t> clients{0}, bytes{0};
};

// A new Redis Cluster node id: 40 lowercase hex digits from OpenSSL's RAND_bytes (cluster.c
// getRandomHexChars makes Redis's). Thread: any (net/cluster_commands.cc).
std::string make_cluster_node_id();

struct SharedState {
  // `a`: the rules at start, built from c's aclfile, acl_rules and requirepass (build_acl).
  SharedState(const ServerConfig& c, int n, Acl a)
      : cfg(c),
        config(c),
        acl(AclSources{c.aclfile, c.acl_rules, c.requirepass}, std::move(a)),
        nshards(n),
        qsbr(n),
        tables(n, nullptr),
        stats(n),
        wake_fds(n, -1),
        draining_shards(n) {
    for (int i = 0; i < n * n; ++i) {
      rings.emplace_back(i / n == i % n ? nullptr : new SpscRing<MailItem>(c.mailbox_depth));
    }
  }
  ~SharedState() { delete top_channels.load(std::memory_order_relaxed); }
  SharedState(const SharedState&) = delete;
  SharedState& operator=(const SharedState&) = delete;
  SpscRing<MailItem>& ring(int src, int dst) { return *rings[src * nshards + dst]; }

  DeliveryTotals deliveries() const {
    DeliveryTotals t;
    for (const ShardStats& s : stats) {
      t.due += s.deliveries_due.get();
      t.sent += s.deliveries_sent.get();
      t.dropped_newest += s.dropped_newest.get();
      t.dropped_oldest += s.dropped_oldest.get();
      t.discarded += s.deliveries_discarded.get();
      t.queued += s.deliveries_queued.get();
    }
    return t;
  }
  // The largest value of one counter (a per-shard maximum or gauge) over every shard.
  uint64_t max(Counter ShardStats::*f) const {
    uint64_t m = 0;
    for (const ShardStats& s : stats) m = std::max(m, (s.*f).get());
    return m;
  }
  // Sum of one counter over every shard.
  uint64_t sum(Counter ShardStats::*f) const {
    uint64_t t = 0;
    for (const ShardStats& s : stats) t += (s.*f).get();
    return t;
  }
  uint64_t sum(Counter BackendCounters::*f) const {
    uint64_t t = 0;
    for (const ShardStats& s : stats) t += (s.backend.*f).get();
    return t;
  }

  const ServerConfig& cfg;  // as started: what cannot change live (rings, backend, shards) reads this
  // The configuration as CONFIG SET last left it, and how many CONFIG SETs made it. A shard runs
  // on its own copy (ShardCore::cfg_); this one is what the next CONFIG SET starts from and what
  // CONFIG REWRITE writes. Under config_mu, which CONFIG SET holds while it validates and stores.
  std::mutex config_mu;
  ServerConfig config;
  uint64_t config_version = 0;
  uint64_t reserved_descriptors = 0;  // besides the clients' (Broker::reserved_descriptors)
  // Users and their rights: the authoritative snapshot, changed under its mutex; each shard reads
  // its own copy (ShardCore::acl_), swapped in at a loop boundary.
  AclAuthority acl;
  // ACL LOG: one log for every shard's denials, so any client sees them all, grouped as Redis
  // groups them. Denials are rare (and cost a CLIENT LIST line each, as in Redis): one mutex.
  std::mutex acl_log_mu;
  AclLog acl_log;  // under acl_log_mu
  // SIGHUP (Broker::reload_acl): shard 0 reloads the ACL file at its next iteration.
  std::atomic<bool> acl_reload_requested{false};
  const int nshards;
  Qsbr qsbr;
  std::vector<TopicTable*> tables;
  std::vector<ShardStats> stats;
  std::vector<std::unique_ptr<SpscRing<MailItem>>> rings;
  std::vector<int> wake_fds;
  std::atomic<uint64_t> clients{0};           // RESP connections (connected_clients)
  std::atomic<uint64_t> http_connections{0};  // the metrics endpoint's, at most kMaxHttpConnections
  std::atomic<uint64_t> next_client_id{1};
  std::atomic<bool> stopping{false};
  std::atomic<int> draining_shards;  // shards whose clients are not all closed since the stop
  DrainShortfall undelivered;
  int64_t start_ms = 0;
  std::string run_id;  // 40 random hex digits, new at every start (INFO run_id, as Redis)
  // CLUSTER MYID: this server's node id, the same on every shard, new at every start.
  const std::string cluster_node_id = make_cluster_node_id();
  // INFO used_memory_peak: the most used_memory() seen, by INFO or by shard 0's sample each
  // second (as Redis's cron samples it). Returns the peak including `used`. Thread: any.
  uint64_t note_used_memory(uint64_t used) const {
    uint64_t peak = used_memory_peak.load(std::memory_order_relaxed);
    while (used > peak && !used_memory_peak.compare_exchange_weak(peak, used)) {
    }
    return std::max(peak, used);
  }
  mutable std::atomic<uint64_t> used_memory_peak{0};
  int port = 0;
  int tls_port = 0;  // 0: no TLS listener
  // The TLS context new connections get (replaced on SIGHUP: Broker::reload_tls), and whether
  // the kernel could encrypt records itself (probe_kernel_tls, at start).
  TlsContextHolder tls;
  KernelTlsProbe kernel_tls;
  std::string backend_name;
  std::string backend_setup;  // io_uring: the setup flags the kernel accepted
  std::atomic<TopChannelsSnapshot*> top_channels{nullptr};  // with --metrics-port; null until the first walk ends
  // The tier's settings with --upstream (null: a single node). Set before the shards start.
  std::unique_ptr<UpstreamNode> upstream;
};

}  // namespace fanout
