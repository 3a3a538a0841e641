// File: config/internal.h
//
// Private to config/: the diagnostics collector shared by the loader's phases, and the phases
// themselves. Not part of the library's interface.
//
//   Decode         YAML -> structs, strict (unknown keys, shapes, scalars, durations)   decode.cc
//   Derive         backend modes, transports, endpoints, defaults, step types          derive.cc
//   Validate       the Go validator's rules and the RFC's                               validate.cc
//   ResolveSecrets env-var secrets and header-forward manifests                          secrets.cc
#pragma once

#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "config/config.h"
#include "config/environment.h"
#include "config/loader.h"

namespace YAML {
class Node;
}

namespace vmcp::config::internal {

struct Mark {
  int line = 0;  // 1-based; 0 = unknown
  int column = 0;
};

// Collects errors and warnings, each with a key path; remembers where each path sits in the YAML so
// that errors found after decoding still point at a line and column.
class Diagnostics {
 public:
  void RecordMark(const std::string& path, Mark mark);
  // The mark of `path`, or of its nearest parent that has one.
  Mark Find(const std::string& path) const;

  // An error found by the validator. Skipped when decoding already reported the value at `path` (or
  // one of its parents) as malformed: one wrong value gives one error, not a cascade.
  void Error(const std::string& path, std::string message);
  // An error in the shape of a value (wrong type, bad scalar): marks `path` as malformed.
  void DecodeError(const std::string& path, std::string message, Mark mark);
  void ErrorAt(const std::string& path, std::string message, Mark mark);
  void Warning(const std::string& path, std::string message);

  bool has_errors() const { return !errors_.empty(); }
  // Errors and warnings in file order (entries without a position last, in the order found).
  std::vector<ConfigError> TakeErrors();
  std::vector<ConfigError> TakeWarnings();

 private:
  bool UnderMalformed(const std::string& path) const;

  std::map<std::string, Mark> marks_;
  std::vector<std::string> malformed_;
  std::vector<ConfigError> errors_;
  std::vector<ConfigError> warnings_;
};

// Path building: Key("a", "b") == "a.b", Key("", "b") == "b", Index("a", 2) == "a[2]".
std::string Key(std::string_view parent, std::string_view key);
std::string Index(std::string_view parent, size_t index);

// Returns false when the document is not a mapping at all (nothing further to check).
bool Decode(const YAML::Node& root, Diagnostics& diag, Config& out);
void Derive(Config& cfg, Diagnostics& diag);
void Validate(const Config& cfg, Diagnostics& diag);
void ResolveSecrets(Config& cfg, const Environment& env, Diagnostics& diag);

// Header-name rules shared by validation and secret resolution (a valid name or value is
// transport::IsFieldName / IsFieldValue).
bool IsRestrictedForwardHeader(std::string_view name);         // hop-by-hop, Host, X-Forwarded-*, ...
std::string CanonicalHeaderName(std::string_view name);        // "x-api-key" -> "X-Api-Key"

}  // namespace vmcp::config::internal
