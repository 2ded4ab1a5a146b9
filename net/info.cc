// INFO, in Redis's format (sections of "name:value" lines, server.c genRedisInfoString) with
// Redis's field names where Fanout has the same figure. Every figure comes from per-shard
// counters and gauges (stats.h): INFO never walks a topic table, so its cost does not grow with
// the channels subscribed.
#include <sys/resource.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

#include "core/resp_writer.h"
#include "net/command_util.h"
#include "net/process_memory.h"
#include "net/shard_core.h"
#include "net/version.h"

namespace fanout {
namespace {

class InfoText {
 public:
  void section(std::string_view name) {
    if (!o_.empty()) o_ += "\r\n";
    o_ += "# ";
    o_.append(name);
    o_ += "\r\n";
  }
  void line(std::string_view k, uint64_t v) { line(k, std::to_string(v)); }
  void line(std::string_view k, std::string_view v) {
    o_.append(k);
    o_ += ':';
    o_.append(v);
    o_ += "\r\n";
  }
  // num / den with two decimals (0.00 when den is 0).
  void ratio(std::string_view k, uint64_t num, uint64_t den) {
    uint64_t x100 = den ? num * 100 / den : 0;
    line(k, std::to_string(x100 / 100) + "." + (x100 % 100 < 10 ? "0" : "") + std::to_string(x100 % 100));
  }
  const std::string& text() const { return o_; }

 private:
  std::string o_;
};

// One section's lines, from the shared state (every shard's counters and gauges) alone.
struct InfoSource {
  const SharedState& sh;
  const ServerConfig& cfg;
  int64_t now_ms;
};


// Redis's bytesToHuman.
std::string human(uint64_t n) {
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

std::string executable() {
  char buf[4096];
  ssize_t n = readlink("/proc/self/exe", buf, sizeof(buf) - 1);
  return n > 0 ? std::string(buf, static_cast<size_t>(n)) : std::string();
}

void server_section(InfoText& o, const InfoSource& in) {
  struct utsname u {};
  uname(&u);
  const uint64_t uptime_s = static_cast<uint64_t>((in.now_ms - in.sh.start_ms) / 1000);
  o.line("redis_version", "7.0.0");
  o.line("fanout_version", kFanoutVersion);
  o.line("redis_git_sha1", "00000000");
  o.line("redis_git_dirty", "0");
  o.line("redis_mode", "standalone");
  o.line("os", std::string(u.sysname) + " " + u.release + " " + u.machine);
  o.line("arch_bits", "64");
  o.line("multiplexing_api", in.sh.backend_name);
  o.line("gcc_version", std::to_string(__GNUC__) + "." + std::to_string(__GNUC_MINOR__) + "." +
                            std::to_string(__GNUC_PATCHLEVEL__));
  o.line("process_id", static_cast<uint64_t>(getpid()));
  o.line("process_supervised", "no");
  o.line("run_id", in.sh.run_id);
  o.line("tcp_port", static_cast<uint64_t>(in.sh.port));
  o.line("server_time_usec", static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::microseconds>(
                                                       std::chrono::system_clock::now().time_since_epoch())
                                                       .count()));
  o.line("uptime_in_seconds", uptime_s);
  o.line("uptime_in_days", uptime_s / 86400);
  o.line("executable", executable());
  o.line("config_file", in.cfg.config_file);
  o.line("io_threads_active", "0");
  o.line("shards", static_cast<uint64_t>(in.sh.nshards));
  o.line("backend", in.sh.backend_name);
}

void clients_section(InfoText& o, const InfoSource& in) {
  o.line("connected_clients", in.sh.clients.load(std::memory_order_relaxed));
  o.line("cluster_connections", "0");
  o.line("maxclients", in.cfg.max_clients);
  // Sampled by each shard once a second (the largest query buffer and output queue of a client).
  o.line("client_recent_max_input_buffer", in.sh.max(&ShardStats::max_client_input));
  o.line("client_recent_max_output_buffer", in.sh.max(&ShardStats::max_client_output));
  o.line("blocked_clients", in.sh.sum(&ShardStats::blocked_clients));  // PUBLISHes waiting for ring space
  o.line("tracking_clients", "0");
  o.line("clients_in_timeout_table", "0");
}

void memory_section(InfoText& o, const InfoSource& in) {
  const uint64_t rss = used_memory_rss(), used = used_memory();
  const uint64_t peak = in.sh.note_used_memory(used);
  o.line("used_memory", used);
  o.line("used_memory_human", human(used));
  o.line("used_memory_rss", rss);
  o.line("used_memory_rss_human", human(rss));
  o.line("used_memory_peak", peak);
  o.line("used_memory_peak_human", human(peak));
  o.line("maxmemory", "0");
  o.line("maxmemory_human", "0B");
  o.line("maxmemory_policy", "noeviction");
  o.line("mem_fragmentation_ratio", fixed(used ? static_cast<double>(rss) / static_cast<double>(used) : 0, 2));
  o.line("mem_allocator", "libc");
  // Clients' memory: their connection state and queued output (Redis's mem_clients_normal).
  o.line("mem_clients_normal", in.sh.clients.load(std::memory_order_relaxed) * sizeof(Conn) +
                                   in.sh.sum(&ShardStats::queued_bytes));
  o.line("queued_output_bytes", in.sh.sum(&ShardStats::queued_bytes));
  o.line("max_queued_bytes", in.cfg.max_queued_bytes);
  o.line("client_output_hard_limit", in.cfg.output.hard_bytes);
  o.line("client_output_soft_limit", in.cfg.output.soft_bytes);
  o.line("client_output_soft_seconds", static_cast<uint64_t>(in.cfg.output.soft_ms / 1000));
  o.line("client_output_max_messages", in.cfg.output.max_messages);
}

// Fanout keeps nothing on disk: Redis's persistence and replication fields, as a Redis with
// persistence off and no replicas shows them, for the tools that read them.
using Constant = std::pair<std::string_view, std::string_view>;
constexpr Constant kPersistence[] = {
    {"loading", "0"},          {"async_loading", "0"},           {"rdb_changes_since_last_save", "0"},
    {"rdb_bgsave_in_progress", "0"}, {"rdb_last_bgsave_status", "ok"}, {"aof_enabled", "0"},
    {"aof_rewrite_in_progress", "0"}, {"aof_last_bgrewrite_status", "ok"}, {"aof_last_write_status", "ok"},
};

void persistence_section(InfoText& o, const InfoSource& in) {
  for (const auto& [k, v] : kPersistence) o.line(k, v);
}

void replication_section(InfoText& o, const InfoSource& in) {
  o.line("role", "master");
  o.line("connected_slaves", "0");
  o.line("master_failover_state", "no-failover");
  o.line("master_replid", in.sh.run_id);
  o.line("master_repl_offset", "0");
  o.line("repl_backlog_active", "0");
}

void cpu_section(InfoText& o, const InfoSource& in) {
  auto seconds = [](const timeval& t) { return fixed(static_cast<double>(t.tv_sec) + t.tv_usec / 1e6, 6); };
  struct rusage self {}, thread {};
  getrusage(RUSAGE_SELF, &self);
  getrusage(RUSAGE_THREAD, &thread);  // the shard answering
  o.line("used_cpu_sys", seconds(self.ru_stime));
  o.line("used_cpu_user", seconds(self.ru_utime));
  o.line("used_cpu_sys_children", "0.000000");
  o.line("used_cpu_user_children", "0.000000");
  o.line("used_cpu_sys_main_thread", seconds(thread.ru_stime));
  o.line("used_cpu_user_main_thread", seconds(thread.ru_utime));
}

#define FANOUT_INFO_LINE(name) o.line(#name, in.sh.sum(&ShardStats::name));

void stats_section(InfoText& o, const InfoSource& in) {
  FANOUT_STATS_COUNTERS(FANOUT_INFO_LINE)
  o.line("instantaneous_ops_per_sec", in.sh.sum(&ShardStats::ops_last_second));
  o.line("instantaneous_input_kbps", fixed(static_cast<double>(in.sh.sum(&ShardStats::input_bytes_last_second)) / 1024, 2));
  o.line("instantaneous_output_kbps", fixed(static_cast<double>(in.sh.sum(&ShardStats::output_bytes_last_second)) / 1024, 2));
  o.line("total_writes_processed", in.sh.sum(&BackendCounters::sends_completed));
  for (std::string_view zero : {"expired_keys", "evicted_keys", "keyspace_hits", "keyspace_misses",
                                "unexpected_error_replies"}) {
    o.line(zero, "0");
  }
  // Per-shard gauges summed: a channel with subscribers on two shards counts on each (PUBSUB
  // CHANNELS lists each channel once).
  o.line("pubsub_channels", in.sh.sum(&ShardStats::channels));
  o.line("pubsub_patterns", in.sh.sum(&ShardStats::patterns));
  o.line("pubsubshard_channels", in.sh.sum(&ShardStats::shard_channels));  // Redis 7.0's name
}

// INFO commandstats: Redis's cmdstat lines, summed over the shards.
void commandstats_section(InfoText& o, const InfoSource& in) {
  const auto names = command_stat_names();
  for (size_t i = 0; i < names.size(); ++i) {
    uint64_t calls = 0, usec = 0, rejected = 0, failed = 0;
    for (const ShardStats& s : in.sh.stats) {
      if (i >= s.ncommands) continue;
      calls += s.commands[i].calls.get();
      usec += s.commands[i].usec.get();
      rejected += s.commands[i].rejected_calls.get();
      failed += s.commands[i].failed_calls.get();
    }
    if (calls == 0 && rejected == 0 && failed == 0) continue;
    o.line("cmdstat_" + std::string(names[i]),
           "calls=" + std::to_string(calls) + ",usec=" + std::to_string(usec) + ",usec_per_call=" +
               fixed(calls ? static_cast<double>(usec) / static_cast<double>(calls) : 0, 2) +
               ",rejected_calls=" + std::to_string(rejected) + ",failed_calls=" + std::to_string(failed));
  }
}

// Command slot i's latency histograms summed over every shard into *merged (kBuckets counts).
// Returns how many calls they hold.
uint64_t merge_latency(const SharedState& sh, size_t i, std::vector<uint64_t>* merged) {
  merged->assign(LatencyHistogram::kBuckets, 0);
  uint64_t total = 0;
  for (const ShardStats& s : sh.stats) {
    if (i >= s.ncommands) continue;
    const LatencyHistogram* h = s.commands[i].latency.load(std::memory_order_acquire);
    if (h == nullptr) continue;
    for (int b = 0; b < LatencyHistogram::kBuckets; ++b) {
      const uint64_t n = h->buckets[b].get();
      (*merged)[b] += n;
      total += n;
    }
  }
  return total;
}

// INFO latencystats: Redis's per-command percentiles (p50, p99, p99.9 in microseconds), from
// every shard's histogram of the command.
void latencystats_section(InfoText& o, const InfoSource& in) {
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
    o.line("latency_percentiles_usec_" + std::string(names[i]), v);
  }
}

void errorstats_section(InfoText& o, const InfoSource& in) {
  for (size_t i = 0; i < std::size(kErrorCodes); ++i) {
    uint64_t n = 0;
    for (const ShardStats& s : in.sh.stats) n += s.errors[i].get();
    if (n) o.line("errorstat_" + std::string(kErrorCodes[i]), "count=" + std::to_string(n));
  }
}

void cluster_section(InfoText& o, const InfoSource&) { o.line("cluster_enabled", "0"); }

void keyspace_section(InfoText&, const InfoSource&) {}  // no keys

void backpressure_section(InfoText& o, const InfoSource& in) {
  o.line("output_policy", policy_name(in.cfg.output.policy));
  FANOUT_BACKPRESSURE_COUNTERS(FANOUT_INFO_LINE)
  // deliveries_due = deliveries_sent + dropped_newest + dropped_oldest + deliveries_discarded
  // + deliveries_queued (DeliveryTotals).
  FANOUT_DELIVERY_COUNTERS(FANOUT_INFO_LINE)
}

#undef FANOUT_INFO_LINE

void backend_section(InfoText& o, const InfoSource& in) {
  const SharedState& sh = in.sh;
  o.line("backend", sh.backend_name);
  if (!sh.backend_setup.empty()) o.line("io_uring_setup", sh.backend_setup);
  o.line("loop_iterations", sh.sum(&ShardStats::loop_iterations));
  o.line("loop_busy_us", sh.sum(&ShardStats::loop_busy_us));
  o.line("loop_busy_max_us", sh.max(&ShardStats::loop_busy_max_us));
  o.line("loop_iterations_over_1ms", sh.sum(&ShardStats::loop_iterations_over_1ms));
  // Syscalls the backend made for I/O: on epoll every sendmsg, recv, accept4, epoll_wait and
  // epoll_ctl; on io_uring every io_uring_enter (its recv_calls count multishot arms, not
  // syscalls) and io_uring_register (registered-file updates).
  auto b = [&](Counter BackendCounters::*f) { return sh.sum(f); };
  uint64_t enters = b(&BackendCounters::io_uring_enter_calls);
  o.line("syscalls", enters != 0 ? enters + b(&BackendCounters::io_uring_register_calls)
                                 : b(&BackendCounters::sendmsg_calls) + b(&BackendCounters::recv_calls) +
                                       b(&BackendCounters::wait_calls) + b(&BackendCounters::epoll_ctl_calls) +
                                       b(&BackendCounters::accept_calls));
#define FANOUT_INFO_LINE(name) o.line(#name, b(&BackendCounters::name));
  FANOUT_BACKEND_COUNTERS(FANOUT_INFO_LINE)
#undef FANOUT_INFO_LINE
  uint64_t sends = b(&BackendCounters::sends_completed), completions = b(&BackendCounters::completions);
  o.ratio("messages_per_send", sh.sum(&ShardStats::messages_delivered), sends);
  o.ratio("bytes_per_send", sh.sum(&ShardStats::total_net_output_bytes), sends);
  o.ratio("completions_per_wait", completions, b(&BackendCounters::wait_calls));
  o.ratio("completions_per_enter", completions, enters);  // io_uring only
}

void shards_section(InfoText& o, const InfoSource& in) {
  for (int s = 0; s < in.sh.nshards; ++s) {
    const ShardStats& st = in.sh.stats[s];
    o.line("shard" + std::to_string(s),
           "clients=" + std::to_string(st.clients.get()) + ",channels=" + std::to_string(st.channels.get()) +
               ",patterns=" + std::to_string(st.patterns.get()) +
               ",published=" + std::to_string(st.messages_published.get()) +
               ",delivered=" + std::to_string(st.messages_delivered.get()) +
               ",queued_bytes=" + std::to_string(st.queued_bytes.get()));
  }
}

struct InfoSection {
  std::string_view name;  // as INFO's argument names it (any case)
  std::string_view title;
  void (*write)(InfoText&, const InfoSource&);
  bool in_default;        // shown by INFO with no argument (Redis's default sections, and Fanout's)
};

// Redis 7.0's sections in its order, then Fanout's own.
constexpr InfoSection kSections[] = {
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
};

// Redis's section selection (server.c genInfoSectionDict): no argument or "default" shows the
// default sections, "all" and "everything" every section, otherwise the ones named.
bool wanted(std::span<const std::string_view> args, const InfoSection& section) {
  if (args.size() < 2) return section.in_default;
  for (size_t i = 1; i < args.size(); ++i) {
    if (iequals(args[i], section.name) || iequals(args[i], "all") || iequals(args[i], "everything") ||
        (iequals(args[i], "default") && section.in_default)) {
      return true;
    }
  }
  return false;
}

}  // namespace

// LATENCY HISTOGRAM [command ...] (Redis 7.0, latency.c): for each command with calls (or each
// named), its calls and a cumulative histogram of its latency in microseconds at powers of two,
// from every shard's per-command histogram (the buckets INFO latencystats reads).
void ShardCore::latency_histogram(Conn* c, std::span<const std::string_view> args) {
  const auto names = command_stat_names();
  struct Row {
    std::string_view name;
    uint64_t calls;
    std::vector<std::pair<uint64_t, uint64_t>> cumulative;  // (2^k microseconds, count at or below)
  };
  std::vector<Row> rows;
  std::vector<uint64_t> merged;
  for (size_t i = 0; i < names.size(); ++i) {
    bool asked = args.size() <= 2;
    for (size_t a = 2; a < args.size() && !asked; ++a) asked = iequals(args[a], names[i]);
    if (!asked) continue;
    // Every call that ran is recorded once in its shard's histogram (execute), so the merged
    // total is the calls count.
    const uint64_t total = merge_latency(*shared_, i, &merged);
    if (total == 0) continue;
    Row row{names[i], total, {}};
    uint64_t cum = 0;
    int b = 0;
    for (int k = 0; k < 63 && cum < total; ++k) {
      const uint64_t bound = uint64_t{1} << k;
      while (b < LatencyHistogram::kBuckets && LatencyHistogram::bucket_high(b) <= bound) cum += merged[b++];
      if (cum > 0) row.cumulative.emplace_back(bound, cum);
    }
    rows.push_back(std::move(row));
  }
  resp::map(c->out, rows.size(), c->proto);
  for (const Row& r : rows) {
    resp::bulk(c->out, r.name);
    resp::map(c->out, 2, c->proto);
    resp::bulk(c->out, "calls");
    resp::integer(c->out, static_cast<int64_t>(r.calls));
    resp::bulk(c->out, "histogram_usec");
    resp::map(c->out, r.cumulative.size(), c->proto);
    for (const auto& [bound, count] : r.cumulative) {
      resp::integer(c->out, static_cast<int64_t>(bound));
      resp::integer(c->out, static_cast<int64_t>(count));
    }
  }
}

void ShardCore::cmd_info(Conn* c, std::span<const std::string_view> args) {
  const InfoSource in{*shared_, cfg_, now_ms_};
  InfoText o;
  for (const InfoSection& s : kSections) {
    if (!wanted(args, s)) continue;
    o.section(s.title);
    s.write(o, in);
  }
  resp::verbatim(c->out, o.text(), c->proto);
}

}  // namespace fanout
