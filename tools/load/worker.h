// A fanout-load worker: one thread, one epoll loop, its share of the subscriber connections
// (worker 0 also drives the publishers). Workers share only atomics in Shared and a per-second
// latency snapshot behind a mutex (taken once per second, never per message).
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "core/histogram.h"
#include "tools/load/options.h"
#include "tools/load/verifier.h"

namespace fanout::load {

uint64_t now_ns();

// State every worker can see.
struct Shared {
  explicit Shared(const Options& o);
  const Options& opt;
  std::vector<int> subs_per_topic;   // all subscribers
  std::atomic<int> ready{0};         // subscribers whose subscription is confirmed
  std::atomic<int> failed_connects{0};
  std::atomic<bool> go{false};       // publishing has started
  std::atomic<bool> stop{false};
  std::atomic<uint64_t> measure_start_ns{0};
  std::atomic<uint64_t> measure_end_ns{0};
  std::atomic<uint64_t> published{0};
  std::atomic<uint64_t> protocol_errors{0};
  std::atomic<uint64_t> count_mismatches{0};  // PUBLISH replies that disagree with the plan
  std::atomic<bool> stalled{false};
  std::vector<int> wake_fds;
  // normal_on_topic[w][t]: normal subscribers of worker w on topic t (fixed before start).
  std::vector<std::vector<int>> normal_on_topic;
  std::unique_ptr<std::atomic<uint64_t>[]> received_normal;  // per worker, all normal deliveries
  uint64_t expected_normal_total = 0;  // open loop: set by worker 0 when publishing ends
  std::atomic<bool> expected_ready{false};
  std::atomic<uint64_t> server_cpu_start_ticks{0}, server_cpu_end_ticks{0};
  std::vector<std::string> topic_names;
  // Size mix: cumulative weights and sizes; a message's size is chosen from its publish number.
  std::vector<std::pair<double, size_t>> size_cdf;
  size_t size_for(uint64_t n) const;
  std::atomic<uint64_t> churn_reconnects{0};
  std::atomic<uint64_t> churn_received{0};
  std::unique_ptr<std::atomic<uint64_t>[]> done_round;  // per worker
  std::unique_ptr<std::atomic<uint64_t>[]> delivered;   // per worker, measured deliveries
  // pub_seq[p * topics + t]: messages publisher p sent to topic t (final after stop).
  std::vector<uint64_t> pub_seq;
  std::mutex snap_mu;
  Histogram interval;  // latencies since the last progress line, merged by workers
  // Subscriber classes.
  bool is_stopped(int sub) const;
  bool is_slow(int sub) const;
  bool is_normal(int sub) const { return !is_stopped(sub) && !is_slow(sub); }
  int topic_of(int sub) const { return sub % opt.topics; }
  // Topic of message m of round r in closed loop, and its publisher.
  // Normal deliveries worker w must see in closed-loop round r.
  uint64_t round_expected(int w, uint64_t r) const {
    uint64_t e = 0;
    for (int m = 0; m < opt.window; ++m) e += static_cast<uint64_t>(normal_on_topic[w][round_topic(r, m)]);
    return e;
  }
  int round_topic(uint64_t r, int m) const {
    return static_cast<int>((r * static_cast<uint64_t>(opt.window) + static_cast<uint64_t>(m)) %
                            static_cast<uint64_t>(opt.topics));
  }
};

struct WorkerResult {
  Histogram latency;
  VerifyCounts normal, slow, stopped;
  uint64_t closed_by_server = 0;
  double cpu_seconds = 0;
};

class Worker {
 public:
  Worker(int id, Shared* shared);
  ~Worker();
  void run();
  // After run(): totals, with the tail of each stream accounted as lost.
  WorkerResult result();

 private:
  struct Conn;
  void connect_some(uint64_t now);
  bool open_conn(int role, int index);
  void on_readable(Conn* c, uint64_t now);
  void on_writable(Conn* c);
  template <class Frame, class Parse, class OnFrame>
  size_t for_each_frame(Conn* c, const char* buf, size_t len, Parse parse, OnFrame on_frame);
  // Parse frames from buf[0, len); return the bytes consumed.
  size_t handle_sub_redis(Conn* c, const char* buf, size_t len, uint64_t now);
  size_t handle_sub_nats(Conn* c, const char* buf, size_t len, uint64_t now);
  size_t handle_pub(Conn* c, const char* buf, size_t len);
  void deliver(Conn* c, std::string_view payload, uint64_t now);
  void queue_publish(int pub, int topic, uint64_t send_ns);
  void flush_publishers();
  void drive_publishers(uint64_t now);
  void start_round();
  bool round_complete() const;
  void close_conn(Conn* c, bool by_server);
  void snapshot(uint64_t now);
  void set_events(Conn* c, bool in, bool out);

  void refill_throttled(uint64_t now);
  void churn(uint64_t now);

  const int id_;
  Shared* sh_;
  std::vector<Conn*> throttled_;
  uint64_t delivered_local_ = 0, received_normal_local_ = 0;
  double cpu_seconds_ = 0;
  // Churn subscribers (indices from opt.subscribers on), owned by this worker.
  std::vector<int> my_churn_;
  size_t churn_next_ = 0;   // which of my_churn_ reconnects next
  uint64_t churn_done_ = 0;
  uint64_t churn_local_received_ = 0;
  const Options& opt_;
  int ep_ = -1;
  std::vector<std::unique_ptr<Conn>> subs_;
  std::vector<std::unique_ptr<Conn>> pubs_;
  std::vector<int> my_subs_;        // subscriber indices this worker owns
  size_t next_connect_ = 0;
  uint64_t connect_start_ns_ = 0;
  Histogram latency_, interval_;
  uint64_t last_snap_ns_ = 0;
  uint64_t closed_by_server_ = 0;
  // Closed loop.
  uint64_t round_ = 0;           // the round this worker is counting
  uint64_t round_received_ = 0;
  uint64_t round_expected_ = 0;
  // Worker 0: publishing.
  uint64_t pub_round_ = 0;       // next round to start
  bool round_open_ = false;
  uint64_t round_start_ns_ = 0;
  uint64_t last_progress_ns_ = 0;
  uint64_t open_sent_ = 0;
  uint64_t open_start_ns_ = 0;
  bool publishing_done_ = false;
  uint64_t drain_deadline_ns_ = 0;
  std::string scratch_;
  std::unique_ptr<char[]> read_buf_{new char[256 * 1024]};
};

}  // namespace fanout::load
