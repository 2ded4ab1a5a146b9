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
