#include "core/glob.h"

#include <utility>

namespace fanout {
namespace {

// Matches one non-star token of `pat` starting at `p` against `c`. Sets *next to the index after
// the token. Comparisons use signed chars, as Redis's C code does.
bool match_token(std::string_view pat, size_t p, char c, size_t* next) {
  const size_t m = pat.size();
  switch (pat[p]) {
    case '?':
      *next = p + 1;
      return true;
    case '[': {
      ++p;
      bool negate = p < m && pat[p] == '^';
      if (negate) ++p;
      bool match = false;
      while (true) {
        if (p >= m) {
          // Unclosed set: it ran to the end of the pattern.
          break;
        }
        if (pat[p] == '\\' && m - p >= 2) {
          ++p;
          if (pat[p] == c) match = true;
        } else if (pat[p] == ']') {
          break;
        } else if (m - p >= 3 && pat[p + 1] == '-') {
          signed char lo = static_cast<signed char>(pat[p]);
          signed char hi = static_cast<signed char>(pat[p + 2]);
          signed char sc = static_cast<signed char>(c);
          if (lo > hi) std::swap(lo, hi);
          p += 2;
          if (sc >= lo && sc <= hi) match = true;
        } else if (pat[p] == c) {
          match = true;
        }
        ++p;
      }
      *next = p < m ? p + 1 : m;
      return negate ? !match : match;
    }
    case '\\':
      if (m - p >= 2) ++p;
      [[fallthrough]];
    default:
      *next = p + 1;
      return pat[p] == c;
  }
}

}  // namespace

namespace {

// The two-pointer match with star backtracking (Redis's stringmatchlen, made iterative): pattern
// pat[p0..) against s[i0..); `star` says whether a '*' precedes pat[p0], free to absorb s.
bool match_from(std::string_view pat, size_t p, std::string_view s, size_t i, bool star) {
  const size_t m = pat.size(), n = s.size();
  size_t star_p = star ? p : std::string_view::npos, star_i = i;
  while (i < n) {
    if (p < m && pat[p] == '*') {
      while (p < m && pat[p] == '*') ++p;
      if (p == m) return true;
      star_p = p;
      star_i = i;
      continue;
    }
    size_t next;
    if (p < m && match_token(pat, p, s[i], &next)) {
      p = next;
      ++i;
      continue;
    }
    if (star_p == std::string_view::npos) return false;
    p = star_p;
    i = ++star_i;
  }
  while (p < m && pat[p] == '*') ++p;
  return p == m;
}

}  // namespace

bool glob_match(std::string_view pat, std::string_view s) {
  const size_t m = pat.size(), n = s.size();
  if (n == 0) return m == 0;  // Redis's loop needs both lengths non-zero to start
  // The tokens before the first '*' match at the start of s, one character each, and those
  // after the last '*' at its end: checked first, in time proportional to them, so a pattern
  // such as "*suffix" or "prefix*suffix" costs nothing like pattern x subject whatever the
  // subject's length. What lies between (inner stars and their tokens) is matched as before.
  size_t p = 0, i = 0, next;
  while (p < m && pat[p] != '*') {
    if (i == n || !match_token(pat, p, s[i], &next)) return false;
    p = next;
    ++i;
  }
  if (p == m) return i == n;  // no star: every character matched, and nothing is left over
  // Tokens after the last star (positions of the tokens, to match them right to left).
  size_t last_star = p;
  for (size_t q = p; q < m; q = next) {
    if (pat[q] == '*') {
      last_star = q;
      next = q + 1;
      continue;
    }
    match_token(pat, q, '\0', &next);  // only for where the token ends
  }
  size_t suffix_start = last_star + 1;
  size_t suffix_tokens = 0;
  for (size_t q = suffix_start; q < m; q = next) {
    match_token(pat, q, '\0', &next);
    ++suffix_tokens;
  }
  if (n - i < suffix_tokens) return false;
  size_t end = n - suffix_tokens;
  for (size_t q = suffix_start, k = end; q < m; ++k) {
    if (!match_token(pat, q, s[k], &next)) return false;
    q = next;
  }
  // Between: the first star (at p) through the last, against s[i, end).
  return match_from(pat.substr(0, last_star + 1), p, s.substr(0, end), i, false);
}

size_t glob_wildcards(std::string_view pat) {
  size_t n = 0;
  for (size_t p = 0; p < pat.size(); ++p) {
    switch (pat[p]) {
      case '\\':
        ++p;  // the next character is a literal
        break;
      case '*':
        ++n;
        while (p + 1 < pat.size() && pat[p + 1] == '*') ++p;
        break;
      case '?':
        ++n;
        break;
      case '[': {
        ++n;
        size_t next;
        match_token(pat, p, '\0', &next);  // only for where the set ends
        p = next - 1;
        break;
      }
      default:
        break;
    }
  }
  return n;
}

}  // namespace fanout
