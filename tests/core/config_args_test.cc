// split_config_args against Redis's sdssplitargs (sds.c), case by case as Redis splits them.
#include "core/config_args.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace fanout {
namespace {

std::vector<std::string> split(std::string_view line, bool* ok = nullptr) {
  std::vector<std::string> out;
  bool r = split_config_args(line, &out);
  if (ok) *ok = r;
  return out;
}

TEST(ConfigArgsTest, SplitsAsRedisSplits) {
  using V = std::vector<std::string>;
  EXPECT_EQ(split("maxclients 100"), (V{"maxclients", "100"}));
  EXPECT_EQ(split("  bind\t127.0.0.1   ::1  "), (V{"bind", "127.0.0.1", "::1"}));
  EXPECT_EQ(split("save \"\""), (V{"save", ""}));
  EXPECT_EQ(split(R"(requirepass "a b\n\x41\x4a\"\\\q")"), (V{"requirepass", "a b\nAJ\"\\q"}));
  EXPECT_EQ(split(R"(x 'it\'s' '\n')"), (V{"x", "it's", "\\n"}));
  EXPECT_EQ(split(R"(x "\x4")"), (V{"x", "x4"}));  // not two hex digits: \x is an x
  EXPECT_EQ(split(""), V{});
  EXPECT_EQ(split("   "), V{});
}

TEST(ConfigArgsTest, RefusesWhatRedisRefuses) {
  for (std::string_view bad : {R"(x "unterminated)", R"(x 'unterminated)", R"(x "a"b)", R"(x 'a'b)", R"(x a"b c"d)",
                               R"(x "trailing\)"}) {
    bool ok = true;
    split(bad, &ok);
    EXPECT_FALSE(ok) << bad;
  }
}

}  // namespace
}  // namespace fanout
