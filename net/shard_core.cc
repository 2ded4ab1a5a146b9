#include "net/shard_core.h"

#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "core/glob.h"
#include "core/resp_writer.h"
#include "net/log.h"
#include "net/socket.h"

namespace fanout {
namespace {

// A client whose unread replies exceed this stops being read until it catches up: request input
// can never grow reply memory without bound.
constexpr size_t kPauseInputBytes = 4u << 20;
constexpr int kBackoffMs = 10;

}  // namespace

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
      mail_buf_(256) {
  shared->tables[id] = &table_;
}

ShardCore::~ShardCore() { final_release(); }

Conn* ShardCore::accept(int fd) {
  if (shutting_down_) {
    ::close(fd);  // accepted in the same wake-up as the stop: the listener is already closed
    return nullptr;
  }
  uint64_t n = shared_->clients.fetch_add(1, std::memory_order_relaxed);
  if (n >= cfg_.max_clients) {
    shared_->clients.fetch_sub(1, std::memory_order_relaxed);
    stats_->rejected_max_clients.add();
    if (refusing_clients_.hit(now_ms_)) {
      LOG_WARN("shard %d: max clients (%zu) reached: refusing new connections with \"-ERR max "
               "number of clients reached\" (logged once; INFO rejected_connections counts them)",
               id_, cfg_.max_clients);
    }
    static constexpr char kMsg[] = "-ERR max number of clients reached\r\n";
    ssize_t w = ::send(fd, kMsg, sizeof(kMsg) - 1, MSG_NOSIGNAL | MSG_DONTWAIT);
    (void)w;
    ::close(fd);
    return nullptr;
  }
  tune_accepted(fd, cfg_.tcp_keepalive_s);
  uint32_t slot;
  if (!free_slots_.empty()) {
    slot = free_slots_.back();
    free_slots_.pop_back();
  } else {
    slot = static_cast<uint32_t>(conns_.size());
    conns_.emplace_back();
  }
  if (slot >= gens_.size()) gens_.resize(slot + 1, 0);
  conns_[slot] = std::make_unique<Conn>(&chunks_, &queued_, cfg_.request);
  Conn* c = conns_[slot].get();
  c->slot = slot;
  c->gen = ++gens_[slot];  // a late completion for the previous occupant will not match
  c->fd = fd;
  c->client_id = shared_->next_client_id.fetch_add(1, std::memory_order_relaxed);
  c->created_ms = now_ms_;
  c->last_input_ms = now_ms_;
  c->user = shared_->acl.initial_user();
  ++live_;
  stats_->clients.set(live_);
  stats_->connections_accepted.add();
  return c;
}

void ShardCore::on_accept_error(int err) {
  stats_->accept_errors.add();
  if (accept_failing_.hit(now_ms_)) {
    LOG_ERROR("shard %d: accept failed: %s; pausing accepts briefly until it clears (logged once; "
              "INFO accept_errors counts them)", id_, strerror(err));
  }
}

void ShardCore::end_episodes() {
  constexpr int64_t kQuietMs = 1000;
  if (accept_failing_.end_if_quiet(now_ms_, kQuietMs)) {
    LOG_OK("shard %d: accepting again (%llu failed accepts over %lld ms)", id_,
           static_cast<unsigned long long>(accept_failing_.count()),
           static_cast<long long>(accept_failing_.duration_ms()));
  }
  if (refusing_clients_.end_if_quiet(now_ms_, kQuietMs)) {
    LOG_OK("shard %d: no longer refusing connections (%llu refused at max clients over %lld ms)", id_,
           static_cast<unsigned long long>(refusing_clients_.count()),
           static_cast<long long>(refusing_clients_.duration_ms()));
  }
  if (queued_.bytes <= queued_cap_ && shedding_for_cap_.end_if_quiet(now_ms_, kQuietMs)) {
    LOG_OK("shard %d: queued output back under the cap (%llu pushes met it over %lld ms; now %zu bytes "
           "queued)", id_, static_cast<unsigned long long>(shedding_for_cap_.count()),
           static_cast<long long>(shedding_for_cap_.duration_ms()), queued_.bytes);
  }
}

void ShardCore::free_conn(Conn* c) {
  stats_->discarded.add(c->out.clear());
  if (c->fd >= 0) ::close(c->fd);
  c->fd = -1;
  uint32_t slot = c->slot;
  if (c->blocked) std::erase(blocked_, c);
  std::erase(backoff_, c);
  conns_[slot].reset();
  free_slots_.push_back(slot);
  --live_;
  stats_->clients.set(live_);
}

void ShardCore::on_peer_eof(Conn* c) {
  if (c->closing) return;
  if (c->out.empty()) {
    close_conn(c, "client closed the connection");
    return;
  }
  // A peer that closed outright makes the flush fail (EPIPE), which closes it just the same.
  // No new messages: a subscriber's queue must drain for the close to come.
  if (c->pubsub_mode()) unsubscribe_all(c);
  c->close_after_flush = true;
  set_want_recv(c, false);
}

void ShardCore::close_conn(Conn* c, const char* why) {
  if (c->closing) return;
  LOG_DEBUG("shard %d: closing client id=%llu: %s", id_, static_cast<unsigned long long>(c->client_id), why);
  c->closing = true;
  close_list_.push_back(c);
}

void ShardCore::set_want_recv(Conn* c, bool want) {
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

void ShardCore::on_input(Conn* c, const char* data, size_t n) {
  if (c->closing || c->close_after_flush) return;
  c->last_input_ms = now_ms_;
  const uint64_t commands_before = c->commands;
  if (c->in.empty() && !c->blocked) {
    size_t used = process(c, data, n);
    if (used < n && !c->closing && !c->close_after_flush) {
      size_t need = c->parser.bytes_needed();
      if (need > n - used) c->in.reserve(need);
      c->in.append(data + used, n - used);
    }
  } else {
    c->in.append(data, n);
    if (!c->blocked) process_buffered(c);
  }
  if (c->in.size() > cfg_.max_query_buffer) {
    stats_->query_buffer_closes.add();
    LOG_WARN("shard %d: closing client id=%llu: query buffer of %zu bytes exceeds %zu", id_,
             static_cast<unsigned long long>(c->client_id), c->in.size(), cfg_.max_query_buffer);
    close_conn(c, "query buffer limit");
    return;
  }
  // The request clock runs while a command is incomplete, from the read that began it: a
  // pipelining client whose reads end mid-command keeps completing commands and restarts it.
  // Input held while the client is blocked on a full mailbox is not the client's delay.
  if (c->in.empty() || c->blocked) {
    c->partial_since_ms = -1;
  } else if (c->partial_since_ms < 0 || c->commands != commands_before) {
    c->partial_since_ms = now_ms_;
  }
  maybe_pause_input(c);
}

void ShardCore::reap_stalled() {
  if (now_ms_ < next_reap_ms_) return;
  next_reap_ms_ = now_ms_ + 1000;
  end_episodes();
  const int64_t idle_ms = static_cast<int64_t>(cfg_.idle_timeout_s) * 1000;
  const int64_t request_ms = static_cast<int64_t>(cfg_.request_timeout_s) * 1000;
  if (idle_ms <= 0 && request_ms <= 0) return;
  for (auto& owned : conns_) {
    Conn* c = owned.get();
    if (c == nullptr || c->closing) continue;
    // A client whose input this server has paused (mailbox full, or replies unread) cannot
    // finish its command: its clock is not charged.
    if (request_ms > 0 && c->partial_since_ms >= 0 && !c->blocked && !c->paused_for_output &&
        now_ms_ - c->partial_since_ms >= request_ms) {
      stats_->request_timeouts.add();
      close_conn(c, "command incomplete past --request-timeout");
    } else if (idle_ms > 0 && !c->pubsub_mode() && now_ms_ - c->last_input_ms >= idle_ms) {
      stats_->idle_timeouts.add();
      close_conn(c, "idle past --idle-timeout");
    }
  }
}

void ShardCore::maybe_pause_input(Conn* c) {
  if (!c->paused_for_output && c->out.bytes() > kPauseInputBytes) {
    c->paused_for_output = true;
    set_want_recv(c, false);
  }
}

void ShardCore::process_buffered(Conn* c) {
  size_t used = process(c, c->in.data(), c->in.size());
  c->in.erase(0, used);
}

size_t ShardCore::process(Conn* c, const char* buf, size_t len) {
  size_t off = 0;
  while (off < len && !c->closing && !c->close_after_flush) {
    auto st = c->parser.parse(buf + off, len - off);
    if (st == RequestParser::Status::kNeedMore) break;
    if (st == RequestParser::Status::kError) {
      stats_->protocol_errors.add();
      reply_error(c, "ERR " + c->parser.error());
      LOG_DEBUG("shard %d: protocol error from client id=%llu: %s", id_,
                static_cast<unsigned long long>(c->client_id), c->parser.error().c_str());
      c->close_after_flush = true;
      set_want_recv(c, false);
      c->in.clear();
      return len;
    }
    auto args = c->parser.args();
    ++c->commands;
    if (!args.empty() && !execute(c, args)) {
      c->parser.reset();
      if (!c->blocked) {
        c->blocked = true;
        blocked_.push_back(c);
        stats_->blocked_on_mailbox.add();
        set_want_recv(c, false);
      }
      break;
    }
    off += c->parser.consumed();
  }
  return off;
}

void ShardCore::retry_blocked() {
  if (blocked_.empty()) return;
  std::vector<Conn*> list;
  list.swap(blocked_);
  for (Conn* c : list) {
    if (c->closing) continue;
    c->blocked = false;
    process_buffered(c);
    if (!c->blocked && !c->paused_for_output && !c->close_after_flush) set_want_recv(c, true);
  }
}

void ShardCore::retry_backoff() {
  if (backoff_.empty() || now_ms_ < backoff_until_ms_) return;
  for (Conn* c : backoff_) mark_pending(c);
  backoff_.clear();
}

void ShardCore::reply_error(Conn* c, std::string_view msg) {
  resp::error(c->out, msg);
  mark_pending(c);
}

void ShardCore::on_sent(Conn* c, int res) {
  if (res >= 0) {
    stats_->sent.add(c->out.complete(static_cast<size_t>(res)));
    stats_->bytes_sent.add(static_cast<uint64_t>(res));
    if (c->closing) return;
    if (!c->out.empty()) {
      mark_pending(c);
    } else if (c->close_after_flush) {
      close_conn(c, "closed after reply");
      return;
    }
    if (c->paused_for_output && c->out.bytes() <= kPauseInputBytes / 2) {
      c->paused_for_output = false;
      if (c->partial_since_ms >= 0) c->partial_since_ms = now_ms_;  // the pause was ours
      if (!c->blocked) set_want_recv(c, true);
    }
    return;
  }
  c->out.send_failed();
  switch (-res) {
    case EAGAIN:
    case EINTR:
      mark_pending(c);
      return;
    case ENOBUFS:
    case ENOMEM:
      // The kernel is short of memory: back off instead of spinning on the same failure.
      backoff_.push_back(c);
      backoff_until_ms_ = now_ms_ + kBackoffMs;
      return;
    case ECANCELED:
      return;
    default:
      stats_->send_errors.add();
      close_conn(c, strerror(-res));
  }
}

int64_t ShardCore::publish(TopicKind kind, std::string_view channel, std::string_view payload) {
  const int n = shared_->nshards;
  uint32_t remote_total = 0;
  int remote_shards = 0;
  for (int s = 0; s < n; ++s) {
    if (s == id_) continue;
    uint32_t r = shared_->tables[s]->count_receivers(kind, channel);
    remote_counts_[s] = r;
    if (r == 0) continue;
    if (shared_->ring(id_, s).free_slots() == 0) return -1;
    remote_total += r;
    ++remote_shards;
  }
  stats_->published.add();
  bool local = table_.size(kind) != 0 || (kind == TopicKind::kChannel && table_.size(TopicKind::kPattern) != 0);
  if (!local && remote_shards == 0) return 0;
  Block* b = arena_.create(kind == TopicKind::kShardChannel ? 1 : 0, channel, payload);
  if (remote_shards) {
    arena_.add_shard_holds(b, static_cast<uint32_t>(remote_shards));
    for (int s = 0; s < n; ++s) {
      if (s == id_ || remote_counts_[s] == 0) continue;
      bool ok = shared_->ring(id_, s).try_push(MailItem{MailItem::kPublish, b});
      (void)ok;  // space was checked above; this shard is the only producer
      ring_dirty_[s] = 1;
      stats_->forwarded.add();
    }
  }
  uint32_t delivered = local ? deliver(b, &b->origin_hold) : 0;
  hold_release(&b->origin_hold);  // the creation guard
  return static_cast<int64_t>(delivered) + remote_total;
}

uint32_t ShardCore::deliver(Block* b, Hold* h) {
  delivered_ = 0;
  uint32_t n = deliver_to_subscribers(b, h);
  // One counter update per message, not per subscriber.
  stats_->due.add(n);
  stats_->delivered.add(delivered_);
  return n;
}

uint32_t ShardCore::deliver_to_subscribers(Block* b, Hold* h) {
  uint32_t n = 0;
  std::string_view ch = b->channel();
  // SPUBLISH reaches shard-channel subscribers only; PUBLISH reaches channel, then pattern ones.
  const bool shard = b->kind == 1;
  std::string_view header3 = shard ? kSMessageHeader3 : kMessageHeader3;
  if (TopicNode* node = table_.find(shard ? TopicKind::kShardChannel : TopicKind::kChannel, ch)) {
    for (const SubRef& s : node->subs) {
      Conn* c = static_cast<Conn*>(s.owner);
      if (c->closing) continue;
      ++n;
      if (c->proto == 3) {
        push_message(c, header3, h, b->body());
      } else {
        push_message(c, {}, h, b->frame());
      }
    }
  }
  if (shard) return n;
  for (TopicNode* p = table_.patterns_head(); p; p = p->next.load(std::memory_order_relaxed)) {
    if (!glob_match(p->key, ch)) continue;
    for (const SubRef& s : p->subs) {
      Conn* c = static_cast<Conn*>(s.owner);
      if (c->closing) continue;
      ++n;
      push_message(c, p->pmessage_header[c->proto == 3], h, b->body());
    }
  }
  return n;
}

void ShardCore::push_message(Conn* c, std::string_view header, Hold* h, std::string_view body) {
  size_t len = header.size() + body.size();
  Overflow why = classify_push(cfg_.output, &c->soft, c->out.bytes(), c->out.messages(), len,
                               queued_.bytes > queued_cap_, now_ms_);
  if (why != Overflow::kNone && !admit_overflow(c, why, len)) return;
  c->out.append_push(header, h, body, len <= cfg_.copy_threshold);
  ++delivered_;
  mark_pending(c);
}

__attribute__((noinline)) bool ShardCore::admit_overflow(Conn* c, Overflow why, size_t len) {
  switch (why) {
    case Overflow::kHard: stats_->overflow_hard.add(); break;
    case Overflow::kSoft: stats_->overflow_soft.add(); break;
    case Overflow::kMessages: stats_->overflow_messages.add(); break;
    case Overflow::kTotalCap:
      stats_->overflow_cap.add();
      if (shedding_for_cap_.hit(now_ms_)) {
        LOG_WARN("shard %d: queued output reached its share of --max-queued-bytes (%zu of %zu bytes): "
                 "subscribers that are behind get policy %s (logged once; INFO overflow_total_cap "
                 "counts them)", id_, queued_.bytes, queued_cap_,
                 std::string(policy_name(cfg_.output.policy)).c_str());
      }
      break;
    case Overflow::kNone: return true;
  }
  switch (cfg_.output.policy) {
    case OverflowPolicy::kDisconnect: {
      stats_->disconnected.add();
      static const char* kWhy[] = {"", "hard output limit", "soft output limit held too long",
                                   "message limit", "total queued-bytes cap"};
      LOG_INFO("shard %d: disconnecting slow subscriber id=%llu (%s, %zu bytes queued)", id_,
               static_cast<unsigned long long>(c->client_id), kWhy[static_cast<int>(why)],
               c->out.bytes());
      close_conn(c, kWhy[static_cast<int>(why)]);
      stats_->discarded.add();  // this push; the queue's pushes are counted when it is freed
      return false;
    }
    case OverflowPolicy::kDropNewest:
      stats_->dropped_newest.add();
      return false;
    case OverflowPolicy::kDropOldest: {
      size_t freed = 0;
      size_t dropped = c->out.drop_oldest(drop_target(cfg_.output, why, c->out.bytes(), len), &freed);
      stats_->dropped_oldest.add(dropped);
      bool still_over = (cfg_.output.hard_bytes && c->out.bytes() + len > cfg_.output.hard_bytes) ||
                        (cfg_.output.max_messages && c->out.messages() + 1 > cfg_.output.max_messages) ||
                        dropped == 0;
      if (still_over) {
        // Everything left is in flight or a reply: this message cannot fit.
        stats_->dropped_newest.add();
        return false;
      }
      return true;
    }
  }
  return false;
}

size_t ShardCore::drain_mailboxes(size_t budget) {
  size_t total = 0;
  for (int s = 0; s < shared_->nshards; ++s) {
    if (s == id_) continue;
    auto& ring = shared_->ring(s, id_);
    size_t got = ring.pop(mail_buf_.data(), std::min(budget, mail_buf_.size()));
    if (got) stats_->remote_batches.add();
    for (size_t i = 0; i < got; ++i) {
      Block* b = mail_buf_[i].block;
      if (mail_buf_[i].kind == MailItem::kReturn) {
        arena_.free_returned(b);
        continue;
      }
      Hold* h = arena_.adopt(b);
      deliver(b, h);
      hold_release(h);  // the adoption guard
    }
    total += got;
  }
  return total;
}

bool ShardCore::publish_mailboxes() {
  bool more = false;
  for (int d = 0; d < shared_->nshards; ++d) {
    if (d == id_) continue;
    auto& ring = shared_->ring(id_, d);
    if (arena_.has_returns()) {
      auto& ret = arena_.returns(d);
      size_t i = 0;
      for (; i < ret.size(); ++i) {
        if (!ring.try_push(MailItem{MailItem::kReturn, ret[i]})) break;
        ring_dirty_[d] = 1;
      }
      ret.erase(ret.begin(), ret.begin() + static_cast<long>(i));
      if (!ret.empty()) more = true;
    }
    if (!ring_dirty_[d]) continue;
    ring_dirty_[d] = 0;
    if (ring.publish()) signal_eventfd(shared_->wake_fds[d]);
  }
  if (!more) arena_.clear_returns_count();
  stats_->queued_bytes.set(queued_.bytes);
  stats_->queued_pushes.set(queued_.pushes);
  retire_.collect();
  return more;
}

bool ShardCore::mailboxes_idle() {
  for (int s = 0; s < shared_->nshards; ++s) {
    if (s != id_ && shared_->ring(s, id_).idle_check()) return false;
  }
  return true;
}

void ShardCore::begin_shutdown() {
  if (shutting_down_) return;
  shutting_down_ = true;
  for (auto& c : conns_) {
    if (c && !c->closing) set_want_recv(c.get(), false);
  }
}

bool ShardCore::drained() const {
  for (auto& c : conns_) {
    if (c && !c->closing && !c->out.empty()) return false;
  }
  return true;
}

size_t ShardCore::teardown_drain() {
  size_t n = 0;
  for (int d = 0; d < shared_->nshards; ++d) {
    if (d != id_) shared_->ring(id_, d).publish();
  }
  for (int s = 0; s < shared_->nshards; ++s) {
    if (s == id_) continue;
    size_t got;
    while ((got = shared_->ring(s, id_).pop(mail_buf_.data(), mail_buf_.size())) != 0) {
      for (size_t i = 0; i < got; ++i) {
        Block* b = mail_buf_[i].block;
        if (mail_buf_[i].kind == MailItem::kReturn) {
          arena_.free_returned(b);
        } else {
          hold_release(arena_.adopt(b));
        }
      }
      n += got;
    }
  }
  return n;
}

void ShardCore::final_release() {
  for (auto& c : conns_) {
    if (!c) continue;
    if (!c->cancelled) unsubscribe_all(c.get());
    stats_->discarded.add(c->out.clear());
    if (c->fd >= 0) ::close(c->fd);
    c->fd = -1;
    c.reset();
  }
  live_ = 0;
  stats_->queued_bytes.set(queued_.bytes);
  stats_->queued_pushes.set(queued_.pushes);
}

}  // namespace fanout
