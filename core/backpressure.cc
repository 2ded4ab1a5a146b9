#include "core/backpressure.h"

namespace fanout {

std::optional<OverflowPolicy> parse_policy(std::string_view s) {
  if (s == "disconnect") return OverflowPolicy::kDisconnect;
  if (s == "drop-oldest") return OverflowPolicy::kDropOldest;
  if (s == "drop-newest") return OverflowPolicy::kDropNewest;
  return std::nullopt;
}

std::string_view policy_name(OverflowPolicy p) {
  switch (p) {
    case OverflowPolicy::kDisconnect: return "disconnect";
    case OverflowPolicy::kDropOldest: return "drop-oldest";
    case OverflowPolicy::kDropNewest: return "drop-newest";
  }
  return "?";
}

}  // namespace fanout
