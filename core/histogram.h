// A log-linear (HDR-style) histogram of non-negative integer values, e.g. latencies in
// nanoseconds: 2^kSubBits linear sub-buckets per power of two, so every recorded value is kept
// within 1/2^kSubBits (0.8%) relative error, in fixed memory, with O(1) record and merge.
// Pure; not thread-safe: keep one per thread and merge.
#pragma once

#include <array>
#include <cstdint>

namespace fanout {

class Histogram {
 public:
  static constexpr int kSubBits = 7;
  static constexpr int kSub = 1 << kSubBits;
  static constexpr int kBuckets = (64 - kSubBits + 1) * kSub;

  void record(uint64_t v, uint64_t count = 1) {
    counts_[index(v)] += count;
    total_ += count;
    if (v > max_) max_ = v;
    if (v < min_) min_ = v;
    sum_ += v * count;
  }
  void merge(const Histogram& o);
  void reset() { *this = Histogram(); }

  uint64_t count() const { return total_; }
  uint64_t max() const { return total_ ? max_ : 0; }
  uint64_t min() const { return total_ ? min_ : 0; }
  double mean() const { return total_ ? static_cast<double>(sum_) / static_cast<double>(total_) : 0; }
  // The value at quantile q in [0, 1] (the highest value of the bucket it falls in, capped at
  // max()), or 0 when empty.
  uint64_t quantile(double q) const;

  static int index(uint64_t v) {
    if (v < kSub) return static_cast<int>(v);
    int msb = 63 - __builtin_clzll(v);           // >= kSubBits
    int shift = msb - kSubBits;                  // how many low bits are dropped
    int sub = static_cast<int>(v >> shift) - kSub;  // in [0, kSub)
    return (shift + 1) * kSub + sub;
  }
  // The largest value that maps to bucket i.
  static uint64_t bucket_high(int i);

 private:
  std::array<uint64_t, kBuckets> counts_{};
  uint64_t total_ = 0;
  uint64_t max_ = 0;
  uint64_t min_ = UINT64_MAX;
  uint64_t sum_ = 0;
};

}  // namespace fanout
