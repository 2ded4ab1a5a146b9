// Parsing numbers as configuration gives them: unsigned integers, and sizes with binary
// suffixes. Every overflow is an error, never a wrap. Pure.
#pragma once

#include <cstdint>
#include <string_view>

namespace fanout {

// A whole decimal unsigned integer ("0" to "18446744073709551615"); false for a sign, spaces,
// trailing text or overflow.
bool parse_unsigned(std::string_view s, uint64_t* out);
// Bytes: a number with an optional suffix b, k/kb/kib, m/mb/mib, g/gb/gib, t/tb/tib (binary
// multiples, case-insensitive, as Redis's memory units); false on anything else or overflow.
bool parse_size(std::string_view s, uint64_t* out);

}  // namespace fanout
