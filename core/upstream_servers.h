// Which NATS server the upstream link tries next, and when (issue 13's failures). Pure: the caller
// passes the random bits and the time. Thread: its link's shard only.
//
// As NATS's own clients do (nats.go's reconnect loop, nats.c's natsConn_reconnect): every server of
// --upstream, and every one a server announced in its INFO's connect_urls (the cluster's other
// members: a node configured with one server still fails over), in turn; a failed round of
// attempts waits longer before the next (exponential, capped), each wait jittered so that the
// nodes of a tier that lost the same server do not come back in step.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/upstream_url.h"

namespace fanout {

class UpstreamServers {
 public:
  // configured: --upstream's list (at least one). base_ms/max_ms: the wait after the first failed
  // round and the cap (ms).
  explicit UpstreamServers(std::vector<UpstreamUrl> configured, int64_t base_ms = 100, int64_t max_ms = 5'000);

  // Adds the servers an INFO announced ("host:port" or "[v6]:port"; malformed entries and ones
  // already known are skipped), with the configured servers' scheme and credentials. Returns how
  // many were new. At most kMaxServers are kept.
  size_t discovered(const std::vector<std::string>& connect_urls);
  // The server to try now (rotating), and the delay before the attempt after this one fails, from
  // `random` (any 64 random bits): 0 within a round; after each full round of failures
  // min(base * 2^(rounds-1), max), plus up to half of it again at random.
  const UpstreamUrl& next();
  int64_t failure_delay_ms(uint64_t random) const;
  // The link is up again (on the server next() last gave): the next failure starts a new first
  // round, from the server after that one (servers learnt since included).
  void connected();

  size_t size() const { return servers_.size(); }
  const UpstreamUrl& at(size_t i) const { return servers_[i]; }
  static constexpr size_t kMaxServers = 64;

 private:
  std::vector<UpstreamUrl> servers_;
  int64_t base_ms_, max_ms_;
  size_t cursor_ = 0;     // the next one to try
  size_t current_ = 0;    // the one next() last gave
  size_t attempts_ = 0;   // since the last connected()
};

}  // namespace fanout
