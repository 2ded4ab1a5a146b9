// Worker 0's publishers and when they publish. Closed loop: rounds of opt.window messages, the
// next started once every worker has counted all of the last (worker 0 is woken through its
// eventfd). Open loop: message i is due at start + i / rate and stamped with that intended time,
// so a stall shows as latency instead of being hidden (no coordinated omission). It also marks
// the measurement window, samples the server's CPU time, and stops the run.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "tools/load/connection.h"
#include "tools/load/protocol.h"
#include "tools/load/shared.h"

namespace fanout::load {

// Owns the publisher connections (registered in worker 0's Poller, whose events worker 0
// hands back here). Worker 0's thread only, once it runs.
class PublishSchedule {
 public:
  PublishSchedule(Shared* sh, Poller* poller);

  // Connects opt.publishers publishers to the target (blocking connects) and queues their opening
  // bytes. Each that cannot connect counts a failed connect and stops the run.
  void connect();
  // Once per loop iteration, `now` in ns: starts publishing once every publisher and every
  // subscriber is ready, then runs the rounds or the schedule. Sets sh->stop when the run ends
  // (done, or sh->stalled after opt.stall_timeout seconds without a completed round).
  void drive(uint64_t now);
  // A PUBLISH reply of `count` receivers on publisher c, checked against the plan in order. A
  // reply nothing was sent for counts a protocol error.
  void on_count(Conn* c, int64_t count);
  // How long the loop may wait (ms), given the worker's own choice `t`: shorter while waiting to
  // start, until the next open-loop message is due, or while draining.
  int timeout_ms(uint64_t now, int t) const;

 private:
  void start(uint64_t now);
  void drive_closed(uint64_t now, uint64_t measure_start);
  void drive_open(uint64_t now);
  void end_open(uint64_t now, uint64_t total);
  void finish();
  void start_round();
  bool round_complete() const;
  void queue_publish(int pub, int topic, uint64_t send_ns);
  void flush();

  Shared* sh_;
  const Options& opt_;
  Poller* poller_;
  const Proto proto_;
  const bool closed_loop_;
  std::vector<std::unique_ptr<Conn>> pubs_;
  bool publishing_done_ = false;
  uint64_t last_progress_ns_ = 0;
  // Closed loop.
  uint64_t pub_round_ = 0;  // rounds started; payloads number them from 0 (pub_round_ - 1)
  bool round_open_ = false;
  uint64_t round_start_ns_ = 0;
  // Open loop.
  uint64_t open_sent_ = 0;
  uint64_t open_start_ns_ = 0;
  uint64_t drain_deadline_ns_ = 0;     // set once the last message is queued
  uint64_t expected_normal_total_ = 0;  // deliveries the normal subscribers are owed by then
  std::string scratch_;                 // the payload being encoded
};

}  // namespace fanout::load
