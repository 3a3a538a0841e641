// File: bench/histogram.h
//
// A latency histogram in the HDR style: log-linear buckets, exact below 256 ns and then 128 linear
// sub-buckets per power of two, so any recorded value is reported within 0.8% of itself, in constant
// memory (about 35 KiB) whatever the number of samples. Not thread-safe: one per worker, merged at the end.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace vmcp::bench {

class Histogram {
 public:
  Histogram();

  void Record(uint64_t value);
  void Merge(const Histogram& other);

  uint64_t count() const { return count_; }
  uint64_t min() const { return count_ ? min_ : 0; }
  uint64_t max() const { return max_; }
  double mean() const { return count_ ? static_cast<double>(sum_) / static_cast<double>(count_) : 0.0; }
  // The value at quantile q (0..1): the midpoint of the bucket holding the ceil(q * count)-th smallest
  // sample, clamped to [min, max] (the largest sample itself for the last rank). 0 when empty.
  uint64_t Percentile(double q) const;

  // Bucket arithmetic, exposed for the test.
  static size_t BucketOf(uint64_t value);
  static uint64_t BucketLow(size_t bucket);
  static uint64_t BucketHigh(size_t bucket);  // inclusive

 private:
  std::vector<uint64_t> counts_;
  uint64_t count_ = 0;
  uint64_t min_ = 0;
  uint64_t max_ = 0;
  unsigned __int128 sum_ = 0;
};

}  // namespace vmcp::bench
