// The backend health state machine and circuit breaker, driven by a fake clock.

#include "gateway/health.h"

#include <gtest/gtest.h>

#include "absl/status/status.h"
#include "transport/client.h"

namespace vmcp::gateway {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

class FakeClock {
 public:
  BackendHealth::TimePoint now() const { return now_; }
  void Advance(std::chrono::steady_clock::duration d) { now_ += d; }

 private:
  BackendHealth::TimePoint now_ = BackendHealth::TimePoint() + std::chrono::hours(1);
};

HealthPolicy Policy(int threshold = 3, bool breaker = false, int breaker_threshold = 5) {
  HealthPolicy p;
  p.unhealthy_threshold = threshold;
  p.breaker_enabled = breaker;
  p.breaker_threshold = breaker_threshold;
  p.breaker_timeout = seconds(60);
  return p;
}

const absl::Status kDown = absl::UnavailableError("backend b: cannot connect to 127.0.0.1:9: Connection refused");

TEST(HealthTest, FailuresBelowTheThresholdKeepAHealthyBackendAdvertised) {
  FakeClock clock;
  BackendHealth h("b", Policy(3), false);
  EXPECT_FALSE(h.Snapshot().checked);
  EXPECT_TRUE(h.Advertised());  // not yet known to be down
  EXPECT_FALSE(h.RecordProbe(absl::OkStatus(), milliseconds(5), clock.now()));
  EXPECT_EQ(h.Snapshot().status, HealthStatus::kHealthy);
  EXPECT_FALSE(h.RecordProbe(kDown, milliseconds(5), clock.now()));
  EXPECT_FALSE(h.RecordProbe(kDown, milliseconds(5), clock.now()));
  EXPECT_EQ(h.Snapshot().status, HealthStatus::kHealthy);
  EXPECT_EQ(h.Snapshot().consecutive_failures, 2);
  EXPECT_TRUE(h.Advertised());
  // The third failure reaches the threshold: unhealthy, out of the aggregate (a change).
  EXPECT_TRUE(h.RecordProbe(kDown, milliseconds(5), clock.now()));
  EXPECT_EQ(h.Snapshot().status, HealthStatus::kUnhealthy);
  EXPECT_FALSE(h.Advertised());
  EXPECT_EQ(h.Snapshot().last_error_category, "backend_unavailable");
  EXPECT_NE(h.Snapshot().last_error.find("Connection refused"), std::string::npos);
}

TEST(HealthTest, RecoveryGoesThroughDegradedThenHealthy) {
  FakeClock clock;
  BackendHealth h("b", Policy(1), false);
  EXPECT_TRUE(h.RecordProbe(kDown, milliseconds(1), clock.now()));  // threshold 1: at once
  EXPECT_EQ(h.Snapshot().status, HealthStatus::kUnhealthy);
  EXPECT_TRUE(h.RecordProbe(absl::OkStatus(), milliseconds(1), clock.now()));
  EXPECT_EQ(h.Snapshot().status, HealthStatus::kDegraded);
  EXPECT_TRUE(h.Advertised());
  EXPECT_EQ(h.Snapshot().consecutive_failures, 0);
  EXPECT_FALSE(h.RecordProbe(absl::OkStatus(), milliseconds(1), clock.now()));
  EXPECT_EQ(h.Snapshot().status, HealthStatus::kHealthy);
}

TEST(HealthTest, AFirstFailureIsUnknownAndStillAdvertised) {
  FakeClock clock;
  BackendHealth h("b", Policy(3), false);
  EXPECT_FALSE(h.RecordProbe(kDown, milliseconds(1), clock.now()));
  EXPECT_EQ(h.Snapshot().status, HealthStatus::kUnknown);
  EXPECT_TRUE(h.Advertised());
}

TEST(HealthTest, SlowSuccessIsDegraded) {
  FakeClock clock;
  BackendHealth h("b", Policy(), false);
  h.RecordProbe(absl::OkStatus(), seconds(6), clock.now());
  EXPECT_EQ(h.Snapshot().status, HealthStatus::kDegraded);
  EXPECT_TRUE(h.Advertised());
  h.RecordProbe(absl::OkStatus(), milliseconds(10), clock.now());
  EXPECT_EQ(h.Snapshot().status, HealthStatus::kHealthy);
}

TEST(HealthTest, AuthRejectionMeansReachable) {
  FakeClock clock;
  const absl::Status rejected = absl::UnauthenticatedError("backend b: HTTP 401");
  // The gateway authenticates to it: a 401 still proves the backend up.
  BackendHealth with_auth("b", Policy(1), true);
  with_auth.RecordProbe(rejected, milliseconds(1), clock.now());
  EXPECT_EQ(with_auth.Snapshot().status, HealthStatus::kHealthy);
  // It does not: unauthenticated, out of the aggregate.
  BackendHealth without("b", Policy(1), false);
  EXPECT_TRUE(without.RecordProbe(absl::PermissionDeniedError("backend b: HTTP 403"), milliseconds(1), clock.now()));
  EXPECT_EQ(without.Snapshot().status, HealthStatus::kUnauthenticated);
  EXPECT_EQ(without.Snapshot().last_error_category, "authentication_failed");
  EXPECT_FALSE(without.Advertised());
}

TEST(HealthTest, ErrorCategories) {
  FakeClock clock;
  BackendHealth h("b", Policy(10), false);
  h.RecordProbe(absl::DeadlineExceededError("backend b: timed out"), milliseconds(1), clock.now());
  EXPECT_EQ(h.Snapshot().last_error_category, "timeout");
  h.RecordProbe(transport::MarkNotSent(kDown), milliseconds(1), clock.now());
  EXPECT_EQ(h.Snapshot().last_error_category, "connection_failed");
  h.RecordProbe(kDown, milliseconds(1), clock.now());
  EXPECT_EQ(h.Snapshot().last_error_category, "backend_unavailable");
  h.RecordProbe(absl::InternalError("backend b: answered with a body that is not JSON"), milliseconds(1), clock.now());
  EXPECT_EQ(h.Snapshot().last_error_category, "health_check_failed");
}

TEST(HealthTest, DisabledBreakerAdmitsEverything) {
  FakeClock clock;
  BackendHealth h("b", Policy(3, /*breaker=*/false), false);
  for (int i = 0; i < 20; ++i) h.RecordCall(kDown, clock.now());
  EXPECT_EQ(h.Admit(clock.now()), BackendHealth::Admission::kAdmit);
  EXPECT_EQ(h.Snapshot().circuit, CircuitState::kClosed);
}

TEST(HealthTest, BreakerOpensAfterConsecutiveFailuresAndFailsFast) {
  FakeClock clock;
  BackendHealth h("b", Policy(3, true, 5), false);
  for (int i = 0; i < 4; ++i) {
    ASSERT_EQ(h.Admit(clock.now()), BackendHealth::Admission::kAdmit);
    h.RecordCall(kDown, clock.now());
  }
  h.RecordCall(absl::OkStatus(), clock.now());  // a success resets the count
  for (int i = 0; i < 4; ++i) h.RecordCall(kDown, clock.now());
  EXPECT_EQ(h.Snapshot().circuit, CircuitState::kClosed);
  h.RecordCall(kDown, clock.now());
  EXPECT_EQ(h.Snapshot().circuit, CircuitState::kOpen);
  EXPECT_EQ(h.Snapshot().circuit_opens, 1u);
  EXPECT_EQ(h.Admit(clock.now()), BackendHealth::Admission::kReject);
  const absl::Status why = h.Rejected(clock.now());
  EXPECT_NE(why.message().find("backend b: circuit breaker open after 5 consecutive failures"), std::string::npos) << why;
  EXPECT_NE(why.message().find("Connection refused"), std::string::npos) << why;
  EXPECT_NE(why.message().find("next probe in 60s"), std::string::npos) << why;
  EXPECT_EQ(h.Snapshot().calls_rejected, 1u);
  // Probes wait too.
  EXPECT_FALSE(h.ShouldProbe(clock.now()));
  EXPECT_EQ(h.NextProbeAllowed(clock.now()), clock.now() + seconds(60));
}

TEST(HealthTest, HalfOpenAdmitsOneProbeAndClosesOnItsSuccess) {
  FakeClock clock;
  BackendHealth h("b", Policy(3, true, 2), false);
  h.RecordCall(kDown, clock.now());
  h.RecordCall(kDown, clock.now());
  ASSERT_EQ(h.Snapshot().circuit, CircuitState::kOpen);
  clock.Advance(seconds(59));
  EXPECT_EQ(h.Admit(clock.now()), BackendHealth::Admission::kReject);
  clock.Advance(seconds(1));
  EXPECT_EQ(h.Admit(clock.now()), BackendHealth::Admission::kProbe);
  EXPECT_EQ(h.Snapshot().circuit, CircuitState::kHalfOpen);
  // Only one probe at a time: other calls and the monitor wait for it.
  EXPECT_EQ(h.Admit(clock.now()), BackendHealth::Admission::kReject);
  EXPECT_FALSE(h.ShouldProbe(clock.now()));
  h.RecordCall(absl::OkStatus(), clock.now());
  EXPECT_EQ(h.Snapshot().circuit, CircuitState::kClosed);
  EXPECT_EQ(h.Admit(clock.now()), BackendHealth::Admission::kAdmit);
}

TEST(HealthTest, AFailedHalfOpenProbeOpensAgainForAnotherTimeout) {
  FakeClock clock;
  BackendHealth h("b", Policy(3, true, 1), false);
  h.RecordCall(kDown, clock.now());
  clock.Advance(seconds(60));
  ASSERT_EQ(h.Admit(clock.now()), BackendHealth::Admission::kProbe);
  h.RecordCall(kDown, clock.now());
  EXPECT_EQ(h.Snapshot().circuit, CircuitState::kOpen);
  EXPECT_EQ(h.Snapshot().circuit_opens, 2u);
  clock.Advance(seconds(30));
  EXPECT_EQ(h.Admit(clock.now()), BackendHealth::Admission::kReject);
  clock.Advance(seconds(30));
  EXPECT_EQ(h.Admit(clock.now()), BackendHealth::Admission::kProbe);
}

TEST(HealthTest, TheMonitorsProbeCanBeTheHalfOpenOne) {
  FakeClock clock;
  BackendHealth h("b", Policy(1, true, 1), false);
  h.RecordProbe(kDown, milliseconds(1), clock.now());
  ASSERT_EQ(h.Snapshot().circuit, CircuitState::kOpen);
  clock.Advance(seconds(60));
  EXPECT_TRUE(h.ShouldProbe(clock.now()));
  EXPECT_EQ(h.Snapshot().circuit, CircuitState::kHalfOpen);
  EXPECT_EQ(h.Admit(clock.now()), BackendHealth::Admission::kReject);  // the probe is out
  h.RecordProbe(absl::OkStatus(), milliseconds(1), clock.now());
  EXPECT_EQ(h.Snapshot().circuit, CircuitState::kClosed);
  EXPECT_EQ(h.Snapshot().status, HealthStatus::kDegraded);
}

TEST(HealthTest, PolicyFromConfigDefaultsAndOverrides) {
  config::Config cfg;
  HealthPolicy p = HealthPolicy::FromConfig(cfg);
  EXPECT_EQ(p.interval, seconds(30));
  EXPECT_EQ(p.unhealthy_threshold, 3);
  EXPECT_FALSE(p.breaker_enabled);
  cfg.operational.emplace();
  cfg.operational->failure_handling.emplace();
  auto& fh = *cfg.operational->failure_handling;
  fh.health_check_interval = milliseconds(500);
  fh.unhealthy_threshold = 2;
  fh.health_check_timeout = seconds(5);  // longer than the interval: capped to it
  fh.circuit_breaker.emplace();
  fh.circuit_breaker->enabled = true;
  fh.circuit_breaker->failure_threshold = 4;
  fh.circuit_breaker->timeout = seconds(2);
  p = HealthPolicy::FromConfig(cfg);
  EXPECT_EQ(p.interval, milliseconds(500));
  EXPECT_EQ(p.timeout, milliseconds(500));
  EXPECT_EQ(p.unhealthy_threshold, 2);
  EXPECT_TRUE(p.breaker_enabled);
  EXPECT_EQ(p.breaker_threshold, 4);
  EXPECT_EQ(p.breaker_timeout, seconds(2));
}

}  // namespace
}  // namespace vmcp::gateway
