// The structured log lines: each one JSON object, time/level/msg first, fields in order, values escaped
// (quotes, control characters, text that is not UTF-8), levels below the logger's dropped, durations
// written exactly, and the stderr writer losing or splitting no line.
#include "gateway/log.h"

#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <string>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "nlohmann/json.hpp"

namespace vmcp::gateway {
namespace {

using Json = nlohmann::json;
using OrderedJson = nlohmann::ordered_json;

struct Captured {
  std::vector<std::string> lines;
  Logger log{LogLevel::kInfo, [this](const std::string& line) { lines.push_back(line); }};
};

std::vector<std::string> Keys(const std::string& line) {
  std::vector<std::string> keys;
  const OrderedJson parsed = OrderedJson::parse(line);
  for (auto it = parsed.begin(); it != parsed.end(); ++it) keys.push_back(it.key());
  return keys;
}

TEST(LogTest, BuiltLineHasHeadThenFieldsInOrder) {
  Captured c;
  c.log.Start(LogLevel::kInfo, "mcp request")
      .Str("method", "tools/call")
      .Num("duration_ms", 1.25)
      .Json("id", Json{{"n", 1}})
      .Write();
  ASSERT_EQ(c.lines.size(), 1u);
  EXPECT_EQ(Keys(c.lines[0]), (std::vector<std::string>{"time", "level", "msg", "method", "duration_ms", "id"}));
  Json line = Json::parse(c.lines[0]);
  EXPECT_EQ(line["level"], "info");
  EXPECT_EQ(line["msg"], "mcp request");
  EXPECT_EQ(line["method"], "tools/call");
  EXPECT_DOUBLE_EQ(line["duration_ms"].get<double>(), 1.25);
  EXPECT_EQ(line["id"], (Json{{"n", 1}}));
  // RFC 3339 UTC to the millisecond: 2026-11-24T03:06:37.123Z
  const std::string time = line["time"];
  ASSERT_EQ(time.size(), 24u) << time;
  EXPECT_EQ(time[10], 'T');
  EXPECT_EQ(time[19], '.');
  EXPECT_EQ(time.back(), 'Z');
}

TEST(LogTest, ValuesThatNeedEscapingStayOneValidLine) {
  Captured c;
  const std::string nasty = std::string("a\"b\\c\nd\te\x01") + "\xff\xfe" + "\xc3\xa9";  // quotes, controls, bad UTF-8, é
  c.log.Start(LogLevel::kWarn, "odd \"msg\"").Str("value", nasty).Str(std::string("k\"ey"), "v").Write();
  c.log.Warn("fields", {{"value", nasty}, {"n", 3}});
  ASSERT_EQ(c.lines.size(), 2u);
  for (const std::string& text : c.lines) {
    EXPECT_EQ(text.find('\n'), std::string::npos) << text;
    Json line = Json::parse(text, nullptr, false);
    ASSERT_FALSE(line.is_discarded()) << text;
    const std::string value = line["value"];
    EXPECT_EQ(value.substr(0, 10), "a\"b\\c\nd\te\x01");
    EXPECT_NE(value.find("\xef\xbf\xbd"), std::string::npos) << "bad UTF-8 replaced by U+FFFD";
    EXPECT_EQ(value.substr(value.size() - 2), "\xc3\xa9") << "valid UTF-8 kept";
  }
  EXPECT_EQ(Json::parse(c.lines[0])["msg"], "odd \"msg\"");
  EXPECT_EQ(Json::parse(c.lines[0])["k\"ey"], "v");
  EXPECT_EQ(Json::parse(c.lines[1])["n"], 3);
}

TEST(LogTest, NumbersAreJsonNumbers) {
  Captured c;
  c.log.Start(LogLevel::kInfo, "n").Num("a", 0.001).Num("b", 1e21).Num("c", 2).Num("d", 0.0 / 0.0).Write();
  Json line = Json::parse(c.lines.at(0));
  EXPECT_DOUBLE_EQ(line["a"].get<double>(), 0.001);
  EXPECT_DOUBLE_EQ(line["b"].get<double>(), 1e21);
  EXPECT_DOUBLE_EQ(line["c"].get<double>(), 2);
  EXPECT_TRUE(line["d"].is_null()) << "not a number is written as null";
}

// Num writes every number so that it reads back as exactly that double; whole numbers (a status, a
// count) without a fraction or an exponent, and thousandths (durations) as their decimal.
TEST(LogTest, NumReadsBackExactly) {
  std::vector<double> cases = {0,      1,      200,    403,       1e7,        123456789012, -5,   999999999999.999,
                               0.001,  0.042,  1.5,    12.25,     -3.125,     0.1 + 0.2,    1e-7, 123.4565,
                               1e12,   1e15,   2.5e-3, 1.0 / 3.0, 9007199254740993.0};
  for (int i = 0; i < 20000; ++i) cases.push_back(static_cast<double>(i * 7919 % 3'000'000) / 1000.0);
  for (double v : cases) {
    Captured c;
    c.log.Start(LogLevel::kInfo, "n").Num("v", v).Write();
    const std::string& line = c.lines.at(0);
    const std::string text = line.substr(line.find("\"v\":") + 4, line.size() - line.find("\"v\":") - 5);
    EXPECT_EQ(Json::parse(text).get<double>(), v) << text;
    if (v == std::trunc(v) && std::abs(v) < 1e12) {
      EXPECT_EQ(text, std::to_string(static_cast<int64_t>(v))) << v;
    }
  }
}

// Millis writes what Num wrote for the duration rounded to the microsecond, without floating point.
TEST(LogTest, MillisIsWrittenAsNumWouldWriteItsRoundedValue) {
  using std::chrono::nanoseconds;
  std::vector<int64_t> cases = {0, 1, 499, 500, 999, 1000, 42'000, 1'500'000, 12'000'000, 1'234'567, 999'999'500,
                                60'000'000'000, -1'500'000};
  for (int64_t ns = 0; ns < 3'000'000; ns += 977) cases.push_back(ns);
  for (int64_t ns : cases) {
    Captured c;
    const double ms = static_cast<double>(ns) / 1e6;
    const double rounded = static_cast<double>(ns >= 0 ? (ns + 500) / 1000 : (ns - 500) / 1000) / 1000;
    c.log.Start(LogLevel::kInfo, "t").Millis("a", nanoseconds(ns)).Num("b", rounded).Write();
    const std::string& line = c.lines.at(0);
    const size_t a = line.find("\"a\":"), b = line.find(",\"b\":");
    ASSERT_NE(b, std::string::npos) << line;
    EXPECT_EQ(line.substr(a + 4, b - a - 4), line.substr(b + 5, line.size() - b - 6)) << ns << " ns (" << ms << " ms): " << line;
    // ... which is the rounded value's decimal, to three places, without trailing zeros.
    char printed[64];
    std::snprintf(printed, sizeof printed, "%.3f", rounded);
    std::string decimal = printed;
    while (decimal.back() == '0') decimal.pop_back();
    if (decimal.back() == '.') decimal.pop_back();
    if (decimal == "-0") decimal = "0";
    EXPECT_EQ(line.substr(a + 4, b - a - 4), decimal) << ns << " ns";
  }
}

// The stderr writer: lines from several threads each arrive whole, once, in one thread's order.
TEST(LogTest, StderrWriterKeepsEveryLineWhole) {
  std::FILE* file = std::tmpfile();
  ASSERT_NE(file, nullptr);
  std::fflush(stderr);
  const int saved = ::dup(2);
  ASSERT_GE(saved, 0);
  ASSERT_GE(::dup2(::fileno(file), 2), 0);
  constexpr int kThreads = 4, kLines = 2000;
  {
    Logger log(LogLevel::kInfo, nullptr);
    log.StartWriter();
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) {
      threads.emplace_back([&log, t] {
        for (int i = 0; i < kLines; ++i) {
          log.Start(LogLevel::kInfo, "line").Num("thread", t).Num("i", i).Str("pad", std::string(i % 300, 'x')).Write();
        }
      });
    }
    for (auto& thread : threads) thread.join();
  }  // the logger writes what is queued as it ends
  std::fflush(stderr);
  ::dup2(saved, 2);
  ::close(saved);
  std::rewind(file);
  std::vector<int> next(kThreads, 0);
  char buffer[1024];
  int lines = 0;
  while (std::fgets(buffer, sizeof buffer, file) != nullptr) {
    const Json line = Json::parse(buffer, nullptr, false);
    ASSERT_FALSE(line.is_discarded()) << buffer;
    const int t = line["thread"], i = line["i"];
    ASSERT_EQ(i, next.at(t)) << "thread " << t;
    ++next[t];
    ++lines;
  }
  std::fclose(file);
  EXPECT_EQ(lines, kThreads * kLines);
}

TEST(LogTest, ReservedKeysOfAnEventAreLeftOut) {
  Captured c;
  c.log.Info("hello", {{"msg", "spoofed"}, {"time", "x"}, {"level", "error"}, {"ok", true}});
  c.log.Log(LogLevel::kInfo, "object", Json{{"msg", "spoofed"}, {"ok", false}});
  ASSERT_EQ(c.lines.size(), 2u);
  EXPECT_EQ(Keys(c.lines[0]), (std::vector<std::string>{"time", "level", "msg", "ok"}));
  EXPECT_EQ(Json::parse(c.lines[0])["msg"], "hello");
  EXPECT_EQ(Json::parse(c.lines[0])["level"], "info");
  EXPECT_EQ(Json::parse(c.lines[1])["msg"], "object");
  EXPECT_EQ(Json::parse(c.lines[1])["ok"], false);
}

TEST(LogTest, LevelsBelowTheLoggersAreDropped) {
  Captured c;
  c.log.Debug("quiet", {{"a", 1}});
  c.log.Start(LogLevel::kDebug, "quiet").Str("a", "b").Write();
  EXPECT_FALSE(c.log.enabled(LogLevel::kDebug));
  EXPECT_TRUE(c.lines.empty());
  c.log.Error("loud");
  ASSERT_EQ(c.lines.size(), 1u);
  EXPECT_EQ(Json::parse(c.lines[0])["level"], "error");
}

TEST(LogTest, ALineIsWrittenOnce) {
  Captured c;
  auto line = c.log.Start(LogLevel::kInfo, "once");
  line.Str("a", "b");
  line.Write();
  line.Write();
  EXPECT_EQ(c.lines.size(), 1u);
}

}  // namespace
}  // namespace vmcp::gateway
