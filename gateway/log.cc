#include "gateway/log.h"

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
  std::lock_guard lock(mu_);
  if (sink_) {
    sink_(line);
  } else {
    line += "\n";
    std::fwrite(line.data(), 1, line.size(), stderr);
  }
}

std::string SessionTag(const std::string& session_id) { return session_id.substr(0, 8); }

}  // namespace vmcp::gateway
