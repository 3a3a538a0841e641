// File: gateway/log.h
//
// Structured logs: one JSON object a line (time, level, msg, then the event's fields: request id,
// session prefix, method, backend, duration, trace id, ...). Lines go to the sink the host chose
// (stderr by default), whole, so concurrent lines never interleave. Once StartWriter() was called (a
// gateway on threads of its own), stderr is written in batches by a thread of the logger's own from a
// bounded queue: a request never waits on a slow or blocked log reader, and when the queue is full lines
// are dropped and counted (a line saying how many follows). Queued lines are appended to one buffer,
// and a line is built in a buffer its thread keeps: a request's line costs no allocation. Without
// the writer (a gateway on a host's executor, which creates no thread) stderr is written directly.
// Values are escaped by the JSON library (plain printable ASCII, which needs none, is copied as it
// is); callers pass no tokens, secrets or full session ids (SessionTag() shortens one to its first 8
// characters, enough to correlate lines, useless to hijack a session).
//
//   Logger log(LogLevel::kInfo, nullptr);            // nullptr: stderr
//   log.Info("backend left", {{"backend", "github"}});
//   // the request path: the line is built as text, no JSON document in between
//   log.Start(LogLevel::kInfo, "mcp request").Str("method", "tools/call").Millis("duration_ms", took).Write();
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <utility>

#include "nlohmann/json.hpp"

namespace vmcp::gateway {

enum class LogLevel { kDebug = 0, kInfo = 1, kWarn = 2, kError = 3 };

class Logger {
 public:
  using Sink = std::function<void(const std::string& line)>;  // one JSON line, without the newline
  using Fields = std::initializer_list<std::pair<const char*, nlohmann::json>>;

  Logger(LogLevel level, Sink sink);
  ~Logger();  // writes what is queued
  // Stderr through the writer thread from now on (no-op with a sink).
  void StartWriter();
  Logger(const Logger&) = delete;
  Logger& operator=(const Logger&) = delete;

  bool enabled(LogLevel level) const { return level >= level_; }
  void Log(LogLevel level, const char* msg, Fields fields);
  void Log(LogLevel level, const char* msg, const nlohmann::json& fields);
  void Debug(const char* msg, Fields fields = {}) { Log(LogLevel::kDebug, msg, fields); }
  void Info(const char* msg, Fields fields = {}) { Log(LogLevel::kInfo, msg, fields); }
  void Warn(const char* msg, Fields fields = {}) { Log(LogLevel::kWarn, msg, fields); }
  void Error(const char* msg, Fields fields = {}) { Log(LogLevel::kError, msg, fields); }

  // One line built field by field as text (the per-request line: no JSON document is built for it).
  // Fields follow time, level and msg in the order they are added; Write() hands the line over.
  class Line {
   public:
    Line& Str(std::string_view key, std::string_view value);
    // A number: whole numbers and thousandths in plain decimals (403, 10000000, 1.25), any other in its
    // shortest exact form; not-a-number and infinities as null.
    Line& Num(std::string_view key, double value);
    // A duration in milliseconds to the microsecond, written as Num would write that rounded value
    // (1.5, 0.042, 12), from integers.
    Line& Millis(std::string_view key, std::chrono::nanoseconds value);
    Line& Json(std::string_view key, const nlohmann::json& value);
    void Write();
    ~Line();
    Line(const Line&) = delete;  // one line, written once (Start's result is never copied)
    Line& operator=(const Line&) = delete;

   private:
    friend class Logger;
    Line(Logger* log, LogLevel level, const char* msg);
    void Key(std::string_view key);
    Logger* log_;  // null: the level is off, nothing is built
    LogLevel level_;
    std::string text_;
  };
  Line Start(LogLevel level, const char* msg) { return Line(enabled(level) ? this : nullptr, level, msg); }

 private:
  void Write(LogLevel level, std::string& line);
  void Drain();  // the stderr writer thread

  const LogLevel level_;
  Sink sink_;
  std::mutex mu_;
  // Stderr (no sink): lines queued for the writer thread, each with its newline, in one buffer.
  static constexpr size_t kMaxQueuedBytes = size_t{4} << 20;
  static constexpr size_t kKeptBatchCapacity = size_t{256} << 10;
  static constexpr size_t kFlushBatch = 256;  // lines
  static constexpr std::chrono::milliseconds kFlushInterval{50};
  std::condition_variable cv_;
  std::string queued_;             // guarded by mu_
  size_t queued_lines_ = 0;        // guarded by mu_
  uint64_t dropped_ = 0;           // guarded by mu_
  bool stopping_ = false;          // guarded by mu_
  bool urgent_ = false;            // guarded by mu_: a warning or error waits to be written
  std::thread writer_;
};

// The first 8 characters of a session id: correlates log lines without revealing the session.
std::string SessionTag(const std::string& session_id);

}  // namespace vmcp::gateway
