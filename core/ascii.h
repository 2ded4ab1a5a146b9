// ASCII case folding, as Redis compares command, subcommand, option and ACL rule names
// (strcasecmp in the C locale). Pure.
#pragma once

#include <string>
#include <string_view>

namespace fanout {

// A hexadecimal digit's value (0-15), or -1 for any other character.
inline int hex_digit_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

inline char ascii_lower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c + 32) : c; }

inline bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (ascii_lower(a[i]) != ascii_lower(b[i])) return false;
  }
  return true;
}

// Redis's string2ll (util.c): an optional '-', then digits with no leading zero ("0" alone is
// zero), nothing else: "01", "-0", "+1", " 1" and "" are refused, as are values outside long long.
inline bool string2ll(std::string_view s, long long* out) {
  if (s.empty() || s.size() > 20) return false;
  if (s == "0") {
    *out = 0;
    return true;
  }
  size_t i = 0;
  const bool negative = s[0] == '-';
  if (negative) ++i;
  if (i == s.size() || s[i] < '1' || s[i] > '9') return false;
  unsigned long long v = 0;
  for (; i < s.size(); ++i) {
    if (s[i] < '0' || s[i] > '9') return false;
    unsigned long long d = static_cast<unsigned long long>(s[i] - '0');
    if (v > (~0ULL - d) / 10) return false;
    v = v * 10 + d;
  }
  constexpr unsigned long long kMax = 9223372036854775807ULL;
  if (negative) {
    if (v > kMax + 1) return false;
    *out = v == kMax + 1 ? static_cast<long long>(-9223372036854775807LL - 1) : -static_cast<long long>(v);
  } else {
    if (v > kMax) return false;
    *out = static_cast<long long>(v);
  }
  return true;
}

inline std::string lowercase(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = ascii_lower(c);
  return out;
}

}  // namespace fanout
