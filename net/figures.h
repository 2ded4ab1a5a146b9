// The figures INFO shows, gathered once for two readers: INFO's text (net/info.cc) and the
// Prometheus exposition GET /metrics serves (net/metrics.cc). Each INFO section is a function
// writing its figures into a FigureSink. A figure every shard keeps goes in as the field to read
// from each shard's ShardStats: INFO shows the sum (or the largest), /metrics one sample per
// shard with a shard label. Text figures (versions, names) are INFO's only; figures INFO writes
// as one composite line (cmdstat_*, errorstat_*, latency percentiles) come as text too, and
// /metrics writes its own families for them from the same counters (the helpers at the end).
// Thread: any; every counter is read relaxed while the shards run (INFO's snapshot semantics).
#pragma once

#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

#include "net/config.h"
#include "net/shared_state.h"
#include "net/stats.h"

namespace fanout {

// Prometheus's metric types for the figures that are numbers.
enum class FigureKind : uint8_t { kCounter, kGauge };

// A figure each shard keeps: a Counter of its ShardStats or of their BackendCounters.
struct ShardField {
  Counter ShardStats::*stat = nullptr;
  Counter BackendCounters::*backend = nullptr;
  bool max = false;  // INFO shows the largest over the shards, not their sum

  const Counter& of(const ShardStats& s) const { return stat != nullptr ? s.*stat : s.backend.*backend; }
};

// How /metrics names a figure whose INFO name Prometheus's conventions refuse (an abbreviated or
// non-base unit: loop_busy_us is fanout_loop_busy_seconds_total), and the factor to that unit.
struct MetricName {
  std::string_view name;  // empty: the INFO name
  double scale = 1;
};

// Where the figures go. Units: as the figure's name says (bytes, seconds, microseconds), else
// a count.
class FigureSink {
 public:
  virtual ~FigureSink() = default;
  // A text figure, or one of INFO's composite lines ("calls=3,usec=12").
  virtual void text(std::string_view name, std::string_view value) = 0;
  // A process-wide number.
  virtual void number(std::string_view name, FigureKind kind, std::string_view help, uint64_t value) = 0;
  // A process-wide number INFO shows with `decimals` decimals.
  virtual void real(std::string_view name, FigureKind kind, std::string_view help, double value, int decimals) = 0;
  // A number every shard keeps: the field, times `scale`; decimals < 0: an integer.
  virtual void shard(std::string_view name, FigureKind kind, std::string_view help, ShardField field,
                     double scale = 1, int decimals = -1, MetricName metric = {}) = 0;
};

struct FigureSource {
  const SharedState& sh;
  const ServerConfig& cfg;
  int64_t now_ms;  // the loop's clock (uptime)
};

// INFO's sections in Redis 7.0's order, then Fanout's own.
struct FigureSection {
  std::string_view name;   // as INFO's argument names it (any case)
  std::string_view title;  // INFO's "# Title"
  void (*write)(FigureSink&, const FigureSource&);
  bool in_default;  // shown by INFO with no argument (Redis's default sections, and Fanout's)
};
std::span<const FigureSection> figure_sections();

// INFO commandstats' figures for command slot `cmd` (command_stat_names()): on `shard`, or on
// every shard summed (shard < 0).
struct CommandFigures {
  uint64_t calls = 0, usec = 0, rejected_calls = 0, failed_calls = 0;
};
CommandFigures command_figures(const SharedState& sh, size_t cmd, int shard);
// Command slot `cmd`'s latency histograms summed over every shard into *merged
// (LatencyHistogram::kBuckets counts, microseconds). Returns how many calls they hold.
uint64_t merge_latency(const SharedState& sh, size_t cmd, std::vector<uint64_t>* merged);
// INFO errorstats: error replies with code kErrorCodes[code], on `shard` or summed (shard < 0).
uint64_t error_count(const SharedState& sh, size_t code, int shard);

// Redis's bytesToHuman ("1.50K"), and `v` with `decimals` decimals.
std::string human_bytes(uint64_t n);
std::string fixed(double v, int decimals);

}  // namespace fanout
