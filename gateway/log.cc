#include "gateway/log.h"

#include <pthread.h>

#include <charconv>
#include <climits>
#include <cmath>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <string_view>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gateway/jsonrpc.h"

namespace vmcp::gateway {
namespace {

const char* LevelName(LogLevel level) {
  switch (level) {
    case LogLevel::kDebug:
      return "debug";
    case LogLevel::kInfo:
      return "info";
    case LogLevel::kWarn:
      return "warn";
    case LogLevel::kError:
      return "error";
  }
  return "info";
}

// Keys a line sets itself; an event's field of that name is left out.
bool Reserved(std::string_view key) { return key == "time" || key == "level" || key == "msg"; }

// The buffer a thread builds its lines in, kept between lines (unless one grew it large).
constexpr size_t kKeptLineCapacity = 4096;
thread_local std::string spare_line;
std::string TakeLineBuffer() {
  std::string text = std::move(spare_line);
  text.clear();
  if (text.capacity() < 256) text.reserve(256);
  return text;
}
void KeepLineBuffer(std::string text) {
  if (text.capacity() <= kKeptLineCapacity && text.capacity() > spare_line.capacity()) spare_line = std::move(text);
}

// k/1000 as JSON writes that number: 1.5, 0.042, 12, -3.25 (no trailing zeros, no exponent).
void AppendThousandths(std::string& out, int64_t k) {
  uint64_t magnitude = k < 0 ? 0 - static_cast<uint64_t>(k) : static_cast<uint64_t>(k);
  if (k < 0) out += '-';
  char digits[24];
  out.append(digits, std::to_chars(digits, digits + sizeof digits, magnitude / 1000).ptr);
  if (const uint64_t fraction = magnitude % 1000; fraction != 0) {
    const char tail[4] = {'.', static_cast<char>('0' + fraction / 100), static_cast<char>('0' + fraction / 10 % 10),
                          static_cast<char>('0' + fraction % 10)};
    size_t n = 4;
    while (tail[n - 1] == '0') --n;  // 1.5, not 1.500
    out.append(tail, n);
  }
}

}  // namespace

Logger::Logger(LogLevel level, Sink sink) : level_(level), sink_(std::move(sink)) {}

void Logger::StartWriter() {
  std::lock_guard lock(mu_);
  if (sink_ || writer_.joinable()) return;
  writer_ = std::thread([this] { Drain(); });
}

Logger::~Logger() {
  if (!writer_.joinable()) return;
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_one();
  writer_.join();
}

// Writes what is queued in one go, as long as the logger lives (and what is left when it ends).
void Logger::Drain() {
  // The host's signals (SIGTERM, SIGHUP, ...) are for the host's threads: never delivered to this one.
  sigset_t all;
  sigfillset(&all);
  pthread_sigmask(SIG_BLOCK, &all, nullptr);
  std::string batch;
  std::unique_lock lock(mu_);
  for (;;) {
    // Lines are written in batches: at most kFlushInterval after they were queued, at once when the
    // batch is large, a warning or an error came, or the logger ends. (A wake-up and a write(2) per
    // request line would cost the request path more than formatting the line does.)
    cv_.wait_for(lock, kFlushInterval, [this] { return stopping_ || urgent_ || queued_lines_ >= kFlushBatch; });
    urgent_ = false;
    if (queued_.empty() && dropped_ == 0) {
      if (stopping_) return;
      continue;
    }
    batch.clear();
    batch.swap(queued_);  // the next lines go to the buffer just written out
    queued_lines_ = 0;
    if (dropped_ > 0) {
      batch += "{\"time\":";
      batch += nlohmann::json(absl::FormatTime("%Y-%m-%dT%H:%M:%E3SZ", absl::Now(), absl::UTCTimeZone())).dump();
      batch += ",\"level\":\"warn\",\"msg\":\"log lines dropped: the log reader is too slow\",\"dropped\":";
      batch += std::to_string(dropped_);
      batch += "}\n";
      dropped_ = 0;
    }
    const bool last = stopping_;
    lock.unlock();
    std::fwrite(batch.data(), 1, batch.size(), stderr);
    std::fflush(stderr);
    if (batch.capacity() > kKeptBatchCapacity) std::string().swap(batch);  // (a burst's buffer is not kept)
    lock.lock();
    if (last && queued_.empty()) return;
  }
}

void Logger::Log(LogLevel level, const char* msg, Fields fields) {
  Line line = Start(level, msg);
  for (const auto& [key, value] : fields) {
    if (!Reserved(key)) line.Json(key, value);
  }
  line.Write();
}

void Logger::Log(LogLevel level, const char* msg, const nlohmann::json& fields) {
  Line line = Start(level, msg);
  if (fields.is_object()) {
    for (auto it = fields.begin(); it != fields.end(); ++it) {
      if (!Reserved(it.key())) line.Json(it.key(), it.value());
    }
  }
  line.Write();
}

Logger::Line::Line(Logger* log, LogLevel level, const char* msg) : log_(log), level_(level) {
  if (log_ == nullptr) return;
  // The time to the millisecond, UTC. Formatting a time through the zone rules is the dearest part of
  // a line, so each thread keeps its current second's text and only appends the milliseconds.
  thread_local int64_t cached_second = INT64_MIN;
  thread_local std::string second_text;
  const int64_t ms = absl::ToUnixMillis(absl::Now());
  const int64_t second = ms >= 0 ? ms / 1000 : (ms - 999) / 1000;
  if (second != cached_second) {
    second_text = absl::FormatTime("%Y-%m-%dT%H:%M:%S", absl::FromUnixSeconds(second), absl::UTCTimeZone());
    cached_second = second;
  }
  text_ = TakeLineBuffer();
  text_ += "{\"time\":\"";
  text_ += second_text;
  absl::StrAppend(&text_, ".", absl::Dec(ms - second * 1000, absl::kZeroPad3), "Z\",\"level\":\"");
  text_ += LevelName(level);
  text_ += "\",\"msg\":";
  AppendQuoted(text_, msg);
}

void Logger::Line::Key(std::string_view key) {
  text_ += ',';
  AppendQuoted(text_, key);
  text_ += ':';
}

Logger::Line& Logger::Line::Str(std::string_view key, std::string_view value) {
  if (log_ == nullptr) return *this;
  Key(key);
  AppendQuoted(text_, value);
  return *this;
}

Logger::Line& Logger::Line::Num(std::string_view key, double value) {
  if (log_ == nullptr) return *this;
  Key(key);
  if (!std::isfinite(value)) {
    text_ += "null";  // (as the JSON library writes them)
    return *this;
  }
  // Whole numbers (a status, a count) and thousandths (a duration in ms to the microsecond) are written
  // from integers, in plain decimals (10000000, not 1e+07), without the dearer shortest-form search.
  // k / 1000.0 == value means the decimal k/1000 reads back as `value` exactly; below 1e12 it has at
  // most 15 digits, so no shorter decimal does.
  if (std::abs(value) < 1e12) {
    const double scaled = std::round(value * 1000);
    if (const auto k = static_cast<int64_t>(scaled); static_cast<double>(k) / 1000.0 == value) {
      AppendThousandths(text_, k);
      return *this;
    }
  }
  char digits[32];
  auto [end, ec] = std::to_chars(digits, digits + sizeof digits, value);  // the shortest exact form
  text_.append(digits, ec == std::errc() ? end : digits);
  return *this;
}

Logger::Line& Logger::Line::Millis(std::string_view key, std::chrono::nanoseconds value) {
  if (log_ == nullptr) return *this;
  Key(key);
  AppendThousandths(text_, (value.count() + (value.count() >= 0 ? 500 : -500)) / 1000);  // to the nearest microsecond
  return *this;
}

Logger::Line& Logger::Line::Json(std::string_view key, const nlohmann::json& value) {
  if (log_ == nullptr) return *this;
  Key(key);
  AppendDump(text_, value);
  return *this;
}

void Logger::Line::Write() {
  if (log_ == nullptr) return;
  text_ += '}';
  Logger* log = std::exchange(log_, nullptr);
  log->Write(level_, text_);
}

Logger::Line::~Line() { KeepLineBuffer(std::move(text_)); }

void Logger::Write(LogLevel level, std::string& line) {
  if (sink_) {
    std::lock_guard lock(mu_);
    sink_(line);
    return;
  }
  line += '\n';
  bool wake = false;
  {
    std::lock_guard lock(mu_);
    if (!writer_.joinable()) {  // no writer thread (a host's executor): written here, whole
      std::fwrite(line.data(), 1, line.size(), stderr);
      return;
    }
    if (queued_.size() + line.size() > kMaxQueuedBytes) {
      ++dropped_;
      return;
    }
    queued_ += line;
    ++queued_lines_;
    if (level >= LogLevel::kWarn) urgent_ = true;
    wake = urgent_ || queued_lines_ == kFlushBatch;
  }
  if (wake) cv_.notify_one();
}

std::string SessionTag(const std::string& session_id) { return session_id.substr(0, 8); }

}  // namespace vmcp::gateway
