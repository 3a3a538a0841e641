// File: config/duration.h
//
// Go `time.Duration` text, exactly as the ToolHive operator writes it into config.yaml (yaml.v3 uses
// `time.Duration.String()`) and as the Go loader reads it back (`time.ParseDuration`).
//
//   ParseGoDuration("1h2m3.5s")  -> 3723.5 s
//   ParseGoDuration("250µs")     -> 250 us (both U+00B5 and U+03BC are accepted, like Go)
//   FormatGoDuration(60s)        -> "1m0s"
//
// Durations are held as std::chrono::nanoseconds, the same range and resolution as Go's int64.
#pragma once

#include <chrono>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace vmcp::config {

using Duration = std::chrono::nanoseconds;

// Parses a Go duration string: an optional sign, then one or more decimal numbers each followed by a
// unit (ns, us, µs, μs, ms, s, m, h); "0" alone is also accepted. Errors say what is wrong in plain
// words (missing unit, unknown unit, overflow) and never echo more than the offending text.
absl::StatusOr<Duration> ParseGoDuration(std::string_view text);

// Formats like Go's Duration.String(): "0s", "1.5s", "500ms", "1m0s", "1h2m3.5s", "-2s".
std::string FormatGoDuration(Duration d);

}  // namespace vmcp::config
