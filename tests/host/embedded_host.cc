// A host program that embeds the gateway library the way the vMCP server process does, through the
// public headers alone (gateway/gateway.h and config/loader.h: no Boost, Beast or OpenSSL here), and
// checks the whole life cycle: load a config, create, start on threads the gateway owns, serve HTTP,
// report status, reload a changed config, stop gracefully. Exits 0 when every step behaved.
//
//   embedded_host            run the checks (a Bazel test)

#include <cstdio>
#include <iostream>
#include <string>

#include "config/environment.h"
#include "config/loader.h"
#include "gateway/gateway.h"
#include "tests/host/raw_http.h"

namespace {

int failures = 0;

void Check(bool ok, const std::string& what) {
  std::cout << (ok ? "ok    " : "FAIL  ") << what << "\n";
  if (!ok) ++failures;
}

// A plain GET over a POSIX socket: the host needs nothing from the library's transport.
std::string HttpGet(uint16_t port, const std::string& path) { return vmcp::testing::RawHttpGet(port, path); }

std::string ConfigWith(const std::string& backend_name) {
  // The backend need not be up: the host checks the gateway's own life cycle, not a backend's.
  return "name: host-vmcp\ngroupRef: host-group\nbackends:\n"
         "  - name: " + backend_name + "\n    url: http://127.0.0.1:9/mcp\n    transport: streamable-http\n"
         "incomingAuth:\n  type: anonymous\noutgoingAuth:\n  source: inline\n"
         "aggregation:\n  conflictResolution: prefix\n  conflictResolutionConfig:\n    prefixFormat: '{workload}_'\n";
}

}  // namespace

int main() {
  vmcp::config::ProcessEnvironment env;
  auto loaded = vmcp::config::LoadConfigText(ConfigWith("first"), env);
  Check(loaded.ok(), "config loads");
  if (!loaded.ok()) {
    for (const auto& e : loaded.errors) std::cout << "  " << e.ToString() << "\n";
    return 1;
  }

  vmcp::GatewayOptions options;
  options.port = 0;  // any free port
  options.threads = 2;
  auto gateway = vmcp::Gateway::Create(std::move(*loaded.config), options);
  Check(gateway.ok(), "gateway created");
  if (!gateway.ok()) return 1;
  auto port = (*gateway)->Start();
  Check(port.ok() && *port != 0, "gateway started on threads it owns");
  if (!port.ok()) return 1;

  const std::string health = HttpGet(*port, "/health");
  Check(health.rfind("HTTP/1.1 200", 0) == 0 && health.find(R"({"status":"ok"})") != std::string::npos,
        "GET /health answers 200 {\"status\":\"ok\"}");
  const std::string status_page = HttpGet(*port, "/status");
  Check(status_page.find("\"group_ref\":\"host-group\"") != std::string::npos, "GET /status names the group");

  vmcp::GatewayStatus status = (*gateway)->Status();
  Check(status.serving && status.port == *port, "Status(): serving on the bound port");
  Check(status.backends.size() == 1 && status.backends[0].name == "first", "Status(): the config's backend");

  auto next = vmcp::config::LoadConfigText(ConfigWith("second"), env);
  Check(next.ok() && (*gateway)->Reload(std::move(*next.config)).ok(), "Reload() applies a changed config");
  status = (*gateway)->Status();
  Check(status.backends.size() == 1 && status.backends[0].name == "second" && status.reloads_applied == 1,
        "Status() after reload: the new backend, one reload counted");

  (*gateway)->Stop(std::chrono::seconds(2));
  Check(!(*gateway)->Status().serving, "Stop() ends serving");
  Check(HttpGet(*port, "/health").empty(), "nothing listens after Stop()");

  std::cout << (failures == 0 ? "embedded host: all checks passed\n" : "embedded host: checks failed\n");
  return failures == 0 ? 0 : 1;
}
