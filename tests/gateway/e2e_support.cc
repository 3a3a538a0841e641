#include "tests/gateway/e2e_support.h"

#include <gtest/gtest.h>

#include <fstream>
#include <utility>

#include "config/loader.h"
#include "nlohmann/json.hpp"

namespace vmcp::testing {

std::string BackendEntry(const std::string& name, int port, const std::string& path, const std::string& transport) {
  return "  - name: " + name + "\n    url: http://127.0.0.1:" + std::to_string(port) + path + "\n    transport: " +
         transport + "\n";
}

std::string VmcpConfig(const std::string& backends, const std::string& aggregation) {
  return "name: e2e-vmcp\ngroupRef: e2e\nbackends:\n" + backends +
         "incomingAuth:\n  type: anonymous\noutgoingAuth:\n  source: inline\naggregation:\n" + aggregation;
}

std::string PrefixAggregation(const std::string& format) {
  return "  conflictResolution: prefix\n  conflictResolutionConfig:\n    prefixFormat: '" + format + "'\n";
}

std::string PriorityAggregation(const std::vector<std::string>& order) {
  std::string list;
  for (const std::string& b : order) list += (list.empty() ? "" : ", ") + b;
  return "  conflictResolution: priority\n  conflictResolutionConfig:\n    priorityOrder: [" + list + "]\n";
}

std::unique_ptr<Gateway> StartGateway(const std::string& yaml, uint16_t& port) {
  GatewayOptions options;
  options.threads = 2;
  return StartGateway(yaml, port, std::move(options));
}

std::unique_ptr<Gateway> StartGateway(const std::string& yaml, uint16_t& port, GatewayOptions options) {
  port = 0;
  config::MapEnvironment env;
  auto loaded = config::LoadConfigText(yaml, env);
  if (!loaded.ok()) {
    ADD_FAILURE() << "config did not load: " << (loaded.errors.empty() ? "" : loaded.errors[0].ToString())
                  << "\n" << yaml;
    return nullptr;
  }
  options.port = 0;
  auto gw = Gateway::Create(std::move(*loaded.config), options);
  if (!gw.ok()) {
    ADD_FAILURE() << "Gateway::Create: " << gw.status() << "\n" << yaml;
    return nullptr;
  }
  auto bound = (*gw)->Start();
  if (!bound.ok()) {
    ADD_FAILURE() << "Gateway::Start: " << bound.status();
    return nullptr;
  }
  port = *bound;
  return std::move(*gw);
}

namespace {
std::vector<std::string> NodeArgv(const std::string& script, const std::vector<std::string>& args) {
  std::vector<std::string> argv{NodeBinary(), PeersDir() + "/" + script};
  argv.insert(argv.end(), args.begin(), args.end());
  return argv;
}
}  // namespace

std::unique_ptr<ChildProcess> StartPeer(const std::string& script, const std::vector<std::string>& args, int& port) {
  auto p = std::make_unique<ChildProcess>(NodeArgv(script, args));
  port = p->WaitForListening();
  return p;
}

PeerRun RunPeer(const std::string& script, const std::vector<std::string>& args, int timeout_ms) {
  ChildProcess p(NodeArgv(script, args));
  PeerRun run;
  run.exit_code = p.ReadAllAndWait(timeout_ms);
  run.output = p.output();
  return run;
}

std::string ConformanceScript() {
  const std::string pkg_dir = "node_modules/@modelcontextprotocol/conformance";
  std::ifstream in(PeersDir() + "/" + pkg_dir + "/package.json");
  nlohmann::json pkg = nlohmann::json::parse(in, nullptr, false);
  std::string bin;
  if (pkg.is_object() && pkg.contains("bin")) {
    if (pkg["bin"].is_string()) {
      bin = pkg["bin"].get<std::string>();
    } else if (pkg["bin"].is_object() && pkg["bin"].contains("conformance")) {
      bin = pkg["bin"]["conformance"].get<std::string>();
    }
  }
  return bin.empty() ? std::string() : pkg_dir + "/" + bin;
}

}  // namespace vmcp::testing
