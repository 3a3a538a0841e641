// File: gateway/metrics.h
//
// The gateway's counters, gauges and latency histograms, recorded on the hot path without a lock
// (relaxed atomics in fixed arrays) and rendered on demand as Prometheus text or the public
// GatewayMetrics struct. Labels are bounded: an MCP method from a fixed list (anything else is
// "other") and a backend name from the config; never a session id, a tool argument or a token.
//
//   Metrics m;
//   m.client(MethodIndex("tools/call")).Record(elapsed, /*error=*/false);
//   auto backend = m.ForBackend("github");   // created once per name, kept across reloads
//   backend->method(MethodIndex("tools/call")).Record(elapsed, true);
//   std::string text = m.Prometheus({...});
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>

#include "gateway/gateway.h"

namespace vmcp::gateway {

// The methods that get a label of their own; the last entry, "other", takes the rest.
inline constexpr std::array<std::string_view, 17> kMetricMethods = {
    "initialize",     "ping",          "tools/list",          "tools/call",         "resources/list",
    "resources/read", "resources/templates/list", "resources/subscribe", "resources/unsubscribe",
    "prompts/list",   "prompts/get",   "completion/complete", "logging/setLevel",   "notifications",
    "sampling",       "elicitation",   "other"};
inline constexpr size_t kMethodCount = kMetricMethods.size();
size_t MethodIndex(std::string_view method);

// Upper bounds (seconds) of the latency buckets: 100 us to 30 s.
inline constexpr std::array<double, 17> kLatencyBuckets = {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005,
                                                           0.01,   0.025,   0.05,   0.1,   0.25,   0.5,
                                                           1,      2.5,     5,      10,    30};

class Histogram {
 public:
  void Observe(std::chrono::nanoseconds elapsed);
  uint64_t count() const { return count_.load(std::memory_order_relaxed); }
  double sum_seconds() const { return static_cast<double>(sum_ns_.load(std::memory_order_relaxed)) / 1e9; }
  // Non-cumulative count of bucket `i` (i == kLatencyBuckets.size(): past the last bound).
  uint64_t bucket(size_t i) const { return buckets_[i].load(std::memory_order_relaxed); }

 private:
  std::array<std::atomic<uint64_t>, kLatencyBuckets.size() + 1> buckets_{};
  std::atomic<uint64_t> count_{0};
  std::atomic<uint64_t> sum_ns_{0};
};

// Requests of one method: how many, how many failed, how long they took.
struct MethodStats {
  std::atomic<uint64_t> requests{0};
  std::atomic<uint64_t> errors{0};
  Histogram duration;
  void Record(std::chrono::nanoseconds elapsed, bool error) {
    requests.fetch_add(1, std::memory_order_relaxed);
    if (error) errors.fetch_add(1, std::memory_order_relaxed);
    duration.Observe(elapsed);
  }
};

// Everything recorded about one backend (by name: a reload that keeps the name keeps the counts).
class BackendMetrics {
 public:
  explicit BackendMetrics(std::string name) : name_(std::move(name)) {}
  const std::string& name() const { return name_; }
  MethodStats& method(size_t index) { return methods_[index]; }
  const MethodStats& method(size_t index) const { return methods_[index]; }

  std::atomic<int64_t> sessions_active{0};      // backend sessions open now
  std::atomic<uint64_t> sessions_opened{0};     // initialize succeeded
  std::atomic<uint64_t> connect_failures{0};    // initialize failed
  std::atomic<uint64_t> stream_resumptions{0};  // broken streams resumed with Last-Event-ID
  std::atomic<uint64_t> reinitializations{0};   // sessions re-initialized after the backend lost them

 private:
  const std::string name_;
  std::array<MethodStats, kMethodCount> methods_{};
};

// Point-in-time values the gateway reads from elsewhere (the HTTP server, the config) when rendering.
struct MetricsContext {
  uint64_t connections_active = 0;
  uint64_t connections_accepted = 0;
  uint64_t sse_streams_active = 0;
  uint64_t backends_configured = 0;
  std::map<std::string, std::string> backend_health;  // backend -> healthy | degraded | unhealthy | unknown | unauthenticated
  struct Circuit {
    std::string state;  // closed | open | half-open
    uint64_t opens = 0;
    uint64_t rejected = 0;
  };
  std::map<std::string, Circuit> backend_circuit;  // backends with a circuit breaker enabled
  // Outgoing token exchange (RFC 8693) and its cache; incoming token validation.
  uint64_t token_exchanges = 0;
  uint64_t token_exchange_cache_hits = 0;
  uint64_t token_exchange_coalesced = 0;
  uint64_t token_exchange_failures = 0;
  uint64_t client_credentials_grants = 0;
  uint64_t incoming_accepted = 0;
  uint64_t incoming_rejected = 0;
};

class Metrics {
 public:
  MethodStats& client(size_t index) { return client_[index]; }
  std::shared_ptr<BackendMetrics> ForBackend(const std::string& name);

  std::atomic<int64_t> client_sessions_active{0};
  std::atomic<uint64_t> client_sessions_created{0};
  std::atomic<uint64_t> client_sessions_expired{0};
  std::atomic<uint64_t> tool_calls{0};
  std::atomic<uint64_t> reloads_applied{0};
  std::atomic<uint64_t> reloads_refused{0};

  // The Prometheus text exposition format (version 0.0.4).
  std::string Prometheus(const MetricsContext& context) const;
  GatewayMetrics Snapshot(const MetricsContext& context) const;

 private:
  std::array<MethodStats, kMethodCount> client_{};
  mutable std::mutex mu_;  // only to create or list backends, never per request
  std::map<std::string, std::shared_ptr<BackendMetrics>> backends_;
};

}  // namespace vmcp::gateway
