// File: cli/commands.h
//
// The `vmcp` command line, ToolHive-compatible so the operator's Deployment works unchanged:
//
//   vmcp serve --config=PATH [--host=H] [--port=P] [--debug]
//              [--allowed-hosts=H1,H2] [--allowed-origins=O1,O2]   (or $VMCP_ALLOWED_HOSTS / _ORIGINS)
//   vmcp validate --config=PATH
//   vmcp version
//
// Flags take `--flag=value` or `--flag value`. `Run` returns the process exit code and writes only to
// the streams it is given, so tests can drive it in-process.
#pragma once

#include <iosfwd>
#include <string>
#include <vector>

namespace vmcp::cli {

int Run(const std::vector<std::string>& args, std::ostream& out, std::ostream& err);

}  // namespace vmcp::cli
