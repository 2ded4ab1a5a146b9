// Fuzz target: the glob matcher. Properties: it agrees with a reference matcher written from
// Redis's rules (recursive on '*', memoised), and it finishes quickly on any input, adversarial
// patterns such as "*a*a*a*a*b" included (libFuzzer's -timeout enforces the time bound in fuzzing
// runs; GlobTest.CostIsAboutLinearInTheSubjectWhateverThePattern bounds the steps).
//
// Input: pattern and subject separated by the first 0xff byte (a subject alone if there is none).
#include <algorithm>
#include <string>
#include <string_view>
#include <vector>

#include "core/glob.h"
#include "tests/fuzz/fuzz_target.h"

namespace {

// Redis's rules, restated: '?' and sets match one character; a set is '[', optional '^', then
// members up to ']' ('\' escapes one, "a-z" is a range, reversed ranges are swapped), and an
// unclosed set runs to the end of the pattern; '\' outside a set escapes the next character (a
// trailing one is literal); runs of '*' match any non-empty... or empty tail, but the match
// loop only starts with both pattern and subject non-empty, so "*" does not match "".
class Reference {
 public:
  Reference(std::string_view p, std::string_view s)
      : p_(p), s_(s), memo_((p.size() + 1) * (s.size() + 1), -1), star_memo_(memo_.size(), -1) {}

  bool match() { return s_.empty() ? p_.empty() : from(0, 0); }

 private:
  char pat(size_t i) const { return i < p_.size() ? p_[i] : '\0'; }  // Redis's strings end in NUL

  // Redis's star loop: whether p_[pi + 1..] matches s_[k..] for some k >= si. Memoised per
  // (star, k), and a scan stops at the first known answer, so each star costs O(subject) in
  // all and the reference O(pattern × subject), like the matcher (unmemoised scans made it
  // O(pattern × subject²): slow enough on "*a*a*a..." to trip libFuzzer's timeout).
  bool star(size_t pi, size_t si) {
    const size_t sn = s_.size();
    size_t k = si;
    int8_t result = 0;
    for (; k < sn; ++k) {
      int8_t known = star_memo_[pi * (sn + 1) + k];
      if (known >= 0) {
        result = known;
        break;
      }
      if (from(pi + 1, k)) {
        result = 1;
        ++k;
        break;
      }
    }
    for (size_t j = si; j < k; ++j) star_memo_[pi * (sn + 1) + j] = result;
    return result == 1;
  }

  // Whether p_[pi..] matches s_[si..], with s_[si..] non-empty.
  bool from(size_t pi, size_t si) {
    int8_t& m = memo_[pi * (s_.size() + 1) + si];
    if (m < 0) m = compute(pi, si) ? 1 : 0;
    return m == 1;
  }

  bool compute(size_t pi, size_t si) {
    const size_t pn = p_.size(), sn = s_.size();
    while (pi < pn && si < sn) {
      char c = s_[si];
      switch (p_[pi]) {
        case '*':
          while (pi + 1 < pn && p_[pi + 1] == '*') ++pi;
          if (pi + 1 == pn) return true;
          return star(pi, si);
        case '?':
          break;
        case '[': {
          size_t q = pi + 1;
          bool negate = pat(q) == '^' && q < pn;
          if (negate) ++q;
          bool hit = false;
          while (true) {
            if (q >= pn) {  // unclosed: the set ends with the pattern
              q = pn - 1;
              break;
            }
            if (p_[q] == '\\' && pn - q >= 2) {
              ++q;
              hit |= p_[q] == c;
            } else if (p_[q] == ']') {
              break;
            } else if (pn - q >= 3 && p_[q + 1] == '-') {
              int lo = static_cast<signed char>(p_[q]), hi = static_cast<signed char>(p_[q + 2]);
              if (lo > hi) std::swap(lo, hi);
              int sc = static_cast<signed char>(c);
              hit |= sc >= lo && sc <= hi;
              q += 2;
            } else {
              hit |= p_[q] == c;
            }
            ++q;
          }
          if (hit == negate) return false;
          pi = q;
          break;
        }
        case '\\':
          if (pn - pi >= 2) ++pi;
          [[fallthrough]];
        default:
          if (p_[pi] != c) return false;
          break;
      }
      ++pi;
      ++si;
      if (si == sn) {
        while (pi < pn && p_[pi] == '*') ++pi;
        break;
      }
    }
    return pi >= pn && si == sn;
  }

  std::string_view p_, s_;
  std::vector<int8_t> memo_, star_memo_;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  size_t cut = in.find('\xff');
  std::string_view pattern = cut == std::string_view::npos ? std::string_view() : in.substr(0, cut);
  std::string_view subject = cut == std::string_view::npos ? in : in.substr(cut + 1);
  if (pattern.size() * subject.size() > 4'000'000) return 0;  // the reference's memo table
  bool got = fanout::glob_match(pattern, subject);
  bool want = Reference(pattern, subject).match();
  if (got != want) {
    std::fprintf(stderr, "pattern [%.*s] subject [%.*s]: glob_match %d, reference %d\n",
                 static_cast<int>(pattern.size()), pattern.data(), static_cast<int>(subject.size()),
                 subject.data(), got, want);
  }
  FUZZ_CHECK(got == want);
  return 0;
}
