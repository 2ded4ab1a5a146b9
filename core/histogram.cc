#include "core/histogram.h"

#include <algorithm>
#include <cmath>

namespace fanout {

void Histogram::merge(const Histogram& o) {
  for (int i = 0; i < kBuckets; ++i) counts_[i] += o.counts_[i];
  total_ += o.total_;
  sum_ += o.sum_;
  if (o.total_) {
    max_ = std::max(max_, o.max_);
    min_ = std::min(min_, o.min_);
  }
}

uint64_t Histogram::bucket_high(int i) {
  if (i < kSub) return static_cast<uint64_t>(i);
  int shift = i / kSub - 1;
  uint64_t sub = static_cast<uint64_t>(i % kSub) + kSub;
  return ((sub + 1) << shift) - 1;
}

uint64_t Histogram::quantile(double q) const {
  if (total_ == 0) return 0;
  q = std::clamp(q, 0.0, 1.0);
  uint64_t rank = static_cast<uint64_t>(std::ceil(q * static_cast<double>(total_)));
  if (rank == 0) rank = 1;
  uint64_t seen = 0;
  for (int i = 0; i < kBuckets; ++i) {
    seen += counts_[i];
    if (seen >= rank) return std::min(bucket_high(i), max_);
  }
  return max_;
}

}  // namespace fanout
