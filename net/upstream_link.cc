// A shard's NATS client connection (its link; net/upstream.h): connecting through the backend,
// the handshake (INFO, then CONNECT and a PING whose PONG says the server took it), keepalive
// PINGs, subscriptions in confirmed batches, the publishes kept while it was down, and failing
// over to the next server with back-off.
#include <sys/socket.h>

#include <cerrno>
#include <cstring>
#include <random>
#include <unordered_set>

#include "net/log.h"
#include "net/shard_core.h"
#include "net/socket.h"
#include "net/version.h"

namespace fanout {
namespace {

// The time a connect plus the handshake may take before the next server is tried (ms).
constexpr int64_t kHandshakeTimeoutMs = 5'000;

}  // namespace

void ShardCore::upstream_step() {
  if (!up_) return;
  UpstreamShard& u = *up_;
  stats_->upstream_link_up.set(u.state == UpstreamShard::State::kUp ? 1 : 0);
  stats_->upstream_subscriptions.set(u.interest.size());
  stats_->upstream_pending_bytes.set(u.pending_size);
  if (shutting_down_) return;
  using S = UpstreamShard::State;
  switch (u.state) {
    case S::kDown:
      if (now_ms_ >= u.retry_at_ms) upstream_connect();
      break;
    case S::kConnecting:
    case S::kHandshaking:
    case S::kSyncing:
      if (now_ms_ - u.state_since_ms >= kHandshakeTimeoutMs) {
        upstream_fail(std::string("no answer from the server within ") + std::to_string(kHandshakeTimeoutMs) +
                      " ms (" + UpstreamShard::state_name(u.state) + ")" +
                      (u.state == S::kHandshaking ? ": is it a NATS client port? A NATS server sends INFO at once" : ""));
      }
      break;
    case S::kUp:
      if (now_ms_ - u.last_ping_ms >= shared_->upstream->ping_interval_ms) {
        if (u.pings_out >= 2) {  // as NATS's clients: two PINGs unanswered, the link is stale
          upstream_fail("two PINGs went unanswered (--upstream-ping-interval " +
                        std::to_string(shared_->upstream->ping_interval_ms) + " ms)");
          return;
        }
        ++u.pings_out;
        upstream_ping(false);
      }
      break;
  }
  if (u.state != S::kUp && u.state != S::kDown) return;
  // Subscriptions: UNSUBs for lingers that ended, then the next batch of SUBs, confirmed by the
  // PING after it.
  std::vector<const UpstreamSub*> subs;
  std::vector<uint64_t> unsubs;
  const bool up = u.state == S::kUp;
  u.interest.step(now_ms_, up, &subs, &unsubs);
  if (!up) return;
  std::string& out = u.scratch;
  out.clear();
  for (uint64_t sid : unsubs) append_nats_unsub(&out, sid);
  for (const UpstreamSub* s : subs) append_nats_sub(&out, s->subject, s->sid);
  if (!out.empty()) {
    u.conn->out.append(out);
    mark_pending(u.conn);
  }
  if (!subs.empty()) upstream_ping(true);
  // The end of a (re)subscription: every subscription confirmed (or refused): audit it.
  if (u.resyncing && u.interest.unsent() == 0 && !u.interest.batch_in_flight()) {
    u.resyncing = false;
    upstream_audit();
  }
  if (u.reading_paused) {
    bool room = true;
    for (int s = 0; s < shared_->nshards && room; ++s) {
      if (s != id_ && shared_->ring(id_, s).free_slots() == 0) room = false;
    }
    if (room) {
      u.reading_paused = false;
      set_want_recv(u.conn, true);
    }
  }
}

int64_t ShardCore::upstream_next_ms() const {
  const UpstreamShard& u = *up_;
  using S = UpstreamShard::State;
  int64_t next = u.interest.next_deadline_ms();
  switch (u.state) {
    case S::kDown: next = std::min(next, u.retry_at_ms); break;
    case S::kConnecting:
    case S::kHandshaking:
    case S::kSyncing: next = std::min(next, u.state_since_ms + kHandshakeTimeoutMs); break;
    case S::kUp: next = std::min(next, u.last_ping_ms + shared_->upstream->ping_interval_ms); break;
  }
  return next;
}

void ShardCore::upstream_ping(bool batch) {
  UpstreamShard& u = *up_;
  std::string ping;
  append_nats_ping(&ping);
  u.conn->out.append(ping);
  mark_pending(u.conn);
  u.pongs_due.push_back(batch);
  if (!batch) u.last_ping_ms = now_ms_;
}

void ShardCore::upstream_connect() {
  UpstreamShard& u = *up_;
  const UpstreamUrl& url = u.servers.next();
  u.url = url;  // its credentials go in CONNECT
  u.server = url.display();
  // A name goes through the resolver, which may hold the shard briefly: a tier names its NATS
  // servers by address, or in /etc/hosts, as a rule (the servers a cluster announces are addresses).
  std::vector<SocketAddress> addrs;
  std::string err;
  if (!resolve_tcp(url.host, url.port, false, &addrs, &err) || addrs.empty()) {
    upstream_fail(err.empty() ? "cannot resolve " + url.host : err);
    return;
  }
  const SocketAddress& addr = addrs.front();
  const int fd = ::socket(addr.family(), SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    upstream_fail(std::string("socket: ") + strerror(errno));
    return;
  }
  Conn* c = add_link_conn(fd);
  u.conn = c;
  u.state = UpstreamShard::State::kConnecting;
  u.state_since_ms = now_ms_;
  u.parser.reset();
  connects_.push_back(PendingConnect{c, addr});
}

void ShardCore::upstream_connected(Conn* c, int res) {
  --c->ops;
  if (!up_ || c != up_->conn || c->closing()) return;
  if (res < 0) {
    upstream_fail(std::string("connect: ") + strerror(-res));
    return;
  }
  tune_accepted(c->fd, cfg_);  // the options an accepted socket gets: TCP_NODELAY, keepalive
  up_->state = UpstreamShard::State::kHandshaking;
  up_->state_since_ms = now_ms_;
  set_want_recv(c, true);
}

void ShardCore::upstream_input(Conn* c, const char* data, size_t n) {
  if (!up_ || c != up_->conn || c->closing()) return;
  UpstreamShard& u = *up_;
  std::string_view in(data, n);
  NatsOp op;
  while (!c->closing()) {
    const NatsParser::Status st = u.parser.next(&in, &op);
    if (st == NatsParser::Status::kNeedMore) break;
    if (st == NatsParser::Status::kError) {
      upstream_fail("the server's bytes are not the NATS protocol: " + u.parser.error());
      return;
    }
    switch (op.kind) {
      case NatsOp::Kind::kInfo: upstream_info(*op.info); break;
      case NatsOp::Kind::kPing: {
        std::string pong;
        append_nats_pong(&pong);
        c->out.append(pong);
        mark_pending(c);
        break;
      }
      case NatsOp::Kind::kPong: upstream_pong(); break;
      case NatsOp::Kind::kMsg:
        if (u.state == UpstreamShard::State::kUp) upstream_message(op);
        break;
      case NatsOp::Kind::kOk: break;
      case NatsOp::Kind::kErr: upstream_error(op.error_text); break;
    }
  }
  if (u.reading_paused && !c->closing()) set_want_recv(c, false);
}

void ShardCore::upstream_info(const NatsServerInfo& info) {
  UpstreamShard& u = *up_;
  if (size_t added = u.servers.discovered(info.connect_urls); added > 0) {
    LOG_INFO("upstream: the cluster announced %zu more server(s); %zu known", added, u.servers.size())
        .field("shard", id_);
  }
  if (info.lame_duck_mode) {
    LOG_WARN("upstream: %s is shutting down (lame duck mode); it will close the link and this shard will "
             "reconnect to another server", u.server.c_str())
        .field("shard", id_);
  }
  if (u.state != UpstreamShard::State::kHandshaking) return;  // a later INFO: cluster changes
  if (!info.headers) {
    upstream_fail("the server does not support message headers (nats-server 2.2 or later is needed)");
    return;
  }
  if (info.tls_required) {
    upstream_fail("the server requires TLS: use a tls:// upstream (not supported yet)");
    return;
  }
  // What this node may publish; the parser follows INFO's max_payload for what it receives.
  u.max_payload = info.max_payload ? info.max_payload : kNatsDefaultMaxPayload;
  const UpstreamNode& node = *shared_->upstream;
  NatsConnectOptions o;
  o.name = "fanoutd " + node.name + " shard " + std::to_string(id_);
  o.version = std::string(kFanoutVersion);
  const UpstreamUrl& url = u.url;  // the server connected to: its own credentials, else the node's
  o.user = !url.user.empty() ? url.user : node.user;
  o.pass = !url.user.empty() ? url.password : node.password;
  o.auth_token = !url.token.empty() ? url.token : node.token;
  o.echo = false;  // this link's own publishes are never wanted back (other shards' still arrive)
  std::string out;
  if (!append_nats_connect(&out, o)) {
    upstream_fail("the CONNECT options are not valid UTF-8");
    return;
  }
  append_nats_ping(&out);
  u.conn->out.append(out);
  mark_pending(u.conn);
  u.pongs_due.clear();
  u.pongs_due.push_back(false);
  u.state = UpstreamShard::State::kSyncing;
  u.state_since_ms = now_ms_;
}

void ShardCore::upstream_pong() {
  UpstreamShard& u = *up_;
  const bool batch = !u.pongs_due.empty() && u.pongs_due.front();
  if (!u.pongs_due.empty()) u.pongs_due.pop_front();
  if (u.state == UpstreamShard::State::kSyncing) {
    u.state = UpstreamShard::State::kUp;
    u.state_since_ms = now_ms_;
    u.last_ping_ms = now_ms_;
    u.pings_out = 0;
    u.servers.connected();
    u.resyncing = true;
    LOG_INFO("upstream link up: %s, %zu subscription(s) to send%s", u.server.c_str(), u.interest.unsent(),
             u.failures ? (" (after " + std::to_string(u.failures) + " failed attempt(s))").c_str() : "")
        .field("shard", id_)
        .field("server", u.server);
    u.failures = 0;
    // What was published while down goes first, in order.
    for (const UpstreamShard::Pending& p : u.pending) {
      u.conn->out.append(p.frame);
      stats_->upstream_bytes_out.add(p.payload_bytes);
    }
    if (!u.pending.empty()) mark_pending(u.conn);
    stats_->upstream_messages_out.add(u.pending.size());
    u.pending.clear();
    u.pending_size = 0;
    return;
  }
  if (batch) {
    u.interest.batch_confirmed();
  } else {
    u.pings_out = 0;
  }
}

void ShardCore::upstream_error(std::string_view text) {
  UpstreamShard& u = *up_;
  u.last_error = std::string(text);
  if (text.find("Slow Consumer") != std::string_view::npos) stats_->upstream_slow_consumer.add();
  // "Permissions Violation for Subscription to <subject>": that subscription is refused.
  constexpr std::string_view kSubPerm = "Permissions Violation for Subscription to ";
  if (size_t at = text.find(kSubPerm); at != std::string_view::npos) {
    std::string_view subject = text.substr(at + kSubPerm.size());
    if (!subject.empty() && subject.front() == '"') subject.remove_prefix(1);
    if (!subject.empty() && subject.back() == '"') subject.remove_suffix(1);
    for (UpstreamKind k : {UpstreamKind::kChannel, UpstreamKind::kShardChannel, UpstreamKind::kPatternCover}) {
      if (const UpstreamSub* s = u.interest.find(k, subject)) u.interest.refused(s->sid);
    }
  }
  if (text.find("Authorization Violation") != std::string_view::npos) {
    u.last_error += " (the credentials: --upstream-user with --upstream-password-file, --upstream-token-file, or "
                    "nats://user:password@host in --upstream)";
  }
  stats_->upstream_errors.add();
  if (upstream_errors_.hit(now_ms_)) {
    LOG_WARN("upstream: %s answered -ERR '%s' (logged once while they continue; INFO upstream_errors counts "
             "them)", u.server.c_str(), u.last_error.c_str())
        .field("shard", id_)
        .field("server", u.server);
  }
}

void ShardCore::upstream_fail(const std::string& why) {
  UpstreamShard& u = *up_;
  u.last_error = why;
  // One warning when a link is lost (or the first attempt fails), then one line per attempt only
  // at debug level until it is back: a down cluster does not flood the log.
  if (u.failures++ == 0) {
    LOG_WARN("upstream link to %s: %s; local clients are served meanwhile, retrying with back-off over %zu "
             "server(s)", u.server.c_str(), why.c_str(), u.servers.size())
        .field("shard", id_)
        .field("server", u.server);
  } else {
    LOG_DEBUG("upstream link to %s: %s (attempt %llu)", u.server.c_str(), why.c_str(),
              static_cast<unsigned long long>(u.failures))
        .field("shard", id_)
        .field("server", u.server);
  }
  if (u.conn && !u.conn->closing()) close_conn(u.conn, why.c_str());
  upstream_down();
}

void ShardCore::upstream_down() {
  UpstreamShard& u = *up_;
  if (u.state == UpstreamShard::State::kUp) stats_->upstream_reconnects.add();
  u.conn = nullptr;
  u.state = UpstreamShard::State::kDown;
  u.state_since_ms = now_ms_;
  u.pongs_due.clear();
  u.pings_out = 0;
  u.reading_paused = false;
  u.resyncing = false;
  u.interest.link_down();
  static thread_local std::mt19937_64 rng{std::random_device{}()};
  u.retry_at_ms = now_ms_ + u.servers.failure_delay_ms(rng());
}

void ShardCore::upstream_link_closed(Conn* c) {
  // The link's connection closed for any reason (the server closed it, a send failed, shutdown).
  if (!up_ || up_->conn != c) return;
  if (shutting_down_) {
    up_->conn = nullptr;  // closed with the clients at the end of the drain: nothing to report
    up_->state = UpstreamShard::State::kDown;
    return;
  }
  upstream_fail("the connection closed");
}

void ShardCore::upstream_audit() {
  // Each shard's pattern covers, computed once per audit (one walk over each shard's patterns),
  // not once per subscription: the review measured 37 s stalls with 10,000 patterns otherwise.
  std::vector<std::unordered_set<std::string>> covers(static_cast<size_t>(shared_->nshards));
  const SubjectMap& map = shared_->upstream->map;
  for (int s = 0; s < shared_->nshards; ++s) {
    for (const TopicNode* p = shared_->tables[s]->patterns_head(); p; p = p->next.load(std::memory_order_acquire)) {
      if (p->count.load(std::memory_order_acquire) != 0) covers[static_cast<size_t>(s)].insert(map.covering_subject(p->key));
    }
  }
  UpstreamInterest::Audit a = up_->interest.audit(shared_->nshards, now_ms_, [&](UpstreamKind k, std::string_view subject, int s) {
    if (k == UpstreamKind::kPatternCover) return covers[static_cast<size_t>(s)].count(std::string(subject)) != 0;
    return shard_has_interest(s, k, subject);
  });
  if (a.shard_bits + a.unconfirmed + a.orphaned == 0) return;
  stats_->upstream_audit_repairs.add(a.shard_bits + a.unconfirmed + a.orphaned);
  LOG_WARN("upstream audit after (re)subscribing: %zu shard interest bit(s) corrected, %zu subscription(s) not "
           "confirmed by the server, %zu without local interest; repaired",
           a.shard_bits, a.unconfirmed, a.orphaned)
      .field("shard", id_);
}

bool ShardCore::shard_has_interest(int s, UpstreamKind kind, std::string_view subject) const {
  // Read under QSBR, as PUBLISH counts receivers on other shards: the subject's topic there.
  // A channel's (pattern covers are found by upstream_audit, all at once).
  const TopicTable& t = *shared_->tables[s];
  const SubjectMap& map = shared_->upstream->map;
  MappedChannel ch;
  if (!map.channel_for_subject(subject, &ch)) return false;
  return t.lookup(kind == UpstreamKind::kShardChannel ? TopicKind::kShardChannel : TopicKind::kChannel, ch.channel) !=
         nullptr;
}

}  // namespace fanout
