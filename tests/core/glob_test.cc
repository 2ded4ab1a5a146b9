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
