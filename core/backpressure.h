// Slow-consumer policy: decides, for each push to a client, whether its outbound queue may grow.
//
// Mirrors Redis's client-output-buffer-limit for pubsub clients (a hard byte limit, and a soft
// limit that may be exceeded for at most soft_ms), adds a message-count limit and the shard's
// share of the process-wide queued-bytes cap, and lets the operator choose what overflow does.
// Pure: the caller passes the time (injected clock). Thread: the client's shard.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

namespace fanout {

enum class OverflowPolicy : uint8_t { kDisconnect, kDropOldest, kDropNewest };

std::optional<OverflowPolicy> parse_policy(std::string_view s);
std::string_view policy_name(OverflowPolicy p);

struct OutputLimits {
  size_t hard_bytes = 32u << 20;  // 0 disables
  size_t soft_bytes = 8u << 20;   // 0 disables
  int64_t soft_ms = 60'000;
  size_t max_messages = 65'536;   // 0 disables
  OverflowPolicy policy = OverflowPolicy::kDisconnect;
};

// Why a push overflowed; each is counted separately.
enum class Overflow : uint8_t { kNone, kHard, kSoft, kMessages, kTotalCap };

// Per-client soft-limit clock.
struct SoftLimitState {
  int64_t over_since_ms = -1;
};

// Classifies a push of `len` bytes onto a queue holding `queued` bytes and `messages` pushes.
// `over_cap` is true when the shard's queued bytes exceed its share of the process cap; it only
// counts against a client that is already behind (queued > 0), so a reader that keeps up is
// never punished for another's backlog.
inline Overflow classify_push(const OutputLimits& lim, SoftLimitState* st, size_t queued,
                              size_t messages, size_t len, bool over_cap, int64_t now_ms) {
  size_t after = queued + len;
  if (lim.hard_bytes && after > lim.hard_bytes) return Overflow::kHard;
  if (lim.max_messages && messages + 1 > lim.max_messages) return Overflow::kMessages;
  if (lim.soft_bytes && after > lim.soft_bytes) {
    if (st->over_since_ms < 0) {
      st->over_since_ms = now_ms;
    } else if (now_ms - st->over_since_ms >= lim.soft_ms) {
      return Overflow::kSoft;
    }
  } else {
    st->over_since_ms = -1;
  }
  if (over_cap && queued > 0) return Overflow::kTotalCap;
  return Overflow::kNone;
}

// The queue size drop-oldest must shrink to before a push of `len` fits again.
inline size_t drop_target(const OutputLimits& lim, Overflow why, size_t queued, size_t len) {
  size_t limit = queued;  // kTotalCap: make room for this push within what the client holds
  if (why == Overflow::kHard) limit = lim.hard_bytes;
  if (why == Overflow::kSoft) limit = lim.soft_bytes;
  if (why == Overflow::kMessages) return queued > len ? queued - len : 0;  // frees >= one push
  return limit > len ? limit - len : 0;
}

}  // namespace fanout
