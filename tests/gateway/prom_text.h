// File: tests/gateway/prom_text.h
//
// A strict reader of the Prometheus text exposition format (0.0.4) for tests: every sample must belong
// to a family declared by `# TYPE` before it, names and labels must be well formed, label values
// properly escaped, values numbers, no series twice; histograms must have increasing `le` bounds with
// non-decreasing counts, a `+Inf` bucket equal to `_count`, and a `_sum`. Any violation is an error
// naming the line.
#pragma once

#include <map>
#include <string>

#include "absl/status/statusor.h"

namespace vmcp::testing {

struct PromSamples {
  std::map<std::string, std::string> types;  // family -> counter | gauge | histogram | ...
  // "name{label="v",...}" (labels in the order written) -> value
  std::map<std::string, double> values;
  double Get(const std::string& series, double missing = -1) const {
    auto it = values.find(series);
    return it == values.end() ? missing : it->second;
  }
};

absl::StatusOr<PromSamples> ParsePromText(const std::string& text);

}  // namespace vmcp::testing
