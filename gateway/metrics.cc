#include "gateway/metrics.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace vmcp::gateway {

size_t MethodIndex(std::string_view method) {
  for (size_t i = 0; i + 1 < kMethodCount; ++i) {
    if (kMetricMethods[i] == method) return i;
  }
  if (method.rfind("notifications/", 0) == 0) return MethodIndex("notifications");
  if (method == "sampling/createMessage") return MethodIndex("sampling");
  if (method == "elicitation/create") return MethodIndex("elicitation");
  return kMethodCount - 1;
}

void Histogram::Observe(std::chrono::nanoseconds elapsed) {
  const double seconds = std::chrono::duration<double>(elapsed).count();
  const size_t i = std::lower_bound(kLatencyBuckets.begin(), kLatencyBuckets.end(), seconds) - kLatencyBuckets.begin();
  buckets_[i].fetch_add(1, std::memory_order_relaxed);
  count_.fetch_add(1, std::memory_order_relaxed);
  sum_ns_.fetch_add(static_cast<uint64_t>(std::max<int64_t>(0, elapsed.count())), std::memory_order_relaxed);
}

std::shared_ptr<BackendMetrics> Metrics::ForBackend(const std::string& name) {
  std::lock_guard lock(mu_);
  auto& slot = backends_[name];
  if (!slot) slot = std::make_shared<BackendMetrics>(name);
  return slot;
}

namespace {

// A label value as the text format wants it: backslash, double quote and newline escaped.
std::string Escape(absl::string_view v) {
  std::string out;
  out.reserve(v.size());
  for (char c : v) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '"') {
      out += "\\\"";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

// (Debian's Abseil has a string_view of its own.)
absl::string_view AV(std::string_view v) { return absl::string_view(v.data(), v.size()); }

std::string Number(double v) { return absl::StrFormat("%.9g", v); }

class Writer {
 public:
  void Family(absl::string_view name, absl::string_view type, absl::string_view help) {
    absl::StrAppend(&out_, "# HELP ", name, " ", help, "\n# TYPE ", name, " ", type, "\n");
  }
  void Sample(absl::string_view name, absl::string_view labels, absl::string_view value) {
    absl::StrAppend(&out_, name, labels.empty() ? "" : "{", labels, labels.empty() ? "" : "}", " ", value, "\n");
  }
  void Sample(absl::string_view name, absl::string_view labels, uint64_t value) { Sample(name, labels, absl::StrCat(value)); }
  void Sample(absl::string_view name, absl::string_view labels, int64_t value) { Sample(name, labels, absl::StrCat(value)); }
  // A family with one unlabelled sample.
  void Single(absl::string_view name, absl::string_view type, absl::string_view help, uint64_t value) {
    Family(name, type, help);
    Sample(name, "", value);
  }
  // The _bucket, _sum and _count series of one histogram.
  void HistogramSeries(absl::string_view name, const std::string& labels, const Histogram& h) {
    uint64_t cumulative = 0;
    const std::string sep = labels.empty() ? "" : ",";
    for (size_t i = 0; i < kLatencyBuckets.size(); ++i) {
      cumulative += h.bucket(i);
      Sample(absl::StrCat(name, "_bucket"), absl::StrCat(labels, sep, "le=\"", Number(kLatencyBuckets[i]), "\""), cumulative);
    }
    cumulative += h.bucket(kLatencyBuckets.size());
    Sample(absl::StrCat(name, "_bucket"), absl::StrCat(labels, sep, "le=\"+Inf\""), cumulative);
    Sample(absl::StrCat(name, "_sum"), labels, Number(h.sum_seconds()));
    Sample(absl::StrCat(name, "_count"), labels, cumulative);
  }
  std::string Take() { return std::move(out_); }

 private:
  std::string out_;
};

}  // namespace

std::string Metrics::Prometheus(const MetricsContext& context) const {
  std::vector<std::shared_ptr<BackendMetrics>> backends;
  {
    std::lock_guard lock(mu_);
    for (const auto& [name, b] : backends_) backends.push_back(b);
  }
  Writer w;
  auto method_label = [](size_t i) { return absl::StrCat("method=\"", AV(kMetricMethods[i]), "\""); };

  // Client-facing (names as ToolHive's server middleware exports them).
  w.Family("toolhive_mcp_requests_total", "counter", "MCP requests from clients, by method and outcome.");
  for (size_t i = 0; i < kMethodCount; ++i) {
    const MethodStats& m = client_[i];
    const uint64_t requests = m.requests.load(std::memory_order_relaxed);
    if (requests == 0) continue;
    const uint64_t errors = m.errors.load(std::memory_order_relaxed);
    w.Sample("toolhive_mcp_requests_total", absl::StrCat(method_label(i), ",status=\"success\""), requests - errors);
    w.Sample("toolhive_mcp_requests_total", absl::StrCat(method_label(i), ",status=\"error\""), errors);
  }
  w.Family("toolhive_mcp_request_duration_seconds", "histogram", "Time to answer an MCP request from a client.");
  for (size_t i = 0; i < kMethodCount; ++i) {
    if (client_[i].requests.load(std::memory_order_relaxed) == 0) continue;
    w.HistogramSeries("toolhive_mcp_request_duration_seconds", method_label(i), client_[i].duration);
  }
  w.Single("toolhive_mcp_active_connections", "gauge", "Client HTTP connections open now.", context.connections_active);
  w.Single("toolhive_mcp_tool_calls_total", "counter", "tools/call requests from clients.",
           tool_calls.load(std::memory_order_relaxed));

  w.Single("vmcp_client_sessions_active", "gauge", "Client MCP sessions open now.",
           client_sessions_active.load(std::memory_order_relaxed));
  w.Single("vmcp_client_sessions_created_total", "counter", "Client MCP sessions initialized.",
           client_sessions_created.load(std::memory_order_relaxed));
  w.Single("vmcp_client_sessions_expired_total", "counter", "Client sessions ended by the idle TTL.",
           client_sessions_expired.load(std::memory_order_relaxed));
  w.Single("vmcp_sse_streams_active", "gauge", "Server-sent event streams open to clients now.",
           context.sse_streams_active);
  w.Single("vmcp_http_connections_accepted_total", "counter", "Client HTTP connections accepted.",
           context.connections_accepted);
  w.Family("vmcp_config_reloads_total", "counter", "Configs offered to the running gateway, by result.");
  w.Sample("vmcp_config_reloads_total", "result=\"applied\"", reloads_applied.load(std::memory_order_relaxed));
  w.Sample("vmcp_config_reloads_total", "result=\"refused\"", reloads_refused.load(std::memory_order_relaxed));

  // Backend-facing (names as ToolHive's backend client decorator exports them).
  w.Single("toolhive_vmcp_backends_discovered", "gauge", "Backends in the current config.",
           context.backends_configured);
  auto backend_label = [](const BackendMetrics& b) { return absl::StrCat("backend=\"", Escape(b.name()), "\""); };
  w.Family("toolhive_vmcp_backend_requests_total", "counter", "Requests sent to backends, by backend and method.");
  for (const auto& b : backends) {
    for (size_t i = 0; i < kMethodCount; ++i) {
      const uint64_t n = b->method(i).requests.load(std::memory_order_relaxed);
      if (n > 0) w.Sample("toolhive_vmcp_backend_requests_total", absl::StrCat(backend_label(*b), ",", method_label(i)), n);
    }
  }
  w.Family("toolhive_vmcp_backend_errors_total", "counter",
           "Backend requests that failed (transport, timeout or JSON-RPC error), by backend and method.");
  for (const auto& b : backends) {
    for (size_t i = 0; i < kMethodCount; ++i) {
      if (b->method(i).requests.load(std::memory_order_relaxed) == 0) continue;
      w.Sample("toolhive_vmcp_backend_errors_total", absl::StrCat(backend_label(*b), ",", method_label(i)),
               b->method(i).errors.load(std::memory_order_relaxed));
    }
  }
  w.Family("toolhive_vmcp_backend_requests_duration_seconds", "histogram", "Time for a backend to answer a request.");
  for (const auto& b : backends) {
    for (size_t i = 0; i < kMethodCount; ++i) {
      if (b->method(i).requests.load(std::memory_order_relaxed) == 0) continue;
      w.HistogramSeries("toolhive_vmcp_backend_requests_duration_seconds",
                        absl::StrCat(backend_label(*b), ",", method_label(i)), b->method(i).duration);
    }
  }
  w.Family("vmcp_backend_health", "gauge",
           "1 for the state each backend is in now (healthy, degraded, unhealthy, unknown, unauthenticated).");
  for (const auto& [name, state] : context.backend_health) {
    for (const char* s : {"healthy", "degraded", "unhealthy", "unknown", "unauthenticated"}) {
      w.Sample("vmcp_backend_health", absl::StrCat("backend=\"", Escape(name), "\",state=\"", s, "\""),
               static_cast<uint64_t>(state == s ? 1 : 0));
    }
  }
  w.Single("vmcp_token_exchanges_total", "counter", "RFC 8693 token exchange requests sent to identity providers.",
           context.token_exchanges);
  w.Single("vmcp_token_exchange_cache_hits_total", "counter", "Backend requests whose exchanged token came from the cache.",
           context.token_exchange_cache_hits);
  w.Single("vmcp_token_exchange_coalesced_total", "counter", "Requests that waited for another caller's exchange of the same token.",
           context.token_exchange_coalesced);
  w.Single("vmcp_token_exchange_failures_total", "counter", "Token requests (exchange or client_credentials) that failed.",
           context.token_exchange_failures);
  w.Single("vmcp_client_credentials_grants_total", "counter", "client_credentials token requests (health checks).",
           context.client_credentials_grants);
  w.Family("vmcp_incoming_auth_total", "counter", "Client requests by incoming token validation result.");
  w.Sample("vmcp_incoming_auth_total", "result=\"accepted\"", context.incoming_accepted);
  w.Sample("vmcp_incoming_auth_total", "result=\"rejected\"", context.incoming_rejected);
  w.Family("vmcp_backend_circuit_state", "gauge", "1 for the state each backend's circuit breaker is in (closed, open, half-open).");
  for (const auto& [name, c] : context.backend_circuit) {
    for (const char* s : {"closed", "open", "half-open"}) {
      w.Sample("vmcp_backend_circuit_state", absl::StrCat("backend=\"", Escape(name), "\",state=\"", s, "\""),
               static_cast<uint64_t>(c.state == s ? 1 : 0));
    }
  }
  w.Family("vmcp_backend_circuit_opens_total", "counter", "Times each backend's circuit breaker opened.");
  for (const auto& [name, c] : context.backend_circuit) {
    w.Sample("vmcp_backend_circuit_opens_total", absl::StrCat("backend=\"", Escape(name), "\""), c.opens);
  }
  w.Family("vmcp_backend_circuit_rejections_total", "counter", "Calls failed fast because the backend's circuit breaker was open.");
  for (const auto& [name, c] : context.backend_circuit) {
    w.Sample("vmcp_backend_circuit_rejections_total", absl::StrCat("backend=\"", Escape(name), "\""), c.rejected);
  }
  w.Family("vmcp_backend_sessions_active", "gauge", "Backend MCP sessions open now, by backend.");
  for (const auto& b : backends) w.Sample("vmcp_backend_sessions_active", backend_label(*b), b->sessions_active.load());
  w.Family("vmcp_backend_sessions_opened_total", "counter", "Backend sessions initialized, by backend.");
  for (const auto& b : backends) w.Sample("vmcp_backend_sessions_opened_total", backend_label(*b), b->sessions_opened.load());
  w.Family("vmcp_backend_connect_failures_total", "counter", "Backend initializations that failed, by backend.");
  for (const auto& b : backends) w.Sample("vmcp_backend_connect_failures_total", backend_label(*b), b->connect_failures.load());
  w.Family("vmcp_backend_stream_resumptions_total", "counter", "Backend streams resumed with Last-Event-ID, by backend.");
  for (const auto& b : backends) w.Sample("vmcp_backend_stream_resumptions_total", backend_label(*b), b->stream_resumptions.load());
  w.Family("vmcp_backend_reinitializations_total", "counter", "Backend sessions re-initialized after being lost, by backend.");
  for (const auto& b : backends) w.Sample("vmcp_backend_reinitializations_total", backend_label(*b), b->reinitializations.load());
  return w.Take();
}

GatewayMetrics Metrics::Snapshot(const MetricsContext& context) const {
  GatewayMetrics out;
  out.client_sessions_active = static_cast<uint64_t>(std::max<int64_t>(0, client_sessions_active.load()));
  out.client_sessions_created = client_sessions_created.load();
  out.client_sessions_expired = client_sessions_expired.load();
  out.tool_calls = tool_calls.load();
  out.connections_active = context.connections_active;
  out.sse_streams_active = context.sse_streams_active;
  out.reloads_applied = reloads_applied.load();
  out.reloads_refused = reloads_refused.load();
  // The methods that saw requests, from any source of per-method stats.
  auto methods = [](auto&& stats_of, std::vector<MethodMetrics>& into) {
    for (size_t i = 0; i < kMethodCount; ++i) {
      const MethodStats& m = stats_of(i);
      const uint64_t n = m.requests.load();
      if (n > 0) into.push_back({std::string(kMetricMethods[i]), n, m.errors.load(), m.duration.sum_seconds()});
    }
  };
  methods([this](size_t i) -> const MethodStats& { return client_[i]; }, out.client_requests);
  std::lock_guard lock(mu_);
  for (const auto& [name, b] : backends_) {
    BackendMetricsSnapshot bm;
    bm.backend = name;
    methods([&backend = *b](size_t i) -> const MethodStats& { return backend.method(i); }, bm.requests);
    bm.sessions_active = static_cast<uint64_t>(std::max<int64_t>(0, b->sessions_active.load()));
    bm.sessions_opened = b->sessions_opened.load();
    bm.connect_failures = b->connect_failures.load();
    bm.stream_resumptions = b->stream_resumptions.load();
    bm.reinitializations = b->reinitializations.load();
    out.backends.push_back(std::move(bm));
  }
  return out;
}

}  // namespace vmcp::gateway
