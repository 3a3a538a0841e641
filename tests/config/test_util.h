// File: tests/config/test_util.h
//
// Helpers for the config tests: a small valid base config, edits applied to it by key path (so a
// bad-config case reads as "this key, this value"), and file access relative to the runfiles root.
#pragma once

#include <string>
#include <utility>
#include <vector>

namespace vmcp::config::testing {

// A minimal config that loads without errors or warnings.
extern const char kBaseConfig[];

// An edit: set `path` (dot-separated keys, `[i]` for list items) to `yaml` (parsed as YAML), or delete
// the key when `yaml` is kDelete.
inline constexpr char kDelete[] = "<delete>";
using Edit = std::pair<std::string, std::string>;

// kBaseConfig with the edits applied, as YAML text.
std::string WithEdits(const std::vector<Edit>& edits);
std::string ApplyEdits(const std::string& yaml, const std::vector<Edit>& edits);

// Reads a file (relative paths are relative to the runfiles root, where Bazel runs tests).
std::string ReadFileOrDie(const std::string& path);

}  // namespace vmcp::config::testing
