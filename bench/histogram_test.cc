#include "bench/histogram.h"

#include <algorithm>
#include <cstdint>
#include <random>
#include <vector>

#include <gtest/gtest.h>

namespace vmcp::bench {
namespace {

TEST(HistogramTest, BucketsTileTheRangeWithoutGapsOrOverlap) {
  for (size_t b = 0; b + 1 < Histogram::BucketOf(uint64_t{1} << 40); ++b) {
    ASSERT_EQ(Histogram::BucketHigh(b) + 1, Histogram::BucketLow(b + 1)) << "bucket " << b;
    ASSERT_EQ(Histogram::BucketOf(Histogram::BucketLow(b)), b);
    ASSERT_EQ(Histogram::BucketOf(Histogram::BucketHigh(b)), b);
  }
  EXPECT_EQ(Histogram::BucketOf(UINT64_MAX), Histogram::BucketOf(UINT64_MAX - 1));
}

TEST(HistogramTest, RelativeErrorIsBounded) {
  for (uint64_t v : {uint64_t{0}, uint64_t{255}, uint64_t{256}, uint64_t{1000}, uint64_t{123456789}, uint64_t{1} << 50}) {
    const size_t b = Histogram::BucketOf(v);
    EXPECT_LE(Histogram::BucketLow(b), v);
    EXPECT_GE(Histogram::BucketHigh(b), v);
    EXPECT_LE(static_cast<double>(Histogram::BucketHigh(b) - Histogram::BucketLow(b)), 0.008 * static_cast<double>(v) + 1);
  }
}

TEST(HistogramTest, PercentilesMatchExactOnesWithinBucketWidth) {
  std::mt19937_64 rng(7);
  std::lognormal_distribution<double> dist(11.0, 0.8);  // around 60 us, in ns
  std::vector<uint64_t> exact;
  Histogram a, b;
  for (int i = 0; i < 200000; ++i) {
    const uint64_t v = static_cast<uint64_t>(dist(rng));
    exact.push_back(v);
    (i % 2 ? a : b).Record(v);
  }
  a.Merge(b);
  std::sort(exact.begin(), exact.end());
  ASSERT_EQ(a.count(), exact.size());
  EXPECT_EQ(a.min(), exact.front());
  EXPECT_EQ(a.max(), exact.back());
  for (double q : {0.5, 0.9, 0.99, 0.999}) {
    const double want = static_cast<double>(exact[static_cast<size_t>(q * exact.size()) - 1]);
    EXPECT_NEAR(static_cast<double>(a.Percentile(q)), want, want * 0.01) << "q=" << q;
  }
  EXPECT_EQ(a.Percentile(1.0), exact.back());
}

TEST(HistogramTest, EmptyReportsZero) {
  Histogram h;
  EXPECT_EQ(h.count(), 0u);
  EXPECT_EQ(h.Percentile(0.99), 0u);
  EXPECT_EQ(h.mean(), 0.0);
}

}  // namespace
}  // namespace vmcp::bench
