#include "config/environment.h"

#include <cstdlib>

namespace vmcp::config {

std::optional<std::string> ProcessEnvironment::Get(std::string_view name) const {
  const std::string key(name);
  const char* value = std::getenv(key.c_str());
  if (value == nullptr) return std::nullopt;
  return std::string(value);
}

std::optional<std::string> MapEnvironment::Get(std::string_view name) const {
  auto it = vars_.find(name);
  if (it == vars_.end()) return std::nullopt;
  return it->second;
}

}  // namespace vmcp::config
