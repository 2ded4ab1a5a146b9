#include "core/histogram.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <random>
#include <vector>

namespace fanout {
namespace {

TEST(Histogram, ExactBelowSubBucketCount) {
  Histogram h;
  for (uint64_t v = 0; v < 100; ++v) h.record(v);
  EXPECT_EQ(h.count(), 100u);
  EXPECT_EQ(h.quantile(0.5), 49u);
  EXPECT_EQ(h.quantile(1.0), 99u);
  EXPECT_EQ(h.min(), 0u);
}

TEST(Histogram, IndexIsMonotonicAndBucketsCoverValues) {
  int prev = -1;
  for (uint64_t v : {0ull, 1ull, 127ull, 128ull, 129ull, 255ull, 256ull, 1000ull, 123456789ull,
                     (1ull << 40) + 12345, ~0ull}) {
    int i = Histogram::index(v);
    EXPECT_GE(i, prev);
    EXPECT_LT(i, Histogram::kBuckets);
    EXPECT_GE(Histogram::bucket_high(i), v);
    if (i > 0) {
      EXPECT_LT(Histogram::bucket_high(i - 1), v);
    }
    prev = i;
  }
}

TEST(Histogram, QuantilesWithinRelativeError) {
  std::mt19937_64 rng(42);
  std::lognormal_distribution<double> dist(10.0, 1.5);
  std::vector<uint64_t> values;
  Histogram h;
  for (int i = 0; i < 200000; ++i) {
    uint64_t v = static_cast<uint64_t>(dist(rng));
    values.push_back(v);
    h.record(v);
  }
  std::sort(values.begin(), values.end());
  for (double q : {0.5, 0.9, 0.99, 0.999}) {
    double exact = static_cast<double>(values[static_cast<size_t>(q * values.size()) - 1]);
    double got = static_cast<double>(h.quantile(q));
    EXPECT_NEAR(got, exact, exact / 100 + 1) << q;
  }
  EXPECT_EQ(h.quantile(1.0), values.back());
}

TEST(Histogram, MergeEqualsRecordingEverythingInOne) {
  Histogram a, b, all;
  for (uint64_t v = 1; v < 5000; v += 3) {
    (v % 2 ? a : b).record(v * 1000);
    all.record(v * 1000);
  }
  a.merge(b);
  EXPECT_EQ(a.count(), all.count());
  for (double q : {0.1, 0.5, 0.99}) EXPECT_EQ(a.quantile(q), all.quantile(q));
  EXPECT_EQ(a.max(), all.max());
  EXPECT_DOUBLE_EQ(a.mean(), all.mean());
}

}  // namespace
}  // namespace fanout
