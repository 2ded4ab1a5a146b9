// fanout-load: drives thousands of subscribers and publishers against a pub/sub server (fanoutd
// or redis-server over RESP2, nats-server over the NATS protocol) with the same workload, checks
// every delivery (order, loss, duplicates) and reports throughput and latency percentiles.
// Loopback targets only; every run is bounded in time and count and stops by itself.
//
// main is the steps: parse, validate, resolve the target once (and with --tls, load the
// certificates and check one TLS connection), run the workers while printing
// progress, then report. The pieces live beside it: cli (flags and checks), target, worker
// (with connection, protocol, publish_schedule, churn), server_info and report.
#include <sys/resource.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "core/histogram.h"
#include "net/socket.h"
#include "tools/load/cli.h"
#include "tools/load/options.h"
#include "tools/load/report.h"
#include "tools/load/server_info.h"
#include "tools/load/shared.h"
#include "tools/load/target.h"
#include "tools/load/tls.h"
#include "tools/load/worker.h"

using namespace fanout;
using namespace fanout::load;

namespace {

int usage_error(const std::string& message) {
  std::fprintf(stderr, "fanout-load: %s\n", message.c_str());
  return 2;
}

// The once-a-second progress line on stderr: rewritten in place (and coloured) on a terminal,
// one line each when piped.
class Progress {
 public:
  Progress(const Options& o, Shared* sh, uint64_t start_ns)
      : o_(o), sh_(sh), start_ns_(start_ns), last_t_(start_ns), tty_(isatty(STDERR_FILENO) == 1) {}

  void print(uint64_t t) {
    uint64_t d = 0;
    for (int w = 0; w < o_.threads; ++w) d += sh_->delivered[w].load();
    Histogram iv;
    {
      std::lock_guard<std::mutex> lock(sh_->snap_mu);
      iv = sh_->interval;
      sh_->interval.reset();
    }
    double rate = static_cast<double>(d - last_delivered_) / (static_cast<double>(t - last_t_) / 1e9);
    last_delivered_ = d;
    last_t_ = t;
    uint64_t errors = sh_->protocol_errors.load() + sh_->count_mismatches.load() +
                      static_cast<uint64_t>(sh_->failed_connects.load());
    const char* phase = !sh_->go.load() ? "connecting" : (t < sh_->measure_start_ns.load() ? "warm-up" : "measuring");
    char line[256];
    std::snprintf(line, sizeof(line), "[%6.1fs] %-10s subs %d/%d  %s%s msg/s%s  p99 %s  errors %s%llu%s",
                  static_cast<double>(t - start_ns_) / 1e9, phase, sh_->ready.load(), o_.subscribers,
                  tty_ ? "\x1b[32m" : "", fmt_rate(rate).c_str(), tty_ ? "\x1b[0m" : "",
                  fmt_us(iv.quantile(0.99)).c_str(), tty_ && errors ? "\x1b[31m" : "",
                  static_cast<unsigned long long>(errors), tty_ && errors ? "\x1b[0m" : "");
    if (tty_) {
      std::fprintf(stderr, "\r\x1b[2K%s", line);
    } else {
      std::fprintf(stderr, "%s\n", line);
    }
  }
  // Ends the line rewritten in place.
  void end() const {
    if (tty_ && !o_.quiet) std::fprintf(stderr, "\n");
  }

 private:
  const Options& o_;
  Shared* sh_;
  const uint64_t start_ns_;
  uint64_t last_delivered_ = 0, last_t_;
  const bool tty_;
};

// Waits for the workers to stop the run, printing progress once a second; stops it itself once
// the whole run (ramp-up, warm-up, measurement and a drain allowance) has overrun its bound.
void watch(const Options& o, Shared* sh, Progress* progress, uint64_t start_ns) {
  double limit_s = o.subscribers / static_cast<double>(o.connect_rate) + o.warmup + o.duration +
                   o.stall_timeout + 30;
  while (!sh->stop.load()) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1000));
    uint64_t t = now_ns();
    if (static_cast<double>(t - start_ns) / 1e9 > limit_s) {
      std::fprintf(stderr, "\nfanout-load: run exceeded %.0f s; stopping\n", limit_s);
      sh->stalled.store(true);
      sh->stop.store(true);
      break;
    }
    if (!o.quiet) progress->print(t);
  }
}

// Runs opt.threads workers to the end of the run; their results go to *results.
RunClock run_workers(const Options& o, Shared* sh, std::vector<WorkerResult>* results) {
  std::vector<std::unique_ptr<Worker>> workers;
  for (int w = 0; w < o.threads; ++w) workers.push_back(std::make_unique<Worker>(w, sh));
  RunClock clock;
  clock.cpu_start_s = cpu_seconds(RUSAGE_SELF);
  clock.start_ns = now_ns();
  std::vector<std::thread> threads;
  for (auto& w : workers) threads.emplace_back([&w] { w->run(); });
  Progress progress(o, sh, clock.start_ns);
  watch(o, sh, &progress, clock.start_ns);
  for (auto& t : threads) t.join();
  progress.end();
  clock.cpu_end_s = cpu_seconds(RUSAGE_SELF);
  clock.end_ns = now_ns();
  for (auto& w : workers) results->push_back(w->result());
  return clock;
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  int exit_code = 0;
  if (!parse_options(argc, argv, &o, &exit_code)) return exit_code;
  if (std::string err = validate_options(&o); !err.empty()) return usage_error(err);
  Target target;
  if (std::string err; !resolve_target(o.host, o.port, &target, &err)) return usage_error(err);
  raise_fd_limit(o);
  std::unique_ptr<TlsClient> tls;
  TlsSessionInfo tls_session;
  if (o.tls) {
    std::string err;
    if (tls = TlsClient::create(o, &err); !tls) return usage_error(err);
    // One connection before the load, so that a certificate problem is one clear line.
    err = tls_probe(*tls, target, format_endpoint(address_text(target.addr), o.port), &tls_session);
    if (!err.empty()) {
      std::fprintf(stderr, "fanout-load: %s\n", err.c_str());
      return 1;
    }
  }

  if (!o.tls && o.proto == "redis") {
    // Without --tls, a TLS port closes each connection without a word: one clear line instead of
    // subscribers that never become ready.
    const std::string err = probe_plaintext(target, format_endpoint(address_text(target.addr), o.port), 5000);
    if (!err.empty()) {
      std::fprintf(stderr, "fanout-load: %s\n", err.c_str());
      return 1;
    }
  }
  InfoFields before = fetch_server_info(target, o.proto, tls.get());
  Shared shared(o, target);
  shared.tls = tls.get();
  shared.tls_session = tls_session;
  std::vector<WorkerResult> results;
  RunClock clock = run_workers(o, &shared, &results);
  InfoFields after = fetch_server_info(target, o.proto, tls.get());

  Summary summary = summarize(o, shared, results, before, after, clock);
  print_summary(o, shared, summary);
  write_json(o, shared, summary);
  return exit_status(o, summary);
}
