// File: tests/gateway/child_process.h
//
// Real peer processes for end-to-end tests (Node MCP servers and clients from tests/peers): started
// with a pipe on stdout, waited for on their `LISTENING <port>` line (no sleeps), and stopped with
// SIGTERM (then SIGKILL) when the test is done.
#pragma once

#include <map>
#include <string>
#include <vector>

namespace vmcp::testing {

class ChildProcess {
 public:
  // Runs argv[0] (looked up in PATH) with extra environment variables.
  ChildProcess(std::vector<std::string> argv, std::map<std::string, std::string> env = {});
  ~ChildProcess();
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

  // Reads stdout until a line starting with `marker` (by default `LISTENING <port>`) and returns the
  // number right after it, or 0 if the process ended first or `timeout_ms` passed (the output so far is
  // in output()).
  int WaitForListening(int timeout_ms = 20000, const std::string& marker = "LISTENING ");
  // Reads stdout until a line contains `text`; returns that line, or "" if the process ended first or
  // `timeout_ms` passed.
  std::string WaitForLineContaining(const std::string& text, int timeout_ms = 20000);
  // Reads stdout to its end and waits for the exit; returns the exit code (or -signal).
  int ReadAllAndWait(int timeout_ms = 120000);
  void Terminate();
  const std::string& output() const { return output_; }
  int pid() const { return pid_; }

 private:
  bool ReadSome(int timeout_ms);
  int pid_ = -1;
  int stdout_fd_ = -1;
  std::string output_;
  size_t scanned_ = 0;
  bool exited_ = false;
  int status_ = 0;
};

// The directory of the Node peers (tests/peers, with node_modules installed by scripts/setup-node.sh),
// from $VMCP_PEERS_DIR. Empty when unset.
std::string PeersDir();
// The pinned Node.js (22) installed with the peers, so tests do not depend on the machine's own node.
std::string NodeBinary();

}  // namespace vmcp::testing
