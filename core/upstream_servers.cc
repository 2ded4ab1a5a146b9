#include "core/upstream_servers.h"

#include <algorithm>
#include <charconv>

namespace fanout {

UpstreamServers::UpstreamServers(std::vector<UpstreamUrl> configured, int64_t base_ms, int64_t max_ms)
    : servers_(std::move(configured)), base_ms_(std::max<int64_t>(base_ms, 1)), max_ms_(std::max(max_ms, base_ms_)) {
  if (servers_.size() > kMaxServers) servers_.resize(kMaxServers);
}

size_t UpstreamServers::discovered(const std::vector<std::string>& connect_urls) {
  size_t added = 0;
  for (const std::string& hp : connect_urls) {
    if (servers_.empty() || servers_.size() >= kMaxServers) break;
    // The announced form is host:port (nats-server's connect_urls); reuse the URL parser.
    UpstreamUrl u = servers_.front();
    std::vector<UpstreamUrl> one;
    std::string err;
    if (hp.find_first_of("@/,") != std::string::npos || !parse_upstream_urls("nats://" + hp, &one, &err)) continue;
    u.host = one[0].host;
    u.port = one[0].port;
    const bool known = std::any_of(servers_.begin(), servers_.end(),
                                   [&](const UpstreamUrl& s) { return s.host == u.host && s.port == u.port; });
    if (known) continue;
    servers_.push_back(std::move(u));
    ++added;
  }
  return added;
}

const UpstreamUrl& UpstreamServers::next() {
  current_ = cursor_ % servers_.size();
  const UpstreamUrl& u = servers_[current_];
  cursor_ = (cursor_ + 1) % servers_.size();
  ++attempts_;
  return u;
}

int64_t UpstreamServers::failure_delay_ms(uint64_t random) const {
  if (servers_.empty() || attempts_ % servers_.size() != 0) return 0;  // the round goes on
  const size_t rounds = attempts_ / servers_.size();
  int64_t d = base_ms_;
  for (size_t i = 1; i < rounds && d < max_ms_; ++i) d *= 2;
  d = std::min(d, max_ms_);
  return d + static_cast<int64_t>(random % static_cast<uint64_t>(d / 2 + 1));
}

void UpstreamServers::connected() {
  attempts_ = 0;
  cursor_ = (current_ + 1) % servers_.size();
}

}  // namespace fanout
