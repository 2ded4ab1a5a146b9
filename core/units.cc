#include "core/units.h"

#include "core/ascii.h"

namespace fanout {

bool parse_unsigned(std::string_view s, uint64_t* out) {
  if (s.empty()) return false;
  uint64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
    uint64_t d = static_cast<uint64_t>(c - '0');
    if (v > (UINT64_MAX - d) / 10) return false;
    v = v * 10 + d;
  }
  *out = v;
  return true;
}

bool parse_size(std::string_view s, uint64_t* out) {
  size_t digits = 0;
  while (digits < s.size() && s[digits] >= '0' && s[digits] <= '9') ++digits;
  uint64_t v;
  if (digits == 0 || !parse_unsigned(s.substr(0, digits), &v)) return false;
  std::string suffix = lowercase(s.substr(digits));
  int shift;
  if (suffix.empty() || suffix == "b") shift = 0;
  else if (suffix == "k" || suffix == "kb" || suffix == "kib") shift = 10;
  else if (suffix == "m" || suffix == "mb" || suffix == "mib") shift = 20;
  else if (suffix == "g" || suffix == "gb" || suffix == "gib") shift = 30;
  else if (suffix == "t" || suffix == "tb" || suffix == "tib") shift = 40;
  else return false;
  if (shift && v > (UINT64_MAX >> shift)) return false;
  *out = v << shift;
  return true;
}

bool parse_redis_memory(std::string_view s, uint64_t* out) {
  size_t digits = 0;
  while (digits < s.size() && s[digits] >= '0' && s[digits] <= '9') ++digits;
  uint64_t v;
  if (digits == 0 || !parse_unsigned(s.substr(0, digits), &v)) return false;
  const std::string suffix = lowercase(s.substr(digits));
  static constexpr struct {
    const char* suffix;
    uint64_t mul;
  } kUnits[] = {{"", 1},          {"b", 1},          {"k", 1000},           {"kb", 1024},
                {"m", 1000000},   {"mb", 1 << 20},   {"g", 1000000000ull},  {"gb", 1ull << 30}};
  for (const auto& u : kUnits) {
    if (suffix != u.suffix) continue;
    if (v > UINT64_MAX / u.mul) return false;
    *out = v * u.mul;
    return true;
  }
  return false;
}

}  // namespace fanout
