// Diagnostics: errors and warnings with key paths and YAML positions.

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "config/internal.h"

namespace vmcp::config::internal {

std::string Key(std::string_view parent, std::string_view key) {
  std::string out(parent);
  if (!out.empty()) out.push_back('.');
  out.append(key);
  return out;
}

std::string Index(std::string_view parent, size_t index) {
  std::string out(parent);
  out.append("[").append(std::to_string(index)).append("]");
  return out;
}

void Diagnostics::RecordMark(const std::string& path, Mark mark) {
  if (mark.line > 0) marks_.emplace(path, mark);
}

Mark Diagnostics::Find(const std::string& path) const {
  std::string p = path;
  while (true) {
    auto it = marks_.find(p);
    if (it != marks_.end()) return it->second;
    if (p.empty()) return {};
    // Drop the last segment: ".key" or "[i]".
    const size_t cut = p.find_last_of(".[");
    p = cut == std::string::npos ? std::string() : p.substr(0, cut);
  }
}

bool Diagnostics::UnderMalformed(const std::string& path) const {
  for (const std::string& m : malformed_) {
    if (path == m) return true;
    if (path.size() > m.size() && path.compare(0, m.size(), m) == 0 && (path[m.size()] == '.' || path[m.size()] == '[')) {
      return true;
    }
  }
  return false;
}

void Diagnostics::Error(const std::string& path, std::string message) {
  if (UnderMalformed(path)) return;
  ErrorAt(path, std::move(message), Find(path));
}

void Diagnostics::DecodeError(const std::string& path, std::string message, Mark mark) {
  malformed_.push_back(path);
  ErrorAt(path, std::move(message), mark);
}

void Diagnostics::ErrorAt(const std::string& path, std::string message, Mark mark) {
  if (mark.line == 0) mark = Find(path);
  errors_.push_back(ConfigError{path, std::move(message), mark.line, mark.column});
}

void Diagnostics::Warning(const std::string& path, std::string message) {
  const Mark mark = Find(path);
  warnings_.push_back(ConfigError{path, std::move(message), mark.line, mark.column});
}

namespace {
std::vector<ConfigError> InFileOrder(std::vector<ConfigError> v) {
  std::stable_sort(v.begin(), v.end(), [](const ConfigError& a, const ConfigError& b) {
    const int la = a.line == 0 ? INT32_MAX : a.line;
    const int lb = b.line == 0 ? INT32_MAX : b.line;
    if (la != lb) return la < lb;
    return a.column < b.column;
  });
  return v;
}
}  // namespace

std::vector<ConfigError> Diagnostics::TakeErrors() { return InFileOrder(std::move(errors_)); }
std::vector<ConfigError> Diagnostics::TakeWarnings() { return InFileOrder(std::move(warnings_)); }

}  // namespace vmcp::config::internal
