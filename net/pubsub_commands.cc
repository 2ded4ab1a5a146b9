// The pub/sub commands: PUBLISH/SPUBLISH, (P|S)SUBSCRIBE, (P|S)UNSUBSCRIBE and PUBSUB, with
// Redis 7.0's replies (pubsub.c) and Fanout's per-client subscription limits.
#include <algorithm>
#include <cstring>
#include <set>
#include <string>

#include "core/glob.h"
#include "core/resp_writer.h"
#include "net/command_util.h"
#include "net/shard_core.h"

namespace fanout {
namespace {

// Redis 7.0's PUBSUB HELP.
constexpr const char* kPubsubHelp[] = {
    "PUBSUB <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "CHANNELS [<pattern>]",
    "    Return the currently active channels matching a <pattern> (default: '*').",
    "NUMPAT",
    "    Return number of subscriptions to patterns.",
    "NUMSUB [<channel> ...]",
    "    Return the number of subscribers for the specified channels, excluding",
    "    pattern subscriptions(default: no channels).",
    "SHARDCHANNELS [<pattern>]",
    "    Return the currently active shard level channels matching a <pattern> (default: '*').",
    "SHARDNUMSUB [<shardchannel> ...]",
    "    Return the number of subscribers for the specified shard level channel(s)",
    "HELP",
    "    Prints this help.",
};

constexpr std::string_view kWalkRefused =
    "ERR PUBSUB CHANNELS refused: the shard's queued output would be over --max-queued-bytes; try again later";

ClientSubs* subs_of(Conn* c, TopicKind kind) {
  switch (kind) {
    case TopicKind::kChannel: return &c->channels;
    case TopicKind::kPattern: return &c->patterns;
    case TopicKind::kShardChannel: return &c->shard_channels;
  }
  return nullptr;
}

// The count Redis reports in a (un)subscribe confirmation: shard channels count apart.
size_t confirmation_count(const Conn* c, TopicKind kind) {
  return kind == TopicKind::kShardChannel ? c->shard_channels.size() : c->subscriptions();
}

}  // namespace

bool ShardCore::cmd_publish(Conn* c, TopicKind kind, std::span<const std::string_view> args) {
  // Every pattern is matched against the channel (time ~ channel x pattern): a channel nobody
  // could subscribe to exactly is refused rather than matched.
  if (args[1].size() > cfg_.max_channel_len) {
    reply_error(c, "ERR channel name too long (" + std::to_string(cfg_.max_channel_len) + ", --max-channel-len)");
    return true;
  }
  int64_t n = publish(kind, args[1], args[2], !exec_running_);
  if (n < 0) return false;
  resp::integer(c->out, n);
  return true;
}

void ShardCore::subscription_reply(Conn* c, std::string_view kind, std::string_view name,
                                   bool null_name, size_t count) {
  // A push, even in RESP2: CLIENT REPLY OFF or SKIP does not mute it (Redis 7.0.15 sets
  // CLIENT_PUSHING around it, as around messages).
  OutboundQueue::MuteScope unmuted(c->out, false);
  resp::push(c->out, 3, c->proto);
  resp::bulk(c->out, kind);
  if (null_name) {
    resp::null(c->out, c->proto);
  } else {
    resp::bulk(c->out, name);
  }
  resp::integer(c->out, static_cast<int64_t>(count));
}

void ShardCore::cmd_subscribe(Conn* c, TopicKind kind, std::span<const std::string_view> args) {
  if (kind == TopicKind::kShardChannel && exec_running_) {
    // Redis 7.0 (pubsub.c ssubscribeCommand): EXEC runs with CLIENT_DENY_BLOCKING, which SUBSCRIBE
    // and PSUBSCRIBE let pass inside MULTI and SSUBSCRIBE does not.
    reply_error(c, "ERR SSUBSCRIBE isn't allowed for a DENY BLOCKING client");
    return;
  }
  ClientSubs* subs = subs_of(c, kind);
  std::string_view verb = kind == TopicKind::kChannel   ? "subscribe"
                          : kind == TopicKind::kPattern ? "psubscribe"
                                                        : "ssubscribe";
  for (size_t i = 1; i < args.size(); ++i) {
    // A name over a limit gets an error in its place; the others are still subscribed, so the
    // client gets one reply per name as it expects.
    if (subs->find(std::string(args[i])) == subs->end()) {
      if (std::string refusal = subscription_refusal(c, kind, args[i]); !refusal.empty()) {
        stats_->subscriptions_refused.add();
        reply_error(c, refusal);
        continue;
      }
    }
    table_.subscribe(kind, args[i], c, subs);
    subscription_reply(c, verb, args[i], false, confirmation_count(c, kind));
  }
  update_topic_gauges();
}

std::string ShardCore::subscription_refusal(const Conn* c, TopicKind kind, std::string_view name) const {
  auto too = [](const char* what, size_t limit, const char* flag) {
    return "ERR " + std::string(what) + " (" + std::to_string(limit) + ", " + flag + ")";
  };
  if (kind == TopicKind::kPattern) {
    if (c->patterns.size() >= cfg_.max_patterns_per_client) {
      return too("too many patterns subscribed by this client", cfg_.max_patterns_per_client,
                 "--max-patterns-per-client");
    }
    if (name.size() > cfg_.max_pattern_len) {
      return too("pattern too long", cfg_.max_pattern_len, "--max-pattern-len");
    }
    if (glob_wildcards(name) > cfg_.max_pattern_wildcards) {
      return too("pattern has too many wildcards", cfg_.max_pattern_wildcards, "--max-pattern-wildcards");
    }
    return upstream_refusal(kind, name);
  }
  if (c->channels.size() + c->shard_channels.size() >= cfg_.max_channels_per_client) {
    return too("too many channels subscribed by this client", cfg_.max_channels_per_client,
               "--max-channels-per-client");
  }
  if (name.size() > cfg_.max_channel_len) {
    return too("channel name too long", cfg_.max_channel_len, "--max-channel-len");
  }
  return upstream_refusal(kind, name);
}

void ShardCore::cmd_unsubscribe(Conn* c, TopicKind kind, std::span<const std::string_view> args) {
  ClientSubs* subs = subs_of(c, kind);
  std::string_view verb = kind == TopicKind::kChannel   ? "unsubscribe"
                          : kind == TopicKind::kPattern ? "punsubscribe"
                                                        : "sunsubscribe";
  if (args.size() == 1) {
    if (subs->empty()) subscription_reply(c, verb, {}, true, confirmation_count(c, kind));
    // In the order they were subscribed: Redis 7.0 keeps a client's patterns in a list (its
    // channels in a dict, whose order is arbitrary).
    std::vector<std::string> names;
    names.reserve(subs->size());
    for (const auto& [name, sub] : *subs) names.push_back(name);
    std::sort(names.begin(), names.end(),
              [subs](const std::string& a, const std::string& b) { return subs->at(a).seq < subs->at(b).seq; });
    for (const std::string& name : names) {
      table_.unsubscribe(subs->find(name), subs);
      subscription_reply(c, verb, name, false, confirmation_count(c, kind));
    }
  } else {
    for (size_t i = 1; i < args.size(); ++i) {
      table_.unsubscribe(kind, args[i], subs);
      subscription_reply(c, verb, args[i], false, confirmation_count(c, kind));
    }
  }
  update_topic_gauges();
}

void ShardCore::cmd_pubsub(Conn* c, std::span<const std::string_view> args) {
  std::string_view sub = args[1];
  size_t argc = args.size();
  const int n = shared_->nshards;
  if (iequals(sub, "channels") || iequals(sub, "shardchannels")) {
    bool shard = iequals(sub, "shardchannels");
    if (argc > 3) {  // Redis's addReplySubcommandSyntaxError, naming the subcommand as sent
      reply_error(c, "ERR unknown subcommand or wrong number of arguments for '" + sanitize(std::string(sub)) +
                         "'. Try PUBSUB HELP.");
      return;
    }
    if (argc == 3 && args[2].size() > cfg_.max_pattern_len) {
      reply_error(c, "ERR pattern too long (" + std::to_string(cfg_.max_pattern_len) + ", --max-pattern-len)");
      return;
    }
    // The reply lists every channel: while this shard's queued output (and the replies being
    // built) is over its share of --max-queued-bytes, no new one is started, and one that would
    // take it over ends with this error (step_walk).
    if (queued_.bytes + walk_bytes_ > queued_cap_) {
      stats_->channel_lists_refused.add();
      reply_error(c, kWalkRefused);
      return;
    }
    start_channel_walk(c, shard ? TopicKind::kShardChannel : TopicKind::kChannel, args);
  } else if (iequals(sub, "numsub") || iequals(sub, "shardnumsub")) {
    TopicKind kind = iequals(sub, "numsub") ? TopicKind::kChannel : TopicKind::kShardChannel;
    resp::array(c->out, 2 * (argc - 2));  // a flat array in RESP3 too, as Redis 7.0 sends
    for (size_t i = 2; i < argc; ++i) {
      uint64_t total = 0;
      for (int s = 0; s < n; ++s) total += shared_->tables[s]->count_channel(kind, args[i]);
      resp::bulk(c->out, args[i]);
      resp::integer(c->out, static_cast<int64_t>(total));
    }
  } else if (iequals(sub, "numpat")) {
    if (argc != 2) {
      reply_error(c, wrong_args("pubsub|numpat"));
      return;
    }
    std::set<std::string> pats;
    for (int s = 0; s < n; ++s) {
      shared_->tables[s]->for_each(TopicKind::kPattern,
                                   [&](const std::string& key, uint32_t) { pats.insert(key); });
    }
    resp::integer(c->out, static_cast<int64_t>(pats.size()));
  } else if (iequals(sub, "help")) {
    reply_help(c, kPubsubHelp);
  } else {
    reply_error(c, unknown_subcommand(sub, "PUBSUB"));
  }
}

void ShardCore::start_channel_walk(Conn* c, TopicKind kind, std::span<const std::string_view> args) {
  auto w = std::make_unique<ChannelWalk>(&chunks_);
  w->kind = kind;
  w->muted = c->out.replies_muted();
  if (args.size() == 3) {
    w->filter = true;
    w->pattern.assign(args[2]);
  }
  if (shared_->nshards > 1) {
    uint64_t total = shared_->sum(kind == TopicKind::kChannel ? &ShardStats::channels : &ShardStats::shard_channels);
    w->seen.reserve(total + total / 8);
  }
  c->walk = std::move(w);
  walking_.push_back(c);
  set_want_recv(c, false);  // later commands wait for this reply
}

namespace {

// Appends to a chunk that has room (the caller made sure).
struct ChunkOut {
  Chunk* c;
  void append(const char* p, size_t n) {
    std::memcpy(c->data() + c->used, p, n);
    c->used += static_cast<uint32_t>(n);
  }
};

}  // namespace

bool ShardCore::step_walk(Conn* c) {
  if (c->walk->top) return step_top_channels(c);
  ChannelWalk& w = *c->walk;
  const bool dedupe = shared_->nshards > 1;
  // Whether `key` is already listed: its bulk "$<len>\r\n<key>\r\n" sits where `seen` says.
  auto listed = [&](std::string_view key, uint64_t hash) {
    auto [first, last] = w.seen.equal_range(hash);
    for (auto it = first; it != last; ++it) {
      std::string_view piece(w.body[it->second.first]->data(), w.body[it->second.first]->used);
      size_t at = piece.find('\n', it->second.second) + 1;
      if (piece.compare(at, key.size(), key) == 0 && piece[at + key.size()] == '\r') return true;
    }
    return false;
  };
  bool refused = false;  // the reply would take the shard's queued output over its cap
  uint64_t work = 0;     // pattern-matching steps and bytes copied in this slice
  size_t nodes = ChannelWalk::kNodesPerStep;
  while (nodes > 0 && work < ChannelWalk::kWorkPerStep && !refused && w.shard < shared_->nshards) {
    size_t visited = shared_->tables[w.shard]->walk_channels(
        w.kind, &w.cursor, std::min(nodes, ChannelWalk::kNodesPerCall), [&](const TopicNode& node) {
          const std::string& key = node.key;
          const uint64_t hash = node.hash;
          if (refused || (w.filter && !glob_match(w.pattern, key, &work))) return;
          if (dedupe && listed(key, hash)) return;
          const size_t need = key.size() + 32;  // "$<len>\r\n" + key + "\r\n"
          if (w.body.empty() || w.body.back()->cap - w.body.back()->used < need) {
            const size_t size = std::max(ChannelWalk::kPiece, need);
            if (queued_.bytes + walk_bytes_ + size > queued_cap_) {
              refused = true;
              return;
            }
            w.body.push_back(chunks_.get(size));
            walk_bytes_ += w.body.back()->cap;
          }
          Chunk* piece = w.body.back();
          if (dedupe) {
            w.seen.emplace(hash, std::pair<uint32_t, uint32_t>(static_cast<uint32_t>(w.body.size() - 1), piece->used));
          }
          ChunkOut out{piece};
          resp::bulk(out, key);
          work += key.size();
          ++w.count;
        });
    nodes = visited >= nodes ? 0 : nodes - visited;
    if (w.cursor.done) {  // that table is done
      ++w.shard;
      w.cursor = {};
    }
  }
  if (refused) {
    stats_->channel_lists_refused.add();
    OutboundQueue::MuteScope as_command(c->out, w.muted);
    reply_error(c, kWalkRefused);
    return true;
  }
  if (w.shard < shared_->nshards) return false;
  // The whole reply joins the queue at once (no copy), so nothing can land inside the array;
  // muted if the command was (CLIENT REPLY).
  {
    OutboundQueue::MuteScope as_command(c->out, w.muted);
    resp::array(c->out, w.count);
    for (Chunk* piece : w.body) {
      walk_bytes_ -= piece->cap;
      c->out.append_chunk(piece);
    }
  }
  w.body.clear();
  mark_pending(c);
  return true;
}

void ShardCore::step_walks() {
  refresh_top_channels();
  if (walking_.empty()) return;
  std::vector<Conn*> list;
  list.swap(walking_);
  for (Conn* c : list) {
    if (c->closing() || !step_walk(c)) {
      if (!c->closing()) walking_.push_back(c);
      continue;
    }
    end_walk(c);
    process_buffered(c);  // the commands that waited behind the reply
    resume_input(c);
  }
}

void ShardCore::end_walk(Conn* c) {
  for (Chunk* piece : c->walk->body) walk_bytes_ -= piece->cap;
  c->walk.reset();
}

}  // namespace fanout
