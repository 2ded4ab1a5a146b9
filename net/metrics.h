// GET /metrics: every figure INFO shows that is a number, in Prometheus's text exposition format
// 0.0.4 (https://prometheus.io/docs/instrumenting/exposition_formats/), with HELP and TYPE for
// every family. Names: "fanout_" and the INFO name, "_total" after a counter's
// (fanout_connected_clients, fanout_total_net_output_bytes_total). A figure each shard keeps has
// one sample per shard, labelled shard="N" (INFO shows their sum). INFO's composite lines become
// families of their own: fanout_cmdstat_{calls,usec,rejected_calls,failed_calls}_total{cmd,shard},
// fanout_errorstat_total{err,shard}, and the per-command latency histograms (INFO latencystats'
// source) as the histogram fanout_command_latency_seconds{cmd} (every shard's merged), with
// buckets at powers of two microseconds.
// Thread: any (a shard answering a scrape); counters are read relaxed, as INFO reads them.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "net/config.h"
#include "net/shared_state.h"

namespace fanout {

// The Content-Type of metrics_text()'s output.
inline constexpr std::string_view kMetricsContentType = "text/plain; version=0.0.4; charset=utf-8";

// The exposition, from every shard's counters. now_ms: the loop's clock (for uptime).
std::string metrics_text(const SharedState& sh, const ServerConfig& cfg, int64_t now_ms);

}  // namespace fanout
