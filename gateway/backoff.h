// File: gateway/backoff.h
//
// Exponential backoff with jitter, for everything that reconnects to a backend: standalone GET streams,
// stream resumption, calls whose connection could not be opened, health probes of a failing backend.
// By default 1 s doubling to 30 s (the MCPRemoteEndpoint RFC); each wait is drawn from [d/2, d], so the
// many sessions that lost one backend at the same moment do not all come back at the same moment. A
// server's SSE `retry:` replaces the computed wait.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <optional>
#include <random>

namespace vmcp::gateway {

class Backoff {
 public:
  using Duration = std::chrono::steady_clock::duration;

  explicit Backoff(Duration initial = std::chrono::seconds(1), Duration cap = std::chrono::seconds(30))
      : initial_(initial), cap_(cap), next_(initial) {}

  // The wait before the next attempt (and the one after it doubles, up to the cap).
  Duration Next(std::optional<int64_t> retry_ms = std::nullopt) {
    const Duration base = next_;
    next_ = std::min<Duration>(next_ * 2, cap_);
    if (retry_ms) return std::chrono::milliseconds(*retry_ms);
    thread_local std::mt19937_64 rng{std::random_device{}()};
    std::uniform_int_distribution<int64_t> half(base.count() / 2, base.count());
    return Duration(half(rng));
  }

  // After a success: the next failure starts again from the initial wait.
  void Reset() { next_ = initial_; }

 private:
  Duration initial_;
  Duration cap_;
  Duration next_;
};

}  // namespace vmcp::gateway
