// File: gateway/gateway.h
//
// The library's public face: a virtual MCP server built from a loaded config, serving MCP clients on
// one endpoint in front of the config's backends. No Boost, Beast or OpenSSL here: a host process
// (the vMCP server, or tests/host) links the library and drives it through this header alone.
//
//   auto cfg = config::LoadConfig("/etc/vmcp-config/config.yaml", config::ProcessEnvironment());
//   auto gw = Gateway::Create(*cfg, {.host = "0.0.0.0", .port = 4483});
//   absl::StatusOr<uint16_t> port = (*gw)->Start();   // on threads the gateway owns
//   // or, on the host's own executor (gateway/gateway_asio.h): (*gw)->Start(HostExecutor{ex});
//   ...
//   (*gw)->Reload(new_config);                        // backends added, removed, changed
//   GatewayStatus status = (*gw)->Status();
//   GatewayMetrics metrics = (*gw)->Metrics();         // or PrometheusText(), as /metrics serves it
//   (*gw)->Stop(std::chrono::seconds(10));            // graceful
//
// Endpoints: `/mcp` (streamable HTTP: POST, GET stream, DELETE), `/sse` + `/messages?sessionId=`
// (legacy HTTP+SSE for 2024-11-05 clients), `/health`, `/ping`, `/readyz`, `/status`, `/metrics`,
// `/api/backends/health`.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "config/config.h"

namespace vmcp {

struct GatewayOptions {
  std::string host = "127.0.0.1";
  uint16_t port = 4483;
  int threads = 0;  // 0: one per core
  // Each thread polls for new work this long after its last before it sleeps (its own threads only;
  // see transport::ServerOptions::busy_poll). 0: sleep at once.
  std::chrono::microseconds busy_poll{0};
  bool debug = false;  // debug log lines too
  // Where structured log lines (one JSON object each, no newline) go; empty: stderr.
  std::function<void(const std::string& line)> log_sink;
  // Host header values (host or host:port) accepted besides the defaults. When bound to a loopback
  // address only local names are accepted by default (DNS-rebinding protection); on other addresses any
  // Host is accepted unless this list is non-empty.
  std::vector<std::string> allowed_hosts;
  // Origin header values accepted besides local origins ("http://localhost:3000"); "*" accepts any.
  std::vector<std::string> allowed_origins;
  std::chrono::seconds session_ttl{30 * 60};  // idle client sessions end after this
  size_t max_body_bytes = 8 * 1024 * 1024;
  size_t page_size = 1000;                     // items per page of tools/list and friends
};

struct BackendStatus {
  std::string name;
  std::string mode;       // direct | proxy
  std::string transport;  // streamable-http | sse
  std::string url;        // credentials masked
  std::string health;     // healthy | degraded | unhealthy | unknown | unauthenticated
  std::string last_error;
  int64_t consecutive_failures = 0;  // failed health probes in a row
  std::string circuit;    // closed | open | half-open; "" when the circuit breaker is off
};

struct GatewayStatus {
  std::string name;
  std::string group;
  bool serving = false;
  uint16_t port = 0;
  uint64_t active_sessions = 0;
  uint64_t requests = 0;
  uint64_t reloads_applied = 0;
  uint64_t reloads_refused = 0;
  std::string config_error;  // why the last offered config was refused ("" once one is applied)
  std::vector<BackendStatus> backends;
};

// Requests of one MCP method: count, failures (a JSON-RPC error, or a transport failure or timeout
// toward a backend), and the total time spent answering them.
struct MethodMetrics {
  std::string method;  // an MCP method name, "notifications", or "other"
  uint64_t requests = 0;
  uint64_t errors = 0;
  double seconds_total = 0;
};

struct BackendMetricsSnapshot {
  std::string backend;
  std::vector<MethodMetrics> requests;  // requests the gateway sent to this backend
  uint64_t sessions_active = 0;
  uint64_t sessions_opened = 0;
  uint64_t connect_failures = 0;
  uint64_t stream_resumptions = 0;
  uint64_t reinitializations = 0;
};

// Counters since Create(); the same numbers /metrics serves (with latency histograms) in Prometheus text.
struct GatewayMetrics {
  uint64_t client_sessions_active = 0;
  uint64_t client_sessions_created = 0;
  uint64_t client_sessions_expired = 0;
  uint64_t tool_calls = 0;
  uint64_t connections_active = 0;
  uint64_t sse_streams_active = 0;
  uint64_t reloads_applied = 0;
  uint64_t reloads_refused = 0;
  std::vector<MethodMetrics> client_requests;  // requests clients sent, by method
  std::vector<BackendMetricsSnapshot> backends;
};

// The host's Asio executor, for Start(const HostExecutor&). Defined in gateway/gateway_asio.h, the one
// header of the API that includes Boost.Asio; hosts that let the gateway own its threads never see it.
struct HostExecutor;

class Gateway {
 public:
  static absl::StatusOr<std::unique_ptr<Gateway>> Create(config::Config config, GatewayOptions options);
  virtual ~Gateway() = default;

  // Binds and serves on `options.threads` threads of its own. Returns the bound port (useful with port 0).
  virtual absl::StatusOr<uint16_t> Start() = 0;
  // Binds and serves on the host's executor: no thread is created, every socket, timer and coroutine of
  // the gateway runs there. The host keeps the executor running until Stop() has returned and calls
  // Stop() from a thread the executor can do without while it drains. A call still waiting on a backend
  // after Stop() finishes on the executor within its timeout; what it uses stays alive until then.
  virtual absl::StatusOr<uint16_t> Start(const HostExecutor& host) = 0;
  // Applies a new config: new sessions use it at once; existing sessions keep their backend sessions
  // to backends that did not change. A config that cannot be applied is refused (and counted) and the
  // gateway keeps serving the one it had.
  virtual absl::Status Reload(config::Config config) = 0;
  // A new config that could not even be loaded (the host's loader refused it): counted, logged and
  // shown in Status() and /status; the gateway keeps serving the config it has.
  virtual void ConfigRefused(const std::vector<std::string>& errors) = 0;
  // Graceful: stops accepting, lets in-flight calls finish within `grace`, ends sessions.
  virtual void Stop(std::chrono::milliseconds grace) = 0;
  virtual GatewayStatus Status() const = 0;
  virtual GatewayMetrics Metrics() const = 0;
  // The Prometheus text exposition format (0.0.4): what GET /metrics answers.
  virtual std::string PrometheusText() const = 0;
};

}  // namespace vmcp
