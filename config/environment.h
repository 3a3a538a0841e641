// File: config/environment.h
//
// Where the loader reads secret values from. In the vMCP pod the operator injects them as environment
// variables (`secretKeyRef`); tests pass a fixed map instead of touching the process environment.
#pragma once

#include <initializer_list>
#include <map>
#include <optional>
#include <string>
#include <string_view>

namespace vmcp::config {

class Environment {
 public:
  virtual ~Environment() = default;
  // The variable's value, or nullopt when it is not set.
  virtual std::optional<std::string> Get(std::string_view name) const = 0;
};

// The process environment (getenv).
class ProcessEnvironment final : public Environment {
 public:
  std::optional<std::string> Get(std::string_view name) const override;
};

// A fixed set of variables.
class MapEnvironment final : public Environment {
 public:
  MapEnvironment() = default;
  MapEnvironment(std::initializer_list<std::pair<const std::string, std::string>> vars) : vars_(vars) {}
  void Set(std::string name, std::string value) { vars_[std::move(name)] = std::move(value); }
  std::optional<std::string> Get(std::string_view name) const override;

 private:
  std::map<std::string, std::string, std::less<>> vars_;
};

}  // namespace vmcp::config
