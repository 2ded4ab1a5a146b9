// fanout-load: drives thousands of subscribers and publishers against a pub/sub server (fanoutd
// or redis-server over RESP2, nats-server over the NATS protocol) with the same workload, checks
// every delivery (order, loss, duplicates) and reports throughput and latency percentiles.
// Loopback targets only; every run is bounded in time and count and stops by itself.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <fstream>
#include <map>
#include <regex>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "core/histogram.h"
#include "core/units.h"
#include "tools/flags.h"
#include "tools/load/options.h"
#include "tools/load/payload.h"
#include "tools/load/worker.h"

using namespace fanout;
using namespace fanout::load;

namespace {

bool is_loopback(const std::string& host) {
  if (host == "localhost") return true;
  in_addr a4;
  if (inet_pton(AF_INET, host.c_str(), &a4) == 1) return (ntohl(a4.s_addr) >> 24) == 127;
  in6_addr a6;
  if (inet_pton(AF_INET6, host.c_str(), &a6) == 1) return IN6_IS_ADDR_LOOPBACK(&a6);
  return false;
}

// Sends INFO over RESP and returns the text (empty on failure). Used for fanoutd's counters.
std::string fetch_info(const Options& o) {
  if (o.proto != "redis") return "";
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(o.port));
  inet_pton(AF_INET, o.host == "localhost" ? "127.0.0.1" : o.host.c_str(), &a.sin_addr);
  struct timeval tv {2, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  if (connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0) {
    close(fd);
    return "";
  }
  const char kCmd[] = "*2\r\n$4\r\nINFO\r\n$10\r\neverything\r\n";
  if (send(fd, kCmd, sizeof(kCmd) - 1, MSG_NOSIGNAL) < 0) {
    close(fd);
    return "";
  }
  std::string s;
  char buf[65536];
  while (true) {
    ssize_t n = recv(fd, buf, sizeof(buf), 0);
    if (n <= 0) break;
    s.append(buf, static_cast<size_t>(n));
    size_t nl = s.find("\r\n");
    if (nl != std::string::npos && s[0] == '$' && s.size() >= nl + 2 + std::stoul(s.substr(1, nl - 1)) + 2) break;
    if (s[0] == '-') break;
  }
  close(fd);
  return s;
}

std::map<std::string, std::string> parse_info(const std::string& s) {
  std::map<std::string, std::string> m;
  std::istringstream in(s);
  std::string line;
  while (std::getline(in, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    size_t c = line.find(':');
    if (c == std::string::npos || line[0] == '#') continue;
    m[line.substr(0, c)] = line.substr(c + 1);
  }
  return m;
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

double process_cpu_seconds() {
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
         static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  Flags flags(
      "fanout-load: pub/sub load generator for fanoutd, redis-server and nats-server.\n"
      "usage: fanout-load --port 7379 --subscribers 1000 --topics 1 --publishers 1 --size 64\n"
      "                   [--mode closed --window 64 | --mode open --rate 100000] --duration 10");
  flags.add_string("host", &o.host, "server address (loopback only)");
  flags.add_int("port", &o.port, "server port");
  flags.add_string("proto", &o.proto, "redis (fanoutd, redis-server) or nats (nats-server)");
  flags.add_int("subscribers", &o.subscribers, "subscriber connections");
  flags.add_int("topics", &o.topics, "topics; subscriber i listens on topic i % topics");
  flags.add_int("publishers", &o.publishers, "publisher connections");
  flags.add_size("size", &o.size, "payload bytes (at least the 32-byte header)");
  flags.add_string("mode", &o.mode, "closed (windows, nothing dropped) or open (fixed rate)");
  flags.add_int("window", &o.window, "closed loop: messages in flight per round");
  flags.add_double("rate", &o.rate, "open loop: messages per second, all publishers");
  flags.add_double("duration", &o.duration, "measured seconds (after warm-up)");
  flags.add_double("warmup", &o.warmup, "seconds published but not measured");
  flags.add_custom("messages", "0", "stop after this many messages published (0: by duration)",
                   [&](const std::string& s) {
                     uint64_t v;
                     if (!parse_unsigned(s, &v)) return std::string("--messages needs a count");
                     o.max_messages = v;
                     return std::string();
                   });
  flags.add_int("threads", &o.threads, "worker threads (each with its own event loop)");
  flags.add_int("connect-rate", &o.connect_rate, "new connections per second during ramp-up");
  flags.add_int("rcvbuf", &o.rcvbuf, "subscriber SO_RCVBUF bytes (0: kernel default)");
  flags.add_double("slow-fraction", &o.slow_fraction, "fraction of subscribers that read slowly");
  flags.add_size("slow-bps", &o.slow_bps, "bytes per second a slow subscriber reads");
  flags.add_double("stop-fraction", &o.stop_fraction, "fraction of subscribers that never read");
  flags.add_string("size-mix", &o.size_mix, "payload sizes by weight, e.g. 64:0.9,1024:0.1 (overrides --size)");
  flags.add_int("churn-subscribers", &o.churn_subscribers, "extra subscribers that keep reconnecting");
  flags.add_double("churn-rate", &o.churn_rate, "reconnects per second across the churn subscribers");
  flags.add_double("stall-timeout", &o.stall_timeout, "seconds without progress before giving up");
  flags.add_string("topic-prefix", &o.topic_prefix, "topic name prefix");
  flags.add_string("json", &o.json, "write every figure and parameter to this file");
  flags.add_int("server-pid", &o.server_pid, "server process, for its CPU time per delivery");
  flags.add_bool("quiet", &o.quiet, "no progress line");
  int exit_code = 0;
  if (!flags.parse_main(argc, argv, "fanout-load", &exit_code)) return exit_code;
  auto bad = [](const char* m) {
    std::fprintf(stderr, "fanout-load: %s\n", m);
    return 2;
  };
  if (!is_loopback(o.host)) return bad("only loopback targets (127.0.0.0/8, ::1, localhost) are allowed");
  if (o.proto != "redis" && o.proto != "nats") return bad("--proto must be redis or nats");
  if (o.mode != "closed" && o.mode != "open") return bad("--mode must be closed or open");
  if (o.subscribers < 1 || o.topics < 1 || o.publishers < 1 || o.threads < 1 || o.window < 1) {
    return bad("subscribers, topics, publishers, threads and window must be at least 1");
  }
  if (o.duration <= 0 || o.duration > 3600 || o.warmup < 0 || o.warmup > 600) {
    return bad("--duration must be in (0, 3600] and --warmup in [0, 600] seconds");
  }
  if (o.mode == "open" && (o.rate <= 0 || o.rate > 1e8)) return bad("--rate must be in (0, 1e8]");
  if (o.size < kHeaderSize) o.size = kHeaderSize;
  if (!o.size_mix.empty()) {
    static const std::regex kMix(R"(^\d+(:\d*\.?\d+)?(,\d+(:\d*\.?\d+)?)*$)");
    if (!std::regex_match(o.size_mix, kMix)) return bad("--size-mix looks like 64:0.9,1024:0.1");
  }
  if (o.churn_subscribers < 0 || o.churn_rate < 0) return bad("churn options must not be negative");
  if (o.threads > o.subscribers) o.threads = o.subscribers;
  struct rlimit rl;
  getrlimit(RLIMIT_NOFILE, &rl);
  rlim_t want_fds = static_cast<rlim_t>(o.subscribers + o.churn_subscribers + o.publishers + 64);
  if (want_fds > rl.rlim_cur) {
    rl.rlim_cur = std::min<rlim_t>(rl.rlim_max, want_fds);
    setrlimit(RLIMIT_NOFILE, &rl);
  }

  std::string info_before = fetch_info(o);
  auto before = parse_info(info_before);
  Shared shared(o);
  std::vector<std::unique_ptr<Worker>> workers;
  for (int w = 0; w < o.threads; ++w) workers.push_back(std::make_unique<Worker>(w, &shared));
  double cpu0 = process_cpu_seconds();
  uint64_t t0 = now_ns();
  std::vector<std::thread> threads;
  for (auto& w : workers) threads.emplace_back([&w] { w->run(); });

  // Progress, once a second: rewritten in place (and coloured) on a terminal, plain when piped.
  const bool tty = isatty(STDERR_FILENO) == 1;
  uint64_t last_delivered = 0, last_t = t0;
  // Bound the whole run: ramp-up, warm-up, measurement and a drain allowance.
  double limit_s = o.subscribers / static_cast<double>(o.connect_rate) + o.warmup + o.duration +
                   o.stall_timeout + 30;
  while (!shared.stop.load()) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1000));
    uint64_t t = now_ns();
    if ((t - t0) / 1e9 > limit_s) {
      std::fprintf(stderr, "\nfanout-load: run exceeded %.0f s; stopping\n", limit_s);
      shared.stalled.store(true);
      shared.stop.store(true);
      break;
    }
    if (o.quiet) continue;
    uint64_t d = 0;
    for (int w = 0; w < o.threads; ++w) d += shared.delivered[w].load();
    Histogram iv;
    {
      std::lock_guard<std::mutex> lock(shared.snap_mu);
      iv = shared.interval;
      shared.interval.reset();
    }
    double rate = static_cast<double>(d - last_delivered) / (static_cast<double>(t - last_t) / 1e9);
    last_delivered = d;
    last_t = t;
    uint64_t errors = shared.protocol_errors.load() + shared.count_mismatches.load() +
                      static_cast<uint64_t>(shared.failed_connects.load());
    const char* phase = !shared.go.load() ? "connecting" : (t < shared.measure_start_ns.load() ? "warm-up" : "measuring");
    char line[256];
    std::snprintf(line, sizeof(line), "[%6.1fs] %-10s subs %d/%d  %s%s msg/s%s  p99 %s  errors %s%llu%s",
                  static_cast<double>(t - t0) / 1e9, phase, shared.ready.load(), o.subscribers,
                  tty ? "\x1b[32m" : "", fmt_rate(rate).c_str(), tty ? "\x1b[0m" : "",
                  fmt_us(iv.quantile(0.99)).c_str(), tty && errors ? "\x1b[31m" : "",
                  static_cast<unsigned long long>(errors), tty && errors ? "\x1b[0m" : "");
    if (tty) {
      std::fprintf(stderr, "\r\x1b[2K%s", line);
    } else {
      std::fprintf(stderr, "%s\n", line);
    }
  }
  for (auto& t : threads) t.join();
  if (tty && !o.quiet) std::fprintf(stderr, "\n");
  double cpu1 = process_cpu_seconds();
  uint64_t t1 = now_ns();

  Histogram lat;
  VerifyCounts normal, slow, stopped;
  uint64_t closed_by_server = 0;
  double max_thread_cpu = 0;
  for (auto& w : workers) {
    WorkerResult r = w->result();
    lat.merge(r.latency);
    normal += r.normal;
    slow += r.slow;
    stopped += r.stopped;
    closed_by_server += r.closed_by_server;
    max_thread_cpu = std::max(max_thread_cpu, r.cpu_seconds);
  }
  std::string info_after = fetch_info(o);
  auto after = parse_info(info_after);
  uint64_t ms = shared.measure_start_ns.load(), me = shared.measure_end_ns.load();
  double measured_s = me > ms ? static_cast<double>(me - ms) / 1e9 : 0;
  double deliveries_per_s = measured_s > 0 ? static_cast<double>(lat.count()) / measured_s : 0;
  double mean_size = static_cast<double>(o.size);
  if (!shared.size_cdf.empty()) {
    mean_size = 0;
    double prev = 0;
    for (const auto& [cdf, size] : shared.size_cdf) {
      mean_size += (cdf - prev) * static_cast<double>(size);
      prev = cdf;
    }
  }
  double mbps = deliveries_per_s * mean_size / 1e6;
  double wall = static_cast<double>(t1 - t0) / 1e9;
  double loader_cpu = cpu1 - cpu0;
  // The busiest worker thread's share of a core: above 90% the tool, not the server, may be the limit.
  double busiest = wall > 0 ? max_thread_cpu / wall : 0;
  bool saturated = busiest > 0.9;
  double server_cpu_per_delivery_ns = 0;
  uint64_t cs = shared.server_cpu_start_ticks.load(), ce = shared.server_cpu_end_ticks.load();
  if (cs && ce && lat.count()) {
    server_cpu_per_delivery_ns = static_cast<double>(ce - cs) / static_cast<double>(sysconf(_SC_CLK_TCK)) * 1e9 /
                                 static_cast<double>(lat.count());
  }
  auto delta = [&](const char* k) -> long long {
    if (!before.count(k) || !after.count(k)) return -1;
    return std::stoll(after[k]) - std::stoll(before[k]);
  };
  long long d_sendmsg = delta("sendmsg_calls"), d_delivered = delta("messages_delivered");
  long long d_wait = delta("wait_calls");
  // Backend-neutral: sends completed (sendmsg calls or SENDMSG completions) and every I/O
  // syscall the backend made (on io_uring, io_uring_enter).
  long long d_sends = delta("sends_completed"), d_syscalls = delta("syscalls");
  long long d_enter = delta("io_uring_enter_calls"), d_completions = delta("completions");

  uint64_t errors = shared.protocol_errors.load() + shared.count_mismatches.load();
  bool stalled = shared.stalled.load();
  int failed_connects = shared.failed_connects.load();
  std::string sizes = o.size_mix.empty() ? std::to_string(o.size) + "-byte payloads" : "payload mix " + o.size_mix;
  std::printf("fanout-load: %s, %s loop, %d subscribers over %d topic(s), %d publisher(s), %s, %d thread(s)\n",
              o.proto.c_str(), o.mode.c_str(), o.subscribers, o.topics, o.publishers, sizes.c_str(), o.threads);
  if (!after.empty()) {
    std::printf("  server: %s %s, backend %s, %s shard(s)\n",
                after.count("fanout_version") ? "fanoutd" : "redis", after["redis_version"].c_str(),
                after.count("backend") ? after["backend"].c_str() : after["multiplexing_api"].c_str(),
                after.count("shards") ? after["shards"].c_str() : "1");
  }
  std::printf("  measured %.2f s: %llu deliveries, %s deliveries/s, %.1f MB/s payload\n", measured_s,
              static_cast<unsigned long long>(lat.count()), fmt_rate(deliveries_per_s).c_str(), mbps);
  std::printf("  latency: p50 %s  p90 %s  p99 %s  p99.9 %s  max %s\n", fmt_us(lat.quantile(0.5)).c_str(),
              fmt_us(lat.quantile(0.9)).c_str(), fmt_us(lat.quantile(0.99)).c_str(),
              fmt_us(lat.quantile(0.999)).c_str(), fmt_us(lat.max()).c_str());
  std::printf("  verified: %llu received, %llu lost, %llu duplicated, %llu reordered\n",
              static_cast<unsigned long long>(normal.received), static_cast<unsigned long long>(normal.lost),
              static_cast<unsigned long long>(normal.duplicated), static_cast<unsigned long long>(normal.reordered));
  if (o.slow_fraction > 0 || o.stop_fraction > 0) {
    std::printf("  slow readers: %llu received, %llu lost; stopped readers: %llu received, %llu lost; closed by server: %llu\n",
                static_cast<unsigned long long>(slow.received), static_cast<unsigned long long>(slow.lost),
                static_cast<unsigned long long>(stopped.received), static_cast<unsigned long long>(stopped.lost),
                static_cast<unsigned long long>(closed_by_server));
  }
  if (o.churn_subscribers > 0) {
    std::printf("  churn: %llu reconnects of %d churn subscribers, which received %llu messages\n",
                static_cast<unsigned long long>(shared.churn_reconnects.load()), o.churn_subscribers,
                static_cast<unsigned long long>(shared.churn_received.load()));
  }
  if (server_cpu_per_delivery_ns > 0) std::printf("  server CPU: %.0f ns per delivery\n", server_cpu_per_delivery_ns);
  if (d_sends > 0 && d_delivered > 0) {
    std::printf("  server sends: %lld (%.1f messages per send); syscalls: %lld (%.2f per 1,000 deliveries): "
                "%lld sendmsg, %lld io_uring_enter, %lld waits\n",
                d_sends, static_cast<double>(d_delivered) / static_cast<double>(d_sends), d_syscalls,
                d_syscalls > 0 ? 1000.0 * static_cast<double>(d_syscalls) / static_cast<double>(d_delivered) : 0.0,
                d_sendmsg, d_enter, d_wait);
  }
  std::printf("  load generator: %.1f CPU-s over %.1f s wall; busiest thread %.0f%% of a core%s\n", loader_cpu, wall,
              busiest * 100, saturated ? "  WARNING: saturated, figures may understate the server" : "");
  if (errors || stalled || failed_connects) {
    std::printf("  errors: %llu protocol, %llu PUBLISH count mismatches, %d failed connects%s\n",
                static_cast<unsigned long long>(shared.protocol_errors.load()),
                static_cast<unsigned long long>(shared.count_mismatches.load()), failed_connects,
                stalled ? ", stalled (no progress within --stall-timeout)" : "");
  }

  if (!o.json.empty()) {
    std::ofstream j(o.json);
    struct utsname u;
    uname(&u);
    auto num = [&](const char* k, double v) { j << "  \"" << k << "\": " << (std::isfinite(v) ? v : 0) << ",\n"; };
    auto str = [&](const char* k, const std::string& v) { j << "  \"" << k << "\": \"" << v << "\",\n"; };
    j << "{\n";
    str("tool", "fanout-load");
    str("proto", o.proto);
    str("mode", o.mode);
    str("host", o.host);
    num("port", o.port);
    num("subscribers", o.subscribers);
    num("topics", o.topics);
    num("publishers", o.publishers);
    num("size", static_cast<double>(o.size));
    num("window", o.window);
    num("rate", o.rate);
    num("duration", o.duration);
    num("warmup", o.warmup);
    num("threads", o.threads);
    num("rcvbuf", o.rcvbuf);
    num("slow_fraction", o.slow_fraction);
    num("stop_fraction", o.stop_fraction);
    str("kernel", std::string(u.release));
    num("cores", std::thread::hardware_concurrency());
    str("server", after.count("fanout_version") ? "fanoutd" : (o.proto == "nats" ? "nats-server" : "redis-server"));
    str("server_version", after.count("redis_version") ? after["redis_version"] : "");
    str("backend", after.count("backend") ? after["backend"] : (after.count("multiplexing_api") ? after["multiplexing_api"] : ""));
    num("server_shards", after.count("shards") ? std::stod(after["shards"]) : 1);
    num("measured_seconds", measured_s);
    num("deliveries", static_cast<double>(lat.count()));
    num("deliveries_per_second", deliveries_per_s);
    num("payload_mb_per_second", mbps);
    num("latency_p50_ns", static_cast<double>(lat.quantile(0.5)));
    num("latency_p90_ns", static_cast<double>(lat.quantile(0.9)));
    num("latency_p99_ns", static_cast<double>(lat.quantile(0.99)));
    num("latency_p999_ns", static_cast<double>(lat.quantile(0.999)));
    num("latency_max_ns", static_cast<double>(lat.max()));
    num("latency_mean_ns", lat.mean());
    num("published", static_cast<double>(shared.published.load()));
    num("received", static_cast<double>(normal.received));
    num("lost", static_cast<double>(normal.lost));
    num("duplicated", static_cast<double>(normal.duplicated));
    num("reordered", static_cast<double>(normal.reordered));
    num("slow_received", static_cast<double>(slow.received));
    num("slow_lost", static_cast<double>(slow.lost));
    num("stopped_received", static_cast<double>(stopped.received));
    num("stopped_lost", static_cast<double>(stopped.lost));
    num("closed_by_server", static_cast<double>(closed_by_server));
    str("size_mix", o.size_mix);
    num("churn_subscribers", o.churn_subscribers);
    num("churn_rate", o.churn_rate);
    num("churn_reconnects", static_cast<double>(shared.churn_reconnects.load()));
    num("churn_received", static_cast<double>(shared.churn_received.load()));
    num("protocol_errors", static_cast<double>(shared.protocol_errors.load()));
    num("publish_count_mismatches", static_cast<double>(shared.count_mismatches.load()));
    num("failed_connects", failed_connects);
    num("stalled", stalled);
    num("server_cpu_ns_per_delivery", server_cpu_per_delivery_ns);
    num("server_sendmsg_calls", static_cast<double>(d_sendmsg));
    num("server_messages_delivered", static_cast<double>(d_delivered));
    num("server_wait_calls", static_cast<double>(d_wait));
    num("server_sends", static_cast<double>(d_sends));
    num("server_syscalls", static_cast<double>(d_syscalls));
    num("server_enter_calls", static_cast<double>(d_enter));
    num("server_completions", static_cast<double>(d_completions));
    num("loader_cpu_seconds", loader_cpu);
    num("loader_busiest_thread_share", busiest);
    j << "  \"loader_saturated\": " << (saturated ? "true" : "false") << "\n}\n";
  }
  bool bad_run = failed_connects || errors || stalled || normal.duplicated || normal.reordered ||
                 (o.mode == "closed" && normal.lost);
  return bad_run ? 1 : 0;
}
