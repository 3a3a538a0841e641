// Derived fields and defaults, the counterpart of the Go loader's postProcess (without the secrets,
// see secrets.cc): backend modes and transports, the URL actually dialed, operational defaults filled
// the way `mergo.Merge` fills them (only zero fields), composite-step type inference.

#include <chrono>

#include "config/internal.h"

namespace vmcp::config::internal {
namespace {

using std::chrono::minutes;
using std::chrono::seconds;

bool IsServerEntry(const StaticBackend& b) {
  auto it = b.metadata.find("workload_type");
  return it != b.metadata.end() && it->second == "server_entry";
}

void DeriveBackend(StaticBackend& b, const std::string& path, Diagnostics& d) {
  if (b.type == "entry" || b.type == "direct") {
    b.mode = BackendMode::kDirect;
  } else if (b.type.empty() && IsServerEntry(b)) {
    // The operator never writes `type: entry` for an MCPServerEntry, but it marks the entry in its
    // metadata (workload_type: server_entry): that is a direct backend.
    b.mode = BackendMode::kDirect;
  } else if (b.type.empty() && !b.ca_bundle_path.empty()) {
    // caBundlePath without `type` (the Go validator rejects the whole config for it): a CA bundle only
    // makes sense for a backend the gateway dials itself.
    b.mode = BackendMode::kDirect;
    d.Warning(Key(path, "caBundlePath"),
              "set without `type`: treating backend \"" + b.name + "\" as direct (type: entry)");
  } else {
    b.mode = BackendMode::kProxy;
  }
  b.transport_kind = b.transport == "sse" ? TransportKind::kSse : TransportKind::kStreamableHttp;
  // Container SSE URLs carry the workload name as a fragment (".../sse#name"); it is never sent.
  b.endpoint = b.url.substr(0, b.url.find('#'));
}

void FillOperationalDefaults(Config& cfg) {
  if (!cfg.operational) cfg.operational.emplace();
  OperationalConfig& op = *cfg.operational;
  if (!op.timeouts) op.timeouts.emplace();
  if (op.timeouts->default_timeout == Duration::zero()) op.timeouts->default_timeout = seconds(30);
  if (!op.failure_handling) op.failure_handling.emplace();
  FailureHandlingConfig& fh = *op.failure_handling;
  if (fh.health_check_interval == Duration::zero()) fh.health_check_interval = seconds(30);
  if (fh.unhealthy_threshold == 0) fh.unhealthy_threshold = 3;
  if (fh.status_reporting_interval == Duration::zero()) fh.status_reporting_interval = seconds(30);
  if (fh.partial_failure_mode.empty()) fh.partial_failure_mode = "fail";
  if (!fh.circuit_breaker) fh.circuit_breaker.emplace();
  if (fh.circuit_breaker->failure_threshold == 0) fh.circuit_breaker->failure_threshold = 5;
  if (fh.circuit_breaker->timeout == Duration::zero()) fh.circuit_breaker->timeout = seconds(60);
}

void DeriveStep(WorkflowStep& s) {
  if (s.type.empty() && !s.tool.empty()) s.type = "tool";
  if (s.type == "elicitation" && s.timeout == Duration::zero()) s.timeout = minutes(5);
  for (WorkflowStep& inner : s.inner_step) DeriveStep(inner);
}

void NormalizeSubjectTokenType(std::string& t) {
  if (t == "access_token" || t == "id_token" || t == "jwt") t = "urn:ietf:params:oauth:token-type:" + t;
}

}  // namespace

void Derive(Config& cfg, Diagnostics& d) {
  for (size_t i = 0; i < cfg.backends.size(); ++i) DeriveBackend(cfg.backends[i], Index("backends", i), d);
  FillOperationalDefaults(cfg);
  for (CompositeToolConfig& tool : cfg.composite_tools) {
    for (WorkflowStep& s : tool.steps) DeriveStep(s);
  }
  if (cfg.outgoing_auth) {
    if (cfg.outgoing_auth->default_strategy && cfg.outgoing_auth->default_strategy->token_exchange) {
      NormalizeSubjectTokenType(cfg.outgoing_auth->default_strategy->token_exchange->subject_token_type);
    }
    for (auto& [name, s] : cfg.outgoing_auth->backends) {
      if (s.token_exchange) NormalizeSubjectTokenType(s.token_exchange->subject_token_type);
    }
  }
}

}  // namespace vmcp::config::internal
