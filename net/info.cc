// INFO, in Redis's format (sections of "name:value" lines, server.c genRedisInfoString) with
// Redis's field names where Fanout has the same figure. Every figure comes from per-shard
// counters and gauges (stats.h): INFO never walks a topic table, so its cost does not grow with
// the channels subscribed.
#include <unistd.h>

#include <algorithm>
#include <string>

#include "core/resp_writer.h"
#include "net/command_util.h"
#include "net/shard_core.h"

namespace fanout {
namespace {

class InfoText {
 public:
  void section(std::string_view name) {
    if (!o_.empty()) o_ += "\r\n";
    o_ += "# ";
    o_.append(name);
    o_ += "\r\n";
  }
  void line(std::string_view k, uint64_t v) { line(k, std::to_string(v)); }
  void line(std::string_view k, std::string_view v) {
    o_.append(k);
    o_ += ':';
    o_.append(v);
    o_ += "\r\n";
  }
  // num / den with two decimals (0.00 when den is 0).
  void ratio(std::string_view k, uint64_t num, uint64_t den) {
    uint64_t x100 = den ? num * 100 / den : 0;
    line(k, std::to_string(x100 / 100) + "." + (x100 % 100 < 10 ? "0" : "") + std::to_string(x100 % 100));
  }
  const std::string& text() const { return o_; }

 private:
  std::string o_;
};

// One section's lines, from the shared state (every shard's counters and gauges) alone.
struct InfoSource {
  const SharedState& sh;
  const ServerConfig& cfg;
  int64_t now_ms;
};

void server_section(InfoText& o, const InfoSource& in) {
  o.line("redis_version", "7.0.0");
  o.line("fanout_version", "0.1.0");
  o.line("redis_mode", "standalone");
  o.line("os", "Linux");
  o.line("multiplexing_api", in.sh.backend_name);
  o.line("arch_bits", "64");
  o.line("process_id", static_cast<uint64_t>(getpid()));
  o.line("tcp_port", static_cast<uint64_t>(in.sh.port));
  o.line("uptime_in_seconds", static_cast<uint64_t>((in.now_ms - in.sh.start_ms) / 1000));
  o.line("shards", static_cast<uint64_t>(in.sh.nshards));
  o.line("backend", in.sh.backend_name);
}

void clients_section(InfoText& o, const InfoSource& in) {
  o.line("connected_clients", in.sh.clients.load(std::memory_order_relaxed));
  o.line("maxclients", in.cfg.max_clients);
}

void memory_section(InfoText& o, const InfoSource& in) {
  o.line("queued_output_bytes", in.sh.sum(&ShardStats::queued_bytes));
  o.line("max_queued_bytes", in.cfg.max_queued_bytes);
  o.line("client_output_hard_limit", in.cfg.output.hard_bytes);
  o.line("client_output_soft_limit", in.cfg.output.soft_bytes);
  o.line("client_output_soft_seconds", static_cast<uint64_t>(in.cfg.output.soft_ms / 1000));
  o.line("client_output_max_messages", in.cfg.output.max_messages);
}

#define FANOUT_INFO_LINE(name) o.line(#name, in.sh.sum(&ShardStats::name));

void stats_section(InfoText& o, const InfoSource& in) {
  FANOUT_STATS_COUNTERS(FANOUT_INFO_LINE)
  // Per-shard gauges summed: a channel with subscribers on two shards counts on each (PUBSUB
  // CHANNELS lists each channel once).
  o.line("pubsub_channels", in.sh.sum(&ShardStats::channels));
  o.line("pubsub_patterns", in.sh.sum(&ShardStats::patterns));
  o.line("pubsub_shardchannels", in.sh.sum(&ShardStats::shard_channels));
}

void backpressure_section(InfoText& o, const InfoSource& in) {
  o.line("output_policy", policy_name(in.cfg.output.policy));
  FANOUT_BACKPRESSURE_COUNTERS(FANOUT_INFO_LINE)
  // deliveries_due = deliveries_sent + dropped_newest + dropped_oldest + deliveries_discarded
  // + deliveries_queued (DeliveryTotals).
  FANOUT_DELIVERY_COUNTERS(FANOUT_INFO_LINE)
}

#undef FANOUT_INFO_LINE

void backend_section(InfoText& o, const InfoSource& in) {
  const SharedState& sh = in.sh;
  o.line("backend", sh.backend_name);
  if (!sh.backend_setup.empty()) o.line("io_uring_setup", sh.backend_setup);
  o.line("loop_iterations", sh.sum(&ShardStats::loop_iterations));
  o.line("loop_busy_us", sh.sum(&ShardStats::loop_busy_us));
  uint64_t busy_max = 0;
  for (const ShardStats& st : sh.stats) busy_max = std::max(busy_max, st.loop_busy_max_us.get());
  o.line("loop_busy_max_us", busy_max);
  o.line("loop_iterations_over_1ms", sh.sum(&ShardStats::loop_iterations_over_1ms));
  // Syscalls the backend made for I/O: on epoll every sendmsg, recv, accept4, epoll_wait and
  // epoll_ctl; on io_uring every io_uring_enter (its recv_calls count multishot arms, not
  // syscalls) and io_uring_register (registered-file updates).
  auto b = [&](Counter BackendCounters::*f) { return sh.sum(f); };
  uint64_t enters = b(&BackendCounters::io_uring_enter_calls);
  o.line("syscalls", enters != 0 ? enters + b(&BackendCounters::io_uring_register_calls)
                                 : b(&BackendCounters::sendmsg_calls) + b(&BackendCounters::recv_calls) +
                                       b(&BackendCounters::wait_calls) + b(&BackendCounters::epoll_ctl_calls) +
                                       b(&BackendCounters::accept_calls));
#define FANOUT_INFO_LINE(name) o.line(#name, b(&BackendCounters::name));
  FANOUT_BACKEND_COUNTERS(FANOUT_INFO_LINE)
#undef FANOUT_INFO_LINE
  uint64_t sends = b(&BackendCounters::sends_completed), completions = b(&BackendCounters::completions);
  o.ratio("messages_per_send", sh.sum(&ShardStats::messages_delivered), sends);
  o.ratio("bytes_per_send", sh.sum(&ShardStats::total_net_output_bytes), sends);
  o.ratio("completions_per_wait", completions, b(&BackendCounters::wait_calls));
  o.ratio("completions_per_enter", completions, enters);  // io_uring only
}

void shards_section(InfoText& o, const InfoSource& in) {
  for (int s = 0; s < in.sh.nshards; ++s) {
    const ShardStats& st = in.sh.stats[s];
    o.line("shard" + std::to_string(s),
           "clients=" + std::to_string(st.clients.get()) + ",channels=" + std::to_string(st.channels.get()) +
               ",patterns=" + std::to_string(st.patterns.get()) +
               ",published=" + std::to_string(st.messages_published.get()) +
               ",delivered=" + std::to_string(st.messages_delivered.get()) +
               ",queued_bytes=" + std::to_string(st.queued_bytes.get()));
  }
}

struct InfoSection {
  std::string_view name;  // as INFO's argument names it (any case)
  std::string_view title;
  void (*write)(InfoText&, const InfoSource&);
};

constexpr InfoSection kSections[] = {
    {"server", "Server", server_section},          {"clients", "Clients", clients_section},
    {"memory", "Memory", memory_section},          {"stats", "Stats", stats_section},
    {"backpressure", "Backpressure", backpressure_section},
    {"backend", "Backend", backend_section},       {"shards", "Shards", shards_section},
};

// INFO with no argument, or "all", "everything", "default", shows every section.
bool wanted(std::span<const std::string_view> args, std::string_view section) {
  if (args.size() < 2) return true;
  for (size_t i = 1; i < args.size(); ++i) {
    if (iequals(args[i], section) || iequals(args[i], "all") || iequals(args[i], "everything") ||
        iequals(args[i], "default")) {
      return true;
    }
  }
  return false;
}

}  // namespace

void ShardCore::cmd_info(Conn* c, std::span<const std::string_view> args) {
  const InfoSource in{*shared_, cfg_, now_ms_};
  InfoText o;
  for (const InfoSection& s : kSections) {
    if (!wanted(args, s.name)) continue;
    o.section(s.title);
    s.write(o, in);
  }
  resp::verbatim(c->out, o.text(), c->proto);
}

}  // namespace fanout
