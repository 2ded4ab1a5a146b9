// INFO's sections as figures (net/figures.h), with Redis's field names where Fanout has the same
// figure (server.c genRedisInfoString). Every figure comes from per-shard counters and gauges
// (stats.h) or process-wide atomics: gathering never walks a topic table or a client list, so
// its cost does not grow with the channels subscribed or the clients connected.
#include "net/figures.h"

#include <sys/resource.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <string>

#include "net/connection.h"
#include "net/process_memory.h"
#include "net/shard_core.h"
#include "net/version.h"

namespace fanout {
namespace {

using K = FigureKind;

ShardField field(Counter ShardStats::*f) { return ShardField{f, nullptr, false}; }
ShardField largest(Counter ShardStats::*f) { return ShardField{f, nullptr, true}; }
ShardField backend(Counter BackendCounters::*f) { return ShardField{nullptr, f, false}; }

std::string executable() {
  char buf[4096];
  ssize_t n = readlink("/proc/self/exe", buf, sizeof(buf) - 1);
  return n > 0 ? std::string(buf, static_cast<size_t>(n)) : std::string();
}

void server_section(FigureSink& o, const FigureSource& in) {
  struct utsname u {};
  uname(&u);
  const uint64_t uptime_s = static_cast<uint64_t>((in.now_ms - in.sh.start_ms) / 1000);
  o.text("redis_version", "7.0.0");
  o.text("fanout_version", kFanoutVersion);
  o.text("redis_git_sha1", "00000000");
  o.text("redis_git_dirty", "0");
  o.text("redis_mode", in.cfg.cluster_enabled ? "cluster" : "standalone");
  o.text("os", std::string(u.sysname) + " " + u.release + " " + u.machine);
  o.text("arch_bits", "64");
  o.text("multiplexing_api", in.sh.backend_name);
  o.text("gcc_version", std::to_string(__GNUC__) + "." + std::to_string(__GNUC_MINOR__) + "." +
                            std::to_string(__GNUC_PATCHLEVEL__));
  o.number("process_id", K::kGauge, "the server's process id", static_cast<uint64_t>(getpid()));
  o.text("process_supervised", "no");
  o.text("run_id", in.sh.run_id);
  o.number("tcp_port", K::kGauge, "the TCP port RESP clients connect to (0: the unix socket only)",
           static_cast<uint64_t>(in.sh.port));
  o.number("server_time_usec", K::kGauge, "the server's clock, in microseconds since the Unix epoch",
           static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::microseconds>(
                                     std::chrono::system_clock::now().time_since_epoch())
                                     .count()));
  o.number("uptime_in_seconds", K::kGauge, "seconds since the server started", uptime_s);
  o.text("uptime_in_days", std::to_string(uptime_s / 86400));  // /metrics has uptime_in_seconds
  o.text("executable", executable());
  o.text("config_file", in.cfg.config_file);
  o.number("io_threads_active", K::kGauge, "Redis's I/O threads: always 0 (Fanout's shards are its threads)", 0);
  o.number("shards", K::kGauge, "event-loop threads, each with its own clients and channels",
           static_cast<uint64_t>(in.sh.nshards));
  o.text("backend", in.sh.backend_name);
}

void clients_section(FigureSink& o, const FigureSource& in) {
  o.number("connected_clients", K::kGauge, "client connections (RESP; the metrics endpoint's are not counted)",
           in.sh.clients.load(std::memory_order_relaxed));
  o.number("cluster_connections", K::kGauge, "cluster bus connections: always 0", 0);
  o.number("maxclients", K::kGauge, "client connections accepted at once (--max-clients)", in.cfg.max_clients);
  // Sampled by each shard once a second (the largest query buffer and output queue of a client).
  o.shard("client_recent_max_input_buffer", K::kGauge, "the largest client query buffer, in bytes, sampled each second",
          largest(&ShardStats::max_client_input));
  o.shard("client_recent_max_output_buffer", K::kGauge, "the largest client output queue, in bytes, sampled each second",
          largest(&ShardStats::max_client_output));
  o.shard("blocked_clients", K::kGauge, "clients whose PUBLISH waits for room in a shard-to-shard ring",
          field(&ShardStats::blocked_clients));
  o.number("tracking_clients", K::kGauge, "clients with key tracking: always 0", 0);
  o.number("clients_in_timeout_table", K::kGauge, "clients blocked with a timeout: always 0", 0);
  o.shard("http_connections", K::kGauge, "connections open on --metrics-port", field(&ShardStats::http_connections));
}

void memory_section(FigureSink& o, const FigureSource& in) {
  const uint64_t rss = used_memory_rss(), used = used_memory();
  const uint64_t peak = in.sh.note_used_memory(used);
  o.number("used_memory", K::kGauge, "bytes allocated by the server (mallinfo2)", used);
  o.text("used_memory_human", human_bytes(used));
  o.number("used_memory_rss", K::kGauge, "resident set size, in bytes", rss);
  o.text("used_memory_rss_human", human_bytes(rss));
  o.number("used_memory_peak", K::kGauge, "the most used_memory seen, in bytes", peak);
  o.text("used_memory_peak_human", human_bytes(peak));
  o.number("maxmemory", K::kGauge, "Redis's memory limit: always 0 (none; Fanout bounds queued output)", 0);
  o.text("maxmemory_human", "0B");
  o.text("maxmemory_policy", "noeviction");
  o.real("mem_fragmentation_ratio", K::kGauge, "used_memory_rss divided by used_memory",
         used ? static_cast<double>(rss) / static_cast<double>(used) : 0, 2);
  o.text("mem_allocator", "libc");
  // Clients' memory: their connection state and queued output (Redis's mem_clients_normal).
  o.number("mem_clients_normal", K::kGauge, "bytes of client connection state and queued output",
           in.sh.clients.load(std::memory_order_relaxed) * sizeof(Conn) + in.sh.sum(&ShardStats::queued_bytes));
  o.shard("queued_output_bytes", K::kGauge, "bytes queued for clients", field(&ShardStats::queued_bytes));
  o.number("max_queued_bytes", K::kGauge, "the cap on bytes queued for clients (--max-queued-bytes)",
           in.cfg.max_queued_bytes);
  o.number("client_output_hard_limit", K::kGauge, "--client-hard-limit, in bytes", in.cfg.output.hard_bytes);
  o.number("client_output_soft_limit", K::kGauge, "--client-soft-limit, in bytes", in.cfg.output.soft_bytes);
  o.number("client_output_soft_seconds", K::kGauge, "--client-soft-seconds",
           static_cast<uint64_t>(in.cfg.output.soft_ms / 1000));
  o.number("client_output_max_messages", K::kGauge, "--client-max-messages", in.cfg.output.max_messages);
}

// Fanout keeps nothing on disk: Redis's persistence fields, as a Redis with persistence off
// shows them, for the tools that read them.
void persistence_section(FigureSink& o, const FigureSource&) {
  constexpr std::string_view kNone = "always 0: Fanout keeps nothing on disk";
  o.number("loading", K::kGauge, kNone, 0);
  o.number("async_loading", K::kGauge, kNone, 0);
  o.number("rdb_changes_since_last_save", K::kGauge, kNone, 0);
  o.number("rdb_bgsave_in_progress", K::kGauge, kNone, 0);
  o.text("rdb_last_bgsave_status", "ok");
  o.number("aof_enabled", K::kGauge, kNone, 0);
  o.number("aof_rewrite_in_progress", K::kGauge, kNone, 0);
  o.text("aof_last_bgrewrite_status", "ok");
  o.text("aof_last_write_status", "ok");
}

void stats_section(FigureSink& o, const FigureSource& in) {
#define FANOUT_FIGURE(name, kind, help) o.shard(#name, K::k##kind, help, field(&ShardStats::name));
  FANOUT_STATS_COUNTERS(FANOUT_FIGURE)
  FANOUT_TLS_COUNTERS(FANOUT_FIGURE)
#undef FANOUT_FIGURE
  // Which TLS mode the clients got (a client counts as userspace until the kernel takes over,
  // after its handshake), and whether this kernel could take any over at all.
  o.shard("tls_connected_clients_userspace", K::kGauge, "TLS clients whose records Fanout encrypts itself",
          field(&ShardStats::tls_userspace_clients));
  o.shard("tls_connected_clients_kernel", K::kGauge, "TLS clients whose records the kernel encrypts (kTLS)",
          field(&ShardStats::tls_kernel_clients));
  o.number("tls_kernel_available", K::kGauge, "1 if this kernel's tls module could encrypt records (probed at start)",
           in.sh.kernel_tls.available ? 1 : 0);
  o.shard("instantaneous_ops_per_sec", K::kGauge, "commands run in the last second", field(&ShardStats::ops_last_second),
          1, -1, {"instantaneous_ops_per_second"});
  o.shard("instantaneous_input_kbps", K::kGauge, "KiB received in the last second",
          field(&ShardStats::input_bytes_last_second), 1.0 / 1024, 2);
  o.shard("instantaneous_output_kbps", K::kGauge, "KiB sent in the last second",
          field(&ShardStats::output_bytes_last_second), 1.0 / 1024, 2);
  o.shard("total_writes_processed", K::kCounter, "sends completed", backend(&BackendCounters::sends_completed));
  for (std::string_view zero : {"expired_keys", "evicted_keys", "keyspace_hits", "keyspace_misses",
                                "unexpected_error_replies"}) {
    o.number(zero, K::kCounter, "always 0: Fanout has no keys", 0);
  }
  // Per-shard gauges summed: a channel with subscribers on two shards counts on each (PUBSUB
  // CHANNELS lists each channel once).
  o.shard("pubsub_channels", K::kGauge, "channels with subscribers (a channel counts once per shard it has some on)",
          field(&ShardStats::channels));
  o.shard("pubsub_patterns", K::kGauge, "patterns subscribed (once per shard)", field(&ShardStats::patterns));
  o.shard("pubsubshard_channels", K::kGauge, "shard channels with subscribers (once per shard)",  // Redis 7.0's name
          field(&ShardStats::shard_channels));
}

void replication_section(FigureSink& o, const FigureSource& in) {
  o.text("role", "master");
  o.number("connected_slaves", K::kGauge, "replicas: always 0", 0);
  o.text("master_failover_state", "no-failover");
  o.text("master_replid", in.sh.run_id);
  o.number("master_repl_offset", K::kGauge, "replication offset: always 0", 0);
  o.number("repl_backlog_active", K::kGauge, "replication backlog: always 0", 0);
}

void cpu_section(FigureSink& o, const FigureSource&) {
  auto seconds = [](const timeval& t) { return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_usec) / 1e6; };
  struct rusage self {}, thread {};
  getrusage(RUSAGE_SELF, &self);
  getrusage(RUSAGE_THREAD, &thread);  // the shard answering
  o.real("used_cpu_sys", K::kCounter, "system CPU seconds used by the process", seconds(self.ru_stime), 6);
  o.real("used_cpu_user", K::kCounter, "user CPU seconds used by the process", seconds(self.ru_utime), 6);
  o.real("used_cpu_sys_children", K::kCounter, "system CPU seconds of child processes: always 0", 0, 6);
  o.real("used_cpu_user_children", K::kCounter, "user CPU seconds of child processes: always 0", 0, 6);
  o.real("used_cpu_sys_main_thread", K::kCounter, "system CPU seconds used by the shard thread answering",
         seconds(thread.ru_stime), 6);
  o.real("used_cpu_user_main_thread", K::kCounter, "user CPU seconds used by the shard thread answering",
         seconds(thread.ru_utime), 6);
}

// INFO commandstats: Redis's cmdstat lines, summed over the shards.
void commandstats_section(FigureSink& o, const FigureSource& in) {
  const auto names = command_stat_names();
  for (size_t i = 0; i < names.size(); ++i) {
    const CommandFigures f = command_figures(in.sh, i, -1);
    if (f.calls == 0 && f.rejected_calls == 0 && f.failed_calls == 0) continue;
    o.text("cmdstat_" + std::string(names[i]),
           "calls=" + std::to_string(f.calls) + ",usec=" + std::to_string(f.usec) + ",usec_per_call=" +
               fixed(f.calls ? static_cast<double>(f.usec) / static_cast<double>(f.calls) : 0, 2) +
               ",rejected_calls=" + std::to_string(f.rejected_calls) + ",failed_calls=" + std::to_string(f.failed_calls));
  }
}

// INFO latencystats: Redis's per-command percentiles (p50, p99, p99.9 in microseconds), from
// every shard's histogram of the command.
void latencystats_section(FigureSink& o, const FigureSource& in) {
  const auto names = command_stat_names();
  std::vector<uint64_t> merged;
  for (size_t i = 0; i < names.size(); ++i) {
    const uint64_t total = merge_latency(in.sh, i, &merged);
    if (total == 0) continue;
    std::string v;
    for (double q : {50.0, 99.0, 99.9}) {
      const uint64_t rank = static_cast<uint64_t>(std::ceil(q / 100 * static_cast<double>(total)));
      uint64_t seen = 0;
      int b = 0;
      for (; b < LatencyHistogram::kBuckets - 1; ++b) {
        seen += merged[b];
        if (seen >= std::max<uint64_t>(rank, 1)) break;
      }
      char p[16];
      std::snprintf(p, sizeof(p), "%g", q);
      v += (v.empty() ? "p" : ",p") + std::string(p) + "=" + fixed(static_cast<double>(LatencyHistogram::bucket_high(b)), 3);
    }
    o.text("latency_percentiles_usec_" + std::string(names[i]), v);
  }
}

void errorstats_section(FigureSink& o, const FigureSource& in) {
  for (size_t i = 0; i < std::size(kErrorCodes); ++i) {
    if (uint64_t n = error_count(in.sh, i, -1)) o.text("errorstat_" + std::string(kErrorCodes[i]), "count=" + std::to_string(n));
  }
}

void cluster_section(FigureSink& o, const FigureSource& in) {
  // redis-py's RedisCluster refuses a node whose INFO does not say 1 here.
  o.number("cluster_enabled", K::kGauge,
           "1 when the server answers as a Redis Cluster of one node owning every slot (--cluster-enabled)",
           in.cfg.cluster_enabled ? 1 : 0);
}

void keyspace_section(FigureSink&, const FigureSource&) {}  // no keys

void backpressure_section(FigureSink& o, const FigureSource& in) {
  o.text("output_policy", policy_name(in.cfg.output.policy));
#define FANOUT_FIGURE(name, kind, help) o.shard(#name, K::k##kind, help, field(&ShardStats::name));
  FANOUT_BACKPRESSURE_COUNTERS(FANOUT_FIGURE)
  // deliveries_due = deliveries_sent + dropped_newest + dropped_oldest + deliveries_discarded
  // + deliveries_queued (DeliveryTotals).
  FANOUT_DELIVERY_COUNTERS(FANOUT_FIGURE)
#undef FANOUT_FIGURE
}

// The tier (--upstream; net/upstream.h): one link per shard.
void upstream_section(FigureSink& o, const FigureSource& in) {
  const UpstreamNode* node = in.sh.upstream.get();
  o.number("upstream_enabled", K::kGauge, "1 if this node joins a tier through NATS (--upstream)", node ? 1 : 0);
  if (!node) return;
  o.text("upstream_node", node->name);
  std::string servers;
  for (const UpstreamUrl& u : node->urls) servers += (servers.empty() ? "" : ",") + u.display();
  o.text("upstream_servers", servers);
  o.number("upstream_links", K::kGauge, "NATS links: one per shard", static_cast<uint64_t>(in.sh.nshards));
  o.shard("upstream_links_up", K::kGauge, "NATS links connected and subscribed",
          field(&ShardStats::upstream_link_up));
  o.shard("upstream_subscriptions", K::kGauge, "NATS subscriptions the links hold for local interest",
          field(&ShardStats::upstream_subscriptions));
  o.shard("upstream_pending_bytes", K::kGauge, "bytes of publishes kept while a link is down",
          field(&ShardStats::upstream_pending_bytes));
#define FANOUT_FIGURE(name, kind, help) o.shard(#name, K::k##kind, help, field(&ShardStats::name));
  FANOUT_UPSTREAM_COUNTERS(FANOUT_FIGURE)
#undef FANOUT_FIGURE
}

// num / den, truncated to two decimals (0 when den is 0).
double ratio(uint64_t num, uint64_t den) {
  return den ? static_cast<double>(num * 100 / den) / 100 : 0;
}

void backend_section(FigureSink& o, const FigureSource& in) {
  const SharedState& sh = in.sh;
  o.text("backend", sh.backend_name);
  if (!sh.backend_setup.empty()) o.text("io_uring_setup", sh.backend_setup);
  o.shard("loop_iterations", K::kCounter, "event-loop iterations", field(&ShardStats::loop_iterations));
  o.shard("loop_busy_us", K::kCounter, "time the loop was busy (from waking to the end of an iteration)",
          field(&ShardStats::loop_busy_us), 1, -1, {"loop_busy_seconds", 1e-6});
  o.shard("loop_busy_max_us", K::kGauge, "the longest busy iteration", largest(&ShardStats::loop_busy_max_us), 1, -1,
          {"loop_busy_max_seconds", 1e-6});
  o.shard("loop_iterations_over_1ms", K::kCounter, "iterations busy for more than a millisecond",
          field(&ShardStats::loop_iterations_over_1ms));
  // Syscalls the backend made for I/O: on epoll every sendmsg, recv, accept4, connect, epoll_wait
  // and epoll_ctl; on io_uring every io_uring_enter (its recv_calls count multishot arms, not
  // syscalls) and io_uring_register (registered-file updates).
  auto b = [&](Counter BackendCounters::*f) { return sh.sum(f); };
  const uint64_t enters = b(&BackendCounters::io_uring_enter_calls);
  o.number("syscalls", K::kCounter, "system calls the backend made for I/O",
           enters != 0 ? enters + b(&BackendCounters::io_uring_register_calls)
                       : b(&BackendCounters::sendmsg_calls) + b(&BackendCounters::recv_calls) +
                             b(&BackendCounters::wait_calls) + b(&BackendCounters::epoll_ctl_calls) +
                             b(&BackendCounters::accept_calls) + b(&BackendCounters::connect_calls));
#define FANOUT_FIGURE(name, kind, help) o.shard(#name, K::k##kind, help, backend(&BackendCounters::name));
  FANOUT_BACKEND_COUNTERS(FANOUT_FIGURE)
#undef FANOUT_FIGURE
  const uint64_t sends = b(&BackendCounters::sends_completed), completions = b(&BackendCounters::completions);
  o.real("messages_per_send", K::kGauge, "pushes per completed send, since the start",
         ratio(sh.sum(&ShardStats::messages_delivered), sends), 2);
  o.real("bytes_per_send", K::kGauge, "bytes per completed send, since the start",
         ratio(sh.sum(&ShardStats::total_net_output_bytes), sends), 2);
  o.real("completions_per_wait", K::kGauge, "completions per wait, since the start",
         ratio(completions, b(&BackendCounters::wait_calls)), 2);
  o.real("completions_per_enter", K::kGauge, "completions per io_uring_enter, since the start (io_uring)",
         ratio(completions, enters), 2);
}

void shards_section(FigureSink& o, const FigureSource& in) {
  for (int s = 0; s < in.sh.nshards; ++s) {
    const ShardStats& st = in.sh.stats[s];
    o.text("shard" + std::to_string(s),
           "clients=" + std::to_string(st.clients.get()) + ",channels=" + std::to_string(st.channels.get()) +
               ",patterns=" + std::to_string(st.patterns.get()) +
               ",published=" + std::to_string(st.messages_published.get()) +
               ",delivered=" + std::to_string(st.messages_delivered.get()) +
               ",queued_bytes=" + std::to_string(st.queued_bytes.get()));
  }
}

constexpr FigureSection kSections[] = {
    {"server", "Server", server_section, true},
    {"clients", "Clients", clients_section, true},
    {"memory", "Memory", memory_section, true},
    {"persistence", "Persistence", persistence_section, true},
    {"stats", "Stats", stats_section, true},
    {"replication", "Replication", replication_section, true},
    {"cpu", "CPU", cpu_section, true},
    {"commandstats", "Commandstats", commandstats_section, false},
    {"errorstats", "Errorstats", errorstats_section, true},
    {"latencystats", "Latencystats", latencystats_section, false},
    {"cluster", "Cluster", cluster_section, true},
    {"keyspace", "Keyspace", keyspace_section, true},
    {"backpressure", "Backpressure", backpressure_section, true},
    {"backend", "Backend", backend_section, true},
    {"shards", "Shards", shards_section, true},
    {"upstream", "Upstream", upstream_section, true},
};

}  // namespace

std::span<const FigureSection> figure_sections() { return kSections; }

CommandFigures command_figures(const SharedState& sh, size_t cmd, int shard) {
  CommandFigures f;
  for (int s = 0; s < sh.nshards; ++s) {
    const ShardStats& st = sh.stats[s];
    if ((shard >= 0 && s != shard) || cmd >= st.ncommands) continue;
    const CommandStat& c = st.commands[cmd];
    f.calls += c.calls.get();
    f.usec += c.usec.get();
    f.rejected_calls += c.rejected_calls.get();
    f.failed_calls += c.failed_calls.get();
  }
  return f;
}

uint64_t merge_latency(const SharedState& sh, size_t cmd, std::vector<uint64_t>* merged) {
  merged->assign(LatencyHistogram::kBuckets, 0);
  uint64_t total = 0;
  for (const ShardStats& s : sh.stats) {
    if (cmd >= s.ncommands) continue;
    const LatencyHistogram* h = s.commands[cmd].latency.load(std::memory_order_acquire);
    if (h == nullptr) continue;
    for (int b = 0; b < LatencyHistogram::kBuckets; ++b) {
      const uint64_t n = h->buckets[b].get();
      (*merged)[b] += n;
      total += n;
    }
  }
  return total;
}

uint64_t error_count(const SharedState& sh, size_t code, int shard) {
  uint64_t n = 0;
  for (int s = 0; s < sh.nshards; ++s) {
    if (shard < 0 || s == shard) n += sh.stats[s].errors[code].get();
  }
  return n;
}

std::string human_bytes(uint64_t n) {
  char buf[64];
  const double d = static_cast<double>(n);
  if (n < 1024) {
    std::snprintf(buf, sizeof(buf), "%lluB", static_cast<unsigned long long>(n));
  } else if (n < (1ull << 20)) {
    std::snprintf(buf, sizeof(buf), "%.2fK", d / 1024);
  } else if (n < (1ull << 30)) {
    std::snprintf(buf, sizeof(buf), "%.2fM", d / (1 << 20));
  } else {
    std::snprintf(buf, sizeof(buf), "%.2fG", d / (1ull << 30));
  }
  return buf;
}

std::string fixed(double v, int decimals) {
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%.*f", decimals, v);
  return buf;
}

}  // namespace fanout
