// The tier's interest and messages on a shard (net/upstream.h says how the tier works): a topic's
// first and last local subscriber reported to its owner shard, the owner's subscriptions, a
// message from upstream encoded once and routed to the shards that want it, and a local PUBLISH
// sent upstream.
#include "net/upstream.h"

#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <random>

#include "net/log.h"
#include "net/shard_core.h"

namespace fanout {
namespace {

bool read_first_line(const std::string& path, std::string* out, std::string* err) {
  std::ifstream f(path);
  if (!f || !std::getline(f, *out)) {
    *err = "cannot read " + path + ": " + (f ? "it is empty" : strerror(errno));
    return false;
  }
  while (!out->empty() && (out->back() == '\r' || out->back() == ' ')) out->pop_back();
  return true;
}

}  // namespace

bool UpstreamNode::build(const ServerConfig& cfg, const std::string& run_id, UpstreamNode* out, std::string* err) {
  if (!parse_upstream_urls(cfg.upstream, &out->urls, err)) return false;
  for (const UpstreamUrl& u : out->urls) {
    if (u.tls) {
      *err = "--upstream " + u.display() + ": tls:// upstreams are not supported yet";
      return false;
    }
  }
  auto map = SubjectMap::create(cfg.upstream_prefix);
  if (!map) {
    *err = "--upstream-prefix \"" + cfg.upstream_prefix + "\" is not a NATS subject prefix";
    return false;
  }
  out->map = *map;
  out->user = cfg.upstream_user;
  if (!cfg.upstream_password_file.empty() && !read_first_line(cfg.upstream_password_file, &out->password, err)) {
    *err = "--upstream-password-file: " + *err;
    return false;
  }
  if (!cfg.upstream_token_file.empty() && !read_first_line(cfg.upstream_token_file, &out->token, err)) {
    *err = "--upstream-token-file: " + *err;
    return false;
  }
  out->name = cfg.upstream_name;
  if (out->name.empty()) {
    // Unique per process: two nodes on one host (and port elsewhere) never share a name, or echo
    // suppression would drop each other's messages.
    char host[256] = {};
    gethostname(host, sizeof(host) - 1);
    for (char& ch : host) {
      if (ch == ' ' || ch == '\r' || ch == '\n') ch = '_';
    }
    out->name = std::string(host) + "-" + std::to_string(getpid()) + "-" + run_id.substr(0, 12);
  }
  out->origin = out->name + "/" + run_id.substr(0, 16);
  out->ping_interval_ms = cfg.upstream_ping_interval_ms;
  out->linger_ms = cfg.upstream_linger_ms;
  out->pending_bytes = cfg.upstream_pending_bytes;
  return true;
}

UpstreamShard::UpstreamShard(const UpstreamNode& n)
    : node(n), interest(n.linger_ms, kResubscribeBatch), servers(n.urls) {}

const char* UpstreamShard::state_name(State s) {
  switch (s) {
    case State::kDown: return "down";
    case State::kConnecting: return "connecting";
    case State::kHandshaking: return "handshaking";
    case State::kSyncing: return "syncing";
    case State::kUp: return "up";
  }
  return "?";
}

// Interest ------------------------------------------------------------------------------------

void ShardCore::topic_added(TopicNode* node) {
  if (!up_) return;
  const SubjectMap& map = shared_->upstream->map;
  if (node->kind == TopicKind::kPattern) {
    node->upstream_cover = map.covering_subject(node->key);
    if (++up_->covers[node->upstream_cover] == 1) report_interest(true, UpstreamKind::kPatternCover, node->upstream_cover);
    return;
  }
  const bool shard = node->kind == TopicKind::kShardChannel;
  report_interest(true, shard ? UpstreamKind::kShardChannel : UpstreamKind::kChannel,
                  map.subject_for_channel(shard ? ChannelKind::kShardChannel : ChannelKind::kChannel, node->key));
}

void ShardCore::topic_removed(TopicNode* node) {
  if (!up_) return;
  if (node->kind == TopicKind::kPattern) {
    auto it = up_->covers.find(node->upstream_cover);
    if (it == up_->covers.end()) return;
    if (--it->second == 0) {
      report_interest(false, UpstreamKind::kPatternCover, it->first);
      up_->covers.erase(it);
    }
    return;
  }
  const bool shard = node->kind == TopicKind::kShardChannel;
  report_interest(false, shard ? UpstreamKind::kShardChannel : UpstreamKind::kChannel,
                  shared_->upstream->map.subject_for_channel(shard ? ChannelKind::kShardChannel : ChannelKind::kChannel,
                                                             node->key));
}

void ShardCore::report_interest(bool gained, UpstreamKind kind, const std::string& subject) {
  const int owner = upstream_owner(kind, subject, shared_->nshards);
  if (owner == id_) {
    apply_interest(gained, kind, subject, id_);
    return;
  }
  MailItem item;
  item.kind = MailItem::kUpstreamInterest;
  item.interest = new UpstreamInterestItem{gained, kind, subject, id_};
  shared_->ring(id_, owner).push_unbounded(item);  // never waits: one per topic change
  ring_dirty_[owner] = 1;
}

void ShardCore::apply_interest(bool gained, UpstreamKind kind, std::string_view subject, int from) {
  if (gained) {
    up_->interest.gain(kind, subject, from);
  } else {
    up_->interest.lose(kind, subject, from, now_ms_);
  }
}

std::string ShardCore::upstream_refusal(TopicKind kind, std::string_view name) const {
  if (!up_) return {};
  const SubjectMap& map = shared_->upstream->map;
  size_t size;
  if (kind == TopicKind::kPattern) {
    size = map.covering_subject(name).size();
  } else {
    size = map.subject_size(kind == TopicKind::kShardChannel ? ChannelKind::kShardChannel : ChannelKind::kChannel, name);
  }
  if (subject_fits_control_line(size)) return {};
  return "ERR " + std::string(kind == TopicKind::kPattern ? "pattern" : "channel") +
         " cannot be subscribed upstream: its NATS subject would be " + std::to_string(size) + " bytes, over the " +
         std::to_string(kNatsMaxControlLine - kSubjectLineOverhead) + " a subject may have within NATS's " +
         std::to_string(kNatsMaxControlLine) + "-byte control line (a name's unprintable bytes take 3 each)";
}

// Messages from upstream ----------------------------------------------------------------------

void ShardCore::upstream_message(const NatsOp& op) {
  stats_->upstream_messages_in.add();
  stats_->upstream_bytes_in.add(op.payload.size());
  const UpstreamSub* sub = up_->interest.by_sid(op.sid);
  if (sub == nullptr) {  // it crossed its UNSUB
    stats_->upstream_messages_unrouted.add();
    return;
  }
  if (op.has_headers) {
    auto headers = NatsHeaders::parse(op.headers);
    if (headers) {
      auto origin = headers->get(kFanoutOriginHeader);
      const UpstreamNode& node = *shared_->upstream;
      if (origin && *origin == node.origin) {
        stats_->upstream_echoes_dropped.add();  // this node's own message
        return;
      }
      // "<name>/<instance>": another process with this node's name (a copied config file) would
      // have its messages taken for echoes if only names were compared. Delivered, and said.
      if (origin && origin->size() > node.name.size() && origin->starts_with(node.name) &&
          (*origin)[node.name.size()] == '/') {
        stats_->upstream_name_clashes.add();
        if (upstream_name_clash_.hit(now_ms_)) {
          LOG_WARN("upstream: another node of the tier uses this node's --upstream-name \"%s\" (its messages carry "
                   "Fanout-Origin %.*s); give each node its own name (logged once; INFO upstream_name_clashes)",
                   node.name.c_str(), static_cast<int>(origin->size()), origin->data())
              .field("shard", id_);
        }
      }
    }
  }
  MappedChannel ch;
  if (!shared_->upstream->map.channel_for_subject(op.subject, &ch)) {
    stats_->upstream_messages_unrouted.add();  // not a subject this tier writes
    return;
  }
  const bool shard_channel = ch.kind == ChannelKind::kShardChannel;
  if (shard_channel != (sub->kind == UpstreamKind::kShardChannel)) {
    stats_->upstream_messages_unrouted.add();
    return;
  }
  const uint8_t route = sub->kind == UpstreamKind::kPatternCover ? kRouteCover : kRouteChannel;
  Block* b = arena_.create_routed(shard_channel ? 1 : 0, ch.channel, op.payload, route, sub->subject);
  // One reference per other shard with this interest, as a local PUBLISH hands them out.
  uint32_t others = 0;
  for (int s = 0; s < shared_->nshards; ++s) {
    if (s != id_ && sub->shards.test(static_cast<size_t>(s))) ++others;
  }
  if (others) {
    arena_.add_shard_holds(b, others);
    for (int s = 0; s < shared_->nshards; ++s) {
      if (s == id_ || !sub->shards.test(static_cast<size_t>(s))) continue;
      auto& ring = shared_->ring(id_, s);
      ring.push_unbounded(MailItem{MailItem::kPublish, b});
      ring_dirty_[s] = 1;
      stats_->messages_forwarded.add();
      // A full ring stops the link's reading until the other shard catches up (NATS then sees a
      // slow consumer, rather than this node buffering without bound).
      if (ring.free_slots() == 0) up_->reading_paused = true;
    }
  }
  if (sub->shards.test(static_cast<size_t>(id_))) deliver(b, &b->origin_hold);
  hold_release(&b->origin_hold);  // the creation guard
}

// Publishing upstream -------------------------------------------------------------------------

void ShardCore::upstream_publish(TopicKind kind, std::string_view channel, std::string_view payload) {
  const UpstreamNode& node = *shared_->upstream;
  std::string& subject = up_->scratch;
  subject.clear();
  node.map.append_subject_for_channel(kind == TopicKind::kShardChannel ? ChannelKind::kShardChannel : ChannelKind::kChannel,
                                      channel, &subject);
  std::string frame;
  const NatsEncodeStatus st =
      append_nats_hpub(&frame, subject, NatsHeader{kFanoutOriginHeader, node.origin}, payload, up_->max_payload);
  if (st != NatsEncodeStatus::kOk || !subject_fits_control_line(subject.size())) {
    // Delivered here all the same; counted and logged, never sent where the server would close the
    // link for it.
    stats_->upstream_not_forwarded.add();
    if (upstream_not_forwarded_.hit(now_ms_)) {
      LOG_WARN("a message on a channel was not published upstream: %s (payload %zu bytes, NATS max_payload %zu, "
               "subject %zu bytes); local subscribers got it (logged once; INFO upstream_not_forwarded counts them)",
               st == NatsEncodeStatus::kOk ? "its subject is over NATS's control line" : to_string(st),
               payload.size(), up_->max_payload, subject.size())
          .field("shard", id_);
    }
    return;
  }
  bool up = up_->state == UpstreamShard::State::kUp && up_->pending.empty();
  // A server that stops reading (a stalled host, a network that drops without closing) would let
  // the link's queue grow until two PINGs go unanswered: past --upstream-pending-bytes of unsent
  // output the link is given up, and what follows is kept (bounded) as while down. (A queue
  // holding nothing unsent takes any one message: the server is keeping up.)
  if (up && up_->conn->out.bytes() != 0 && up_->conn->out.bytes() + frame.size() > shared_->upstream->pending_bytes) {
    upstream_fail("the server is not reading: " + std::to_string(up_->conn->out.bytes()) +
                  " bytes queued for it (--upstream-pending-bytes)");
    up = false;
  }
  if (up) {
    up_->conn->out.append(frame);
    mark_pending(up_->conn);
    stats_->upstream_messages_out.add();
    stats_->upstream_bytes_out.add(payload.size());
    return;
  }
  // The link is down: kept, up to --upstream-pending-bytes; the oldest go first past it.
  up_->pending_size += frame.size();
  up_->pending.push_back(UpstreamShard::Pending{std::move(frame), payload.size()});
  while (up_->pending_size > shared_->upstream->pending_bytes && !up_->pending.empty()) {
    up_->pending_size -= up_->pending.front().frame.size();
    up_->pending.pop_front();
    stats_->upstream_pending_dropped.add();
  }
}

}  // namespace fanout
