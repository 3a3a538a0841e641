// File: tests/gateway/e2e_support.h
//
// Shared plumbing of the gateway's end-to-end tests: the vMCP config text for a set of local backends,
// the gateway started in-process through its public API on a free port, and the Node peers of
// tests/peers (servers waited for on their `LISTENING <port>` line, clients run to their end).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "gateway/gateway.h"
#include "tests/gateway/child_process.h"

namespace vmcp::testing {

// One `backends:` entry: http://127.0.0.1:<port><path> over `transport` (streamable-http | sse).
std::string BackendEntry(const std::string& name, int port, const std::string& path = "/mcp",
                         const std::string& transport = "streamable-http");
// A whole config.yaml (name e2e-vmcp, group e2e, anonymous incoming auth) around `backends` (a run of
// BackendEntry) and the body of `aggregation:` (indented by two spaces).
std::string VmcpConfig(const std::string& backends, const std::string& aggregation);
// `aggregation:` bodies for the three conflict-resolution strategies.
std::string PrefixAggregation(const std::string& format = "{workload}_");
std::string PriorityAggregation(const std::vector<std::string>& order);

// Loads `yaml` (with an empty environment) and starts a gateway on 127.0.0.1 and a free port, which is
// stored in `port`. On any failure records a test failure and returns null.
std::unique_ptr<Gateway> StartGateway(const std::string& yaml, uint16_t& port);
// The same with the host's options (port is forced to 0).
std::unique_ptr<Gateway> StartGateway(const std::string& yaml, uint16_t& port, GatewayOptions options);

// Starts `node <PeersDir()>/<script> args...` and waits for its LISTENING line. `port` is 0 when the
// peer did not come up (its output so far is in the returned process's output()).
std::unique_ptr<ChildProcess> StartPeer(const std::string& script, const std::vector<std::string>& args, int& port);

// Runs `node <PeersDir()>/<script> args...` to its end; the exit code (negative: a signal, -1 also for
// the timeout) and everything it wrote on stdout.
struct PeerRun {
  int exit_code = -1;
  std::string output;
};
PeerRun RunPeer(const std::string& script, const std::vector<std::string>& args, int timeout_ms = 120000);

// The official conformance CLI's entry script (from its package.json `bin`), relative to PeersDir(); ""
// when the package is not installed.
std::string ConformanceScript();

}  // namespace vmcp::testing
