// File: config/config.h
//
// The vMCP configuration as typed structs: every key of the `config.yaml` that the ToolHive operator
// writes into the vMCP ConfigMap (ToolHive `pkg/vmcp/config.Config` and the types it embeds), plus
// the fields the MCPRemoteEndpoint RFC adds to static backends.
//
// Conventions, chosen to match the Go model so the same YAML means the same thing:
//  - A Go pointer field (present or absent) is a `std::optional`.
//  - A Go zero value means "not set"; defaults are filled the way the Go loader's `mergo.Merge` does
//    (only zero fields), see config/loader.h.
//  - Maps are `std::map`: iteration is sorted, so everything derived from them is deterministic.
//  - Values that came from the environment or are credentials are `Secret`s.
//
// Fields the data plane does not act on yet (telemetry, audit, session storage, rate limiting,
// optimizer, code mode, composite tools) are still parsed in full, so an operator-written config is
// never rejected for a key this build does not use.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "config/duration.h"
#include "config/secret.h"

namespace vmcp::config {

// ---------------------------------------------------------------------------------------------
// Backends

// How the gateway reaches a backend (MCPRemoteEndpoint RFC).
enum class BackendMode {
  kProxy,   // an in-cluster proxy pod or container (plain HTTP service URL); `type` "" or "proxy"
  kDirect,  // a remote MCP server dialed by the gateway itself; `type` "entry" or "direct"
};

enum class TransportKind {
  kStreamableHttp,  // "streamable-http" (alias "streamable")
  kSse,             // "sse": legacy HTTP+SSE
};

const char* BackendModeName(BackendMode mode);        // "proxy" | "direct"
const char* TransportKindName(TransportKind kind);    // "streamable-http" | "sse"

// An extra header sent to one backend on every request. Values can be credentials.
struct BackendHeader {
  std::string name;
  Secret value;
  // Where the value came from, for summaries: "env:<VAR>" or "manifest:<VAR>". Never the value.
  std::string origin;
};

// One entry of `backends:` (Go `StaticBackendConfig`).
struct StaticBackend {
  // As written.
  std::string name;
  std::string url;
  std::string transport;
  std::string type;
  std::string ca_bundle_path;
  std::map<std::string, std::string> metadata;
  // RFC: header name -> name of the env var holding its value (`headerEnvVars`).
  std::map<std::string, std::string> header_env_vars;

  // Derived at load.
  BackendMode mode = BackendMode::kProxy;
  TransportKind transport_kind = TransportKind::kStreamableHttp;
  std::string endpoint;  // `url` without its `#fragment`: what is actually dialed
  // Resolved static headers: `headerEnvVars` plus the TOOLHIVE_HEADER_FORWARD_<NAME> manifest.
  std::vector<BackendHeader> headers;
};

// ---------------------------------------------------------------------------------------------
// Incoming auth (Go `IncomingAuthConfig`)

struct OidcConfig {
  std::string issuer;
  std::string client_id;
  std::string client_secret_env;
  Secret client_secret;  // resolved from client_secret_env
  std::string audience;
  std::string resource;
  std::string jwks_url;
  std::string introspection_url;
  std::vector<std::string> scopes;
  bool protected_resource_allow_private_ip = false;
  bool jwks_allow_private_ip = false;
  bool insecure_allow_http = false;
  std::string ca_bundle_path;
};

struct AuthzConfig {
  std::string type;  // cedar | none
  std::vector<std::string> policies;
  std::string entities_json;
  std::string primary_upstream_provider;
  std::string group_claim_name;
  std::string role_claim_name;
  std::string group_entity_type;
};

struct IncomingAuthConfig {
  std::string type;  // oidc | local | anonymous
  std::optional<OidcConfig> oidc;
  std::optional<AuthzConfig> authz;
};

// ---------------------------------------------------------------------------------------------
// Outgoing auth (Go `OutgoingAuthConfig` and `auth/types.BackendAuthStrategy`)

inline constexpr char kStrategyUnauthenticated[] = "unauthenticated";
inline constexpr char kStrategyHeaderInjection[] = "header_injection";
inline constexpr char kStrategyTokenExchange[] = "token_exchange";
inline constexpr char kStrategyUpstreamInject[] = "upstream_inject";
inline constexpr char kStrategyAwsSts[] = "aws_sts";
inline constexpr char kStrategyObo[] = "obo";
inline constexpr char kStrategyXaa[] = "xaa";

struct HeaderInjectionConfig {
  std::string header_name;
  Secret header_value;  // literal `headerValue`, or resolved from `headerValueEnv`
  std::string header_value_env;
};

struct TokenExchangeConfig {
  std::string token_url;
  std::string client_id;
  Secret client_secret;  // literal `clientSecret` (wins), else resolved from `clientSecretEnv`
  std::string client_secret_env;
  std::string audience;
  std::vector<std::string> scopes;
  std::string subject_token_type;  // normalized to the full URN at load
  std::string subject_provider_name;
};

struct UpstreamInjectConfig {
  std::string provider_name;
};

struct RoleMapping {
  std::string claim;
  std::string matcher;
  std::string role_arn;
  std::optional<int64_t> priority;
};

struct AwsStsConfig {
  std::string region;
  std::string service;
  std::string fallback_role_arn;
  std::vector<RoleMapping> role_mappings;
  std::string role_claim;
  std::optional<int32_t> session_duration;
  std::string session_name_claim;
  std::string subject_provider_name;
};

struct OboConfig {
  std::string token_url;
  std::string client_id;
  Secret client_secret;
  std::string client_secret_env;
  std::string audience;
  std::vector<std::string> scopes;
  std::string subject_token_provider_name;
  std::optional<int32_t> cache_skew_seconds;
};

struct XaaConfig {
  std::string idp_token_url;
  std::string idp_client_id;
  Secret idp_client_secret;
  std::string idp_client_secret_env;
  std::string target_token_url;
  bool insecure_target_token_url = false;
  std::string target_client_id;
  Secret target_client_secret;
  std::string target_client_secret_env;
  std::string target_audience;
  std::string target_resource;
  std::vector<std::string> scopes;
  std::string subject_provider_name;
  std::string subject_token_type;
};

struct BackendAuthStrategy {
  std::string type;
  std::optional<HeaderInjectionConfig> header_injection;
  std::optional<TokenExchangeConfig> token_exchange;
  std::optional<UpstreamInjectConfig> upstream_inject;
  std::optional<AwsStsConfig> aws_sts;
  std::optional<OboConfig> obo;
  std::optional<XaaConfig> xaa;
};

struct OutgoingAuthConfig {
  std::string source;  // inline | discovered
  std::optional<BackendAuthStrategy> default_strategy;
  std::map<std::string, BackendAuthStrategy> backends;

  // `backends[name]`, else `default`, else nullptr (= unauthenticated).
  const BackendAuthStrategy* ResolveForBackend(const std::string& backend_name) const;
};

// ---------------------------------------------------------------------------------------------
// Aggregation

struct ToolAnnotationsOverride {
  std::optional<std::string> title;
  std::optional<bool> read_only_hint;
  std::optional<bool> destructive_hint;
  std::optional<bool> idempotent_hint;
  std::optional<bool> open_world_hint;
};

struct ToolOverride {
  std::string name;
  std::string description;
  std::optional<ToolAnnotationsOverride> annotations;
};

struct WorkloadToolConfig {
  std::string workload;
  std::optional<std::string> tool_config_ref;  // `toolConfigRef.name`
  std::vector<std::string> filter;
  std::map<std::string, ToolOverride> overrides;  // keyed by the backend's tool name
  bool exclude_all = false;
};

struct ConflictResolutionConfig {
  std::string prefix_format;
  std::vector<std::string> priority_order;
};

struct AggregationConfig {
  std::string conflict_resolution;  // prefix | priority | manual
  std::optional<ConflictResolutionConfig> conflict_resolution_config;
  std::vector<WorkloadToolConfig> tools;
  bool exclude_all_tools = false;
  std::string default_tool_visibility;  // "" | allow | deny
};

// ---------------------------------------------------------------------------------------------
// Operational

struct TimeoutConfig {
  Duration default_timeout{0};
  std::map<std::string, Duration> per_workload;
};

struct CircuitBreakerConfig {
  bool enabled = false;
  int64_t failure_threshold = 0;
  Duration timeout{0};
};

struct FailureHandlingConfig {
  Duration health_check_interval{0};
  int64_t unhealthy_threshold = 0;
  Duration health_check_timeout{0};
  Duration status_reporting_interval{0};
  std::string partial_failure_mode;  // fail | best_effort
  std::optional<CircuitBreakerConfig> circuit_breaker;
};

struct OperationalConfig {
  std::string log_level;
  std::optional<TimeoutConfig> timeouts;
  std::optional<FailureHandlingConfig> failure_handling;
};

// ---------------------------------------------------------------------------------------------
// Composite tools (workflows). Free-form JSON values (parameters, arguments, schemas) are kept as
// JSON text, exactly as given.

struct StepErrorHandling {
  std::string action;  // abort | continue | retry
  int64_t retry_count = 0;
  Duration retry_delay{0};
};

struct WorkflowStep {
  std::string id;
  std::string type;  // tool | elicitation | forEach ("" + tool => tool)
  std::string tool;
  std::string arguments_json;
  std::string condition;
  std::vector<std::string> depends_on;
  std::optional<StepErrorHandling> on_error;
  std::string message;
  std::string schema_json;
  Duration timeout{0};
  std::optional<std::string> on_decline_action;
  std::optional<std::string> on_cancel_action;
  std::string default_results_json;
  std::string collection;
  std::string item_var;
  int64_t max_parallel = 0;
  int64_t max_iterations = 0;
  std::vector<WorkflowStep> inner_step;  // `step`: zero or one element
};

struct OutputProperty {
  std::string type;
  std::string description;
  std::string value;
  std::map<std::string, OutputProperty> properties;
  std::string default_json;
};

struct OutputConfig {
  std::map<std::string, OutputProperty> properties;
  std::vector<std::string> required;
};

struct CompositeToolConfig {
  std::string name;
  std::string description;
  std::string parameters_json;
  Duration timeout{0};
  std::vector<WorkflowStep> steps;
  std::optional<OutputConfig> output;
  std::optional<ToolAnnotationsOverride> annotations;
};

// ---------------------------------------------------------------------------------------------
// Observability, storage and the features the data plane does not act on yet

struct TelemetryConfig {
  std::string endpoint;
  std::string service_name;
  std::string service_version;
  bool tracing_enabled = false;
  bool metrics_enabled = false;
  std::string sampling_rate;
  std::map<std::string, std::string> headers;
  bool insecure = false;
  bool enable_prometheus_metrics_path = false;
  int64_t prometheus_port = 0;
  std::optional<bool> metrics_on_transport_port;
  std::vector<std::string> environment_variables;
  std::map<std::string, std::string> custom_attributes;
  bool use_legacy_attributes = false;
  std::string ca_cert_path;
};

struct AuditConfig {
  bool enabled = false;
  std::string component;
  std::vector<std::string> event_types;
  std::vector<std::string> exclude_event_types;
  bool include_request_data = false;
  bool include_response_data = false;
  std::optional<bool> detect_application_errors;
  int64_t max_data_size = 0;
  std::optional<int64_t> max_delegation_depth;
  std::string log_file;
};

struct OptimizerConfig {
  std::string embedding_service;
  Duration embedding_service_timeout{0};
  std::string embedding_provider;
  std::string embedding_model;
  std::map<std::string, std::string> embedding_headers;
  int64_t max_tools_to_return = 0;
  std::string hybrid_search_semantic_ratio;
  std::string semantic_distance_threshold;
};

struct CodeModeConfig {
  bool enabled = false;
  int64_t step_limit = 0;
  int64_t parallel_max_concurrency = 0;
  Duration tool_call_timeout{0};
};

struct SessionStorageConfig {
  std::string provider;  // memory | redis
  std::string address;
  int32_t db = 0;
  std::string key_prefix;
};

struct RateLimitBucket {
  int32_t max_tokens = 0;
  Duration refill_period{0};
};

struct ToolRateLimitConfig {
  std::string name;
  std::optional<RateLimitBucket> shared;
  std::optional<RateLimitBucket> per_user;
};

struct RateLimitConfig {
  std::optional<RateLimitBucket> shared;
  std::optional<RateLimitBucket> per_user;
  std::vector<ToolRateLimitConfig> tools;
};

// ---------------------------------------------------------------------------------------------
// The whole file (Go `config.Config`)

struct Config {
  std::string name;
  std::string group_ref;
  std::vector<StaticBackend> backends;
  std::optional<IncomingAuthConfig> incoming_auth;
  std::optional<OutgoingAuthConfig> outgoing_auth;
  std::optional<AggregationConfig> aggregation;
  std::vector<CompositeToolConfig> composite_tools;
  std::vector<std::string> composite_tool_refs;  // `compositeToolRefs[].name`
  std::optional<OperationalConfig> operational;
  std::map<std::string, std::string> metadata;
  std::optional<TelemetryConfig> telemetry;
  std::optional<AuditConfig> audit;
  std::optional<OptimizerConfig> optimizer;
  std::optional<CodeModeConfig> code_mode;
  std::optional<SessionStorageConfig> session_storage;
  std::optional<RateLimitConfig> rate_limiting;
  std::vector<std::string> passthrough_headers;

  // Static mode (the only mode this data plane serves) iff at least one backend is listed.
  bool IsStaticMode() const { return !backends.empty(); }
  const StaticBackend* FindBackend(const std::string& name) const;
  // The per-backend timeout: `operational.timeouts.perWorkload[name]`, else `default` (30s).
  Duration BackendTimeout(const std::string& backend_name) const;
};

}  // namespace vmcp::config
