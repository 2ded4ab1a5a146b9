// Connection lifecycle: accept, completions, close, free, timeouts, shutdown (see connection.h).
#include "net/shard_core.h"

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "net/log.h"
#include "net/process_memory.h"
#include "net/socket.h"

namespace fanout {

ShardCore::ShardCore(int id, SharedState* shared)
    : id_(id),
      shared_(shared),
      cfg_(shared->cfg),
      stats_(&shared->stats[id]),
      retire_(&shared->qsbr),
      table_(&retire_),
      arena_(static_cast<uint16_t>(id), shared->nshards),
      queued_cap_(shared->cfg.max_queued_bytes / shared->nshards),
      remote_counts_(shared->nshards, 0),
      ring_dirty_(shared->nshards, 0),
      awaiting_space_(shared->nshards, 0),
      mail_buf_(256) {
  if (cfg_.proxy_protocol) {
    std::string unused;
    parse_cidr_list(cfg_.proxy_protocol_from, &proxy_from_, &unused);  // validate_config checked it
  }
  acl_ = shared->acl.current();
  acl_version_ = shared->acl.version();
  stats_->ncommands = command_stat_names().size();
  stats_->commands = std::make_unique<CommandStat[]>(stats_->ncommands);
  shared->tables[id] = &table_;
  if (shared->upstream) {
    up_ = std::make_unique<UpstreamShard>(*shared->upstream);
    table_.set_observer(this);
  }
}

ShardCore::~ShardCore() = default;

ShardCore::Accepted ShardCore::accept(int fd, const Listener& l) {
  if (l.protocol == Protocol::kHttp) return accept_http(fd, l);
  if (shutting_down_) return {};  // accepted in the same wake-up as the stop
  uint64_t n = shared_->clients.fetch_add(1, std::memory_order_relaxed);
  if (n >= cfg_.max_clients || (free_slots_.empty() && conns_.size() >= kMaxSlots)) {
    shared_->clients.fetch_sub(1, std::memory_order_relaxed);
    stats_->rejected_connections.add();
    if (refusing_clients_.hit(now_ms_)) {
      LOG_WARN("max clients (%zu) reached: refusing new connections with \"-ERR max number of clients "
               "reached\" (logged once; INFO rejected_connections counts them)", cfg_.max_clients)
          .field("shard", id_)
          .field("max_clients", cfg_.max_clients);
    }
    // Redis's error in the clear, except on a TLS port, where a client expects only TLS records
    // (Redis closes those without a byte too).
    return {nullptr, l.tls ? nullptr : "-ERR max number of clients reached\r\n"};
  }
  Conn* c = add_conn(fd, l);
  c->client_id = shared_->next_client_id.fetch_add(1, std::memory_order_relaxed);
  if (l.tls) start_tls(c);
  c->user = acl_->initial_user();
  if (cfg_.proxy_protocol) {
    bool v6 = false;
    uint8_t addr[16];
    c->awaiting_proxy = peer_ip(fd, &v6, addr) && cidr_match(proxy_from_, v6, addr);
  }
  stats_->total_connections_received.add();
  set_want_recv(c, true);
  return {c, nullptr};
}

ShardCore::Accepted ShardCore::accept_http(int fd, const Listener& l) {
  if (http_closed_) return {};  // every shard's drain is over; /healthz answered 503 until now
  if (shared_->http_connections.fetch_add(1, std::memory_order_relaxed) >= kMaxHttpConnections ||
      (free_slots_.empty() && conns_.size() >= kMaxSlots)) {
    shared_->http_connections.fetch_sub(1, std::memory_order_relaxed);
    return {nullptr, "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"};
  }
  ++http_live_;
  Conn* c = add_conn(fd, l);
  c->http = std::make_unique<HttpRequestReader>();
  stats_->http_connections_received.add();
  set_want_recv(c, true);
  return {c, nullptr};
}

Conn* ShardCore::add_conn(int fd, const Listener& l) {
  uint32_t slot;
  if (!free_slots_.empty()) {
    slot = free_slots_.back();
    free_slots_.pop_back();
  } else {
    slot = static_cast<uint32_t>(conns_.size());
    conns_.emplace_back();
    gens_.push_back(0);
  }
  conns_[slot] = std::make_unique<Conn>(&chunks_, &queued_, cfg_.request);
  Conn* c = conns_[slot].get();
  c->slot = slot;
  c->gen = ++gens_[slot];  // a late completion for the previous occupant will not match
  c->fd = fd;
  c->protocol = l.protocol;
  c->local = l.local();
  if (c->local) c->addr = c->laddr = l.unix_path + ":0";
  c->created_ms = now_ms_;
  c->last_input_ms = now_ms_;
  ++live_;
  stats_->clients.set(live_ - http_live_ - link_live_);
  stats_->http_connections.set(http_live_);
  return c;
}

Conn* ShardCore::add_link_conn(int fd) {
  ++link_live_;  // before add_conn, as accept_http counts http_live_: the gauges it sets are right
  Listener none;  // a connection the shard opened: no listener, RESP framing unused
  Conn* c = add_conn(fd, none);
  c->upstream_link = true;
  c->client_id = shared_->next_client_id.fetch_add(1, std::memory_order_relaxed);
  return c;
}

void ShardCore::on_accept_error(int err) {
  stats_->accept_errors.add();
  if (accept_failing_.hit(now_ms_)) {
    LOG_ERROR("accept failed: %s; pausing accepts briefly until it clears (logged once; INFO "
              "accept_errors counts them)", strerror(err))
        .field("shard", id_)
        .field("error", strerror(err));
  }
}

void ShardCore::on_io_completion(const Completion& e) {
  Conn* c = lookup(e.id);
  if (c == nullptr) {
    // A completion for a slot's previous occupant: its connection is gone (a backend that
    // tracks slots drops these itself; counted here for any that reach the shard).
    stats_->backend.stale_completions.add();
    return;
  }
  if (e.op == Op::kConnect) {
    upstream_connected(c, e.res);
    return;
  }
  if (e.op == Op::kSend) {
    c->send_inflight = false;
    --c->ops;
    if (c->tls && c->tls->mode() == TlsMode::kUserspace) {
      on_tls_sent(c, e.res);
    } else {  // plaintext, or plaintext the kernel encrypts (kernel TLS)
      on_sent(c, e.res);
    }
    return;
  }
  bool final = (e.flags & kMore) == 0;
  if (final) {
    c->recv_on = false;
    --c->ops;
  }
  if (e.res > 0) {
    if (c->tls) {
      tls_input(c, e.data, static_cast<size_t>(e.res));
    } else {
      on_input(c, e.data, static_cast<size_t>(e.res));
    }
  } else if (e.res == 0) {
    if (c->tls && !c->tls->established()) tls_handshake_failed(c, "the client closed the connection");
    on_peer_eof(c);
  } else if (e.res != -ECANCELED && e.res != -ENOBUFS && e.res != -EAGAIN && !c->closing()) {
    stats_->recv_errors.add();
    close_conn(c, strerror(-e.res));
  }
  // A multishot receive that ended while still wanted (out of provided buffers, or a spurious
  // EAGAIN) is re-armed, never treated as a close.
  if (final && c->want_recv && !c->closing()) set_want_recv(c, true);
}

void ShardCore::end_episode(Episode& e, const char* head, const char* what) {
  if (!e.end_if_quiet(now_ms_, kEpisodeQuietMs)) return;
  LOG_OK("%s (%llu %s over %lld ms)", head, static_cast<unsigned long long>(e.count()), what,
         static_cast<long long>(e.duration_ms()))
      .field("shard", id_)
      .field("count", e.count())
      .field("duration_ms", e.duration_ms());
}

void ShardCore::end_episodes() {
  end_episode(accept_failing_, "accepting again", "failed accepts");
  end_episode(refusing_proxy_headers_, "no more bad PROXY headers", "connections closed");
  // The tier's: each is logged once per episode, so each episode must end.
  end_episode(upstream_not_forwarded_, "upstream: messages published upstream again", "not forwarded");
  end_episode(upstream_errors_, "upstream: no more -ERR from the NATS servers", "-ERR lines");
  end_episode(upstream_name_clash_, "upstream: no more messages from another node with this name", "messages");
  for (int i = 0; i <= static_cast<int>(TlsFailure::kOther); ++i) {
    Episode& e = tls_failing_[i];
    if (e.end_if_quiet(now_ms_, kEpisodeQuietMs)) {
      LOG_OK("no more TLS clients closed for %s errors (%llu over %lld ms)", tls_failure_name(static_cast<TlsFailure>(i)),
             static_cast<unsigned long long>(e.count()), static_cast<long long>(e.duration_ms()))
          .field("shard", id_)
          .field("reason", tls_failure_name(static_cast<TlsFailure>(i)))
          .field("count", e.count())
          .field("duration_ms", e.duration_ms());
    }
  }
  end_episode(tls_on_plaintext_port_, "no more TLS handshakes on the plaintext port", "clients closed");
  end_episode(tls_kernel_fallback_, "no more TLS clients refused by kernel TLS", "stayed in userspace");
  end_episode(refusing_clients_, "no longer refusing connections", "refused at max clients");
  if (queued_.bytes <= queued_cap_ && shedding_for_cap_.end_if_quiet(now_ms_, kEpisodeQuietMs)) {
    LOG_OK("queued output back under the cap (%llu pushes met it over %lld ms; now %zu bytes queued)",
           static_cast<unsigned long long>(shedding_for_cap_.count()),
           static_cast<long long>(shedding_for_cap_.duration_ms()), queued_.bytes)
        .field("shard", id_)
        .field("count", shedding_for_cap_.count())
        .field("duration_ms", shedding_for_cap_.duration_ms())
        .field("queued_bytes", queued_.bytes);
  }
  end_episode(auth_failing_, "authentication failures stopped", "failures");
  end_episode(slow_disconnects_, "slow subscribers no longer disconnected", "disconnected");
  end_episode(policy_drops_, "messages no longer dropped for slow subscribers", "pushes met a limit");
}

void ShardCore::release_conn(Conn* c) {
  // A TLS client's queue keeps the plaintext behind unsent records in flight; no send is
  // outstanding once it is freed.
  if (c->tls) {
    c->out.send_failed();
    (c->tls->mode() == TlsMode::kKernel ? stats_->tls_kernel_clients : stats_->tls_userspace_clients).sub();
  }
  stats_->deliveries_discarded.add(c->out.clear());
  if (c->blocked) std::erase(blocked_, c);
  if (c->walk) {
    std::erase(walking_, c);
    end_walk(c);
  }
  std::erase(backoff_, c);
  if (c->http) --http_live_;
  if (c->upstream_link) --link_live_;
  uint32_t slot = c->slot;
  conns_[slot].reset();
  free_slots_.push_back(slot);
  --live_;
  stats_->clients.set(live_ - http_live_ - link_live_);
  stats_->http_connections.set(http_live_);
}

void ShardCore::on_peer_eof(Conn* c) {
  if (c->closing()) return;
  // On io_uring the end of input can arrive in the same batch as the commands before it, and a
  // command may still be held (a PUBLISH waiting for ring space, a PUBSUB CHANNELS reply being
  // built): the commands already received are run and answered, then the connection closes.
  c->input_ended = true;
  set_want_recv(c, false);
  if (c->upstream_link) {
    close_conn(c, "the NATS server closed the connection");
    return;
  }
  if (c->http) {
    http_process(c);  // requests still buffered are answered, then it closes
  } else if (!c->held() && !c->waits_for_reader()) {
    close_after_reply(c);
  }
}

void ShardCore::close_after_reply(Conn* c) {
  if (c->closing()) return;
  set_want_recv(c, false);
  c->close_after_flush = true;
  // Nothing is queued after the last reply (Redis sends nothing after QUIT's +OK), so the queue
  // drains and the close comes.
  if (c->pubsub_mode()) unsubscribe_all(c);
  if (c->output_pending()) return;
  // A TLS client is told the end with close_notify after its last reply, as Redis does.
  if (c->tls && c->tls->close_notify()) {
    mark_pending(c);
    return;
  }
  close_conn(c, "closed after reply");
}

void ShardCore::resume_input(Conn* c) {
  if (c->held() || c->closing() || c->close_after_flush) return;
  if (c->waits_for_reader()) return;  // its commands run once it reads (on_sent_resume_input)
  if (c->input_ended) {
    close_after_reply(c);
  } else if (!c->paused_for_output) {
    set_want_recv(c, true);
  }
}

void ShardCore::close_conn(Conn* c, const char* why) {
  if (c->closing()) return;
  LOG_DEBUG("closing client: %s", why).field("shard", id_).client(log_client(c)).field("reason", why);
  c->state = ConnState::kClosing;
  close_list_.push_back(c);
}

void ShardCore::set_want_recv(Conn* c, bool want) {
  // A draining shard reads nothing more from its clients (the metrics endpoint's connections
  // are read until the drain is over: /healthz answers 503 meanwhile), nor does a connection
  // whose input ended or whose last reply is queued.
  if (want && ((shutting_down_ && !c->http) || c->input_ended || c->close_after_flush)) return;
  c->want_recv = want;
  if (!c->recv_queued) {
    c->recv_queued = true;
    recv_changes_.push_back(c);
  }
}

void ShardCore::unsubscribe_all(Conn* c) {
  for (ClientSubs* subs : {&c->channels, &c->patterns, &c->shard_channels}) {
    while (!subs->empty()) table_.unsubscribe(subs->begin(), subs);
  }
  update_topic_gauges();
}

void ShardCore::update_topic_gauges() {
  stats_->channels.set(table_.size(TopicKind::kChannel));
  stats_->patterns.set(table_.size(TopicKind::kPattern));
  stats_->shard_channels.set(table_.size(TopicKind::kShardChannel));
}

void ShardCore::apply_config(const ServerConfig& cfg, uint64_t version) {
  if (version <= cfg_version_) return;  // an older CONFIG SET that crossed a newer one
  cfg_version_ = version;
  const bool limits_changed = cfg.request.max_bulk_len != cfg_.request.max_bulk_len ||
                              cfg.request.max_args != cfg_.request.max_args ||
                              cfg.request.max_inline_len != cfg_.request.max_inline_len;
  cfg_ = cfg;
  queued_cap_ = cfg_.max_queued_bytes / static_cast<size_t>(shared_->nshards);
  if (limits_changed) {
    for (auto& c : conns_) {
      if (c) c->parser.set_limits(cfg_.request);
    }
  }
  LogLevel level;
  if (parse_log_level(cfg_.log_level, &level)) set_log_level(level);
  LogFormat format;
  if (parse_log_format(cfg_.log_format, &format)) set_log_format(format);
}

void ShardCore::reset_stats() {
  // CONFIG RESETSTAT, as Redis resets (server.c resetServerStats): the counters of INFO stats,
  // commandstats, errorstats and latencystats. Gauges stay, and so does the delivery accounting
  // of INFO backpressure, whose identity (due = sent + dropped + discarded + queued) needs every
  // term since the start.
#define FANOUT_RESET(name, kind, help) stats_->name.set(0);
  FANOUT_STATS_COUNTERS(FANOUT_RESET)
  FANOUT_TLS_COUNTERS(FANOUT_RESET)
  FANOUT_UPSTREAM_COUNTERS(FANOUT_RESET)
#undef FANOUT_RESET
#define FANOUT_RESET(name, kind, help) stats_->backend.name.set(0);
  FANOUT_BACKEND_COUNTERS(FANOUT_RESET)  // INFO backend's ratios stay consistent with the stats
#undef FANOUT_RESET
  for (Counter& e : stats_->errors) e.set(0);
  for (size_t i = 0; i < stats_->ncommands; ++i) {
    CommandStat& s = stats_->commands[i];
    s.calls.set(0);
    s.usec.set(0);
    s.rejected_calls.set(0);
    s.failed_calls.set(0);
    if (LatencyHistogram* h = s.latency.load(std::memory_order_relaxed)) {
      for (Counter& b : h->buckets) b.set(0);
    }
  }
  sampled_ops_ = sampled_in_ = sampled_out_ = 0;
  if (id_ == 0) shared_->used_memory_peak.store(0, std::memory_order_relaxed);
}

void ShardCore::sample_second() {
  // INFO's instantaneous figures (the last second's), as Redis's serverCron samples them.
  const uint64_t ops = stats_->total_commands_processed.get(), in = stats_->total_net_input_bytes.get(),
                 out = stats_->total_net_output_bytes.get();
  stats_->ops_last_second.set(ops - sampled_ops_);
  stats_->input_bytes_last_second.set(in - sampled_in_);
  stats_->output_bytes_last_second.set(out - sampled_out_);
  sampled_ops_ = ops;
  sampled_in_ = in;
  sampled_out_ = out;
  if (id_ == 0) shared_->note_used_memory(used_memory());  // INFO used_memory_peak between INFOs
}

void ShardCore::reap_stalled() {
  if (now_ms_ < next_reap_ms_) return;
  next_reap_ms_ = now_ms_ + 1000;
  end_episodes();
  sample_second();
  tls_buffers_.trim();
  const int64_t idle_ms = static_cast<int64_t>(cfg_.idle_timeout_s) * 1000;
  const int64_t request_ms = static_cast<int64_t>(cfg_.request_timeout_s) * 1000;
  // One walk over the clients a second: INFO's largest client buffers and blocked clients (as
  // Redis's clientsCron samples them), and the timeouts.
  uint64_t max_in = 0, max_out = 0, blocked = 0;
  for (auto& owned : conns_) {
    Conn* c = owned.get();
    if (c == nullptr || c->closing() || c->upstream_link) continue;
    if (c->http) {
      http_timeouts(c);
      continue;
    }
    if (c->tls && !c->tls->established()) {
      // A handshake is bounded in time: a client that connects and stalls holds a descriptor.
      if (now_ms_ - c->created_ms >= cfg_.tls_handshake_timeout_ms) {
        if (c->close_after_flush) {
          // Failed already, its alert (or a large flight) still not taken by a client that does
          // not read: closed now, counted once.
          close_conn(c, "TLS alert not read");
        } else {
          stats_->tls_handshake_timeouts.add();
          tls_handshake_failed(c, "handshake not done within --tls-handshake-timeout", false);
        }
      }
      continue;
    }
    max_in = std::max<uint64_t>(max_in, c->in.capacity());
    max_out = std::max<uint64_t>(max_out, c->out.bytes());
    blocked += c->blocked;
    // A client whose input this server has paused (mailbox full, or replies unread) cannot
    // finish its command: its clock is not charged.
    if (request_ms > 0 && c->partial_since_ms >= 0 && !c->held() && !c->paused_for_output &&
        now_ms_ - c->partial_since_ms >= request_ms) {
      stats_->request_timeouts.add();
      close_conn(c, "command incomplete past --request-timeout");
    } else if (idle_ms > 0 && !c->pubsub_mode() && now_ms_ - c->last_input_ms >= idle_ms) {
      stats_->idle_timeouts.add();
      close_conn(c, "idle past --idle-timeout");
    }
  }
  stats_->max_client_input.set(max_in);
  stats_->max_client_output.set(max_out);
  stats_->blocked_clients.set(blocked);
}

void ShardCore::begin_shutdown(int64_t deadline_ms) {
  if (shutting_down_) return;
  // Input stops for good: no new publishes are accepted, and a PUBLISH blocked on a full
  // mailbox was never acknowledged, so it is not run.
  for (auto& c : conns_) {
    if (c && !c->closing() && !c->http) set_want_recv(c.get(), false);
  }
  shutting_down_ = true;
  shutdown_deadline_ms_ = deadline_ms;
}

void ShardCore::shutdown_step() {
  if (!shutting_down_) return;
  if (closed_all_) {
    close_http_when_all_drained();
    return;
  }
  // A PUBSUB CHANNELS reply in the making is owed too, and so is a CLIENT LIST or KILL.
  bool drained = walking_.empty() && admin_.empty();
  for (auto& c : conns_) {
    if (c && !c->closing() && !c->http && c->output_pending()) drained = false;
  }
  for (int s = 0; s < shared_->nshards && drained; ++s) {
    if (s != id_ && shared_->ring(s, id_).idle_check()) drained = false;
  }
  if (!drained && now_ms_ < shutdown_deadline_ms_) return;
  uint64_t clients = 0, bytes = 0;
  for (auto& c : conns_) {
    if (!c || c->closing()) continue;
    if (!c->out.empty() && !c->http && !c->upstream_link) {  // the link's publishes are not deliveries
      ++clients;
      bytes += c->out.bytes();
    }
    if (!c->http) close_conn(c.get(), "server shutting down");
  }
  if (clients) {
    LOG_WARN("shutdown deadline reached: %llu bytes to %llu clients not delivered",
             static_cast<unsigned long long>(bytes), static_cast<unsigned long long>(clients))
        .field("shard", id_)
        .field("undelivered_bytes", bytes)
        .field("undelivered_clients", clients);
    shared_->undelivered.clients.fetch_add(clients, std::memory_order_relaxed);
    shared_->undelivered.bytes.fetch_add(bytes, std::memory_order_relaxed);
  }
  closed_all_ = true;
  closed_all_ms_ = now_ms_;
  shared_->draining_shards.fetch_sub(1, std::memory_order_acq_rel);
  close_http_when_all_drained();
}

void ShardCore::close_http_when_all_drained() {
  if (http_closed_) return;
  // The metrics endpoint answers (/healthz with 503) until every shard's clients are drained,
  // not only this shard's. A shard with no endpoint does not wait for the others.
  if ((serves_http_ || http_live_ > 0) && shared_->draining_shards.load(std::memory_order_acquire) > 0) return;
  for (auto& c : conns_) {
    if (c && !c->closing() && c->http) close_conn(c.get(), "server shutting down");
  }
  http_closed_ = true;
  closed_all_ms_ = now_ms_;
}

bool ShardCore::may_exit() {
  if (!http_closed_) return false;
  if (live_ == 0) return true;
  // Cancelled operations complete at once on a sane kernel; one that does not must not hold the
  // process forever.
  constexpr int64_t kCancelGraceMs = 2000;
  if (now_ms_ - closed_all_ms_ < kCancelGraceMs) return false;
  LOG_ERROR("%zu connections still have operations outstanding %lld ms after being cancelled; "
            "exiting without them", live_, static_cast<long long>(kCancelGraceMs))
      .field("shard", id_);
  return true;
}

int ShardCore::next_timeout_ms() {
  int timeout;
  if (pending_head_ != nullptr || !recv_changes_.empty() || !walking_.empty() ||
      (retry_soon_ && !shutting_down_)) {
    timeout = 0;
  } else if (shutting_down_) {
    timeout = 10;
  } else if (!backoff_.empty()) {
    timeout = static_cast<int>(std::max<int64_t>(1, backoff_until_ms_ - now_ms_));
  } else if (id_ == 0 && cfg_.metrics_port != 0) {  // /metrics' top-channels walk (refresh_top_channels)
    timeout = static_cast<int>(std::clamp<int64_t>(
        std::min(next_reap_ms_, next_top_refresh_ms_) - now_ms_, 1, 1000));
  } else {
    timeout = static_cast<int>(std::max<int64_t>(1, std::min<int64_t>(1000, next_reap_ms_ - now_ms_)));
  }
  if (up_ && !shutting_down_ && timeout != 0) {
    timeout = static_cast<int>(std::clamp<int64_t>(upstream_next_ms() - now_ms_, 0, timeout));
  }
  for (int s = 0; s < shared_->nshards && timeout != 0; ++s) {
    if (s != id_ && shared_->ring(s, id_).idle_check()) timeout = 0;
  }
  return timeout;
}

}  // namespace fanout
