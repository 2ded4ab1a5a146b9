#include "core/glob.h"

#include <gtest/gtest.h>

#include <string>

namespace fanout {
namespace {

struct Case {
  const char* pattern;
  const char* subject;
  bool match;
};

// Expected values follow Redis 7's stringmatchlen (util.c).
class GlobTest : public ::testing::TestWithParam<Case> {};

TEST_P(GlobTest, MatchesRedis) {
  EXPECT_EQ(glob_match(GetParam().pattern, GetParam().subject), GetParam().match)
      << GetParam().pattern << " vs " << GetParam().subject;
}

INSTANTIATE_TEST_SUITE_P(
    Redis, GlobTest,
    ::testing::Values(Case{"*", "anything", true}, Case{"*", "", false}, Case{"", "", true},
                      Case{"", "a", false}, Case{"a*", "a", true}, Case{"a*", "abc", true},
                      Case{"a*", "ba", false}, Case{"*c", "abc", true}, Case{"a*c", "ac", true},
                      Case{"a*c", "abbbc", true}, Case{"a*c", "abcd", false},
                      Case{"h?llo", "hello", true}, Case{"h?llo", "hllo", false},
                      Case{"h[ae]llo", "hallo", true}, Case{"h[ae]llo", "hillo", false},
                      Case{"h[^e]llo", "hallo", true}, Case{"h[^e]llo", "hello", false},
                      Case{"h[a-b]llo", "hbllo", true}, Case{"h[b-a]llo", "hallo", true},
                      Case{"h[a-b]llo", "hcllo", false}, Case{"h\\*llo", "h*llo", true},
                      Case{"h\\*llo", "hello", false}, Case{"[\\]]", "]", true},
                      Case{"[abc", "b", true}, Case{"[abc", "d", false},
                      Case{"ab\\", "ab\\", true}, Case{"**a**", "xxa", true},
                      Case{"news.*", "news.sport", true}, Case{"news.*", "news", false},
                      Case{"*.*.*", "a.b.c", true}, Case{"*.*.*", "a.b", false},
                      Case{"[-]", "-", true}, Case{"a?", "a", false}, Case{"?*", "x", true}));

TEST(Glob, AdversarialPatternsFinish) {
  // A backtracking matcher takes exponential time on these; ours is O(pattern × subject), so
  // the test finishes far inside its size's timeout.
  std::string subject(20000, 'a');
  std::string pattern;
  for (int i = 0; i < 40; ++i) pattern += "*a";
  EXPECT_FALSE(glob_match(pattern + "*b", subject));
  EXPECT_TRUE(glob_match(pattern + "*", subject));
  EXPECT_FALSE(glob_match("*?*?*?*?*?*?*?*?*?*?b", subject));
}

// The tokens before the first '*' anchor at the start and those after the last at the end
// (checked first, so a long subject costs no more than the anchors); what lies between still
// matches with backtracking, and sets, escapes and '?' count as one character each.
TEST(GlobTest, AnchoredPrefixAndSuffixAroundInnerStars) {
  const std::string many_a(100000, 'a');
  const std::string pat = "*" + std::string(1022, 'a') + "b";
  EXPECT_FALSE(glob_match(pat, many_a));
  EXPECT_TRUE(glob_match(pat, many_a + "b"));
  EXPECT_TRUE(glob_match("a*", "a"));
  EXPECT_TRUE(glob_match("a*b", "ab"));
  EXPECT_FALSE(glob_match("ab*b", "ab"));  // prefix and suffix may not overlap
  EXPECT_TRUE(glob_match("ab*b", "abb"));
  EXPECT_TRUE(glob_match("a*x*b", "a__x__b"));
  EXPECT_FALSE(glob_match("a*x*b", "a_____b"));
  EXPECT_TRUE(glob_match("?*[bc]", "zc"));
  EXPECT_FALSE(glob_match("?*[bc]", "z"));
  EXPECT_TRUE(glob_match("\\**\\*", "*mid*"));
  EXPECT_FALSE(glob_match("\\**\\*", "*mid"));
  EXPECT_TRUE(glob_match("*x[ab", "zxa"));  // an unclosed set runs to the end: one token
  EXPECT_FALSE(glob_match("*", ""));        // Redis: '*' does not match an empty subject
}

// What one match may cost: about one pass over the subject per 64 pattern tokens, whatever the
// pattern's shape. Each pair below has a long literal, '?' or set segment between two stars,
// which a backtracking matcher (Redis's, and ours before) compares at every position: about
// pattern x subject = 67 million steps for the first, where this bound allows about 4.5 million.
TEST(GlobTest, CostIsAboutLinearInTheSubjectWhateverThePattern) {
  const std::string subject(65536, 'a');
  std::string sets;
  for (int i = 0; i < 300; ++i) sets += "[ab]";
  std::string stars;
  for (int i = 0; i < 200; ++i) stars += "*a";
  const std::string patterns[] = {
      "*" + std::string(1020, 'a') + "b*",        // literal segment: memmem
      "*" + std::string(1019, 'a') + "?b*",       // '?' in it: Shift-And, 16 words
      "*" + sets + "c*",                          // sets
      "*" + std::string(60, 'a') + "?b*",         // one word
      stars + "*b*",                              // many short segments
      "*" + std::string(500, 'a') + "*c",         // the suffix fails at once
      "*[" + std::string(1000, 'b') + "]*",       // one long set: its length per comparison
  };
  for (const std::string& p : patterns) {
    uint64_t work = 0;
    EXPECT_FALSE(glob_match(p, subject, &work)) << p.substr(0, 40);
    const uint64_t bound = 4 * (p.size() + subject.size() * ((p.size() + 63) / 64) + 256 * 64);
    EXPECT_LE(work, bound) << p.substr(0, 40);
    EXPECT_TRUE(glob_match(p, subject + "bc")) << p.substr(0, 40);  // the same shapes can match
  }
}

TEST(GlobWildcardsTest, CountsStarRunsQuestionMarksAndSets) {
  EXPECT_EQ(glob_wildcards(""), 0u);
  EXPECT_EQ(glob_wildcards("news.sports"), 0u);
  EXPECT_EQ(glob_wildcards("news.*"), 1u);
  EXPECT_EQ(glob_wildcards("***"), 1u);  // a run of stars is one
  EXPECT_EQ(glob_wildcards("*a*a*a*a*b"), 5u);
  EXPECT_EQ(glob_wildcards("h?llo"), 1u);
  EXPECT_EQ(glob_wildcards("h[ae]llo"), 1u);
  EXPECT_EQ(glob_wildcards("h[*?]llo"), 1u);  // wildcards inside a set are members
  EXPECT_EQ(glob_wildcards("h[^a-z]*"), 2u);
  EXPECT_EQ(glob_wildcards("a\\*b\\?c\\[d"), 0u);  // escaped: literals
  EXPECT_EQ(glob_wildcards("[a\\]b]*"), 2u);  // an escaped ']' stays in the set
  EXPECT_EQ(glob_wildcards("x[abc"), 1u);  // an unclosed set runs to the end
  EXPECT_EQ(glob_wildcards("x\\"), 0u);  // a trailing backslash
}

}  // namespace
}  // namespace fanout
