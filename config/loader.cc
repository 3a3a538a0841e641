// The loader's entry points: read, parse (yaml-cpp), then the phases of config/internal.h.

#include "config/loader.h"

#include <yaml-cpp/yaml.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "config/internal.h"

namespace vmcp::config {

std::string ConfigError::ToString() const {
  std::string out = path.empty() ? message : absl::StrCat(path, ": ", message);
  if (line > 0) absl::StrAppend(&out, " (line ", line, ", column ", column, ")");
  return out;
}

LoadResult LoadConfigText(std::string_view yaml, const Environment& env, std::string_view source_name) {
  const std::string source(source_name);
  LoadResult result;
  if (yaml.size() > kMaxConfigBytes) {
    result.errors.push_back(
        {"", absl::StrCat(source, ": file is too large (", yaml.size(), " bytes; the limit is ", kMaxConfigBytes, ")")});
    return result;
  }
  YAML::Node root;
  try {
    root = YAML::Load(std::string(yaml));
  } catch (const YAML::Exception& e) {
    // yaml-cpp's own message names the problem, never the content.
    ConfigError err{"", absl::StrCat(source, ": invalid YAML: ", e.msg)};
    if (!e.mark.is_null()) {
      err.line = e.mark.line + 1;
      err.column = e.mark.column + 1;
    }
    result.errors.push_back(std::move(err));
    return result;
  }
  if (!root.IsDefined() || root.IsNull()) {
    result.errors.push_back({"", absl::StrCat(source, ": the config is empty")});
    return result;
  }

  internal::Diagnostics diag;
  Config cfg;
  if (internal::Decode(root, diag, cfg)) {
    internal::Derive(cfg, diag);
    internal::Validate(cfg, diag);
    internal::ResolveSecrets(cfg, env, diag);
  }
  result.errors = diag.TakeErrors();
  result.warnings = diag.TakeWarnings();
  if (result.errors.empty()) result.config = std::move(cfg);
  return result;
}

LoadResult LoadConfigFile(const std::string& path, const Environment& env) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    LoadResult result;
    result.errors.push_back({"", absl::StrCat("cannot read config file ", path, ": ", std::strerror(errno))});
    return result;
  }
  // Read at most one byte past the limit, so a huge file is refused without reading all of it.
  std::string text(kMaxConfigBytes + 1, '\0');
  in.read(text.data(), static_cast<std::streamsize>(text.size()));
  if (in.bad()) {
    LoadResult result;
    result.errors.push_back({"", absl::StrCat("cannot read config file ", path, ": ", std::strerror(errno))});
    return result;
  }
  text.resize(static_cast<size_t>(in.gcount()));
  return LoadConfigText(text, env, path);
}

absl::StatusOr<Config> LoadConfig(const std::string& path, const Environment& env) {
  LoadResult r = LoadConfigFile(path, env);
  if (r.ok()) return std::move(*r.config);
  std::vector<std::string> lines;
  for (const ConfigError& e : r.errors) lines.push_back(e.ToString());
  return absl::InvalidArgumentError(absl::StrCat("invalid config ", path, ":\n  - ", absl::StrJoin(lines, "\n  - ")));
}

}  // namespace vmcp::config
