// fanout-load's results: the figures derived from the workers' results, the server's INFO
// before and after, and the clocks; printed as the summary and written as JSON (README lists
// the fields). Main thread, after every worker has joined.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/histogram.h"
#include "tools/load/options.h"
#include "tools/load/server_info.h"
#include "tools/load/shared.h"
#include "tools/load/verifier.h"
#include "tools/load/worker.h"

namespace fanout::load {

// The run's wall clock (now_ns(), ns) and this process's CPU time (s) at start and end.
struct RunClock {
  uint64_t start_ns = 0, end_ns = 0;
  double cpu_start_s = 0, cpu_end_s = 0;
};

// Everything the summary and the JSON show, derived once by summarize().
struct Summary {
  Histogram latency;  // ns, measured deliveries
  VerifyCounts normal, slow, stopped;
  uint64_t closed_by_server = 0;
  InfoFields server;  // INFO after the run
  double measured_s = 0, deliveries_per_s = 0, mean_size = 0, mb_per_s = 0;
  double wall_s = 0, loader_cpu_s = 0;
  double busiest = 0;  // the busiest worker thread's share of a core
  bool saturated = false;
  double server_cpu_ns_per_delivery = 0;  // 0 without --server-pid
  // Server counter deltas over the run; -1 where INFO lacks the field.
  long long d_sendmsg = -1, d_delivered = -1, d_wait = -1, d_sends = -1, d_syscalls = -1, d_enter = -1,
            d_completions = -1;
  uint64_t errors = 0;  // protocol errors + PUBLISH count mismatches
  bool stalled = false;
  int failed_connects = 0;
  // --tls: what the probe negotiated ("TLSv1.3", "TLS_AES_256_GCM_SHA384"), and the handshakes
  // and established sessions that failed during the run, with the first reason.
  std::string tls_version, tls_cipher;
  uint64_t tls_failures = 0;
  std::string tls_first_failure;
};

// Merges the workers' results and derives rates (per second), payload MB/s (1e6 bytes), the
// load generator's busiest-thread share, server CPU per delivery (ns) and the server's counter
// deltas from INFO before and after (-1 where a field is missing, as for redis-server).
Summary summarize(const Options& o, const Shared& sh, const std::vector<WorkerResult>& results,
                  const InfoFields& before, const InfoFields& after, const RunClock& clock);
// The summary on stdout.
void print_summary(const Options& o, const Shared& sh, const Summary& s);
// Every figure and parameter as one JSON object into o.json (nothing if it is empty).
void write_json(const Options& o, const Shared& sh, const Summary& s);
// 0 if the run is sound; 1 on failed connects, protocol errors, a stall, duplicates, reorders,
// or (closed loop, where nothing may be dropped) any loss.
int exit_status(const Options& o, const Summary& s);

// 3.26M, 12.5k, 950: a rate for humans.
std::string fmt_rate(double v);
// 850us, or 12.3ms from 10 ms up.
std::string fmt_us(uint64_t ns);

}  // namespace fanout::load
