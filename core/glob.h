// Redis-compatible glob matching (PSUBSCRIBE, PUBSUB CHANNELS): '*', '?', '[...]', '[^...]',
// ranges, and '\' escapes, with Redis 7's edge cases (an unclosed '[' takes the rest of the
// pattern as its set; reversed ranges are swapped; '*' does not match an empty subject).
//
// Runs in O(pattern × subject) time with no recursion: a '*' only ever backtracks to the most
// recent star, so adversarial patterns like "*a*a*a*a*b" stay bounded. Pure; thread-agnostic.
#pragma once

#include <string_view>

namespace fanout {

bool glob_match(std::string_view pattern, std::string_view subject);

}  // namespace fanout
