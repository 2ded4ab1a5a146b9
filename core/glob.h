// Redis-compatible glob matching (PSUBSCRIBE, PUBSUB CHANNELS): '*', '?', '[...]', '[^...]',
// ranges, and '\' escapes, with Redis 7's edge cases (an unclosed '[' takes the rest of the
// pattern as its set; reversed ranges are swapped; '*' does not match an empty subject).
//
// Time about linear in the subject whatever the pattern: the text before the first '*' and after
// the last is anchored, and each star-free segment between is searched for at its leftmost
// place (memmem for literals, a 64-bit-word Shift-And for segments with '?' or sets), so at most
// O(pattern + subject x ceil(pattern / 64)), and never recursion. Adversarial pairs such as
// "*aaa...ab*" against a long run of 'a' (O(pattern x subject) for a backtracking matcher, like
// Redis's) cost one pass. Pure; thread-agnostic.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace fanout {

// Whether `subject` matches `pattern`. If `work` is given, adds the matcher's cost to it, in
// steps of one token compared with one byte (or one 64-token word of a Shift-And pass, or one
// byte scanned by memmem): tests bound it, and a caller may budget by it.
bool glob_match(std::string_view pattern, std::string_view subject, uint64_t* work = nullptr);

// How many wildcards the pattern has: each run of '*', each '?', each '[...]' set (escaped
// characters are literals). With its length, what a server may bound per pattern: every
// PUBLISH matches each pattern against its channel.
size_t glob_wildcards(std::string_view pattern);

}  // namespace fanout
