// Small accessors of the config model.

#include "config/config.h"

#include <chrono>

namespace vmcp::config {

const char* BackendModeName(BackendMode mode) { return mode == BackendMode::kDirect ? "direct" : "proxy"; }

const char* TransportKindName(TransportKind kind) { return kind == TransportKind::kSse ? "sse" : "streamable-http"; }

const BackendAuthStrategy* OutgoingAuthConfig::ResolveForBackend(const std::string& backend_name) const {
  if (auto it = backends.find(backend_name); it != backends.end()) return &it->second;
  if (default_strategy.has_value()) return &*default_strategy;
  return nullptr;
}

const StaticBackend* Config::FindBackend(const std::string& backend_name) const {
  for (const StaticBackend& b : backends) {
    if (b.name == backend_name) return &b;
  }
  return nullptr;
}

Duration Config::BackendTimeout(const std::string& backend_name) const {
  constexpr Duration kFallback = std::chrono::seconds(30);
  if (!operational || !operational->timeouts) return kFallback;
  const TimeoutConfig& t = *operational->timeouts;
  if (auto it = t.per_workload.find(backend_name); it != t.per_workload.end() && it->second > Duration::zero()) {
    return it->second;
  }
  return t.default_timeout > Duration::zero() ? t.default_timeout : kFallback;
}

}  // namespace vmcp::config
