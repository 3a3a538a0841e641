// The spec's three example configs, exactly as the ToolHive operator writes them, load into the
// expected structs.

#include <gtest/gtest.h>

#include <chrono>

#include "config/loader.h"
#include "config/summary.h"
#include "tests/config/test_util.h"

namespace vmcp::config {
namespace {

using namespace std::chrono_literals;
using testing::ReadFileOrDie;

LoadResult LoadExample(const std::string& name, const MapEnvironment& env) {
  return LoadConfigText(ReadFileOrDie("config/examples/" + name), env, name);
}

std::string Errors(const LoadResult& r) {
  std::string out;
  for (const ConfigError& e : r.errors) out += e.ToString() + "\n";
  return out;
}

TEST(Examples, DirectRemoteWithCaBundleAndTokenExchange) {
  MapEnvironment env({{"TOOLHIVE_TOKEN_EXCHANGE_CLIENT_SECRET_SALESFORCE_AUTH", "te-secret-value"}});
  const LoadResult r = LoadExample("direct-token-exchange.yaml", env);
  ASSERT_TRUE(r.ok()) << Errors(r);
  const Config& c = *r.config;
  EXPECT_EQ(c.name, "acme-vmcp");
  EXPECT_EQ(c.group_ref, "remote-tools");
  ASSERT_EQ(c.backends.size(), 1u);
  const StaticBackend& b = c.backends[0];
  EXPECT_EQ(b.name, "salesforce-mcp");
  EXPECT_EQ(b.url, "https://mcp.salesforce.internal:8443/v1");
  EXPECT_EQ(b.endpoint, "https://mcp.salesforce.internal:8443/v1");
  EXPECT_EQ(b.transport_kind, TransportKind::kStreamableHttp);
  EXPECT_EQ(b.type, "");
  // The operator never writes `type: entry`; its metadata marks the MCPServerEntry, which is direct.
  EXPECT_EQ(b.mode, BackendMode::kDirect);
  EXPECT_EQ(b.ca_bundle_path, "/etc/toolhive/ca-bundles/salesforce-mcp/ca.crt");
  EXPECT_TRUE(r.warnings.empty());
  EXPECT_EQ(b.metadata.at("workload_type"), "server_entry");
  EXPECT_EQ(b.metadata.size(), 6u);

  ASSERT_TRUE(c.incoming_auth.has_value());
  EXPECT_EQ(c.incoming_auth->type, "oidc");
  ASSERT_TRUE(c.incoming_auth->oidc.has_value());
  const OidcConfig& o = *c.incoming_auth->oidc;
  EXPECT_EQ(o.issuer, "https://auth.acme.example/realms/acme");
  EXPECT_EQ(o.client_id, "acme-vmcp");
  EXPECT_EQ(o.audience, "acme-vmcp");
  EXPECT_EQ(o.resource, "https://vmcp.acme.example/mcp");
  EXPECT_EQ(o.scopes, std::vector<std::string>{"openid"});
  EXPECT_EQ(o.ca_bundle_path, "/config/certs/corp-ca-bundle/ca.crt");

  ASSERT_TRUE(c.outgoing_auth.has_value());
  EXPECT_EQ(c.outgoing_auth->source, "inline");
  const BackendAuthStrategy* s = c.outgoing_auth->ResolveForBackend("salesforce-mcp");
  ASSERT_NE(s, nullptr);
  EXPECT_EQ(s->type, "token_exchange");
  ASSERT_TRUE(s->token_exchange.has_value());
  EXPECT_EQ(s->token_exchange->token_url, "https://login.salesforce.com/services/oauth2/token");
  EXPECT_EQ(s->token_exchange->client_id, "toolhive-exchange");
  EXPECT_EQ(s->token_exchange->client_secret.Reveal(), "te-secret-value");
  EXPECT_EQ(s->token_exchange->audience, "https://mcp.salesforce.com");
  EXPECT_EQ(s->token_exchange->scopes, (std::vector<std::string>{"mcp:read", "mcp:write"}));
  EXPECT_EQ(c.outgoing_auth->ResolveForBackend("other"), nullptr);

  ASSERT_TRUE(c.aggregation.has_value());
  EXPECT_EQ(c.aggregation->conflict_resolution, "prefix");
  EXPECT_EQ(c.aggregation->conflict_resolution_config->prefix_format, "{workload}_");

  const OperationalConfig& op = *c.operational;
  EXPECT_EQ(op.timeouts->default_timeout, 30s);
  EXPECT_EQ(op.failure_handling->health_check_interval, 30s);
  EXPECT_EQ(op.failure_handling->unhealthy_threshold, 3);
  EXPECT_EQ(op.failure_handling->health_check_timeout, 0s);
  EXPECT_EQ(op.failure_handling->partial_failure_mode, "fail");
  EXPECT_FALSE(op.failure_handling->circuit_breaker->enabled);
  EXPECT_EQ(op.failure_handling->circuit_breaker->failure_threshold, 5);
  EXPECT_EQ(op.failure_handling->circuit_breaker->timeout, 60s);
  EXPECT_EQ(c.BackendTimeout("salesforce-mcp"), 30s);
}

TEST(Examples, ProxyBackendsHeaderInjectionAndTelemetry) {
  MapEnvironment env({{"TOOLHIVE_HEADER_INJECTION_VALUE_FETCH_KEY", "fetch-api-key-value"}});
  const LoadResult r = LoadExample("proxy-header-injection.yaml", env);
  ASSERT_TRUE(r.ok()) << Errors(r);
  EXPECT_TRUE(r.warnings.empty());
  const Config& c = *r.config;
  EXPECT_EQ(c.name, "tools-vmcp");
  ASSERT_EQ(c.backends.size(), 3u);
  EXPECT_EQ(c.backends[0].name, "fetch");
  EXPECT_EQ(c.backends[0].mode, BackendMode::kProxy);
  EXPECT_EQ(c.backends[1].name, "github-remote");
  EXPECT_EQ(c.backends[1].endpoint, "http://mcp-github-remote-remote-proxy.default.svc.cluster.local:8080");
  const StaticBackend& sse = c.backends[2];
  EXPECT_EQ(sse.name, "legacy-sse");
  EXPECT_EQ(sse.transport_kind, TransportKind::kSse);
  EXPECT_EQ(sse.url, "http://mcp-legacy-sse-proxy.default.svc.cluster.local:8080/sse#legacy-sse");
  EXPECT_EQ(sse.endpoint, "http://mcp-legacy-sse-proxy.default.svc.cluster.local:8080/sse");  // fragment stripped

  EXPECT_EQ(c.incoming_auth->type, "anonymous");
  const BackendAuthStrategy* fetch = c.outgoing_auth->ResolveForBackend("fetch");
  ASSERT_NE(fetch, nullptr);
  EXPECT_EQ(fetch->type, "header_injection");
  EXPECT_EQ(fetch->header_injection->header_name, "X-API-Key");
  EXPECT_EQ(fetch->header_injection->header_value.Reveal(), "fetch-api-key-value");
  const BackendAuthStrategy* github = c.outgoing_auth->ResolveForBackend("github-remote");
  ASSERT_NE(github, nullptr);
  EXPECT_EQ(github->type, "unauthenticated");  // the default

  const AggregationConfig& a = *c.aggregation;
  EXPECT_EQ(a.conflict_resolution, "priority");
  EXPECT_EQ(a.conflict_resolution_config->priority_order, (std::vector<std::string>{"github-remote", "fetch"}));
  ASSERT_EQ(a.tools.size(), 1u);
  EXPECT_EQ(a.tools[0].workload, "fetch");
  EXPECT_EQ(a.tools[0].filter, std::vector<std::string>{"fetch"});

  const FailureHandlingConfig& fh = *c.operational->failure_handling;
  EXPECT_EQ(c.operational->timeouts->default_timeout, 45s);
  EXPECT_EQ(c.BackendTimeout("legacy-sse"), 2min);
  EXPECT_EQ(c.BackendTimeout("fetch"), 45s);
  EXPECT_EQ(fh.health_check_interval, 15s);
  EXPECT_EQ(fh.unhealthy_threshold, 2);
  EXPECT_EQ(fh.health_check_timeout, 5s);
  EXPECT_EQ(fh.partial_failure_mode, "best_effort");
  EXPECT_TRUE(fh.circuit_breaker->enabled);
  EXPECT_EQ(fh.circuit_breaker->failure_threshold, 3);
  EXPECT_EQ(fh.circuit_breaker->timeout, 30s);

  ASSERT_TRUE(c.telemetry.has_value());
  EXPECT_EQ(c.telemetry->endpoint, "otel-collector.monitoring:4318");
  EXPECT_EQ(c.telemetry->service_name, "tools-vmcp");
  EXPECT_TRUE(c.telemetry->tracing_enabled);
  EXPECT_TRUE(c.telemetry->metrics_enabled);
  EXPECT_EQ(c.telemetry->sampling_rate, "0.1");
  EXPECT_TRUE(c.telemetry->insecure);
  EXPECT_FALSE(c.telemetry->use_legacy_attributes);
}

TEST(Examples, MixedGroupWithHeaderForwardManifestAndCedar) {
  MapEnvironment env({
      {"TOOLHIVE_HEADER_FORWARD_CONTEXT7",
       R"({"addPlaintextHeaders":{"X-Tenant-ID":"tenant-123"},"addHeadersFromSecret":{"X-Api-Key":"HEADER_FORWARD_X_API_KEY_CONTEXT7"}})"},
      {"TOOLHIVE_SECRET_HEADER_FORWARD_X_API_KEY_CONTEXT7", "ctx7-api-key-value"},
      {"TOOLHIVE_SECRETS_PROVIDER", "environment"},
  });
  const LoadResult r = LoadExample("mixed-header-forward.yaml", env);
  ASSERT_TRUE(r.ok()) << Errors(r);
  const Config& c = *r.config;
  ASSERT_EQ(c.backends.size(), 2u);
  const StaticBackend& ctx7 = c.backends[0];
  EXPECT_EQ(ctx7.name, "context7");
  // An MCPServerEntry without a CA bundle: no type, no caBundlePath, but the operator's metadata says
  // server_entry, so it is direct (trusting the system roots only).
  EXPECT_EQ(ctx7.mode, BackendMode::kDirect);
  EXPECT_EQ(c.backends[1].mode, BackendMode::kProxy);
  ASSERT_EQ(ctx7.headers.size(), 2u);
  EXPECT_EQ(ctx7.headers[0].name, "X-Tenant-ID");
  EXPECT_EQ(ctx7.headers[0].value.Reveal(), "tenant-123");
  EXPECT_EQ(ctx7.headers[1].name, "X-Api-Key");
  EXPECT_EQ(ctx7.headers[1].value.Reveal(), "ctx7-api-key-value");
  EXPECT_EQ(ctx7.headers[1].origin, "env:TOOLHIVE_SECRET_HEADER_FORWARD_X_API_KEY_CONTEXT7");
  EXPECT_TRUE(c.backends[1].headers.empty());

  EXPECT_EQ(c.incoming_auth->oidc->client_id, "");
  EXPECT_EQ(c.incoming_auth->oidc->jwks_url, "https://idp.example.com/oauth2/v1/keys");
  ASSERT_TRUE(c.incoming_auth->authz.has_value());
  EXPECT_EQ(c.incoming_auth->authz->type, "cedar");
  EXPECT_EQ(c.incoming_auth->authz->policies, std::vector<std::string>{"permit(principal, action, resource);"});
  EXPECT_EQ(c.outgoing_auth->ResolveForBackend("context7"), nullptr);
  EXPECT_EQ(c.outgoing_auth->ResolveForBackend("github-mcp"), nullptr);
}

TEST(Examples, DemoConfigLoads) {
  MapEnvironment env;
  const LoadResult r = LoadExample("demo.yaml", env);
  ASSERT_TRUE(r.ok()) << Errors(r);
  EXPECT_GE(r.config->backends.size(), 2u);
}

TEST(Examples, SummaryNamesEveryBackendAndNoSecret) {
  MapEnvironment env({{"TOOLHIVE_HEADER_INJECTION_VALUE_FETCH_KEY", "fetch-api-key-value"}});
  const LoadResult r = LoadExample("proxy-header-injection.yaml", env);
  ASSERT_TRUE(r.ok()) << Errors(r);
  const std::string summary = SummarizeConfig(*r.config);
  EXPECT_NE(summary.find("fetch"), std::string::npos);
  EXPECT_NE(summary.find("github-remote"), std::string::npos);
  EXPECT_NE(summary.find("legacy-sse     proxy   sse              http://mcp-legacy-sse-proxy.default.svc.cluster.local:8080/sse"),
            std::string::npos)
      << summary;
  EXPECT_NE(summary.find("auth=header_injection"), std::string::npos);
  EXPECT_EQ(summary.find("fetch-api-key-value"), std::string::npos);
}

TEST(Examples, NewRfcFieldsAreAccepted) {
  // type: direct / entry / proxy, and the per-backend header env-var map, on top of an operator config.
  MapEnvironment env({{"TOOLHIVE_SECRET_HEADER_FORWARD_X_API_KEY_REMOTE", "rfc-key-value"}});
  const std::string yaml = testing::WithEdits({
      {"backends[0].type", "direct"},
      {"backends[0].url", "https://remote.example.com/mcp"},
      {"backends[0].caBundlePath", "/etc/toolhive/ca-bundles/a/ca.crt"},
      {"backends[0].headerEnvVars", "{X-Api-Key: TOOLHIVE_SECRET_HEADER_FORWARD_X_API_KEY_REMOTE}"},
      {"backends[1].type", "proxy"},
  });
  const LoadResult r = LoadConfigText(yaml, env);
  ASSERT_TRUE(r.ok()) << Errors(r);
  EXPECT_TRUE(r.warnings.empty());
  const StaticBackend& a = r.config->backends[0];
  EXPECT_EQ(a.mode, BackendMode::kDirect);
  ASSERT_EQ(a.headers.size(), 1u);
  EXPECT_EQ(a.headers[0].value.Reveal(), "rfc-key-value");
  EXPECT_EQ(r.config->backends[1].mode, BackendMode::kProxy);
  EXPECT_EQ(r.config->backends[1].transport_kind, TransportKind::kSse);

  const LoadResult entry = LoadConfigText(testing::WithEdits({{"backends[0].type", "entry"}}), env);
  ASSERT_TRUE(entry.ok()) << Errors(entry);
  EXPECT_EQ(entry.config->backends[0].mode, BackendMode::kDirect);
  const LoadResult alias = LoadConfigText(testing::WithEdits({{"backends[0].transport", "streamable"}}), env);
  ASSERT_TRUE(alias.ok()) << Errors(alias);
  EXPECT_EQ(alias.config->backends[0].transport_kind, TransportKind::kStreamableHttp);
}

TEST(Examples, EveryOptionalSectionParsesIntoTypedFields) {
  MapEnvironment env;
  const std::string yaml = testing::WithEdits({
      {"metadata", "{team: platform}"},
      {"passthroughHeaders", "[X-Request-Id, x-tenant]"},
      {"audit", "{enabled: true, component: vmcp, eventTypes: [mcp_tool_call], includeRequestData: true, "
                "detectApplicationErrors: false, maxDataSize: 4096, maxDelegationDepth: 3, logFile: /tmp/audit.log}"},
      {"optimizer", "{embeddingService: http://tei:8080, embeddingServiceTimeout: 30s, embeddingProvider: tei, "
                    "embeddingModel: bge, embeddingHeaders: {X-K: v}, maxToolsToReturn: 8, "
                    "hybridSearchSemanticRatio: '0.5', semanticDistanceThreshold: '1.0'}"},
      {"codeMode", "{enabled: true, stepLimit: 100000, parallelMaxConcurrency: 10, toolCallTimeout: 30s}"},
      {"sessionStorage", "{provider: redis, address: 'redis:6379', db: 2, keyPrefix: 'thv:vmcp:session:'}"},
      {"rateLimiting", "{shared: {maxTokens: 100, refillPeriod: 1m0s}, perUser: {maxTokens: 10, refillPeriod: "
                       "{duration: 30s}}, tools: [{name: a_echo, perUser: {maxTokens: 5, refillPeriod: 1s}}]}"},
      {"compositeToolRefs", "[{name: wf-ref}]"},
      {"compositeTools",
       "[{name: triage, description: Triage an issue, timeout: 10m0s, parameters: {type: object, properties: "
       "{issue: {type: string}}, required: [issue]}, steps: [{id: fetch, tool: a.get_issue, arguments: {id: "
       "'{{.params.issue}}', count: 3}}, {id: ask, type: elicitation, message: 'Proceed?', dependsOn: [fetch], "
       "schema: {type: object}, onDecline: {action: skip_remaining}}, {id: each, type: forEach, collection: "
       "'{{.steps.fetch.output.items}}', itemVar: item, maxParallel: 4, dependsOn: [ask], step: {tool: a.label, "
       "arguments: {x: '{{.item}}'}}, onError: {action: retry, retryCount: 2, retryDelay: 1s}}], output: "
       "{properties: {summary: {type: string, description: Summary, value: '{{.steps.fetch.output}}'}}, "
       "required: [summary]}, annotations: {title: Triage, readOnlyHint: true}}]"},
      {"aggregation.tools", "[{workload: a, toolConfigRef: {name: cfg}, filter: [echo], excludeAll: false, overrides: "
                            "{echo: {name: say, description: Says, annotations: {destructiveHint: false}}}}]"},
      {"aggregation.excludeAllTools", "false"},
      {"aggregation.defaultToolVisibility", "allow"},
  });
  const LoadResult r = LoadConfigText(yaml, env);
  ASSERT_TRUE(r.ok()) << Errors(r);
  const Config& c = *r.config;
  EXPECT_EQ(c.metadata.at("team"), "platform");
  EXPECT_EQ(c.passthrough_headers.size(), 2u);
  EXPECT_EQ(c.audit->max_data_size, 4096);
  EXPECT_EQ(c.audit->detect_application_errors, std::optional<bool>(false));
  EXPECT_EQ(c.audit->max_delegation_depth, std::optional<int64_t>(3));
  EXPECT_EQ(c.optimizer->embedding_service_timeout, 30s);
  EXPECT_EQ(c.optimizer->max_tools_to_return, 8);
  EXPECT_EQ(c.code_mode->step_limit, 100000);
  EXPECT_EQ(c.code_mode->tool_call_timeout, 30s);
  EXPECT_EQ(c.session_storage->db, 2);
  EXPECT_EQ(c.rate_limiting->shared->refill_period, 1min);
  EXPECT_EQ(c.rate_limiting->per_user->refill_period, 30s);  // the metav1.Duration map form
  EXPECT_EQ(c.rate_limiting->tools[0].per_user->max_tokens, 5);
  EXPECT_EQ(c.composite_tool_refs, std::vector<std::string>{"wf-ref"});
  ASSERT_EQ(c.composite_tools.size(), 1u);
  const CompositeToolConfig& t = c.composite_tools[0];
  EXPECT_EQ(t.timeout, 10min);
  EXPECT_EQ(t.parameters_json, R"({"properties":{"issue":{"type":"string"}},"required":["issue"],"type":"object"})");
  ASSERT_EQ(t.steps.size(), 3u);
  EXPECT_EQ(t.steps[0].type, "tool");  // inferred from `tool`
  EXPECT_EQ(t.steps[0].arguments_json, R"({"count":3,"id":"{{.params.issue}}"})");
  EXPECT_EQ(t.steps[1].timeout, 5min);  // elicitation default
  EXPECT_EQ(t.steps[1].on_decline_action, std::optional<std::string>("skip_remaining"));
  ASSERT_EQ(t.steps[2].inner_step.size(), 1u);
  EXPECT_EQ(t.steps[2].inner_step[0].type, "tool");
  EXPECT_EQ(t.steps[2].on_error->retry_count, 2);
  EXPECT_EQ(t.output->properties.at("summary").type, "string");
  EXPECT_EQ(t.annotations->read_only_hint, std::optional<bool>(true));
  const WorkloadToolConfig& w = c.aggregation->tools[0];
  EXPECT_EQ(w.tool_config_ref, std::optional<std::string>("cfg"));
  EXPECT_EQ(w.overrides.at("echo").name, "say");
  EXPECT_EQ(w.overrides.at("echo").annotations->destructive_hint, std::optional<bool>(false));
  EXPECT_EQ(c.aggregation->default_tool_visibility, "allow");
}

}  // namespace
}  // namespace vmcp::config
