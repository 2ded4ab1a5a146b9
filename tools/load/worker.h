// A fanout-load worker: one thread with its own epoll loop and its share of the subscribers
// (subscriber i belongs to worker i % threads, churners likewise); worker 0 also drives the
// publishers. It verifies every delivery to its subscribers, records latency, and counts the
// closed-loop rounds it has seen whole. Workers share only Shared (atomics, and the latency
// snapshot behind a mutex taken at most four times a second).
#pragma once

#include <sys/epoll.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/histogram.h"
#include "tools/load/churn.h"
#include "tools/load/connection.h"
#include "tools/load/protocol.h"
#include "tools/load/publish_schedule.h"
#include "tools/load/shared.h"
#include "tools/load/verifier.h"

namespace fanout::load {

// What a worker measured, once it has stopped.
struct WorkerResult {
  Histogram latency;  // ns from intended send to receipt, measured deliveries only
  VerifyCounts normal, slow, stopped;  // by subscriber class; churners are left out
  uint64_t closed_by_server = 0;       // connections the server closed or reset
  double cpu_seconds = 0;              // this worker thread's user + system CPU time
};

// One per worker thread; owns its subscriber connections, its Poller and (worker 0) the
// PublishSchedule. Constructed and read (result) on the main thread, run on its own thread.
class Worker {
 public:
  // Built on the main thread; `shared` must outlive the worker.
  Worker(int id, Shared* shared);
  // The worker's thread: connects its subscribers at its share of opt.connect_rate per second,
  // then reads and verifies until sh->stop. Every connection goes to shared->target; one that
  // cannot connect counts in failed_connects (and, before publishing starts, stops the run).
  void run();
  // After run() has returned (main thread, after join): the totals, with the tail of each
  // publisher's stream that never arrived counted as lost.
  WorkerResult result();

 private:
  std::unique_ptr<Conn> open_subscriber(int index);
  void connect_some(uint64_t now);
  void handle(const struct epoll_event& ev, uint64_t now);
  void tls_failed(Conn* c, const std::string& why);
  void read_tls_pending(uint64_t now);
  void on_readable(Conn* c, uint64_t now);
  size_t decode(Conn* c, const char* buf, size_t len, uint64_t now);
  void on_event(Conn* c, const Event& ev, uint64_t now);
  void on_ready(Conn* c);
  void deliver(Conn* c, std::string_view payload, uint64_t now);
  void count_round(uint64_t round);
  void churn(uint64_t now);
  int loop_timeout(uint64_t now, bool connecting) const;
  void snapshot(uint64_t now);

  const int id_;
  Shared* sh_;
  const Options& opt_;
  const Proto proto_;
  const bool closed_loop_;
  Poller poller_;
  ReadThrottle throttle_;
  std::unique_ptr<PublishSchedule> publishers_;  // worker 0 only
  // my_subs_[k]: the subscriber index whose connection is subs_[k]; the churners come last,
  // from first_churn_.
  std::vector<int> my_subs_;
  std::vector<std::unique_ptr<Conn>> subs_;
  size_t first_churn_ = 0;
  ChurnSchedule churn_;
  uint64_t connect_start_ns_ = 0;
  int handshaking_ = 0;  // subscribers whose TLS handshake is under way
  Histogram latency_, interval_;
  uint64_t delivered_local_ = 0, received_normal_local_ = 0;
  uint64_t last_snap_ns_ = 0;
  double cpu_seconds_ = 0;
  // Closed loop: the round this worker is counting, and its deliveries so far.
  uint64_t round_ = 0;
  uint64_t round_received_ = 0;
  uint64_t round_expected_ = 0;
  std::unique_ptr<char[]> read_buf_;
  std::vector<Conn*> tls_retry_;  // read_tls_pending's list, kept for its capacity
};

}  // namespace fanout::load
