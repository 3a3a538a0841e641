#include "gateway/log.h"

#include <pthread.h>

#include <csignal>
#include <cstdio>

#include "absl/time/clock.h"
#include "absl/time/time.h"

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
    cv_.wait_for(lock, kFlushInterval, [this] { return stopping_ || urgent_ || queue_.size() >= kFlushBatch; });
    urgent_ = false;
    if (queue_.empty() && dropped_ == 0) {
      if (stopping_) return;
      continue;
    }
    batch.clear();
    for (std::string& line : queue_) {
      batch += line;
      batch += '\n';
    }
    queue_.clear();
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
    lock.lock();
    if (last && queue_.empty()) return;
  }
}

void Logger::Log(LogLevel level, const char* msg, Fields fields) {
  if (!enabled(level)) return;
  nlohmann::json object = nlohmann::json::object();
  for (const auto& [key, value] : fields) object[key] = value;
  Write(level, msg, object);
}

void Logger::Log(LogLevel level, const char* msg, const nlohmann::json& fields) {
  if (!enabled(level)) return;
  nlohmann::json object = fields.is_object() ? fields : nlohmann::json::object();
  Write(level, msg, object);
}

void Logger::Write(LogLevel level, const char* msg, nlohmann::json& fields) {
  // time, level and msg first, the event's fields after (nlohmann keeps keys sorted, so the order is
  // assembled by hand).
  std::string line = "{\"time\":";
  line += nlohmann::json(absl::FormatTime("%Y-%m-%dT%H:%M:%E3SZ", absl::Now(), absl::UTCTimeZone())).dump();
  line += ",\"level\":\"";
  line += LevelName(level);
  line += "\",\"msg\":";
  line += nlohmann::json(msg).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  for (auto it = fields.begin(); it != fields.end(); ++it) {
    if (it.key() == "time" || it.key() == "level" || it.key() == "msg") continue;
    line += ",";
    line += nlohmann::json(it.key()).dump();
    line += ":";
    line += it.value().dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  }
  line += "}";
  if (sink_) {
    std::lock_guard lock(mu_);
    sink_(line);
    return;
  }
  bool wake = false;
  {
    std::lock_guard lock(mu_);
    if (!writer_.joinable()) {  // no writer thread (a host's executor): written here, whole
      line += "\n";
      std::fwrite(line.data(), 1, line.size(), stderr);
      return;
    }
    if (queue_.size() >= kMaxQueued) {
      ++dropped_;
      return;
    }
    queue_.push_back(std::move(line));
    if (level >= LogLevel::kWarn) urgent_ = true;
    wake = urgent_ || queue_.size() == kFlushBatch;
  }
  if (wake) cv_.notify_one();
}

std::string SessionTag(const std::string& session_id) { return session_id.substr(0, 8); }

}  // namespace vmcp::gateway
