// What fanout-load's threads share during a run: the plan fixed before the workers start (who
// subscribes where, which subscribers are slow or stopped, the payload size mix, the target),
// and the run's progress as atomics. Workers never lock per message: the only mutex guards the
// latency snapshot the progress line takes, merged into at most four times a second per worker.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "core/histogram.h"
#include "tools/load/options.h"
#include "tools/load/target.h"
#include "tools/load/tls.h"

namespace fanout::load {

// CLOCK_MONOTONIC in nanoseconds (the clock payload timestamps use). Any thread.
uint64_t now_ns();

// User + system CPU time in seconds of `who`: RUSAGE_SELF (the process) or RUSAGE_THREAD (the
// calling thread), from getrusage(2). Any thread.
double cpu_seconds(int who);

// utime + stime of process `pid` in clock ticks (sysconf(_SC_CLK_TCK) per second), from
// /proc/PID/stat; 0 if it cannot be read. Any thread.
uint64_t process_cpu_ticks(int pid);

// Built on the main thread from validated options (opt.threads <= opt.subscribers, every count
// at least 1) before any worker starts; the plan fields are read-only from then on. Atomics may
// be used from any thread. Subscriber indices 0..subscribers-1 are measured (normal, slow or
// stopped); subscribers.. subscribers+churn_subscribers-1 are the churners.
struct Shared {
  Shared(const Options& o, const Target& t);
  ~Shared();  // closes the wake eventfds
  Shared(const Shared&) = delete;
  Shared& operator=(const Shared&) = delete;

  const Options& opt;
  const Target target;
  // --tls: the client context (set by main before the workers start; null without --tls) and
  // what the probe connection negotiated.
  TlsClient* tls = nullptr;
  TlsSessionInfo tls_session;
  std::vector<int> subs_per_topic;  // all measured subscribers of each topic
  std::vector<std::string> topic_names;
  // normal_on_topic[w][t]: normal subscribers of worker w on topic t.
  std::vector<std::vector<int>> normal_on_topic;
  // Size mix: cumulative weights in (0, 1] and payload sizes in bytes (empty: opt.size).
  std::vector<std::pair<double, size_t>> size_cdf;
  std::vector<int> wake_fds;  // per worker: an eventfd that wakes its loop (worker 0: rounds)

  std::atomic<int> ready{0};  // measured + churn subscribers whose subscription is confirmed
  std::atomic<int> failed_connects{0};
  std::atomic<bool> go{false};  // publishing has started
  std::atomic<bool> stop{false};
  std::atomic<bool> stalled{false};
  std::atomic<uint64_t> measure_start_ns{0};  // now_ns(); 0 until publishing starts
  std::atomic<uint64_t> measure_end_ns{0};
  std::atomic<uint64_t> published{0};
  std::atomic<uint64_t> protocol_errors{0};
  std::atomic<uint64_t> count_mismatches{0};  // PUBLISH replies that disagree with the plan
  std::atomic<uint64_t> server_cpu_start_ticks{0}, server_cpu_end_ticks{0};  // clock ticks + 1
  std::atomic<uint64_t> churn_reconnects{0};
  std::atomic<uint64_t> churn_received{0};
  // Per worker, stored by that worker: the last closed-loop round it completed + 1, its
  // measured deliveries, and all deliveries to its normal subscribers.
  std::unique_ptr<std::atomic<uint64_t>[]> done_round;
  std::unique_ptr<std::atomic<uint64_t>[]> delivered;
  std::unique_ptr<std::atomic<uint64_t>[]> received_normal;
  // pub_seq[p * topics + t]: messages publisher p sent to topic t. Written by worker 0 only;
  // read by the others once every worker has joined.
  std::vector<uint64_t> pub_seq;
  std::mutex snap_mu;
  Histogram interval;  // latencies (ns) since the last progress line; guarded by snap_mu

  // Payload bytes of the n-th message published: from the size mix, the same for the same n on
  // every run, or opt.size.
  size_t size_for(uint64_t n) const;
  // Subscriber classes (churners are none of them: stopped and slow are measured subscribers).
  bool is_stopped(int sub) const;
  bool is_slow(int sub) const;
  bool is_normal(int sub) const { return !is_stopped(sub) && !is_slow(sub); }
  int topic_of(int sub) const { return sub % opt.topics; }
  // Closed loop: the topic of message m (0..window-1) of round r.
  int round_topic(uint64_t r, int m) const {
    return static_cast<int>((r * static_cast<uint64_t>(opt.window) + static_cast<uint64_t>(m)) %
                            static_cast<uint64_t>(opt.topics));
  }
  // Closed loop: the deliveries worker w's normal subscribers must see in round r.
  uint64_t round_expected(int w, uint64_t r) const {
    uint64_t e = 0;
    for (int m = 0; m < opt.window; ++m) e += static_cast<uint64_t>(normal_on_topic[w][round_topic(r, m)]);
    return e;
  }
};

}  // namespace fanout::load
