#include "config/summary.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"

namespace vmcp::config {

std::string RedactUrl(const std::string& url) {
  const size_t scheme_end = url.find("://");
  if (scheme_end == std::string::npos) return url;
  const size_t host_start = scheme_end + 3;
  const size_t host_end = std::min(url.find_first_of("/?#", host_start), url.size());
  const size_t at = url.rfind('@', host_end);
  if (at == std::string::npos || at < host_start) return url;
  return absl::StrCat(url.substr(0, host_start), "***", url.substr(at));
}

std::string SummarizeConfig(const Config& cfg) {
  std::string out = absl::StrCat("vMCP server \"", cfg.name, "\" (group ", cfg.group_ref, "): ", cfg.backends.size(),
                                 cfg.backends.size() == 1 ? " backend\n" : " backends\n");
  size_t width = 0;
  for (const StaticBackend& b : cfg.backends) width = std::max(width, b.name.size());
  for (const StaticBackend& b : cfg.backends) {
    const BackendAuthStrategy* auth = cfg.outgoing_auth ? cfg.outgoing_auth->ResolveForBackend(b.name) : nullptr;
    std::string line = absl::StrCat("  ", b.name, std::string(width - b.name.size(), ' '), "  ",
                                    BackendModeName(b.mode), b.mode == BackendMode::kDirect ? "  " : "   ",
                                    absl::StrFormat("%-15s", TransportKindName(b.transport_kind)), "  ",
                                    RedactUrl(b.endpoint));
    absl::StrAppend(&line, "  ca=", b.ca_bundle_path.empty() ? "system" : "system+" + b.ca_bundle_path);
    absl::StrAppend(&line, "  auth=", auth ? auth->type : std::string(kStrategyUnauthenticated));
    if (!b.headers.empty()) {
      std::vector<std::string> names;
      for (const BackendHeader& h : b.headers) names.push_back(h.name);
      absl::StrAppend(&line, "  headers=", absl::StrJoin(names, ","));
    }
    absl::StrAppend(&out, line, "\n");
  }
  if (cfg.incoming_auth) {
    absl::StrAppend(&out, "incoming auth: ", cfg.incoming_auth->type);
    if (cfg.incoming_auth->oidc) {
      absl::StrAppend(&out, " (issuer ", cfg.incoming_auth->oidc->issuer, ", audience ",
                      cfg.incoming_auth->oidc->audience, ")");
    }
    if (cfg.incoming_auth->authz) absl::StrAppend(&out, ", authz ", cfg.incoming_auth->authz->type);
    absl::StrAppend(&out, "\n");
  }
  if (cfg.outgoing_auth) {
    absl::StrAppend(&out, "outgoing auth: source ", cfg.outgoing_auth->source, ", default ",
                    cfg.outgoing_auth->default_strategy ? cfg.outgoing_auth->default_strategy->type
                                                        : std::string(kStrategyUnauthenticated),
                    "\n");
  }
  if (cfg.aggregation) {
    const AggregationConfig& a = *cfg.aggregation;
    absl::StrAppend(&out, "aggregation: ", a.conflict_resolution);
    if (a.conflict_resolution == "prefix" && a.conflict_resolution_config) {
      absl::StrAppend(&out, " '", a.conflict_resolution_config->prefix_format, "'");
    }
    if (a.conflict_resolution == "priority" && a.conflict_resolution_config) {
      absl::StrAppend(&out, " [", absl::StrJoin(a.conflict_resolution_config->priority_order, ", "), "]");
    }
    if (!a.tools.empty()) absl::StrAppend(&out, ", ", a.tools.size(), " tool rule(s)");
    absl::StrAppend(&out, "\n");
  }
  if (cfg.operational && cfg.operational->timeouts && cfg.operational->failure_handling) {
    const FailureHandlingConfig& fh = *cfg.operational->failure_handling;
    absl::StrAppend(&out, "operational: backend timeout ", FormatGoDuration(cfg.operational->timeouts->default_timeout),
                    ", health check every ", FormatGoDuration(fh.health_check_interval), " (unhealthy after ",
                    fh.unhealthy_threshold, "), partial failure ", fh.partial_failure_mode, ", circuit breaker ",
                    fh.circuit_breaker && fh.circuit_breaker->enabled ? "on" : "off", "\n");
  }
  return out;
}

}  // namespace vmcp::config
