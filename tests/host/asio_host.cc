// A host program that runs its own Asio io_context and hands its executor to the gateway
// (gateway/gateway_asio.h), the way a vMCP server process with an event loop of its own would. Checks:
// the gateway creates no thread, serves HTTP and MCP on the host's threads, reports metrics, stops
// gracefully while the host's loop keeps running, and is destroyed before the host stops its loop.
// Exits 0 when every step behaved.

#include <dirent.h>

#include <chrono>
#include <future>
#include <iostream>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>

#include "config/environment.h"
#include "config/loader.h"
#include "gateway/gateway.h"
#include "gateway/gateway_asio.h"
#include "tests/host/raw_http.h"

namespace {

int failures = 0;

void Check(bool ok, const std::string& what) {
  std::cout << (ok ? "ok    " : "FAIL  ") << what << "\n";
  if (!ok) ++failures;
}

int ThreadCount() {
  int n = 0;
  if (DIR* d = opendir("/proc/self/task")) {
    while (dirent* e = readdir(d)) n += e->d_name[0] != '.';
    closedir(d);
  }
  return n;
}

std::string Get(uint16_t port, const std::string& path) { return vmcp::testing::RawHttpGet(port, path); }

std::string Post(uint16_t port, const std::string& body) {
  return vmcp::testing::RawHttpExchange(port, "POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nContent-Type: application/json\r\n"
                    "Accept: application/json, text/event-stream\r\nContent-Length: " +
                        std::to_string(body.size()) + "\r\n\r\n" + body);
}

const char* kConfig =
    "name: asio-host-vmcp\ngroupRef: host-group\nbackends:\n"
    "  - name: offline\n    url: http://127.0.0.1:9/mcp\n    transport: streamable-http\n"
    "incomingAuth:\n  type: anonymous\noutgoingAuth:\n  source: inline\n"
    "aggregation:\n  conflictResolution: prefix\n  conflictResolutionConfig:\n    prefixFormat: '{workload}_'\n"
    "operational:\n  failureHandling:\n    partialFailureMode: best_effort\n";

}  // namespace

int main() {
  vmcp::config::ProcessEnvironment env;
  auto loaded = vmcp::config::LoadConfigText(kConfig, env);
  Check(loaded.ok(), "config loads");
  if (!loaded.ok()) {
    for (const auto& e : loaded.errors) std::cout << "  " << e.ToString() << "\n";
    return 1;
  }

  // The host's own event loop: an io_context and two threads.
  boost::asio::io_context ioc;
  auto work = boost::asio::make_work_guard(ioc);
  std::vector<std::thread> loop;
  for (int i = 0; i < 2; ++i) loop.emplace_back([&] { ioc.run(); });

  vmcp::GatewayOptions options;
  options.port = 0;
  auto gateway = vmcp::Gateway::Create(std::move(*loaded.config), options);
  Check(gateway.ok(), "gateway created");
  if (!gateway.ok()) return 1;
  const int threads_before = ThreadCount();
  auto port = (*gateway)->Start(vmcp::HostExecutor{ioc.get_executor()});
  Check(port.ok() && *port != 0, "gateway started on the host's executor");
  if (!port.ok()) return 1;
  Check(ThreadCount() == threads_before, "the gateway created no thread of its own");
  Check(!(*gateway)->Start(vmcp::HostExecutor{ioc.get_executor()}).ok(), "a second Start() is refused");

  Check(Get(*port, "/health").find(R"({"status":"ok"})") != std::string::npos, "GET /health answers on the host's threads");
  const std::string init = Post(*port, R"({"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"host","version":"1"}}})");
  Check(init.rfind("HTTP/1.1 200", 0) == 0 && init.find("Mcp-Session-Id: ") != std::string::npos &&
            init.find(R"("protocolVersion":"2025-11-25")") != std::string::npos,
        "initialize answers with a session (the offline backend does not stop it under best_effort)");
  const std::string metrics = Get(*port, "/metrics");
  Check(metrics.find("toolhive_mcp_requests_total{method=\"initialize\",status=\"success\"} 1\n") != std::string::npos,
        "GET /metrics counts the initialize");
  Check(metrics.find("vmcp_backend_connect_failures_total{backend=\"offline\"} 1\n") != std::string::npos,
        "GET /metrics counts the offline backend's failed connect");
  vmcp::GatewayMetrics m = (*gateway)->Metrics();
  Check(m.client_sessions_created == 1 && m.client_sessions_active == 1, "Metrics(): one session created and open");
  Check((*gateway)->PrometheusText().find("# TYPE toolhive_mcp_requests_total counter") != std::string::npos,
        "PrometheusText() renders the families");

  (*gateway)->Stop(std::chrono::seconds(2));
  Check(!(*gateway)->Status().serving, "Stop() ends serving");
  Check(Get(*port, "/health").empty(), "nothing listens after Stop()");
  Check((*gateway)->Metrics().client_sessions_active == 0, "Stop() ended the session");
  std::promise<void> ran;
  boost::asio::post(ioc, [&] { ran.set_value(); });
  Check(ran.get_future().wait_for(std::chrono::seconds(5)) == std::future_status::ready,
        "the host's loop still runs after Stop()");
  gateway->reset();  // the gateway first, then the host's loop

  work.reset();
  ioc.stop();
  for (auto& t : loop) t.join();
  std::cout << (failures == 0 ? "asio host: all checks passed\n" : "asio host: checks failed\n");
  return failures == 0 ? 0 : 1;
}
