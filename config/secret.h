// File: config/secret.h
//
// A credential resolved from the environment or the config (header values, client secrets). The
// value is reachable only through `Reveal()`, which the code that puts it on the wire calls; the type
// has no stream operator and no implicit conversion, so a secret cannot end up in an error message,
// a log line or `vmcp validate` output by accident.
#pragma once

#include <string>
#include <utility>

namespace vmcp::config {

class Secret {
 public:
  Secret() = default;
  explicit Secret(std::string value) : value_(std::move(value)) {}

  bool empty() const { return value_.empty(); }
  // The raw value, for the one place that sends it. Never log or format the result.
  const std::string& Reveal() const { return value_; }

  friend bool operator==(const Secret& a, const Secret& b) { return a.value_ == b.value_; }

 private:
  std::string value_;
};

}  // namespace vmcp::config
