#include "bench/histogram.h"

#include <algorithm>
#include <bit>
#include <cmath>

namespace vmcp::bench {
namespace {

constexpr size_t kExact = 256;  // values below are their own bucket
constexpr size_t kSub = 128;    // sub-buckets per power of two above that
constexpr size_t kShifts = 64 - 8 + 1;

}  // namespace

Histogram::Histogram() : counts_(kExact + kShifts * kSub, 0) {}

size_t Histogram::BucketOf(uint64_t value) {
  if (value < kExact) return static_cast<size_t>(value);
  const int shift = std::bit_width(value) - 8;  // value >> shift is in [128, 256)
  return kExact + static_cast<size_t>(shift - 1) * kSub + static_cast<size_t>((value >> shift) - kSub);
}

uint64_t Histogram::BucketLow(size_t bucket) {
  if (bucket < kExact) return bucket;
  const size_t shift = (bucket - kExact) / kSub + 1;
  const uint64_t mantissa = (bucket - kExact) % kSub + kSub;
  return mantissa << shift;
}

uint64_t Histogram::BucketHigh(size_t bucket) {
  if (bucket < kExact) return bucket;
  const size_t shift = (bucket - kExact) / kSub + 1;
  return BucketLow(bucket) + ((uint64_t{1} << shift) - 1);
}

void Histogram::Record(uint64_t value) {
  ++counts_[BucketOf(value)];
  if (count_ == 0 || value < min_) min_ = value;
  if (value > max_) max_ = value;
  ++count_;
  sum_ += value;
}

void Histogram::Merge(const Histogram& other) {
  if (other.count_ == 0) return;
  for (size_t i = 0; i < counts_.size(); ++i) counts_[i] += other.counts_[i];
  if (count_ == 0 || other.min_ < min_) min_ = other.min_;
  max_ = std::max(max_, other.max_);
  count_ += other.count_;
  sum_ += other.sum_;
}

uint64_t Histogram::Percentile(double q) const {
  if (count_ == 0) return 0;
  q = std::clamp(q, 0.0, 1.0);
  uint64_t rank = static_cast<uint64_t>(std::ceil(q * static_cast<double>(count_)));
  rank = std::clamp<uint64_t>(rank, 1, count_);
  if (rank == count_) return max_;  // the largest sample is known exactly
  uint64_t seen = 0;
  for (size_t i = 0; i < counts_.size(); ++i) {
    seen += counts_[i];
    if (seen >= rank) {
      const uint64_t mid = BucketLow(i) + (BucketHigh(i) - BucketLow(i)) / 2;
      return std::clamp(mid, min_, max_);
    }
  }
  return max_;
}

}  // namespace vmcp::bench
