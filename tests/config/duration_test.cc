// Go duration text: parsing exactly like time.ParseDuration, formatting like Duration.String().

#include "config/duration.h"

#include <gtest/gtest.h>

#include <chrono>
#include <limits>

namespace vmcp::config {
namespace {

using namespace std::chrono_literals;

struct ParseCase {
  const char* text;
  Duration want;
};

class ParseGoDurationOk : public ::testing::TestWithParam<ParseCase> {};

TEST_P(ParseGoDurationOk, Parses) {
  auto got = ParseGoDuration(GetParam().text);
  ASSERT_TRUE(got.ok()) << GetParam().text << ": " << got.status();
  EXPECT_EQ(got->count(), GetParam().want.count()) << GetParam().text;
}

INSTANTIATE_TEST_SUITE_P(
    Table, ParseGoDurationOk,
    ::testing::Values(ParseCase{"0", 0ns}, ParseCase{"0s", 0ns}, ParseCase{"-0", 0ns}, ParseCase{"+0s", 0ns},
                      ParseCase{"30s", 30s}, ParseCase{"10s", 10s}, ParseCase{"1m0s", 60s}, ParseCase{"2m0s", 120s},
                      ParseCase{"1h0m0s", 1h}, ParseCase{"1h2m3.5s", 1h + 2min + 3500ms}, ParseCase{"1.5s", 1500ms},
                      ParseCase{"500ms", 500ms}, ParseCase{"250us", 250us}, ParseCase{"250\xC2\xB5s", 250us},
                      ParseCase{"250\xCE\xBCs", 250us}, ParseCase{"7ns", 7ns}, ParseCase{"-2s", -2s},
                      ParseCase{"+5m", 5min}, ParseCase{".5s", 500ms}, ParseCase{"1.s", 1s}, ParseCase{"1h1h", 2h},
                      ParseCase{"100ms200us", 100ms + 200us}, ParseCase{"0.000000001s", 1ns},
                      ParseCase{"1.0000000001s", 1s},  // below a nanosecond is dropped, as in Go
                      ParseCase{"2562047h47m16.854775807s", Duration(std::numeric_limits<int64_t>::max())},
                      ParseCase{"-2562047h47m16.854775808s", Duration(std::numeric_limits<int64_t>::min())}));

struct BadCase {
  const char* text;
  const char* message;
};

class ParseGoDurationBad : public ::testing::TestWithParam<BadCase> {};

TEST_P(ParseGoDurationBad, IsRejectedWithReason) {
  auto got = ParseGoDuration(GetParam().text);
  ASSERT_FALSE(got.ok()) << GetParam().text << " parsed as " << got->count();
  EXPECT_EQ(std::string(got.status().message()), GetParam().message);
}

INSTANTIATE_TEST_SUITE_P(
    Table, ParseGoDurationBad,
    ::testing::Values(BadCase{"", "invalid duration \"\": empty"}, BadCase{"-", "invalid duration \"-\": empty"},
                      BadCase{"30", "invalid duration \"30\": missing unit (use ns, us, ms, s, m or h)"},
                      BadCase{"1m30", "invalid duration \"1m30\": missing unit (use ns, us, ms, s, m or h)"},
                      BadCase{"5d", "invalid duration \"5d\": unknown unit \"d\" (use ns, us, ms, s, m or h)"},
                      BadCase{"1 s", "invalid duration \"1 s\": unknown unit \" s\" (use ns, us, ms, s, m or h)"},
                      BadCase{"s", "invalid duration \"s\": expected a number before each unit"},
                      BadCase{".s", "invalid duration \".s\": expected a number before each unit"},
                      BadCase{"1s-2s", "invalid duration \"1s-2s\": unknown unit \"s-\" (use ns, us, ms, s, m or h)"},
                      BadCase{"3000000h", "invalid duration \"3000000h\": out of range"},
                      BadCase{"9223372036854775808ns", "invalid duration \"9223372036854775808ns\": out of range"},
                      BadCase{"99999999999999999999s", "invalid duration \"99999999999999999999s\": out of range"}));

struct FormatCase {
  Duration d;
  const char* want;
};

class FormatGoDurationTest : public ::testing::TestWithParam<FormatCase> {};

TEST_P(FormatGoDurationTest, FormatsLikeGo) { EXPECT_EQ(FormatGoDuration(GetParam().d), GetParam().want); }

INSTANTIATE_TEST_SUITE_P(Table, FormatGoDurationTest,
                         ::testing::Values(FormatCase{0ns, "0s"}, FormatCase{1ns, "1ns"}, FormatCase{1100ns, "1.1\xC2\xB5s"},
                                           FormatCase{2200us, "2.2ms"}, FormatCase{500ms, "500ms"},
                                           FormatCase{1500ms, "1.5s"}, FormatCase{30s, "30s"}, FormatCase{60s, "1m0s"},
                                           FormatCase{2min, "2m0s"}, FormatCase{1h, "1h0m0s"},
                                           FormatCase{1h + 2min + 3500ms, "1h2m3.5s"}, FormatCase{-2s, "-2s"},
                                           FormatCase{-1500us, "-1.5ms"},
                                           FormatCase{Duration(std::numeric_limits<int64_t>::max()), "2562047h47m16.854775807s"},
                                           FormatCase{Duration(std::numeric_limits<int64_t>::min()), "-2562047h47m16.854775808s"}));

TEST(GoDuration, FormatThenParseRoundTrips) {
  for (int64_t n : {int64_t{1}, int64_t{999}, int64_t{1000}, int64_t{123456789}, int64_t{60'000'000'000},
                    int64_t{3'723'500'000'000}, int64_t{-42'000}, int64_t{86'400'000'000'000}}) {
    const Duration d(n);
    auto back = ParseGoDuration(FormatGoDuration(d));
    ASSERT_TRUE(back.ok()) << FormatGoDuration(d);
    EXPECT_EQ(back->count(), n) << FormatGoDuration(d);
  }
}

}  // namespace
}  // namespace vmcp::config
