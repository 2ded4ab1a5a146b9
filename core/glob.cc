#include "core/glob.h"

#include <string.h>

#include <string>
#include <utility>
#include <vector>

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


constexpr size_t kNpos = std::string_view::npos;

// Where the token at pat[q] ends (tokens are one character of the subject each; a set runs to
// its ']' or, unclosed, to the end of the pattern).
inline size_t token_end(std::string_view pat, size_t q) {
  if (pat[q] != '[' && pat[q] != '\\') return q + 1;
  size_t next;
  match_token(pat, q, '\0', &next);
  return next;
}

// The byte a literal token stands for, or -1 for '?' and sets.
int literal_of(std::string_view pat, size_t q) {
  if (pat[q] == '?' || pat[q] == '[') return -1;
  if (pat[q] == '\\' && pat.size() - q >= 2) return static_cast<unsigned char>(pat[q + 1]);
  return static_cast<unsigned char>(pat[q]);
}

// A segment of at most kNaiveBytes pattern bytes, or one whose search could cost at most
// kNaiveSearchWork steps, is searched position by position: short segments and short subjects,
// the common case, pay no set-up, and their cost stays linear in the subject. (Bytes, not
// tokens: comparing a character with a set costs the set's length.)
constexpr size_t kNaiveBytes = 16;
constexpr uint64_t kNaiveSearchWork = 4096;

// The leftmost start in s[from, to) where the k tokens of the star-free segment pat[b, e) match
// k consecutive characters, or kNpos. Adds its cost to *work. Time: O((e - b) x (to - from))
// only within the bounds above; beyond them O(to - from) for a segment of literals (memmem, glibc's
// two-way search) and O((to - from) x ceil(k / 64)) otherwise (Shift-And over 64-bit words, each
// token's byte set in a table of 256 x ceil(k / 64) words, built in 256 x (e - b) steps).
size_t find_segment(std::string_view pat, size_t b, size_t e, size_t k, std::string_view s, size_t from,
                    size_t to, uint64_t* work) {
  if (to - from < k) return kNpos;
  const size_t starts = to - from - k + 1;
  if (e - b <= kNaiveBytes || static_cast<uint64_t>(starts) * (e - b) <= kNaiveSearchWork) {
    const int first = literal_of(pat, b);
    for (size_t at = from; at < from + starts; ++at) {
      if (first >= 0) {  // skip to where the first character matches
        const void* hit = memchr(s.data() + at, first, from + starts - at);
        *work += (hit ? static_cast<const char*>(hit) - s.data() : from + starts) - at;
        if (!hit) break;
        at = static_cast<size_t>(static_cast<const char*>(hit) - s.data());
      }
      size_t q = b, i = at, next;
      while (q < e) {
        const bool same = match_token(pat, q, s[i], &next);
        *work += next - q;
        if (!same) break;
        q = next;
        ++i;
      }
      if (q == e) return at;
    }
    return kNpos;
  }
  std::string literal;
  for (size_t q = b; q < e; q = token_end(pat, q)) {
    int c = literal_of(pat, q);
    if (c < 0) break;
    literal.push_back(static_cast<char>(c));
  }
  if (literal.size() == k) {
    const void* hit = memmem(s.data() + from, to - from, literal.data(), k);
    size_t at = hit ? static_cast<size_t>(static_cast<const char*>(hit) - s.data()) : kNpos;
    *work += (hit ? at + k : to) - from + k;  // what it scanned, and the needle's set-up
    return at;
  }
  const size_t words = (k + 63) / 64;
  std::vector<uint64_t> mask(256 * words, 0);  // mask[c * words + w]: tokens that match byte c
  size_t j = 0;
  for (size_t q = b; q < e; q = token_end(pat, q), ++j) {
    const uint64_t bit = uint64_t{1} << (j % 64);
    int lit = literal_of(pat, q);
    if (lit >= 0) {
      mask[lit * words + j / 64] |= bit;
      continue;
    }
    size_t next;
    for (int c = 0; c < 256; ++c) {
      if (match_token(pat, q, static_cast<char>(c), &next)) mask[c * words + j / 64] |= bit;
    }
    *work += 256 * (next - q);
  }
  *work += 256 * words + k;
  std::vector<uint64_t> state(words, 0);  // bit j: tokens 0..j match the characters ending here
  const uint64_t last = uint64_t{1} << ((k - 1) % 64);
  for (size_t i = from; i < to; ++i) {
    const uint64_t* m = &mask[static_cast<unsigned char>(s[i]) * words];
    uint64_t carry = 1;  // a match may start at every position
    for (size_t w = 0; w < words; ++w) {
      uint64_t d = state[w];
      state[w] = ((d << 1) | carry) & m[w];
      carry = d >> 63;
    }
    *work += words;
    if (state[words - 1] & last) return i + 1 - k;
  }
  return kNpos;
}

}  // namespace

bool glob_match(std::string_view pat, std::string_view s, uint64_t* work) {
  uint64_t spent = 0;
  const bool matched = [&] {
    const size_t m = pat.size(), n = s.size();
    if (n == 0) return m == 0;  // Redis's loop needs both lengths non-zero to start
    // A star matches any run of characters, and every other token exactly one, so the pattern is
    // a prefix, star-separated segments, and a suffix, each of a fixed number of characters. The
    // prefix matches at the start of s and the suffix at its end; each segment in between at
    // its leftmost place after the one before (leftmost leaves the most room for the rest, so it
    // is the match if there is one: Redis's backtracking finds the same). All in time about
    // linear in s (find_segment), however long the pattern and whatever its shape.
    size_t p = 0, i = 0, next;
    while (p < m && pat[p] != '*') {
      if (i == n) return false;
      const bool same = match_token(pat, p, s[i], &next);
      spent += next - p;
      if (!same) return false;
      p = next;
      ++i;
    }
    if (p == m) return i == n;  // no star: every character matched, and nothing is left over
    size_t last_star = p, suffix_tokens = 0;
    for (size_t q = p; q < m; q = token_end(pat, q)) {
      if (pat[q] == '*') {
        last_star = q;
        suffix_tokens = 0;
      } else {
        ++suffix_tokens;
      }
    }
    spent += m - p;
    if (n - i < suffix_tokens) return false;
    const size_t end = n - suffix_tokens;
    for (size_t q = last_star + 1, k = end; q < m; ++k) {
      const bool same = match_token(pat, q, s[k], &next);
      spent += next - q;
      if (!same) return false;
      q = next;
    }
    // The segments between the first star (at p) and the last, against s[i, end).
    while (p < last_star) {
      while (pat[p] == '*') ++p;
      if (p > last_star) break;
      size_t e = p, k = 0;
      while (pat[e] != '*') {
        e = token_end(pat, e);
        ++k;
      }
      size_t at = find_segment(pat, p, e, k, s, i, end, &spent);
      if (at == kNpos) return false;
      i = at + k;
      p = e;
    }
    return true;
  }();
  if (work) *work += spent;
  return matched;
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
