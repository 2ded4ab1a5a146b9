// FANOUT: Fanout's own commands (Redis has none of this name). FANOUT TOPCHANNELS [count [BY
// BYTES|MESSAGES|SUBSCRIBERS]]: the channels carrying the most (net/top_channels.h), walked over
// every shard in slices as PUBSUB CHANNELS is, so it never stalls the loop; the client's later
// commands wait for the reply. FANOUT HELP.
// Also shard 0's refresh of the top list /metrics shows (with --metrics-port).
#include <algorithm>
#include <string>

#include "core/resp_writer.h"
#include "net/command_util.h"
#include "net/shard_core.h"

namespace fanout {
namespace {

constexpr const char* kFanoutHelp[] = {
    "FANOUT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "TOPCHANNELS [<count> [BY BYTES|MESSAGES|SUBSCRIBERS]]",
    "    The <count> (default 10, at most 1000) channels carrying the most bytes (or messages, or",
    "    subscribers): each with its messages and bytes delivered since it got subscribers, and its",
    "    subscribers now.",
    "HELP",
    "    Prints this help.",
};

constexpr size_t kDefaultCount = 10;
// /metrics' top list: kMetricsCount channels, walked again kMetricsRefreshMs after the last walk
// ended, one slice every kMetricsSliceMs at most whatever the load, so the walk costs shard 0
// about 0.5% of a core (a slice is ~256 lookups) and a walk over N channels takes about
// N / 256 x 10 ms (4 s per 100,000 channel-shards).
constexpr size_t kMetricsCount = 10;
constexpr int64_t kMetricsRefreshMs = 1'000;
constexpr int64_t kMetricsSliceMs = 10;

// Nodes per loop iteration: each costs a lookup in every shard's table.
size_t slice(int nshards) { return ChannelWalk::kNodesPerStep / static_cast<size_t>(nshards) + 1; }

}  // namespace

void ShardCore::cmd_fanout(Conn* c, std::span<const std::string_view> args) {
  if (iequals(args[1], "help")) {
    reply_help(c, kFanoutHelp);
    return;
  }
  // TOPCHANNELS (check_shape knows no other subcommand).
  long long count = kDefaultCount;
  TopBy by = TopBy::kBytes;
  if (args.size() >= 3 && (!parse_ll(args[2], &count) || count < 1 ||
                           count > static_cast<long long>(TopChannelsWalk::kMaxCount))) {
    reply_error(c, "ERR count must be an integer between 1 and " + std::to_string(TopChannelsWalk::kMaxCount));
    return;
  }
  if (args.size() == 5 && iequals(args[3], "by") && iequals(args[4], "bytes")) {
    by = TopBy::kBytes;
  } else if (args.size() == 5 && iequals(args[3], "by") && iequals(args[4], "messages")) {
    by = TopBy::kMessages;
  } else if (args.size() == 5 && iequals(args[3], "by") && iequals(args[4], "subscribers")) {
    by = TopBy::kSubscribers;
  } else if (args.size() > 3) {
    reply_error(c, "ERR syntax error");
    return;
  }
  auto w = std::make_unique<ChannelWalk>(&chunks_);
  w->muted = c->out.replies_muted();
  w->top = std::make_unique<TopChannelsWalk>(static_cast<size_t>(count), by);
  c->walk = std::move(w);
  walking_.push_back(c);
  set_want_recv(c, false);  // later commands wait for this reply
}

bool ShardCore::step_top_channels(Conn* c) {
  ChannelWalk& w = *c->walk;
  if (!w.top->step(*shared_, slice(shared_->nshards))) return false;
  const std::vector<ChannelFigures> top = w.top->take();
  OutboundQueue::MuteScope as_command(c->out, w.muted);
  resp::array(c->out, top.size());
  for (const ChannelFigures& f : top) {
    resp::map(c->out, 4, c->proto);
    resp::bulk(c->out, "channel");
    resp::bulk(c->out, f.name);
    resp::bulk(c->out, "messages");
    resp::integer(c->out, static_cast<int64_t>(f.messages));
    resp::bulk(c->out, "bytes");
    resp::integer(c->out, static_cast<int64_t>(f.bytes));
    resp::bulk(c->out, "subscribers");
    resp::integer(c->out, static_cast<int64_t>(f.subscribers));
  }
  mark_pending(c);
  return true;
}

void ShardCore::refresh_top_channels() {
  if (id_ != 0 || cfg_.metrics_port == 0 || shutting_down_) return;
  if (now_ms_ < next_top_refresh_ms_) return;
  if (!metrics_top_) metrics_top_ = std::make_unique<TopChannelsWalk>(kMetricsCount, TopBy::kBytes);
  next_top_refresh_ms_ = now_ms_ + kMetricsSliceMs;
  if (!metrics_top_->step(*shared_, slice(shared_->nshards))) return;
  auto* snapshot = new TopChannelsSnapshot{metrics_top_->take()};
  metrics_top_.reset();
  next_top_refresh_ms_ = now_ms_ + kMetricsRefreshMs;
  // Readers on other shards may hold the old one until their next quiescent state.
  if (TopChannelsSnapshot* old = shared_->top_channels.exchange(snapshot, std::memory_order_acq_rel)) {
    retire_.retire(old);
  }
}

}  // namespace fanout
