#include "tools/load/publish_schedule.h"

#include <algorithm>

#include "tools/load/payload.h"

namespace fanout::load {

PublishSchedule::PublishSchedule(Shared* sh, Poller* poller)
    : sh_(sh),
      opt_(sh->opt),
      poller_(poller),
      proto_(proto_from_name(sh->opt.proto)),
      closed_loop_(sh->opt.mode == "closed") {}

void PublishSchedule::connect() {
  for (int p = 0; p < opt_.publishers; ++p) {
    auto c = std::make_unique<Conn>();
    if (!Poller::connect(c.get(), sh_->target, 0, sh_->tls)) {
      sh_->failed_connects.fetch_add(1);
      sh_->stop.store(true);
      continue;
    }
    c->role = kPub;
    c->index = p;
    c->ready = encode_publisher_hello(proto_, &c->out);
    poller_->add(c.get());
    pubs_.push_back(std::move(c));
  }
}

void PublishSchedule::drive(uint64_t now) {
  if (publishing_done_) return;
  if (!sh_->go.load(std::memory_order_relaxed)) return start(now);
  uint64_t ms = sh_->measure_start_ns.load();
  if (sh_->server_cpu_start_ticks.load() == 0 && now >= ms && opt_.server_pid > 0) {
    sh_->server_cpu_start_ticks.store(process_cpu_ticks(opt_.server_pid) + 1);
  }
  if (closed_loop_) {
    drive_closed(now, ms);
  } else {
    drive_open(now);
  }
}

void PublishSchedule::start(uint64_t now) {
  bool pubs_ready = true;
  for (auto& c : pubs_) pubs_ready &= c->ready && (!sh_->tls || c->tls_ready);
  if (!pubs_ready || sh_->ready.load() < opt_.subscribers + opt_.churn_subscribers) return;
  sh_->go.store(true);
  uint64_t ms = now + static_cast<uint64_t>(opt_.warmup * 1e9);
  sh_->measure_start_ns.store(ms == 0 ? 1 : ms);
  last_progress_ns_ = now;
  open_start_ns_ = now;
  if (closed_loop_) start_round();
}

void PublishSchedule::drive_closed(uint64_t now, uint64_t measure_start) {
  uint64_t end = measure_start + static_cast<uint64_t>(opt_.duration * 1e9);
  bool enough = opt_.max_messages && sh_->published.load() >= opt_.max_messages;
  if (round_open_ && round_complete()) {
    round_open_ = false;
    last_progress_ns_ = now;
    // Time alone ends a run only once a round that started inside the measurement window has
    // completed: a round longer than the window must still be measured, not reported as zero.
    bool measured_round = round_start_ns_ >= measure_start;
    if ((now >= end && measured_round) || enough) {
      sh_->measure_end_ns.store(now);
      if (opt_.server_pid > 0) sh_->server_cpu_end_ticks.store(process_cpu_ticks(opt_.server_pid) + 1);
      return finish();
    }
    start_round();
  } else if (round_open_ && now - last_progress_ns_ > static_cast<uint64_t>(opt_.stall_timeout * 1e9)) {
    sh_->stalled.store(true);
    sh_->measure_end_ns.store(now);
    finish();
  }
}

void PublishSchedule::finish() {
  publishing_done_ = true;
  sh_->stop.store(true);
}

void PublishSchedule::drive_open(uint64_t now) {
  uint64_t total = static_cast<uint64_t>(opt_.rate * (opt_.warmup + opt_.duration));
  if (opt_.max_messages) total = std::min(total, opt_.max_messages);
  uint64_t due = static_cast<uint64_t>(static_cast<double>(now - open_start_ns_) / 1e9 * opt_.rate) + 1;
  if (due > total) due = total;
  int batch = 0;
  while (open_sent_ < due && batch < 4096) {
    uint64_t i = open_sent_++;
    uint64_t intended = open_start_ns_ + static_cast<uint64_t>(static_cast<double>(i) * 1e9 / opt_.rate);
    int p = static_cast<int>(i % static_cast<uint64_t>(opt_.publishers));
    int t = static_cast<int>((i / static_cast<uint64_t>(opt_.publishers)) % static_cast<uint64_t>(opt_.topics));
    queue_publish(p, t, intended);
    ++batch;
  }
  if (batch) flush();
  if (open_sent_ >= total && drain_deadline_ns_ == 0) end_open(now, total);
  if (drain_deadline_ns_) {
    uint64_t got = 0;
    for (int w = 0; w < opt_.threads; ++w) got += sh_->received_normal[w].load();
    if (got >= expected_normal_total_ || now >= drain_deadline_ns_) finish();
  }
}

// The last message is queued: the measurement ends at its intended time, and the subscribers
// get until the drain deadline to receive what they are owed.
void PublishSchedule::end_open(uint64_t now, uint64_t total) {
  sh_->measure_end_ns.store(open_start_ns_ + static_cast<uint64_t>(static_cast<double>(total) * 1e9 / opt_.rate));
  if (opt_.server_pid > 0) sh_->server_cpu_end_ticks.store(process_cpu_ticks(opt_.server_pid) + 1);
  uint64_t expect = 0;
  for (int p = 0; p < opt_.publishers; ++p) {
    for (int t = 0; t < opt_.topics; ++t) {
      uint64_t n = sh_->pub_seq[static_cast<size_t>(p) * opt_.topics + t];
      for (int w = 0; w < opt_.threads; ++w) expect += n * static_cast<uint64_t>(sh_->normal_on_topic[w][t]);
    }
  }
  expected_normal_total_ = expect;
  drain_deadline_ns_ = now + static_cast<uint64_t>(std::max(2.0, opt_.stall_timeout) * 1e9);
}

void PublishSchedule::start_round() {
  uint64_t now = now_ns();
  round_start_ns_ = now;
  ++pub_round_;
  for (int m = 0; m < opt_.window; ++m) {
    queue_publish(m % opt_.publishers, sh_->round_topic(pub_round_ - 1, m), now);
  }
  round_open_ = true;
  flush();
}

bool PublishSchedule::round_complete() const {
  uint64_t r = pub_round_ - 1;
  for (int w = 0; w < opt_.threads; ++w) {
    if (sh_->round_expected(w, r) != 0 && sh_->done_round[w].load(std::memory_order_acquire) < r + 1) return false;
  }
  return true;
}

void PublishSchedule::queue_publish(int pub, int topic, uint64_t send_ns) {
  Conn* c = pubs_[pub].get();
  PayloadHeader h;
  h.publisher = static_cast<uint32_t>(pub);
  h.seq = sh_->pub_seq[static_cast<size_t>(pub) * opt_.topics + topic]++;
  h.send_ns = send_ns;
  h.round = pub_round_ == 0 ? 0 : pub_round_ - 1;
  encode_payload(h, sh_->size_for(sh_->published.load(std::memory_order_relaxed)), &scratch_);
  encode_publish(proto_, sh_->topic_names[topic], scratch_, &c->out);
  // With churn the number subscribed at any instant is not known in advance: no check.
  if (publish_is_counted(proto_)) c->expect_counts.push_back(opt_.churn_subscribers ? -1 : sh_->subs_per_topic[topic]);
  sh_->published.fetch_add(1, std::memory_order_relaxed);
}

void PublishSchedule::flush() {
  for (auto& c : pubs_) {
    if (!c->closed && c->out.size() > c->out_off) poller_->flush(c.get());
  }
}

void PublishSchedule::on_count(Conn* c, int64_t count) {
  if (c->expect_counts.empty()) {
    sh_->protocol_errors.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  int want = c->expect_counts.front();
  if (want >= 0 && count != want) sh_->count_mismatches.fetch_add(1, std::memory_order_relaxed);
  c->expect_counts.pop_front();
}

int PublishSchedule::timeout_ms(uint64_t now, int t) const {
  bool go = sh_->go.load(std::memory_order_relaxed);
  if (go && !closed_loop_ && !publishing_done_) {
    uint64_t next_due = open_start_ns_ + static_cast<uint64_t>(static_cast<double>(open_sent_) * 1e9 / opt_.rate);
    t = next_due > now + 1'000'000 ? static_cast<int>((next_due - now) / 1'000'000) : 0;
  }
  if (!go) t = 1;
  if (drain_deadline_ns_) t = 1;
  return t;
}

}  // namespace fanout::load
