#include "core/units.h"

#include <gtest/gtest.h>

namespace fanout {
namespace {

TEST(UnitsTest, UnsignedRejectsSignsSpacesTrailingTextAndOverflow) {
  uint64_t v = 7;
  EXPECT_TRUE(parse_unsigned("0", &v));
  EXPECT_EQ(v, 0u);
  EXPECT_TRUE(parse_unsigned("18446744073709551615", &v));
  EXPECT_EQ(v, UINT64_MAX);
  for (const char* bad : {"", "-1", "+1", " 1", "1 ", "1x", "18446744073709551616", "99999999999999999999"}) {
    EXPECT_FALSE(parse_unsigned(bad, &v)) << bad;
  }
}

TEST(UnitsTest, SizesTakeBinarySuffixesAndNeverWrap) {
  uint64_t v = 0;
  EXPECT_TRUE(parse_size("512", &v));
  EXPECT_EQ(v, 512u);
  EXPECT_TRUE(parse_size("16k", &v));
  EXPECT_EQ(v, 16u << 10);
  EXPECT_TRUE(parse_size("64MB", &v));
  EXPECT_EQ(v, 64u << 20);
  EXPECT_TRUE(parse_size("2gib", &v));
  EXPECT_EQ(v, 2ull << 30);
  EXPECT_TRUE(parse_size("1t", &v));
  EXPECT_EQ(v, 1ull << 40);
  EXPECT_TRUE(parse_size("16777215t", &v));  // the largest that fits
  for (const char* bad : {"", "k", "-1k", "1.5m", "1q", "16777216t", "18446744073709551616",
                          "17179869184g"}) {
    EXPECT_FALSE(parse_size(bad, &v)) << bad;
  }
}

}  // namespace
}  // namespace fanout
