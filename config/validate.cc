// The validator: every rule of ToolHive's `config.DefaultValidator` and the MCPRemoteEndpoint RFC's,
// each error with its key path and a plain-words reason. Unlike the Go validator (which stops at the
// first error of each section) it reports everything it finds in one pass.
//
// Only values of enumerated fields are echoed back in messages ("got \"grpc\""); free-text values,
// which can be credentials, never are.

#include <algorithm>
#include <chrono>
#include <functional>
#include <map>
#include <set>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "config/internal.h"
#include "transport/http.h"
#include "nlohmann/json.hpp"

namespace vmcp::config::internal {
namespace {

using std::chrono::seconds;

std::string Got(const std::string& value) { return absl::StrCat(" (got \"", value, "\")"); }

bool OneOf(const std::string& v, std::initializer_list<const char*> allowed) {
  return std::any_of(allowed.begin(), allowed.end(), [&](const char* a) { return v == a; });
}

// Returns the problem with an http(s) URL, or "" when it is fine.
std::string UrlProblem(const std::string& url) {
  for (unsigned char c : url) {
    if (c <= 0x20 || c == 0x7f) return "must not contain spaces or control characters";
  }
  const size_t scheme_end = url.find("://");
  if (scheme_end == std::string::npos) return "must be an absolute http:// or https:// URL";
  const std::string scheme = absl::AsciiStrToLower(url.substr(0, scheme_end));
  if (scheme != "http" && scheme != "https") return "must be an absolute http:// or https:// URL";
  const size_t host_start = scheme_end + 3;
  const size_t host_end = url.find_first_of("/?#", host_start);
  std::string authority = url.substr(host_start, host_end == std::string::npos ? std::string::npos : host_end - host_start);
  if (const size_t at = authority.rfind('@'); at != std::string::npos) authority = authority.substr(at + 1);
  if (authority.empty() || authority[0] == ':') return "has no host";
  // A port, when given, is a number in range.
  const size_t bracket = authority.rfind(']');
  const size_t colon = authority.rfind(':');
  if (colon != std::string::npos && (bracket == std::string::npos || colon > bracket)) {
    const std::string port = authority.substr(colon + 1);
    int p = 0;
    if (port.empty() || !absl::SimpleAtoi(port, &p) || p < 1 || p > 65535) return "has an invalid port";
  }
  return "";
}

bool UrlHasUserInfo(const std::string& url) {
  const size_t scheme_end = url.find("://");
  if (scheme_end == std::string::npos) return false;
  const size_t host_start = scheme_end + 3;
  const size_t host_end = url.find_first_of("/?#", host_start);
  return url.substr(host_start, host_end == std::string::npos ? std::string::npos : host_end - host_start)
             .find('@') != std::string::npos;
}

void CheckUrl(Diagnostics& d, const std::string& path, const std::string& url, bool required) {
  if (url.empty()) {
    if (required) d.Error(path, "is required");
    return;
  }
  if (std::string problem = UrlProblem(url); !problem.empty()) d.Error(path, problem);
}

void CheckBundlePath(Diagnostics& d, const std::string& path, const std::string& p) {
  if (p.empty()) return;
  if (p.find('\0') != std::string::npos || p.find("..") != std::string::npos) {
    d.Error(path, "contains invalid path characters (NUL or \"..\")");
  } else if (p[0] != '/') {
    d.Error(path, "must be an absolute path");
  }
}

bool ParseFloat(const std::string& s, double& out) { return absl::SimpleAtod(s, &out) && std::isfinite(out); }

class Validator {
 public:
  Validator(const Config& cfg, Diagnostics& d) : cfg_(cfg), d_(d) {
    for (const StaticBackend& b : cfg.backends) backend_names_.insert(b.name);
  }

  void Run() {
    if (cfg_.name.empty()) d_.Error("name", "is required");
    if (cfg_.group_ref.empty()) d_.Error("groupRef", "is required");
    Backends();
    IncomingAuth();
    OutgoingAuth();
    Aggregation();
    Operational();
    CompositeTools();
    CompositeToolRefs();
    PassthroughHeaders();
    SessionStorage();
    RateLimiting();
    Telemetry();
    Optimizer();
    CodeMode();
    Audit();
  }

 private:
  void Backends() {
    if (cfg_.backends.empty()) {
      d_.Warning("backends",
                 "no static backends: this data plane serves static backends only, so the gateway would "
                 "serve no tools (outgoingAuth.source: discovered needs Kubernetes discovery)");
    }
    std::map<std::string, size_t> first_index;
    for (size_t i = 0; i < cfg_.backends.size(); ++i) {
      const StaticBackend& b = cfg_.backends[i];
      const std::string p = Index("backends", i);
      if (b.name.empty()) {
        d_.Error(Key(p, "name"), "is required");
      } else if (auto [it, inserted] = first_index.emplace(b.name, i); !inserted) {
        d_.Error(Key(p, "name"), absl::StrCat("duplicate backend name \"", b.name, "\" (also backends[", it->second, "])"));
      }
      if (b.url.empty()) {
        d_.Error(Key(p, "url"), "is required");
      } else if (std::string problem = UrlProblem(b.url); !problem.empty()) {
        d_.Error(Key(p, "url"), problem);
      } else if (UrlHasUserInfo(b.url)) {
        d_.Warning(Key(p, "url"), "carries credentials (user:password@); prefer headerEnvVars or outgoingAuth");
      } else if (b.mode == BackendMode::kDirect && absl::StartsWithIgnoreCase(b.url, "http://")) {
        d_.Warning(Key(p, "url"), "direct backend over plain http: the connection is not encrypted");
      }
      if (b.transport.empty()) {
        d_.Error(Key(p, "transport"), "is required");
      } else if (!OneOf(b.transport, {"streamable-http", "streamable", "sse"})) {
        d_.Error(Key(p, "transport"), "must be one of: streamable-http, streamable, sse" + Got(b.transport));
      }
      if (!OneOf(b.type, {"", "proxy", "entry", "direct"})) {
        d_.Error(Key(p, "type"), "must be one of: \"\", proxy, entry, direct" + Got(b.type));
      }
      if (!b.ca_bundle_path.empty()) {
        if (b.type == "proxy") {
          d_.Error(Key(p, "caBundlePath"), "is only valid for direct backends (type: entry or direct)");
        }
        CheckBundlePath(d_, Key(p, "caBundlePath"), b.ca_bundle_path);
      }
      for (const auto& [header, env_name] : b.header_env_vars) {
        const std::string hp = Key(Key(p, "headerEnvVars"), header);
        if (!transport::IsFieldName(header)) {
          d_.Error(hp, "is not a valid HTTP header name");
        } else if (IsRestrictedForwardHeader(header)) {
          d_.Error(hp, absl::StrCat("\"", CanonicalHeaderName(header), "\" is a restricted header and cannot be set"));
        }
        if (env_name.empty()) d_.Error(hp, "must name an environment variable");
      }
    }
  }

  void IncomingAuth() {
    if (!cfg_.incoming_auth) {
      d_.Error("incomingAuth", "is required");
      return;
    }
    const IncomingAuthConfig& a = *cfg_.incoming_auth;
    if (!OneOf(a.type, {"oidc", "local", "anonymous"})) {
      d_.Error("incomingAuth.type", "must be one of: oidc, local, anonymous" + Got(a.type));
    }
    if (a.type == "oidc") {
      if (!a.oidc) {
        d_.Error("incomingAuth.oidc", "is required when type is oidc");
      } else {
        const OidcConfig& o = *a.oidc;
        CheckUrl(d_, "incomingAuth.oidc.issuer", o.issuer, /*required=*/true);
        if (o.audience.empty()) d_.Error("incomingAuth.oidc.audience", "is required");
        CheckUrl(d_, "incomingAuth.oidc.jwksUrl", o.jwks_url, false);
        CheckUrl(d_, "incomingAuth.oidc.introspectionUrl", o.introspection_url, false);
        CheckBundlePath(d_, "incomingAuth.oidc.caBundlePath", o.ca_bundle_path);
      }
    }
    if (a.authz) {
      if (!OneOf(a.authz->type, {"cedar", "none"})) {
        d_.Error("incomingAuth.authz.type", "must be one of: cedar, none" + Got(a.authz->type));
      } else if (a.authz->type == "cedar" && a.authz->policies.empty()) {
        d_.Error("incomingAuth.authz.policies", "at least one policy is required when type is cedar");
      }
    }
  }

  void Strategy(const std::string& p, const BackendAuthStrategy& s) {
    static const std::initializer_list<const char*> kTypes = {
        kStrategyUnauthenticated, kStrategyHeaderInjection, kStrategyTokenExchange, kStrategyUpstreamInject,
        kStrategyAwsSts,          kStrategyObo,             kStrategyXaa};
    if (!OneOf(s.type, kTypes)) {
      d_.Error(Key(p, "type"), "must be one of: " + absl::StrJoin(kTypes, ", ") + Got(s.type));
      return;
    }
    if (s.type == kStrategyHeaderInjection) {
      const std::string hp = Key(p, "headerInjection");
      if (!s.header_injection) {
        d_.Error(hp, "is required when type is header_injection");
        return;
      }
      const HeaderInjectionConfig& h = *s.header_injection;
      if (h.header_name.empty()) {
        d_.Error(Key(hp, "headerName"), "is required");
      } else if (!transport::IsFieldName(h.header_name)) {
        d_.Error(Key(hp, "headerName"), "is not a valid HTTP header name");
      }
      const bool literal = !h.header_value.empty();
      const bool env = !h.header_value_env.empty();
      if (literal && env) d_.Error(hp, "set only one of headerValue and headerValueEnv");
      if (!literal && !env) d_.Error(hp, "one of headerValue or headerValueEnv is required");
      if (literal && !transport::IsFieldValue(h.header_value.Reveal())) {
        d_.Error(Key(hp, "headerValue"), "must not contain control characters (CR, LF, NUL)");
      }
    } else if (s.type == kStrategyTokenExchange) {
      const std::string tp = Key(p, "tokenExchange");
      if (!s.token_exchange) {
        d_.Error(tp, "is required when type is token_exchange");
        return;
      }
      const TokenExchangeConfig& t = *s.token_exchange;
      CheckUrl(d_, Key(tp, "tokenUrl"), t.token_url, /*required=*/true);
      if ((!t.client_secret.empty() || !t.client_secret_env.empty()) && t.client_id.empty()) {
        d_.Error(Key(tp, "clientId"), "is required when a client secret is set");
      }
      if (!t.subject_token_type.empty() &&
          !OneOf(t.subject_token_type, {"urn:ietf:params:oauth:token-type:access_token",
                                        "urn:ietf:params:oauth:token-type:id_token",
                                        "urn:ietf:params:oauth:token-type:jwt"})) {
        d_.Error(Key(tp, "subjectTokenType"),
                 "must be access_token, id_token, jwt or the matching urn:ietf:params:oauth:token-type: URN" +
                     Got(t.subject_token_type));
      }
    } else if (s.type == kStrategyUpstreamInject) {
      if (!s.upstream_inject) d_.Error(Key(p, "upstreamInject"), "is required when type is upstream_inject");
    } else if (s.type == kStrategyAwsSts) {
      if (!s.aws_sts) {
        d_.Error(Key(p, "awsSts"), "is required when type is aws_sts");
      } else if (s.aws_sts->region.empty()) {
        d_.Error(Key(p, "awsSts.region"), "is required");
      }
    } else if (s.type == kStrategyObo) {
      if (!s.obo) {
        d_.Error(Key(p, "obo"), "is required when type is obo");
        return;
      }
      CheckUrl(d_, Key(p, "obo.tokenUrl"), s.obo->token_url, /*required=*/true);
      if (!s.obo->client_secret.empty() && !s.obo->client_secret_env.empty()) {
        d_.Error(Key(p, "obo"), "set only one of clientSecret and clientSecretEnv");
      }
    } else if (s.type == kStrategyXaa) {
      if (!s.xaa) {
        d_.Error(Key(p, "xaa"), "is required when type is xaa");
        return;
      }
      CheckUrl(d_, Key(p, "xaa.idpTokenUrl"), s.xaa->idp_token_url, /*required=*/true);
      CheckUrl(d_, Key(p, "xaa.targetTokenUrl"), s.xaa->target_token_url, /*required=*/true);
      if (s.xaa->target_audience.empty()) d_.Error(Key(p, "xaa.targetAudience"), "is required");
      if (!s.xaa->subject_token_type.empty() &&
          s.xaa->subject_token_type != "urn:ietf:params:oauth:token-type:id_token") {
        d_.Error(Key(p, "xaa.subjectTokenType"),
                 "only urn:ietf:params:oauth:token-type:id_token is accepted" + Got(s.xaa->subject_token_type));
      }
    }
  }

  void OutgoingAuth() {
    if (!cfg_.outgoing_auth) {
      d_.Error("outgoingAuth", "is required");
      return;
    }
    const OutgoingAuthConfig& o = *cfg_.outgoing_auth;
    if (!OneOf(o.source, {"inline", "discovered"})) {
      d_.Error("outgoingAuth.source", "must be one of: inline, discovered" + Got(o.source));
    }
    if (o.default_strategy) Strategy("outgoingAuth.default", *o.default_strategy);
    for (const auto& [name, s] : o.backends) {
      Strategy(Key("outgoingAuth.backends", name), s);
      if (cfg_.IsStaticMode() && !backend_names_.count(name)) {
        d_.Warning(Key("outgoingAuth.backends", name), "no backend has this name; the entry is unused");
      }
    }
    // MCPRemoteEndpoint RFC: a direct backend is dialed by the gateway itself, which only knows these.
    for (const StaticBackend& b : cfg_.backends) {
      if (b.mode != BackendMode::kDirect) continue;
      const BackendAuthStrategy* s = o.ResolveForBackend(b.name);
      if (s == nullptr || OneOf(s->type, {kStrategyUnauthenticated, kStrategyHeaderInjection, kStrategyTokenExchange})) {
        continue;
      }
      const bool own = o.backends.count(b.name) > 0;
      const std::string where = own ? Key(Key("outgoingAuth.backends", b.name), "type") : "outgoingAuth.default.type";
      if (!OneOf(s->type, {kStrategyUpstreamInject, kStrategyAwsSts, kStrategyObo, kStrategyXaa})) continue;
      d_.Error(where, absl::StrCat("\"", s->type, "\" cannot be used for direct backend \"", b.name,
                                   "\": direct backends accept unauthenticated, header_injection or token_exchange"));
    }
  }

  void Aggregation() {
    if (!cfg_.aggregation) {
      d_.Error("aggregation", "is required");
      return;
    }
    const AggregationConfig& a = *cfg_.aggregation;
    const std::string& strategy = a.conflict_resolution;
    if (!OneOf(strategy, {"prefix", "priority", "manual"})) {
      d_.Error("aggregation.conflictResolution", "must be one of: prefix, priority, manual" + Got(strategy));
    }
    if (!a.conflict_resolution_config) {
      d_.Error("aggregation.conflictResolutionConfig", "is required (write {} when empty)");
    } else {
      const ConflictResolutionConfig& c = *a.conflict_resolution_config;
      if (strategy == "prefix" && c.prefix_format.empty()) {
        d_.Error("aggregation.conflictResolutionConfig.prefixFormat", "is required for the prefix strategy");
      }
      if (strategy == "priority" && c.priority_order.empty()) {
        d_.Error("aggregation.conflictResolutionConfig.priorityOrder", "is required for the priority strategy");
      }
      std::set<std::string> seen;
      for (size_t i = 0; i < c.priority_order.size(); ++i) {
        const std::string ip = Index("aggregation.conflictResolutionConfig.priorityOrder", i);
        if (c.priority_order[i].empty()) {
          d_.Error(ip, "must not be empty");
        } else if (!seen.insert(c.priority_order[i]).second) {
          d_.Error(ip, absl::StrCat("duplicate entry \"", c.priority_order[i], "\""));
        }
      }
    }
    if (strategy == "manual" && a.tools.empty()) {
      d_.Error("aggregation.tools", "at least one entry is required for the manual strategy");
    }
    if (!OneOf(a.default_tool_visibility, {"", "allow", "deny"})) {
      d_.Error("aggregation.defaultToolVisibility", "must be one of: allow, deny" + Got(a.default_tool_visibility));
    }
    std::map<std::string, size_t> workloads;
    for (size_t i = 0; i < a.tools.size(); ++i) {
      const WorkloadToolConfig& w = a.tools[i];
      const std::string p = Index("aggregation.tools", i);
      if (w.workload.empty()) {
        d_.Error(Key(p, "workload"), "is required");
      } else if (auto [it, inserted] = workloads.emplace(w.workload, i); !inserted) {
        d_.Error(Key(p, "workload"),
                 absl::StrCat("duplicate workload \"", w.workload, "\" (also aggregation.tools[", it->second, "])"));
      } else if (cfg_.IsStaticMode() && !backend_names_.count(w.workload)) {
        d_.Warning(Key(p, "workload"), absl::StrCat("no backend is named \"", w.workload, "\"; the entry is unused"));
      }
      for (size_t j = 0; j < w.filter.size(); ++j) {
        if (w.filter[j].empty()) d_.Error(Index(Key(p, "filter"), j), "must not be empty");
      }
      for (const auto& [tool, o] : w.overrides) {
        if (o.name.empty() && o.description.empty()) {
          d_.Error(Key(Key(p, "overrides"), tool), "at least one of name or description is required");
        }
      }
    }
    if (a.default_tool_visibility == "deny" && strategy == "priority" && a.conflict_resolution_config) {
      const auto& order = a.conflict_resolution_config->priority_order;
      for (size_t i = 0; i < order.size(); ++i) {
        if (order[i].empty() || workloads.count(order[i])) continue;
        d_.Error(Index("aggregation.conflictResolutionConfig.priorityOrder", i),
                 absl::StrCat("\"", order[i],
                              "\" has no aggregation.tools entry: with defaultToolVisibility deny it could win a "
                              "name conflict and then be hidden; add a tools entry for it or remove it"));
      }
    }
  }

  void Operational() {
    if (!cfg_.operational) return;
    const OperationalConfig& op = *cfg_.operational;
    if (op.timeouts) {
      if (op.timeouts->default_timeout <= Duration::zero()) {
        d_.Error("operational.timeouts.default", "must be positive");
      }
      for (const auto& [workload, t] : op.timeouts->per_workload) {
        const std::string p = Key("operational.timeouts.perWorkload", workload);
        if (t <= Duration::zero()) d_.Error(p, "must be positive");
        if (cfg_.IsStaticMode() && !backend_names_.count(workload)) {
          d_.Warning(p, absl::StrCat("no backend is named \"", workload, "\"; the timeout is unused"));
        }
      }
    }
    if (op.failure_handling) {
      const FailureHandlingConfig& fh = *op.failure_handling;
      const std::string p = "operational.failureHandling";
      if (fh.health_check_interval <= Duration::zero()) d_.Error(Key(p, "healthCheckInterval"), "must be positive");
      if (fh.unhealthy_threshold <= 0) d_.Error(Key(p, "unhealthyThreshold"), "must be positive");
      if (fh.status_reporting_interval < Duration::zero()) {
        d_.Error(Key(p, "statusReportingInterval"), "must be positive");
      }
      if (fh.health_check_timeout < Duration::zero()) {
        d_.Error(Key(p, "healthCheckTimeout"), "must be >= 0 (0 means the default, 10s)");
      } else if (fh.health_check_timeout > Duration::zero() && fh.health_check_interval > Duration::zero() &&
                 fh.health_check_timeout >= fh.health_check_interval) {
        d_.Error(Key(p, "healthCheckTimeout"),
                 absl::StrCat("must be less than healthCheckInterval (", FormatGoDuration(fh.health_check_interval),
                              ") so that checks cannot queue up"));
      }
      if (!OneOf(fh.partial_failure_mode, {"fail", "best_effort"})) {
        d_.Error(Key(p, "partialFailureMode"), "must be one of: fail, best_effort" + Got(fh.partial_failure_mode));
      }
      if (fh.circuit_breaker && fh.circuit_breaker->enabled) {
        if (fh.circuit_breaker->failure_threshold < 1) {
          d_.Error(Key(p, "circuitBreaker.failureThreshold"), "must be >= 1");
        }
        if (fh.circuit_breaker->timeout < seconds(1)) {
          d_.Error(Key(p, "circuitBreaker.timeout"), "must be at least 1s to prevent thrashing");
        }
      }
    }
  }

  // Composite tool workflows (ToolHive composite_validation.go), structurally.
  void Step(const std::string& p, const WorkflowStep& s, const std::set<std::string>& ids, bool inner) {
    if (s.type.empty() && !s.tool.empty() && !s.message.empty()) {
      d_.Error(p, "has both tool and message: set type to say which is meant");
    }
    const std::string type = s.type.empty() ? "tool" : s.type;
    if (!OneOf(type, {"tool", "elicitation", "forEach"})) {
      d_.Error(Key(p, "type"), "must be one of: tool, elicitation, forEach" + Got(s.type));
      return;
    }
    if (inner && type != "tool") {
      d_.Error(Key(p, "type"), "must be tool: only tool steps can be repeated by forEach" + Got(type));
    }
    if (type == "tool") {
      if (s.tool.empty()) {
        d_.Error(Key(p, "tool"), "is required when type is tool");
      } else if (std::any_of(s.tool.begin(), s.tool.end(), [](char c) { return c <= ' '; })) {
        d_.Error(Key(p, "tool"), "must be a valid tool name (no spaces or control characters)");
      }
    }
    if (type == "elicitation" && s.message.empty()) d_.Error(Key(p, "message"), "is required when type is elicitation");
    if (type == "forEach") {
      if (!s.tool.empty()) d_.Error(Key(p, "tool"), "must not be set on a forEach step (put it in step)");
      if (!s.message.empty()) d_.Error(Key(p, "message"), "must not be set on a forEach step");
      if (s.collection.empty()) d_.Error(Key(p, "collection"), "is required for forEach steps");
      if (s.inner_step.empty()) {
        d_.Error(Key(p, "step"), "is required for forEach steps");
      } else {
        Step(Key(p, "step"), s.inner_step.front(), ids, /*inner=*/true);
      }
      if (s.item_var == "index") d_.Error(Key(p, "itemVar"), "cannot be \"index\" (reserved)");
      if (!s.item_var.empty() && !IsIdentifier(s.item_var)) d_.Error(Key(p, "itemVar"), "must be a valid identifier");
      if (s.max_parallel < 0 || s.max_parallel > 50) d_.Error(Key(p, "maxParallel"), "must be between 0 and 50");
      if (s.max_iterations < 0 || s.max_iterations > 1000) {
        d_.Error(Key(p, "maxIterations"), "must be between 0 and 1000");
      }
    }
    for (size_t k = 0; k < s.depends_on.size(); ++k) {
      if (!ids.count(s.depends_on[k])) {
        d_.Error(Index(Key(p, "dependsOn"), k), absl::StrCat("unknown step \"", s.depends_on[k], "\""));
      } else if (s.depends_on[k] == s.id) {
        d_.Error(Index(Key(p, "dependsOn"), k), "a step cannot depend on itself");
      }
    }
    if (s.on_error) {
      if (!OneOf(s.on_error->action, {"", "abort", "continue", "retry"})) {
        d_.Error(Key(p, "onError.action"), "must be one of: abort, continue, retry" + Got(s.on_error->action));
      }
      if (s.on_error->retry_count < 0) d_.Error(Key(p, "onError.retryCount"), "must be >= 0");
      if (s.on_error->retry_delay < Duration::zero()) d_.Error(Key(p, "onError.retryDelay"), "must be >= 0");
    }
    for (const auto& [key, action] : {std::pair{"onDecline", &s.on_decline_action}, {"onCancel", &s.on_cancel_action}}) {
      if (*action && !OneOf(**action, {"", "abort", "continue", "skip_remaining"})) {
        d_.Error(Key(Key(p, key), "action"), "must be one of: abort, continue, skip_remaining" + Got(**action));
      }
    }
    if (s.timeout < Duration::zero()) d_.Error(Key(p, "timeout"), "must be >= 0");
  }

  static bool IsIdentifier(const std::string& s) {
    if (s.empty() || absl::ascii_isdigit(static_cast<unsigned char>(s[0]))) return false;
    return std::all_of(s.begin(), s.end(), [](char c) { return absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '_'; });
  }

  void DependencyCycles(const std::string& p, const std::vector<WorkflowStep>& steps) {
    std::map<std::string, std::vector<std::string>> edges;
    for (const WorkflowStep& s : steps) edges[s.id] = s.depends_on;
    std::map<std::string, int> state;  // 0 new, 1 on the stack, 2 done
    std::vector<std::string> stack;
    std::function<bool(const std::string&)> visit = [&](const std::string& id) {
      state[id] = 1;
      stack.push_back(id);
      for (const std::string& next : edges[id]) {
        if (!edges.count(next) || next == id) continue;
        if (state[next] == 1) {
          auto from = std::find(stack.begin(), stack.end(), next);
          std::vector<std::string> cycle(from, stack.end());
          cycle.push_back(next);
          d_.Error(p, "dependency cycle: " + absl::StrJoin(cycle, " -> "));
          return true;
        }
        if (state[next] == 0 && visit(next)) return true;
      }
      stack.pop_back();
      state[id] = 2;
      return false;
    };
    for (const WorkflowStep& s : steps) {
      if (state[s.id] == 0 && visit(s.id)) return;
    }
  }

  void CompositeTools() {
    std::map<std::string, size_t> names;
    for (size_t i = 0; i < cfg_.composite_tools.size(); ++i) {
      const CompositeToolConfig& t = cfg_.composite_tools[i];
      const std::string p = Index("compositeTools", i);
      if (t.name.empty()) {
        d_.Error(Key(p, "name"), "is required");
      } else if (auto [it, inserted] = names.emplace(t.name, i); !inserted) {
        d_.Error(Key(p, "name"), absl::StrCat("duplicate composite tool \"", t.name, "\" (also compositeTools[", it->second, "])"));
      }
      if (t.description.empty()) d_.Error(Key(p, "description"), "is required");
      if (t.timeout < Duration::zero()) d_.Error(Key(p, "timeout"), "must be >= 0");
      if (!t.parameters_json.empty()) {
        const auto params = nlohmann::json::parse(t.parameters_json, nullptr, false);
        if (!params.is_object() || !params.contains("type")) {
          d_.Error(Key(p, "parameters"), "must be a JSON Schema with type: object");
        } else if (params["type"] != "object") {
          d_.Error(Key(p, "parameters.type"), "must be object");
        } else if (params.contains("properties") && !params["properties"].is_object()) {
          d_.Error(Key(p, "parameters.properties"), "must be a mapping");
        } else if (params.contains("required") && !params["required"].is_array()) {
          d_.Error(Key(p, "parameters.required"), "must be a list");
        }
      }
      if (t.steps.empty()) {
        d_.Error(Key(p, "steps"), "at least one step is required");
        continue;
      }
      std::set<std::string> ids;
      for (size_t j = 0; j < t.steps.size(); ++j) {
        const std::string sp = Index(Key(p, "steps"), j);
        if (t.steps[j].id.empty()) {
          d_.Error(Key(sp, "id"), "is required");
        } else if (!ids.insert(t.steps[j].id).second) {
          d_.Error(Key(sp, "id"), absl::StrCat("duplicate step id \"", t.steps[j].id, "\""));
        }
      }
      for (size_t j = 0; j < t.steps.size(); ++j) Step(Index(Key(p, "steps"), j), t.steps[j], ids, false);
      DependencyCycles(Key(p, "steps"), t.steps);
    }
  }

  void CompositeToolRefs() {
    std::set<std::string> seen;
    for (size_t i = 0; i < cfg_.composite_tool_refs.size(); ++i) {
      const std::string p = Key(Index("compositeToolRefs", i), "name");
      if (cfg_.composite_tool_refs[i].empty()) {
        d_.Error(p, "is required");
      } else if (!seen.insert(cfg_.composite_tool_refs[i]).second) {
        d_.Error(p, absl::StrCat("duplicate reference \"", cfg_.composite_tool_refs[i], "\""));
      }
    }
  }

  void PassthroughHeaders() {
    for (size_t i = 0; i < cfg_.passthrough_headers.size(); ++i) {
      const std::string& h = cfg_.passthrough_headers[i];
      const std::string p = Index("passthroughHeaders", i);
      const std::string canonical = CanonicalHeaderName(h);
      if (h.empty()) {
        d_.Error(p, "header name must not be empty");
      } else if (!transport::IsFieldName(h)) {
        d_.Error(p, "is not a valid HTTP header name");
      } else if (IsRestrictedForwardHeader(h) || canonical == "Authorization" || canonical == "Cookie") {
        d_.Error(p, absl::StrCat("\"", canonical, "\" is a restricted header and cannot be forwarded"));
      }
    }
  }

  void SessionStorage() {
    if (!cfg_.session_storage) return;
    const SessionStorageConfig& s = *cfg_.session_storage;
    if (!OneOf(s.provider, {"memory", "redis"})) {
      d_.Error("sessionStorage.provider", "must be one of: memory, redis" + Got(s.provider));
    }
    if (s.provider == "redis" && s.address.empty()) d_.Error("sessionStorage.address", "is required for redis");
    if (s.db < 0) d_.Error("sessionStorage.db", "must be >= 0");
  }

  void Bucket(const std::string& p, const std::optional<RateLimitBucket>& b) {
    if (!b) return;
    if (b->max_tokens <= 0) d_.Error(Key(p, "maxTokens"), "must be positive");
    if (b->refill_period <= Duration::zero()) d_.Error(Key(p, "refillPeriod"), "must be positive");
  }

  void RateLimiting() {
    if (!cfg_.rate_limiting) return;
    const RateLimitConfig& r = *cfg_.rate_limiting;
    Bucket("rateLimiting.shared", r.shared);
    Bucket("rateLimiting.perUser", r.per_user);
    for (size_t i = 0; i < r.tools.size(); ++i) {
      const std::string p = Index("rateLimiting.tools", i);
      if (r.tools[i].name.empty()) d_.Error(Key(p, "name"), "is required");
      Bucket(Key(p, "shared"), r.tools[i].shared);
      Bucket(Key(p, "perUser"), r.tools[i].per_user);
    }
  }

  void Telemetry() {
    if (!cfg_.telemetry) return;
    const TelemetryConfig& t = *cfg_.telemetry;
    double rate = 0;
    if (!t.sampling_rate.empty() && (!ParseFloat(t.sampling_rate, rate) || rate < 0 || rate > 1)) {
      d_.Error("telemetry.samplingRate", "must be a number between 0 and 1" + Got(t.sampling_rate));
    }
    if (t.prometheus_port < 0 || t.prometheus_port > 65535) d_.Error("telemetry.prometheusPort", "must be a port (0-65535)");
    if (!t.endpoint.empty() && !t.tracing_enabled && !t.metrics_enabled) {
      d_.Warning("telemetry.endpoint", "is set but tracingEnabled and metricsEnabled are both false: nothing is exported");
    }
  }

  void Optimizer() {
    if (!cfg_.optimizer) return;
    const OptimizerConfig& o = *cfg_.optimizer;
    if (o.max_tools_to_return != 0 && (o.max_tools_to_return < 1 || o.max_tools_to_return > 50)) {
      d_.Error("optimizer.maxToolsToReturn", "must be between 1 and 50");
    }
    if (!OneOf(o.embedding_provider, {"", "tei", "openai"})) {
      d_.Error("optimizer.embeddingProvider", "must be one of: tei, openai" + Got(o.embedding_provider));
    }
    double v = 0;
    if (!o.hybrid_search_semantic_ratio.empty() &&
        (!ParseFloat(o.hybrid_search_semantic_ratio, v) || v < 0 || v > 1)) {
      d_.Error("optimizer.hybridSearchSemanticRatio", "must be a number between 0 and 1" + Got(o.hybrid_search_semantic_ratio));
    }
    if (!o.semantic_distance_threshold.empty() && (!ParseFloat(o.semantic_distance_threshold, v) || v < 0)) {
      d_.Error("optimizer.semanticDistanceThreshold", "must be a number >= 0" + Got(o.semantic_distance_threshold));
    }
    if (o.embedding_service_timeout < Duration::zero()) d_.Error("optimizer.embeddingServiceTimeout", "must be >= 0");
  }

  void CodeMode() {
    if (!cfg_.code_mode) return;
    if (cfg_.code_mode->step_limit < 0) d_.Error("codeMode.stepLimit", "must be >= 0");
    if (cfg_.code_mode->parallel_max_concurrency < 0) d_.Error("codeMode.parallelMaxConcurrency", "must be >= 0");
    if (cfg_.code_mode->tool_call_timeout < Duration::zero()) d_.Error("codeMode.toolCallTimeout", "must be >= 0");
  }

  void Audit() {
    if (!cfg_.audit) return;
    if (cfg_.audit->max_data_size < 0) d_.Error("audit.maxDataSize", "must be >= 0");
  }

  const Config& cfg_;
  Diagnostics& d_;
  std::set<std::string> backend_names_;
};

}  // namespace

void Validate(const Config& cfg, Diagnostics& d) { Validator(cfg, d).Run(); }

}  // namespace vmcp::config::internal
