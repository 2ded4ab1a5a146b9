#include "net/metrics.h"

#include <cstdio>
#include <string>
#include <vector>

#include "net/figures.h"
#include "net/shard_core.h"

namespace fanout {
namespace {

// Prometheus text: each family's HELP and TYPE once, then its samples.
class PromText final : public FigureSink {
 public:
  explicit PromText(const SharedState& sh) : sh_(sh) { o_.reserve(64 << 10); }

  void text(std::string_view, std::string_view) override {}  // INFO only
  void number(std::string_view name, FigureKind kind, std::string_view help, uint64_t v) override {
    family(name, kind, help, "");
    sample(name, kind, "", std::to_string(v));
  }
  void real(std::string_view name, FigureKind kind, std::string_view help, double v, int decimals) override {
    family(name, kind, help, "");
    sample(name, kind, "", fixed(v, decimals));
  }
  void shard(std::string_view name, FigureKind kind, std::string_view help, ShardField f, double scale, int decimals,
             MetricName metric) override {
    if (!metric.name.empty()) {
      name = metric.name;
      scale = metric.scale;
      if (scale != 1 && decimals < 0) decimals = 6;
    }
    family(name, kind, help, "");
    for (int s = 0; s < sh_.nshards; ++s) {
      const uint64_t v = f.of(sh_.stats[s]).get();
      sample(name, kind, shard_label(s), decimals < 0 ? std::to_string(v) : fixed(static_cast<double>(v) * scale, decimals));
    }
  }

  // "# HELP fanout_<name>[suffix] help" and "# TYPE ...": suffix "_total" for a counter.
  void family(std::string_view name, FigureKind kind, std::string_view help, std::string_view type) {
    const std::string full = metric(name, kind);
    o_ += "# HELP " + full + " ";
    for (char ch : help) {
      if (ch == '\\') {
        o_ += "\\\\";
      } else if (ch == '\n') {
        o_ += "\\n";
      } else {
        o_ += ch;
      }
    }
    o_ += "\n# TYPE " + full + " ";
    o_ += type.empty() ? (kind == FigureKind::kCounter ? "counter" : "gauge") : type;
    o_ += '\n';
  }
  void sample(std::string_view name, FigureKind kind, std::string_view labels, std::string_view value) {
    o_ += metric(name, kind);
    if (!labels.empty()) {
      o_ += '{';
      o_.append(labels);
      o_ += '}';
    }
    o_ += ' ';
    o_.append(value);
    o_ += '\n';
  }
  static std::string metric(std::string_view name, FigureKind kind) {
    return "fanout_" + std::string(name) + (kind == FigureKind::kCounter ? "_total" : "");
  }
  static std::string shard_label(int s) { return "shard=\"" + std::to_string(s) + "\""; }
  std::string& str() { return o_; }

 private:
  const SharedState& sh_;
  std::string o_;
};

// INFO commandstats, per command and shard: a command appears once any shard has a figure for it.
void command_families(PromText& o, const SharedState& sh) {
  const auto names = command_stat_names();
  std::vector<size_t> used;
  for (size_t i = 0; i < names.size(); ++i) {
    const CommandFigures f = command_figures(sh, i, -1);
    if (f.calls != 0 || f.rejected_calls != 0 || f.failed_calls != 0) used.push_back(i);
  }
  struct Field {
    const char* name;
    const char* help;
    uint64_t CommandFigures::*value;
  };
  static constexpr Field kFields[] = {
      {"cmdstat_calls", "calls of the command that ran (INFO commandstats calls)", &CommandFigures::calls},
      {"cmdstat_usec", "microseconds the command ran for (INFO commandstats usec)", &CommandFigures::usec},
      {"cmdstat_rejected_calls", "calls refused before running: arity, authentication, ACL, context",
       &CommandFigures::rejected_calls},
      {"cmdstat_failed_calls", "calls that ran and answered an error", &CommandFigures::failed_calls},
  };
  for (const Field& fd : kFields) {
    o.family(fd.name, FigureKind::kCounter, fd.help, "");
    for (size_t i : used) {
      for (int s = 0; s < sh.nshards; ++s) {
        const std::string labels = "cmd=\"" + std::string(names[i]) + "\"," + PromText::shard_label(s);
        o.sample(fd.name, FigureKind::kCounter, labels, std::to_string(command_figures(sh, i, s).*fd.value));
      }
    }
  }
}

// INFO errorstats, per error code and shard.
void error_family(PromText& o, const SharedState& sh) {
  o.family("errorstat", FigureKind::kCounter, "error replies by their error code (INFO errorstats)", "");
  for (size_t e = 0; e < std::size(kErrorCodes); ++e) {
    if (error_count(sh, e, -1) == 0) continue;
    for (int s = 0; s < sh.nshards; ++s) {
      const std::string labels = "err=\"" + std::string(kErrorCodes[e]) + "\"," + PromText::shard_label(s);
      o.sample("errorstat", FigureKind::kCounter, labels, std::to_string(error_count(sh, e, s)));
    }
  }
}

// The per-command latency histograms (INFO latencystats' source), merged over the shards, as a
// Prometheus histogram in seconds. Bucket le = 2^k microseconds counts the calls recorded below
// 2^k: a call is recorded in whole microseconds, truncated, so those are the calls that took
// less than 2^k microseconds. 2^24 us (16.8 s) is the last bound before +Inf.
void latency_histograms(PromText& o, const SharedState& sh) {
  constexpr int kBounds = 25;
  const auto names = command_stat_names();
  const std::string name = "fanout_command_latency_seconds";
  o.str() += "# HELP " + name + " time commands took to run, by command (INFO latencystats' histograms)\n";
  o.str() += "# TYPE " + name + " histogram\n";
  std::vector<uint64_t> merged;
  char le[32];
  for (size_t i = 0; i < names.size(); ++i) {
    const uint64_t total = merge_latency(sh, i, &merged);
    if (total == 0) continue;
    const std::string cmd = "cmd=\"" + std::string(names[i]) + "\"";
    uint64_t below = 0;
    int b = 0;
    for (int k = 0; k < kBounds; ++k) {
      const uint64_t bound = uint64_t{1} << k;
      while (b < LatencyHistogram::kBuckets && LatencyHistogram::bucket_high(b) < bound) below += merged[b++];
      std::snprintf(le, sizeof(le), "%.9g", static_cast<double>(bound) / 1e6);
      o.str() += name + "_bucket{" + cmd + ",le=\"" + le + "\"} " + std::to_string(below) + "\n";
    }
    o.str() += name + "_bucket{" + cmd + ",le=\"+Inf\"} " + std::to_string(total) + "\n";
    o.str() += name + "_sum{" + cmd + "} " + fixed(static_cast<double>(command_figures(sh, i, -1).usec) / 1e6, 6) + "\n";
    o.str() += name + "_count{" + cmd + "} " + std::to_string(total) + "\n";
  }
}

// A label value as the text format takes it (escaped \\, \" and \n, UTF-8), at most kMaxLabel
// bytes: a channel name is any bytes and may be 64 KiB long. A byte that does not belong to a
// valid UTF-8 sequence becomes '?'.
std::string label_value(std::string_view v) {
  constexpr size_t kMaxLabel = 128;
  std::string out;
  size_t i = 0;
  while (i < v.size() && out.size() < kMaxLabel) {
    const auto b = static_cast<unsigned char>(v[i]);
    size_t len = b < 0x80 ? 1 : (b >> 5) == 6 ? 2 : (b >> 4) == 14 ? 3 : (b >> 3) == 30 ? 4 : 0;
    bool valid = len != 0 && i + len <= v.size();
    for (size_t k = 1; valid && k < len; ++k) valid = (static_cast<unsigned char>(v[i + k]) & 0xC0) == 0x80;
    if (!valid) {
      out += '?';
      ++i;
      continue;
    }
    if (b == '\\') {
      out += "\\\\";
    } else if (b == '"') {
      out += "\\\"";
    } else if (b == '\n') {
      out += "\\n";
    } else {
      out.append(v.substr(i, len));
    }
    i += len;
  }
  if (i < v.size()) out += "...";
  return out;
}

// FANOUT TOPCHANNELS' top 10 by bytes, as shard 0's last walk found them.
void top_channel_families(PromText& o, const SharedState& sh) {
  const TopChannelsSnapshot* snap = sh.top_channels.load(std::memory_order_acquire);
  struct Field {
    const char* name;
    const char* help;
    uint64_t ChannelFigures::*value;
  };
  static constexpr Field kFields[] = {
      {"top_channel_bytes", "bytes of messages delivered on the channels carrying the most (FANOUT TOPCHANNELS), "
                            "each message's RESP2 frame once; walked again a second after each walk", &ChannelFigures::bytes},
      {"top_channel_messages", "messages delivered on those channels", &ChannelFigures::messages},
      {"top_channel_subscribers", "subscribers of those channels, on every shard", &ChannelFigures::subscribers},
  };
  for (const Field& fd : kFields) {
    o.family(fd.name, FigureKind::kGauge, fd.help, "");
    if (snap == nullptr) continue;
    for (size_t r = 0; r < snap->channels.size(); ++r) {
      const ChannelFigures& f = snap->channels[r];
      const std::string labels = "rank=\"" + std::to_string(r + 1) + "\",channel=\"" + label_value(f.name) + "\"";
      o.sample(fd.name, FigureKind::kGauge, labels, std::to_string(f.*fd.value));
    }
  }
}

}  // namespace

std::string metrics_text(const SharedState& sh, const ServerConfig& cfg, int64_t now_ms) {
  PromText o(sh);
  const FigureSource in{sh, cfg, now_ms};
  for (const FigureSection& s : figure_sections()) s.write(o, in);
  command_families(o, sh);
  error_family(o, sh);
  latency_histograms(o, sh);
  top_channel_families(o, sh);
  return std::move(o.str());
}

}  // namespace fanout
