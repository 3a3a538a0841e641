// File: gateway/health.h
//
// What the gateway knows of one backend's health, shared by every client session and the health
// monitor (gateway/health_monitor.h):
//
//   - the health state machine of `operational.failureHandling` (ToolHive's states: healthy, degraded,
//     unhealthy, unknown, unauthenticated), fed by the monitor's probes. A failure counts toward
//     `unhealthyThreshold`; the first success after failures gives `degraded`, the next `healthy`; a
//     401/403 proves the backend reachable (healthy when the gateway authenticates to it, else
//     unauthenticated). Unhealthy and unauthenticated backends leave the aggregate.
//   - a circuit breaker (`failureHandling.circuitBreaker`), fed by probes *and* real calls, that gates
//     calls: open -> calls fail fast with a clear error; after the open timeout exactly one call or
//     probe goes through (half-open): its success closes the breaker, its failure opens it again.
//
// Pure logic with the time passed in, so tests drive it with a fake clock. Thread-safe.
#pragma once

#include <chrono>
#include <cstdint>
#include <mutex>
#include <string>

#include "absl/status/status.h"
#include "config/config.h"

namespace vmcp::gateway {

enum class HealthStatus { kUnknown, kHealthy, kDegraded, kUnhealthy, kUnauthenticated };
const char* HealthStatusName(HealthStatus status);  // "unknown", "healthy", ...

enum class CircuitState { kClosed, kOpen, kHalfOpen };
const char* CircuitStateName(CircuitState state);  // "closed", "open", "half-open"

struct HealthPolicy {
  using Duration = std::chrono::steady_clock::duration;
  Duration interval = std::chrono::seconds(30);
  int64_t unhealthy_threshold = 3;
  Duration timeout = std::chrono::seconds(10);           // one probe
  Duration degraded_latency = std::chrono::seconds(5);   // a slower successful probe is `degraded`
  bool breaker_enabled = false;
  int64_t breaker_threshold = 5;                         // consecutive failures that open it
  Duration breaker_timeout = std::chrono::seconds(60);   // open -> half-open

  // From `operational.failureHandling` (with the loader's defaults).
  static HealthPolicy FromConfig(const config::Config& cfg);
};

struct HealthSnapshot {
  HealthStatus status = HealthStatus::kUnknown;
  int64_t consecutive_failures = 0;
  bool checked = false;
  std::chrono::system_clock::time_point last_check;
  std::chrono::system_clock::time_point last_transition;
  std::string last_error_category;  // authentication_failed | timeout | connection_failed | backend_unavailable | health_check_failed
  std::string last_error;
  CircuitState circuit = CircuitState::kClosed;
  std::chrono::system_clock::time_point circuit_last_changed;
  uint64_t circuit_opens = 0;     // closed/half-open -> open transitions
  uint64_t calls_rejected = 0;    // calls failed fast while open
};

class BackendHealth {
 public:
  using TimePoint = std::chrono::steady_clock::time_point;

  // `authenticates`: the gateway sends credentials of its own to this backend (header injection, token
  // exchange), so a 401/403 answer to a probe still proves it up.
  BackendHealth(std::string backend, HealthPolicy policy, bool authenticates);

  const std::string& backend() const { return backend_; }
  const HealthPolicy& policy() const { return policy_; }

  // A probe's result (OK, or the failure) and how long it took. Returns true when Advertised() changed.
  bool RecordProbe(const absl::Status& result, std::chrono::steady_clock::duration latency, TimePoint now);

  // Whether the monitor should probe now: not while the breaker is open and its timeout has not passed
  // (when it has, the probe is the half-open one).
  bool ShouldProbe(TimePoint now);
  // When the open breaker lets its next probe through (now when it is not open).
  TimePoint NextProbeAllowed(TimePoint now) const;

  // The traffic gate. kProbe: the breaker was open and this call is its half-open probe.
  enum class Admission { kAdmit, kProbe, kReject };
  Admission Admit(TimePoint now);
  // A call's transport outcome (a JSON-RPC error answer is a success here: the backend is up).
  void RecordCall(const absl::Status& outcome, TimePoint now);
  // The error for a rejected call, naming the backend and when the next probe goes.
  absl::Status Rejected(TimePoint now) const;

  // In the aggregate: healthy, degraded, or not yet known to be down.
  bool Advertised() const;
  // A reconnect is worth waiting for: the last probe succeeded (or none ran yet) and the breaker is not open.
  bool LooksUp() const;
  HealthSnapshot Snapshot() const;

 private:
  void SetStatusLocked(HealthStatus s);
  void BreakerSuccessLocked(TimePoint now);
  void BreakerFailureLocked(TimePoint now);
  void SetCircuitLocked(CircuitState c, TimePoint now);

  const std::string backend_;
  const HealthPolicy policy_;
  const bool authenticates_;
  mutable std::mutex mu_;
  HealthSnapshot s_;
  int64_t breaker_failures_ = 0;
  TimePoint opened_at_{};
  bool probe_in_flight_ = false;
  std::string last_call_error_;
};

}  // namespace vmcp::gateway
