// The official MCP conformance suite (@modelcontextprotocol/conformance, `server --suite all`) run
// against the gateway, with the project's conformance backend (tests/peers/conformance-backend.mjs) as its
// only backend and names kept bare (priority strategy listing that backend). Every one of the suite's 32
// server scenarios must pass through the gateway. A failing scenario is retried once, alone; the
// output says which were. The same suite run directly against the backend is the baseline: a scenario
// that fails only through the gateway is the gateway's.
//
// Needs VMCP_PEERS_DIR (set by scripts/test.sh).

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <map>
#include <memory>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "gateway/gateway.h"
#include "nlohmann/json.hpp"
#include "tests/gateway/child_process.h"
#include "tests/gateway/e2e_support.h"

namespace vmcp {
namespace {

namespace fs = std::filesystem;
using Json = nlohmann::json;
using testing::BackendEntry;
using testing::ChildProcess;
using testing::PeersDir;
using testing::PriorityAggregation;
using testing::ConformanceScript;
using testing::RunPeer;
using testing::StartGateway;
using testing::StartPeer;
using testing::VmcpConfig;

// The scenarios of `--suite all` in conformance 0.1.16 (tests/peers/package.json pins it).
const std::vector<std::string> kScenarios = {
    "server-initialize",
    "logging-set-level",
    "ping",
    "completion-complete",
    "tools-list",
    "tools-call-simple-text",
    "tools-call-image",
    "tools-call-audio",
    "tools-call-embedded-resource",
    "tools-call-mixed-content",
    "tools-call-with-logging",
    "tools-call-error",
    "tools-call-with-progress",
    "tools-call-sampling",
    "tools-call-elicitation",
    "json-schema-2020-12",
    "elicitation-sep1034-defaults",
    "server-sse-polling",
    "server-sse-multiple-streams",
    "elicitation-sep1330-enums",
    "resources-list",
    "resources-read-text",
    "resources-read-binary",
    "resources-templates-read",
    "resources-subscribe",
    "resources-unsubscribe",
    "prompts-list",
    "prompts-get-simple",
    "prompts-get-with-args",
    "prompts-get-embedded-resource",
    "prompts-get-with-image",
    "dns-rebinding-protection",
};

struct ScenarioResult {
  bool passed = false;
  int successes = 0;
  int failures = 0;
  int warnings = 0;
  std::vector<std::string> failing;  // "name: message" of each FAILURE check
  bool retried = false;
};

std::string TmpDir() {
  const char* t = std::getenv("TEST_TMPDIR");
  return t != nullptr ? std::string(t) : fs::temp_directory_path().string();
}

// Reads every `<dir>/server-<scenario>-<timestamp>/checks.json` under `dir`.
std::map<std::string, ScenarioResult> ParseResults(const std::string& dir) {
  static const std::regex kName(R"(^server-(.+)-\d{4}-\d{2}-\d{2}T\d{2}-\d{2}-\d{2}-\d{3}Z$)");
  std::map<std::string, ScenarioResult> results;
  std::error_code ec;
  for (const fs::directory_entry& e : fs::directory_iterator(dir, ec)) {
    std::smatch m;
    const std::string name = e.path().filename().string();
    if (!e.is_directory() || !std::regex_match(name, m, kName)) continue;
    ScenarioResult& r = results[m[1].str()];
    std::ifstream in(e.path() / "checks.json");
    Json checks = Json::parse(in, nullptr, false);
    if (!checks.is_array()) {
      r.failing.push_back("checks.json missing or unreadable in " + e.path().string());
      continue;
    }
    for (const Json& c : checks) {
      const std::string status = c.value("status", "");
      if (status == "SUCCESS") {
        ++r.successes;
      } else if (status == "WARNING") {
        ++r.warnings;
      } else if (status == "FAILURE") {
        ++r.failures;
        std::string message = c.value("errorMessage", "");
        if (message.empty() && c.contains("details") && c["details"].is_object()) {
          const Json& d = c["details"];
          message = d.contains("message") && d["message"].is_string() ? d["message"].get<std::string>() : d.dump();
        }
        if (message.empty()) message = c.value("description", "");
        r.failing.push_back(c.value("name", c.value("id", "?")) + ": " + message);
      }
    }
    r.passed = r.failures == 0 && r.successes > 0 && r.failing.empty();
  }
  return results;
}

// Runs the suite (or one scenario) against `url` into `out_dir`; returns the CLI's exit code.
int RunConformance(const std::string& url, const std::string& out_dir, const std::string& scenario = "") {
  std::vector<std::string> args{"server", "--url", url, "-o", out_dir};
  if (scenario.empty()) {
    args.insert(args.end(), {"--suite", "all"});
  } else {
    args.insert(args.end(), {"--scenario", scenario});
  }
  testing::PeerRun run = RunPeer(ConformanceScript(), args, 240000);
  if (run.exit_code < 0) ADD_FAILURE() << "the conformance CLI did not finish (" << run.exit_code << "):\n" << run.output;
  return run.exit_code;
}

// The whole suite against `url`, each failing (or missing) scenario retried once alone; prints the table.
std::map<std::string, ScenarioResult> RunSuiteWithRetry(const std::string& label, const std::string& url) {
  const std::string out_dir = TmpDir() + "/conformance-" + label;
  fs::remove_all(out_dir);
  const int code = RunConformance(url, out_dir);
  std::map<std::string, ScenarioResult> results = ParseResults(out_dir);
  std::cout << "[" << label << "] conformance --suite all exited " << code << ", " << results.size()
            << " scenario result(s) in " << out_dir << "\n";

  std::set<std::string> names(kScenarios.begin(), kScenarios.end());
  for (const auto& [name, r] : results) names.insert(name);
  std::vector<std::string> retried;
  for (const std::string& name : names) {
    auto it = results.find(name);
    if (it != results.end() && it->second.passed) continue;
    const std::string retry_dir = out_dir + "-retry-" + name;
    fs::remove_all(retry_dir);
    RunConformance(url, retry_dir, name);
    auto again = ParseResults(retry_dir);
    ScenarioResult r = again.count(name) ? again[name] : ScenarioResult{};
    if (!again.count(name)) r.failing.push_back("no result for the scenario (also on its retry)");
    r.retried = true;
    results[name] = r;
    retried.push_back(name);
  }

  int passed = 0;
  std::ostringstream table;
  table << "[" << label << "] scenario                          result\n";
  for (const std::string& name : names) {
    const ScenarioResult& r = results[name];
    if (r.passed) ++passed;
    table << "[" << label << "] " << std::left << std::setw(34) << name << (r.passed ? "pass" : "FAIL") << "  ("
          << r.successes << " ok, " << r.failures << " failed" << (r.warnings ? ", " + std::to_string(r.warnings) + " warnings" : "")
          << (r.retried ? ", retried once alone" : "") << ")\n";
    for (const std::string& f : r.failing) table << "[" << label << "]     - " << f << "\n";
  }
  table << "[" << label << "] " << passed << "/" << names.size() << " scenarios passed; retried: ";
  if (retried.empty()) table << "none";
  for (size_t i = 0; i < retried.size(); ++i) table << (i ? ", " : "") << retried[i];
  table << "\n";
  std::cout << table.str() << std::flush;
  return results;
}

void ExpectAllPass(const std::map<std::string, ScenarioResult>& results) {
  for (const std::string& name : kScenarios) {
    auto it = results.find(name);
    ASSERT_NE(it, results.end()) << "no result for scenario " << name;
    std::string why;
    for (const std::string& f : it->second.failing) why += "\n  - " + f;
    EXPECT_TRUE(it->second.passed) << "scenario " << name << " failed" << (it->second.retried ? " (also on its retry)" : "")
                                   << ":" << why;
  }
  for (const auto& [name, r] : results) {
    if (std::find(kScenarios.begin(), kScenarios.end(), name) == kScenarios.end()) {
      EXPECT_TRUE(r.passed) << "scenario " << name << " (not in the expected list) failed";
    }
  }
}

class ConformanceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_FALSE(PeersDir().empty()) << "VMCP_PEERS_DIR is not set: run the tests with scripts/test.sh "
                                        "(or bazel test --test_env=VMCP_PEERS_DIR=$PWD/tests/peers)";
    ASSERT_FALSE(ConformanceScript().empty())
        << "no bin in " << PeersDir() << "/node_modules/@modelcontextprotocol/conformance/package.json";
    backend_ = StartPeer("conformance-backend.mjs", {"--port", "0"}, backend_port_);
    ASSERT_GT(backend_port_, 0) << "conformance-backend.mjs did not start: " << backend_->output();
  }

  std::unique_ptr<ChildProcess> backend_;
  int backend_port_ = 0;
};

TEST_F(ConformanceTest, AllScenariosPassThroughTheGateway) {
  uint16_t port = 0;
  auto gw = StartGateway(VmcpConfig(BackendEntry("conformance", backend_port_), PriorityAggregation({"conformance"})), port);
  ASSERT_NE(gw, nullptr);
  auto results = RunSuiteWithRetry("gateway", "http://127.0.0.1:" + std::to_string(port) + "/mcp");
  ExpectAllPass(results);
  gw->Stop(std::chrono::seconds(2));
}

// The baseline: the backend alone passes the whole suite, so a failure above is the gateway's.
TEST_F(ConformanceTest, BaselineAllScenariosPassDirectlyAgainstTheBackend) {
  auto results = RunSuiteWithRetry("direct", "http://127.0.0.1:" + std::to_string(backend_port_) + "/mcp");
  ExpectAllPass(results);
}

}  // namespace
}  // namespace vmcp
