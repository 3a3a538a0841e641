// Backend health state machine and circuit breaker.

#include "gateway/health.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "transport/client.h"

namespace vmcp::gateway {

const char* HealthStatusName(HealthStatus status) {
  switch (status) {
    case HealthStatus::kUnknown: return "unknown";
    case HealthStatus::kHealthy: return "healthy";
    case HealthStatus::kDegraded: return "degraded";
    case HealthStatus::kUnhealthy: return "unhealthy";
    case HealthStatus::kUnauthenticated: return "unauthenticated";
  }
  return "unknown";
}

const char* CircuitStateName(CircuitState state) {
  switch (state) {
    case CircuitState::kClosed: return "closed";
    case CircuitState::kOpen: return "open";
    case CircuitState::kHalfOpen: return "half-open";
  }
  return "closed";
}

HealthPolicy HealthPolicy::FromConfig(const config::Config& cfg) {
  HealthPolicy p;
  if (!cfg.operational || !cfg.operational->failure_handling) return p;
  const config::FailureHandlingConfig& fh = *cfg.operational->failure_handling;
  if (fh.health_check_interval > config::Duration::zero()) p.interval = fh.health_check_interval;
  if (fh.unhealthy_threshold > 0) p.unhealthy_threshold = fh.unhealthy_threshold;
  if (fh.health_check_timeout > config::Duration::zero()) p.timeout = fh.health_check_timeout;
  // A probe must end before the next is due.
  p.timeout = std::min<Duration>(p.timeout, p.interval);
  if (fh.circuit_breaker) {
    p.breaker_enabled = fh.circuit_breaker->enabled;
    if (fh.circuit_breaker->failure_threshold > 0) p.breaker_threshold = fh.circuit_breaker->failure_threshold;
    if (fh.circuit_breaker->timeout > config::Duration::zero()) p.breaker_timeout = fh.circuit_breaker->timeout;
  }
  return p;
}

namespace {

bool IsAuthRejection(const absl::Status& s) {
  return s.code() == absl::StatusCode::kUnauthenticated || s.code() == absl::StatusCode::kPermissionDenied;
}

std::string Category(const absl::Status& s) {
  if (IsAuthRejection(s)) return "authentication_failed";
  if (s.code() == absl::StatusCode::kDeadlineExceeded) return "timeout";
  if (transport::WasNotSent(s)) return "connection_failed";
  if (s.code() == absl::StatusCode::kUnavailable) return "backend_unavailable";
  return "health_check_failed";
}

}  // namespace

BackendHealth::BackendHealth(std::string backend, HealthPolicy policy, bool authenticates)
    : backend_(std::move(backend)), policy_(policy), authenticates_(authenticates) {
  s_.last_transition = std::chrono::system_clock::now();
  s_.circuit_last_changed = s_.last_transition;
}

void BackendHealth::SetStatusLocked(HealthStatus status) {
  if (s_.status == status) return;
  s_.status = status;
  s_.last_transition = std::chrono::system_clock::now();
}

bool BackendHealth::RecordProbe(const absl::Status& result, std::chrono::steady_clock::duration latency, TimePoint now) {
  std::lock_guard lock(mu_);
  const bool advertised_before = s_.status != HealthStatus::kUnhealthy && s_.status != HealthStatus::kUnauthenticated;
  const bool first = !s_.checked;
  s_.checked = true;
  s_.last_check = std::chrono::system_clock::now();
  // What this one probe says.
  HealthStatus says = HealthStatus::kHealthy;
  bool success = true;
  if (result.ok()) {
    if (latency > policy_.degraded_latency) says = HealthStatus::kDegraded;
  } else if (IsAuthRejection(result) && authenticates_) {
    says = HealthStatus::kHealthy;  // the backend answered: it is up, the credentials are its business
  } else if (IsAuthRejection(result)) {
    says = HealthStatus::kUnauthenticated;
    success = false;
  } else {
    says = HealthStatus::kUnhealthy;
    success = false;
  }
  if (success) {
    // The first success after failures is `degraded`; the next one is what the probe says.
    if (s_.consecutive_failures > 0 && !first) {
      SetStatusLocked(HealthStatus::kDegraded);
    } else {
      SetStatusLocked(says);
    }
    s_.consecutive_failures = 0;
    BreakerSuccessLocked(now);
  } else {
    ++s_.consecutive_failures;
    s_.last_error_category = Category(result);
    s_.last_error = std::string(result.message());
    if (s_.consecutive_failures >= policy_.unhealthy_threshold) {
      SetStatusLocked(says);
    } else if (first) {
      SetStatusLocked(HealthStatus::kUnknown);
    }
    BreakerFailureLocked(now);
  }
  const bool advertised_after = s_.status != HealthStatus::kUnhealthy && s_.status != HealthStatus::kUnauthenticated;
  return advertised_before != advertised_after;
}

void BackendHealth::SetCircuitLocked(CircuitState c, TimePoint now) {
  if (s_.circuit == c) return;
  if (c == CircuitState::kOpen) {
    opened_at_ = now;
    ++s_.circuit_opens;
  }
  s_.circuit = c;
  s_.circuit_last_changed = std::chrono::system_clock::now();
}

void BackendHealth::BreakerSuccessLocked(TimePoint now) {
  breaker_failures_ = 0;
  probe_in_flight_ = false;
  if (policy_.breaker_enabled) SetCircuitLocked(CircuitState::kClosed, now);
}

void BackendHealth::BreakerFailureLocked(TimePoint now) {
  ++breaker_failures_;
  if (!policy_.breaker_enabled) return;
  if (s_.circuit == CircuitState::kHalfOpen) {  // the probe failed: open again for another timeout
    probe_in_flight_ = false;
    SetCircuitLocked(CircuitState::kOpen, now);
    return;
  }
  if (s_.circuit == CircuitState::kOpen) {
    opened_at_ = now;
    return;
  }
  if (breaker_failures_ >= policy_.breaker_threshold) SetCircuitLocked(CircuitState::kOpen, now);
}

bool BackendHealth::ShouldProbe(TimePoint now) {
  std::lock_guard lock(mu_);
  if (!policy_.breaker_enabled || s_.circuit == CircuitState::kClosed) return true;
  if (s_.circuit == CircuitState::kHalfOpen) return !probe_in_flight_;
  if (now - opened_at_ < policy_.breaker_timeout) return false;
  SetCircuitLocked(CircuitState::kHalfOpen, now);
  probe_in_flight_ = true;
  return true;
}

BackendHealth::TimePoint BackendHealth::NextProbeAllowed(TimePoint now) const {
  std::lock_guard lock(mu_);
  if (!policy_.breaker_enabled || s_.circuit != CircuitState::kOpen) return now;
  return std::max(now, opened_at_ + policy_.breaker_timeout);
}

BackendHealth::Admission BackendHealth::Admit(TimePoint now) {
  if (!policy_.breaker_enabled) return Admission::kAdmit;
  std::lock_guard lock(mu_);
  switch (s_.circuit) {
    case CircuitState::kClosed:
      return Admission::kAdmit;
    case CircuitState::kHalfOpen:
      if (probe_in_flight_) break;
      probe_in_flight_ = true;
      return Admission::kProbe;
    case CircuitState::kOpen:
      if (now - opened_at_ < policy_.breaker_timeout) break;
      SetCircuitLocked(CircuitState::kHalfOpen, now);
      probe_in_flight_ = true;
      return Admission::kProbe;
  }
  ++s_.calls_rejected;
  return Admission::kReject;
}

void BackendHealth::RecordCall(const absl::Status& outcome, TimePoint now) {
  if (!policy_.breaker_enabled) return;
  std::lock_guard lock(mu_);
  if (outcome.ok()) {
    BreakerSuccessLocked(now);
  } else {
    last_call_error_ = std::string(outcome.message());
    BreakerFailureLocked(now);
  }
}

absl::Status BackendHealth::Rejected(TimePoint now) const {
  std::lock_guard lock(mu_);
  const auto left = std::chrono::duration_cast<std::chrono::seconds>(
      std::max<std::chrono::steady_clock::duration>(opened_at_ + policy_.breaker_timeout - now, {}));
  return absl::UnavailableError(absl::StrCat("backend ", backend_, ": circuit breaker open after ", breaker_failures_,
                                             " consecutive failures (last: ",
                                             last_call_error_.empty() ? s_.last_error : last_call_error_,
                                             "); next probe in ",
                                             left.count(), "s"));
}

bool BackendHealth::Advertised() const {
  std::lock_guard lock(mu_);
  return s_.status != HealthStatus::kUnhealthy && s_.status != HealthStatus::kUnauthenticated;
}

bool BackendHealth::LooksUp() const {
  std::lock_guard lock(mu_);
  return s_.status != HealthStatus::kUnhealthy && s_.consecutive_failures == 0 && s_.circuit != CircuitState::kOpen;
}

HealthSnapshot BackendHealth::Snapshot() const {
  std::lock_guard lock(mu_);
  return s_;
}

}  // namespace vmcp::gateway
