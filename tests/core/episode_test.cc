#include "core/episode.h"

#include <gtest/gtest.h>

namespace fanout {
namespace {

TEST(EpisodeTest, ABurstIsOneStartAndOneEnd) {
  Episode e;
  EXPECT_FALSE(e.end_if_quiet(0, 1000));  // nothing to end
  int starts = 0;
  for (int64_t t = 100; t < 600; t += 10) starts += e.hit(t);
  EXPECT_EQ(starts, 1);
  EXPECT_EQ(e.count(), 50u);
  EXPECT_FALSE(e.end_if_quiet(1000, 1000));  // 410 ms since the last
  EXPECT_TRUE(e.active());
  EXPECT_TRUE(e.end_if_quiet(1590, 1000));
  EXPECT_FALSE(e.active());
  EXPECT_EQ(e.count(), 50u);  // still readable for the end line
  EXPECT_EQ(e.duration_ms(), 490);
  EXPECT_FALSE(e.end_if_quiet(5000, 1000));  // ended once
}

TEST(EpisodeTest, FlappingWithinTheQuietPeriodStaysOneEpisode) {
  Episode e;
  int starts = 0, ends = 0;
  // A hit every 900 ms, checked every 100 ms, with a 1 s quiet period: never ends.
  for (int64_t t = 0; t < 20'000; t += 100) {
    if (t % 900 == 0) starts += e.hit(t);
    ends += e.end_if_quiet(t, 1000);
  }
  EXPECT_EQ(starts, 1);
  EXPECT_EQ(ends, 0);
  // A new burst after an end is a new episode, counted from one.
  EXPECT_TRUE(e.end_if_quiet(30'000, 1000));
  EXPECT_TRUE(e.hit(30'001));
  EXPECT_EQ(e.count(), 1u);
}

}  // namespace
}  // namespace fanout
