// INFO, in Redis's format (sections of "name:value" lines, server.c genRedisInfoString), from the
// figures of net/figures.h; and LATENCY HISTOGRAM from the same per-command histograms.
#include <string>
#include <vector>

#include "core/resp_writer.h"
#include "net/command_util.h"
#include "net/figures.h"
#include "net/shard_core.h"
#include "net/version.h"

namespace fanout {
namespace {

// INFO's text: a shard figure is summed over the shards (or the largest taken).
class InfoText final : public FigureSink {
 public:
  explicit InfoText(const SharedState& sh) : sh_(sh) {}
  void section(std::string_view title) {
    if (!o_.empty()) o_ += "\r\n";
    o_ += "# ";
    o_.append(title);
    o_ += "\r\n";
  }
  void text(std::string_view k, std::string_view v) override {
    o_.append(k);
    o_ += ':';
    o_.append(v);
    o_ += "\r\n";
  }
  void number(std::string_view k, FigureKind, std::string_view, uint64_t v) override { text(k, std::to_string(v)); }
  void real(std::string_view k, FigureKind, std::string_view, double v, int decimals) override {
    text(k, fixed(v, decimals));
  }
  void shard(std::string_view k, FigureKind kind, std::string_view help, ShardField f, double scale, int decimals,
             MetricName) override {
    uint64_t v = 0;
    for (const ShardStats& s : sh_.stats) v = f.max ? std::max(v, f.of(s).get()) : v + f.of(s).get();
    if (decimals < 0) {
      number(k, kind, help, v);
    } else {
      real(k, kind, help, static_cast<double>(v) * scale, decimals);
    }
  }
  const std::string& str() const { return o_; }

 private:
  const SharedState& sh_;
  std::string o_;
};

// Redis's section selection (server.c genInfoSectionDict): no argument or "default" shows the
// default sections, "all" and "everything" every section, otherwise the ones named.
bool wanted(std::span<const std::string_view> args, const FigureSection& section) {
  if (args.size() < 2) return section.in_default;
  for (size_t i = 1; i < args.size(); ++i) {
    if (iequals(args[i], section.name) || iequals(args[i], "all") || iequals(args[i], "everything") ||
        (iequals(args[i], "default") && section.in_default)) {
      return true;
    }
  }
  return false;
}

}  // namespace

// LATENCY HISTOGRAM [command ...] (Redis 7.0, latency.c): for each command with calls (or each
// named), its calls and a cumulative histogram of its latency in microseconds at powers of two,
// from every shard's per-command histogram (the buckets INFO latencystats reads).
void ShardCore::latency_histogram(Conn* c, std::span<const std::string_view> args) {
  const auto names = command_stat_names();
  struct Row {
    std::string_view name;
    uint64_t calls;
    std::vector<std::pair<uint64_t, uint64_t>> cumulative;  // (2^k microseconds, count at or below)
  };
  std::vector<Row> rows;
  std::vector<uint64_t> merged;
  for (size_t i = 0; i < names.size(); ++i) {
    bool asked = args.size() <= 2;
    for (size_t a = 2; a < args.size() && !asked; ++a) asked = iequals(args[a], names[i]);
    if (!asked) continue;
    // Every call that ran is recorded once in its shard's histogram (execute), so the merged
    // total is the calls count.
    const uint64_t total = merge_latency(*shared_, i, &merged);
    if (total == 0) continue;
    Row row{names[i], total, {}};
    uint64_t cum = 0;
    int b = 0;
    for (int k = 0; k < 63 && cum < total; ++k) {
      const uint64_t bound = uint64_t{1} << k;
      while (b < LatencyHistogram::kBuckets && LatencyHistogram::bucket_high(b) <= bound) cum += merged[b++];
      if (cum > 0) row.cumulative.emplace_back(bound, cum);
    }
    rows.push_back(std::move(row));
  }
  resp::map(c->out, rows.size(), c->proto);
  for (const Row& r : rows) {
    resp::bulk(c->out, r.name);
    resp::map(c->out, 2, c->proto);
    resp::bulk(c->out, "calls");
    resp::integer(c->out, static_cast<int64_t>(r.calls));
    resp::bulk(c->out, "histogram_usec");
    resp::map(c->out, r.cumulative.size(), c->proto);
    for (const auto& [bound, count] : r.cumulative) {
      resp::integer(c->out, static_cast<int64_t>(bound));
      resp::integer(c->out, static_cast<int64_t>(count));
    }
  }
}

void ShardCore::cmd_info(Conn* c, std::span<const std::string_view> args) {
  const FigureSource in{*shared_, cfg_, now_ms_};
  InfoText o(*shared_);
  for (const FigureSection& s : figure_sections()) {
    if (!wanted(args, s)) continue;
    o.section(s.title);
    s.write(o, in);
  }
  resp::verbatim(c->out, o.str(), c->proto);
}

}  // namespace fanout
