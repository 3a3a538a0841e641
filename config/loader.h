// File: config/loader.h
//
// Loads the vMCP `config.yaml` exactly as the ToolHive operator writes it, in the Go loader's order:
//
//   1. strict decode: every key is known (an unknown key is an error naming its full path, e.g.
//      `aggregation.conflictResolutionConfig.prefixFormt: unknown key`), every value has the right
//      shape, Go durations parse exactly;
//   2. post-processing: secrets resolved from the environment (`headerValueEnv`, `clientSecretEnv`,
//      `headerEnvVars`, the `TOOLHIVE_HEADER_FORWARD_<BACKEND>` manifests with their
//      `TOOLHIVE_SECRET_*` values), backend modes and transports derived, operational defaults filled;
//   3. validation: every rule of the Go validator plus the MCPRemoteEndpoint RFC's, collecting
//      **every** error in one pass.
//
// Errors carry the key path and, where the YAML has one, the line and column. No error, warning or
// summary ever contains a secret value: env vars are named, never echoed.
//
//   ProcessEnvironment env;
//   LoadResult r = LoadConfigFile("/etc/vmcp-config/config.yaml", env);
//   if (!r.ok()) for (const ConfigError& e : r.errors) std::cerr << e.ToString() << "\n";
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "config/config.h"
#include "config/environment.h"

namespace vmcp::config {

// One problem with a config, found at `path` (e.g. `backends[1].caBundlePath`; empty for the whole
// file). Line and column are 1-based; 0 when unknown.
struct ConfigError {
  std::string path;
  std::string message;
  int line = 0;
  int column = 0;

  // "backends[1].caBundlePath: must be an absolute path (line 7, column 21)"
  std::string ToString() const;
};

struct LoadResult {
  std::optional<Config> config;       // set iff there are no errors
  std::vector<ConfigError> errors;    // in file order
  std::vector<ConfigError> warnings;  // accepted, but worth a log line

  bool ok() const { return errors.empty() && config.has_value(); }
};

// Hard limits on the input, so that a hostile or corrupted file cannot exhaust memory or the stack.
inline constexpr size_t kMaxConfigBytes = 4 * 1024 * 1024;
inline constexpr int kMaxNestingDepth = 64;

// Loads from YAML text. `source` names the input in file-level errors.
LoadResult LoadConfigText(std::string_view yaml, const Environment& env, std::string_view source = "config");

// Reads and loads a file. An unreadable file is one error naming the path and the OS reason.
LoadResult LoadConfigFile(const std::string& path, const Environment& env);

// The same, as a Status: OK with the config, or InvalidArgument listing every error, one a line.
absl::StatusOr<Config> LoadConfig(const std::string& path, const Environment& env);

// NORM() of the operator's wire format: uppercase, '-' -> '_', anything outside [A-Z0-9_] -> '_'.
// Used for TOOLHIVE_HEADER_FORWARD_<NORM(backend)> and TOOLHIVE_SECRET_* names.
std::string NormalizeEnvName(std::string_view name);

}  // namespace vmcp::config
