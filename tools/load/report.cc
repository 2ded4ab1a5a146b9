#include "tools/load/report.h"

#include <sys/utsname.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <thread>

namespace fanout::load {
namespace {

using ull = unsigned long long;

std::string get(const InfoFields& m, const char* k) {
  auto it = m.find(k);
  return it == m.end() ? "" : it->second;
}

// The server's change in an INFO counter over the run; -1 if either INFO lacks it.
long long delta(const InfoFields& before, const InfoFields& after, const char* k) {
  if (!before.count(k) || !after.count(k)) return -1;
  return std::stoll(after.at(k)) - std::stoll(before.at(k));
}

double mean_payload_size(const Options& o, const Shared& sh) {
  if (sh.size_cdf.empty()) return static_cast<double>(o.size);
  double mean = 0, prev = 0;
  for (const auto& [cdf, size] : sh.size_cdf) {
    mean += (cdf - prev) * static_cast<double>(size);
    prev = cdf;
  }
  return mean;
}

void merge_results(const std::vector<WorkerResult>& results, Summary* s, double* max_thread_cpu) {
  *max_thread_cpu = 0;
  for (const WorkerResult& r : results) {
    s->latency.merge(r.latency);
    s->normal += r.normal;
    s->slow += r.slow;
    s->stopped += r.stopped;
    s->closed_by_server += r.closed_by_server;
    *max_thread_cpu = std::max(*max_thread_cpu, r.cpu_seconds);
  }
}

void server_deltas(const InfoFields& before, const InfoFields& after, Summary* s) {
  s->d_sendmsg = delta(before, after, "sendmsg_calls");
  s->d_delivered = delta(before, after, "messages_delivered");
  s->d_wait = delta(before, after, "wait_calls");
  // Backend-neutral: sends completed (sendmsg calls or SENDMSG completions) and every I/O
  // syscall the backend made (on io_uring, io_uring_enter).
  s->d_sends = delta(before, after, "sends_completed");
  s->d_syscalls = delta(before, after, "syscalls");
  s->d_enter = delta(before, after, "io_uring_enter_calls");
  s->d_completions = delta(before, after, "completions");
}

std::string sh_tls_version(const Summary& s) { return s.tls_version.empty() ? "?" : s.tls_version; }

// The run's shape, the server, and the headline figures.
void print_headline(const Options& o, const Summary& s) {
  std::string sizes = o.size_mix.empty() ? std::to_string(o.size) + "-byte payloads" : "payload mix " + o.size_mix;
  std::printf("fanout-load: %s, %s loop, %d subscribers over %d topic(s), %d publisher(s), %s, %d thread(s)\n",
              o.proto.c_str(), o.mode.c_str(), o.subscribers, o.topics, o.publishers, sizes.c_str(), o.threads);
  const InfoFields& a = s.server;
  if (!a.empty()) {
    std::printf("  server: %s %s, backend %s, %s shard(s)\n", a.count("fanout_version") ? "fanoutd" : "redis",
                get(a, a.count("fanout_version") ? "fanout_version" : "redis_version").c_str(),
                a.count("backend") ? get(a, "backend").c_str() : get(a, "multiplexing_api").c_str(),
                a.count("shards") ? get(a, "shards").c_str() : "1");
  }
  if (o.tls) {
    std::printf("  tls: %s %s, server certificate verified for %s%s\n", sh_tls_version(s).c_str(),
                s.tls_cipher.c_str(), o.tls_sni.empty() ? o.host.c_str() : o.tls_sni.c_str(),
                o.tls_cert.empty() ? "" : ", client certificate sent");
  }
  const Histogram& lat = s.latency;
  std::printf("  measured %.2f s: %llu deliveries, %s deliveries/s, %.1f MB/s payload\n", s.measured_s,
              static_cast<ull>(lat.count()), fmt_rate(s.deliveries_per_s).c_str(), s.mb_per_s);
  std::printf("  latency: p50 %s  p90 %s  p99 %s  p99.9 %s  max %s\n", fmt_us(lat.quantile(0.5)).c_str(),
              fmt_us(lat.quantile(0.9)).c_str(), fmt_us(lat.quantile(0.99)).c_str(),
              fmt_us(lat.quantile(0.999)).c_str(), fmt_us(lat.max()).c_str());
  std::printf("  verified: %llu received, %llu lost, %llu duplicated, %llu reordered\n",
              static_cast<ull>(s.normal.received), static_cast<ull>(s.normal.lost),
              static_cast<ull>(s.normal.duplicated), static_cast<ull>(s.normal.reordered));
}

// The scenario lines, the server's costs, the load generator's own load, and errors.
void print_details(const Options& o, const Shared& sh, const Summary& s) {
  if (o.slow_fraction > 0 || o.stop_fraction > 0) {
    std::printf("  slow readers: %llu received, %llu lost; stopped readers: %llu received, %llu lost; "
                "closed by server: %llu\n",
                static_cast<ull>(s.slow.received), static_cast<ull>(s.slow.lost),
                static_cast<ull>(s.stopped.received), static_cast<ull>(s.stopped.lost),
                static_cast<ull>(s.closed_by_server));
  }
  if (o.churn_subscribers > 0) {
    std::printf("  churn: %llu reconnects of %d churn subscribers, which received %llu messages\n",
                static_cast<ull>(sh.churn_reconnects.load()), o.churn_subscribers,
                static_cast<ull>(sh.churn_received.load()));
  }
  if (s.server_cpu_ns_per_delivery > 0) {
    std::printf("  server CPU: %.0f ns per delivery\n", s.server_cpu_ns_per_delivery);
  }
  if (s.d_sends > 0 && s.d_delivered > 0) {
    double delivered = static_cast<double>(s.d_delivered);
    double per_1k = s.d_syscalls > 0 ? 1000.0 * static_cast<double>(s.d_syscalls) / delivered : 0.0;
    std::printf("  server sends: %lld (%.1f messages per send); syscalls: %lld (%.2f per 1,000 deliveries): "
                "%lld sendmsg, %lld io_uring_enter, %lld waits\n",
                s.d_sends, delivered / static_cast<double>(s.d_sends), s.d_syscalls,
                per_1k, s.d_sendmsg, s.d_enter, s.d_wait);
  }
  std::printf("  load generator: %.1f CPU-s over %.1f s wall; busiest thread %.0f%% of a core%s\n", s.loader_cpu_s,
              s.wall_s, s.busiest * 100, s.saturated ? "  WARNING: saturated, figures may understate the server" : "");
  if (s.tls_failures) {
    std::printf("  TLS errors: %llu (the first: %s)\n", static_cast<ull>(s.tls_failures), s.tls_first_failure.c_str());
  }
  if (s.errors || s.stalled || s.failed_connects) {
    std::printf("  errors: %llu protocol, %llu PUBLISH count mismatches, %d failed connects%s\n",
                static_cast<ull>(sh.protocol_errors.load()), static_cast<ull>(sh.count_mismatches.load()),
                s.failed_connects, s.stalled ? ", stalled (no progress within --stall-timeout)" : "");
  }
}

}  // namespace

Summary summarize(const Options& o, const Shared& sh, const std::vector<WorkerResult>& results,
                  const InfoFields& before, const InfoFields& after, const RunClock& clock) {
  Summary s;
  double max_thread_cpu = 0;
  merge_results(results, &s, &max_thread_cpu);
  s.server = after;
  uint64_t ms = sh.measure_start_ns.load(), me = sh.measure_end_ns.load();
  s.measured_s = me > ms ? static_cast<double>(me - ms) / 1e9 : 0;
  double count = static_cast<double>(s.latency.count());
  s.deliveries_per_s = s.measured_s > 0 ? count / s.measured_s : 0;
  s.mean_size = mean_payload_size(o, sh);
  s.mb_per_s = s.deliveries_per_s * s.mean_size / 1e6;
  s.wall_s = static_cast<double>(clock.end_ns - clock.start_ns) / 1e9;
  s.loader_cpu_s = clock.cpu_end_s - clock.cpu_start_s;
  // The busiest worker thread's share of a core: above 90% the tool, not the server, may be the limit.
  s.busiest = s.wall_s > 0 ? max_thread_cpu / s.wall_s : 0;
  s.saturated = s.busiest > 0.9;
  uint64_t cs = sh.server_cpu_start_ticks.load(), ce = sh.server_cpu_end_ticks.load();
  if (cs && ce && s.latency.count()) {
    double server_cpu_s = static_cast<double>(ce - cs) / static_cast<double>(sysconf(_SC_CLK_TCK));
    s.server_cpu_ns_per_delivery = server_cpu_s * 1e9 / count;
  }
  server_deltas(before, after, &s);
  s.errors = sh.protocol_errors.load() + sh.count_mismatches.load();
  s.stalled = sh.stalled.load();
  s.failed_connects = sh.failed_connects.load();
  if (sh.tls) {
    s.tls_version = sh.tls_session.version;
    s.tls_cipher = sh.tls_session.cipher;
    s.tls_failures = sh.tls->failures();
    s.tls_first_failure = sh.tls->first_failure();
  }
  return s;
}

void print_summary(const Options& o, const Shared& sh, const Summary& s) {
  print_headline(o, s);
  print_details(o, sh, s);
}

int exit_status(const Options& o, const Summary& s) {
  bool bad = s.failed_connects || s.errors || s.stalled || s.normal.duplicated || s.normal.reordered ||
             (o.mode == "closed" && s.normal.lost);
  return bad ? 1 : 0;
}

std::string fmt_rate(double v) {
  char b[32];
  if (v >= 1e6) std::snprintf(b, sizeof(b), "%.2fM", v / 1e6);
  else if (v >= 1e3) std::snprintf(b, sizeof(b), "%.1fk", v / 1e3);
  else std::snprintf(b, sizeof(b), "%.0f", v);
  return b;
}

std::string fmt_us(uint64_t ns) {
  char b[32];
  if (ns >= 10'000'000) std::snprintf(b, sizeof(b), "%.1fms", static_cast<double>(ns) / 1e6);
  else std::snprintf(b, sizeof(b), "%.0fus", static_cast<double>(ns) / 1e3);
  return b;
}

}  // namespace fanout::load
