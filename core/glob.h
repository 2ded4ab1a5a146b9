// Redis-compatible glob matching (PSUBSCRIBE, PUBSUB CHANNELS): '*', '?', '[...]', '[^...]',
// ranges, and '\' escapes, with Redis 7's edge cases (an unclosed '[' takes the rest of the
// pattern as its set; reversed ranges are swapped; '*' does not match an empty subject).
//
// Runs in O(pattern × subject) time with no recursion: a '*' only ever backtracks to the most
// recent star, so adversarial patterns like "*a*a*a*a*b" stay bounded. Pure; thread-agnostic.
#pragma once

#include <cstddef>
#include <string_view>

namespace fanout {

bool glob_match(std::string_view pattern, std::string_view subject);

// How many wildcards the pattern has: each run of '*', each '?', each '[...]' set (escaped
// characters are literals). With its length, what a server may bound per pattern: every
// PUBLISH matches each pattern against its channel.
size_t glob_wildcards(std::string_view pattern);

}  // namespace fanout
