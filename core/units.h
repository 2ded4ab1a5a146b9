// Parsing numbers as configuration gives them: unsigned integers, and sizes with binary
// suffixes. Every overflow is an error, never a wrap. Pure.
#pragma once

#include <cstdint>
#include <string_view>

namespace fanout {

// A whole decimal unsigned integer ("0" to "18446744073709551615"); false for a sign, spaces,
// trailing text or overflow.
bool parse_unsigned(std::string_view s, uint64_t* out);
// Bytes as Fanout's own flags take them: a number with an optional suffix b, k/kb/kib, m/mb/mib,
// g/gb/gib, t/tb/tib, all binary multiples (1k = 1024), case-insensitive; false on anything else
// or overflow.
bool parse_size(std::string_view s, uint64_t* out);
// Bytes as Redis reads a memory directive (util.c memtoull): k, m, g are decimal (1k = 1000), kb,
// mb, gb binary (1kb = 1024), b or none bytes, case-insensitive; false on anything else (a sign,
// a fraction, spaces) or overflow. Used for the directives Fanout shares with redis.conf.
bool parse_redis_memory(std::string_view s, uint64_t* out);

}  // namespace fanout
