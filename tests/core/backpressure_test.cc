#include "core/backpressure.h"

#include <gtest/gtest.h>

namespace fanout {
namespace {

TEST(Backpressure, HardLimit) {
  OutputLimits lim;
  lim.hard_bytes = 100;
  lim.soft_bytes = 0;
  SoftLimitState st;
  EXPECT_EQ(classify_push(lim, &st, 90, 1, 10, false, 0), Overflow::kNone);
  EXPECT_EQ(classify_push(lim, &st, 91, 1, 10, false, 0), Overflow::kHard);
}

TEST(Backpressure, SoftLimitMustBeHeldForTheWholePeriod) {
  OutputLimits lim;
  lim.hard_bytes = 0;
  lim.soft_bytes = 100;
  lim.soft_ms = 1000;
  SoftLimitState st;
  EXPECT_EQ(classify_push(lim, &st, 200, 1, 1, false, 5000), Overflow::kNone);  // starts the clock
  EXPECT_EQ(classify_push(lim, &st, 200, 1, 1, false, 5999), Overflow::kNone);
  EXPECT_EQ(classify_push(lim, &st, 200, 1, 1, false, 6000), Overflow::kSoft);
  // Dropping below the soft limit resets the clock.
  EXPECT_EQ(classify_push(lim, &st, 10, 1, 1, false, 6001), Overflow::kNone);
  EXPECT_EQ(st.over_since_ms, -1);
  EXPECT_EQ(classify_push(lim, &st, 200, 1, 1, false, 6002), Overflow::kNone);
  EXPECT_EQ(classify_push(lim, &st, 200, 1, 1, false, 7001), Overflow::kNone);
  EXPECT_EQ(classify_push(lim, &st, 200, 1, 1, false, 7002), Overflow::kSoft);
}

TEST(Backpressure, MessageLimitAndTotalCap) {
  OutputLimits lim;
  lim.max_messages = 3;
  SoftLimitState st;
  EXPECT_EQ(classify_push(lim, &st, 0, 2, 10, false, 0), Overflow::kNone);
  EXPECT_EQ(classify_push(lim, &st, 0, 3, 10, false, 0), Overflow::kMessages);
  // Over the process cap, only a client already behind is charged.
  EXPECT_EQ(classify_push(lim, &st, 0, 0, 10, true, 0), Overflow::kNone);
  EXPECT_EQ(classify_push(lim, &st, 5, 1, 10, true, 0), Overflow::kTotalCap);
}

TEST(Backpressure, DropTargets) {
  OutputLimits lim;
  lim.hard_bytes = 1000;
  lim.soft_bytes = 500;
  EXPECT_EQ(drop_target(lim, Overflow::kHard, 995, 10), 990u);
  EXPECT_EQ(drop_target(lim, Overflow::kSoft, 700, 10), 490u);
  EXPECT_EQ(drop_target(lim, Overflow::kTotalCap, 300, 10), 290u);
  EXPECT_EQ(drop_target(lim, Overflow::kMessages, 300, 10), 290u);
}

TEST(Backpressure, PolicyNames) {
  for (auto p : {OverflowPolicy::kDisconnect, OverflowPolicy::kDropOldest, OverflowPolicy::kDropNewest}) {
    EXPECT_EQ(parse_policy(policy_name(p)), p);
  }
  EXPECT_FALSE(parse_policy("block").has_value());
}

}  // namespace
}  // namespace fanout
