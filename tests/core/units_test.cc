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

// Redis's memtoull (util.c): k, m, g decimal; kb, mb, gb binary; as redis.conf is read.
TEST(UnitsTest, RedisMemoryUnits) {
  uint64_t v = 0;
  struct {
    const char* text;
    uint64_t want;
  } cases[] = {{"0", 0}, {"512", 512}, {"10b", 10}, {"1k", 1000}, {"1kb", 1024}, {"1K", 1000}, {"1KB", 1024},
               {"32m", 32000000}, {"32mb", 32u << 20}, {"2g", 2000000000ull}, {"2gb", 2ull << 30}};
  for (const auto& c : cases) {
    EXPECT_TRUE(parse_redis_memory(c.text, &v)) << c.text;
    EXPECT_EQ(v, c.want) << c.text;
  }
  for (const char* bad : {"", "mb", "-1", "1.5mb", "1t", "1kib", " 1", "18446744073709551616", "18446744073709551615kb"}) {
    EXPECT_FALSE(parse_redis_memory(bad, &v)) << bad;
  }
}

}  // namespace
}  // namespace fanout
