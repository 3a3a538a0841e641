// File: auth/clock.h
//
// The wall clock every auth component reads (token `exp`/`nbf`/`iat`, token-exchange cache expiry,
// JWKS refresh rate limits), injectable so that tests move time instead of sleeping.
#pragma once

#include <chrono>
#include <functional>

namespace vmcp::auth {

using TimePoint = std::chrono::system_clock::time_point;
using Clock = std::function<TimePoint()>;

// std::chrono::system_clock::now.
inline Clock SystemClock() {
  return [] { return std::chrono::system_clock::now(); };
}

}  // namespace vmcp::auth
