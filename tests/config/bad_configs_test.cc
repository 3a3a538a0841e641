// A table of bad configs: each is the valid base config with a few keys changed, and each must be
// refused with exactly one error naming the exact key path and reason. Plus the file-level failures
// (unreadable file, invalid YAML with line and column) and the all-errors-in-one-pass guarantee.

#include <gtest/gtest.h>

#include <cstdio>
#include <string>
#include <vector>

#include "config/loader.h"
#include "tests/config/test_util.h"

namespace vmcp::config {
namespace {

using testing::Edit;
using testing::kDelete;
using testing::WithEdits;

struct BadCase {
  const char* name;
  std::vector<Edit> edits;
  const char* path;
  const char* message;
};

std::string Dump(const LoadResult& r) {
  std::string out;
  for (const ConfigError& e : r.errors) out += "  " + e.ToString() + "\n";
  return out;
}

const MapEnvironment& TestEnv() {
  static const MapEnvironment* env = new MapEnvironment({{"PRESENT_SECRET", "present-secret-value"}});
  return *env;
}

class BadConfig : public ::testing::TestWithParam<BadCase> {};

TEST_P(BadConfig, IsRefusedWithPathAndReason) {
  const BadCase& c = GetParam();
  const std::string yaml = WithEdits(c.edits);
  const LoadResult r = LoadConfigText(yaml, TestEnv());
  EXPECT_FALSE(r.ok());
  EXPECT_FALSE(r.config.has_value());
  ASSERT_EQ(r.errors.size(), 1u) << "config:\n" << yaml << "errors:\n" << Dump(r);
  EXPECT_EQ(r.errors[0].path, c.path) << Dump(r);
  EXPECT_EQ(r.errors[0].message, c.message) << Dump(r);
  EXPECT_GT(r.errors[0].line, 0) << "every error points into the file: " << Dump(r);
}

const char kHeaderInjection[] = "{type: header_injection, headerInjection: {headerName: X-Api-Key, headerValueEnv: PRESENT_SECRET}}";

const BadCase kCases[] = {
    // Strict keys.
    {"UnknownTopLevelKey", {{"nmae", "x"}}, "nmae", "unknown key"},
    {"UnknownNestedKey", {{"aggregation.conflictResolutionConfig.prefixFormt", "x"}},
     "aggregation.conflictResolutionConfig.prefixFormt", "unknown key"},
    {"UnknownBackendKey", {{"backends[0].urll", "http://x"}}, "backends[0].urll", "unknown key"},
    {"UnknownStrategyKey", {{"outgoingAuth.default", "{type: unauthenticated, token: abc}"}}, "outgoingAuth.default.token",
     "unknown key"},
    // Shapes and scalars.
    {"BackendsNotAList", {{"backends", "just-one"}}, "backends", "expected a list, got a scalar"},
    {"NameNotAString", {{"name", "[a, b]"}}, "name", "expected a string, got a list"},
    {"BoolNotABool", {{"aggregation.excludeAllTools", "maybe"}}, "aggregation.excludeAllTools",
     "expected a boolean (true or false)"},
    {"IntNotAnInt", {{"operational", "{failureHandling: {unhealthyThreshold: three}}"}},
     "operational.failureHandling.unhealthyThreshold", "expected an integer"},
    {"IntOutOfRange", {{"sessionStorage", "{provider: redis, address: 'r:6379', db: 3000000000}"}}, "sessionStorage.db",
     "integer out of range (-2147483648 to 2147483647)"},
    {"DurationWithoutUnit", {{"operational", "{timeouts: {default: 30}}"}}, "operational.timeouts.default",
     "invalid duration \"30\": missing unit (use ns, us, ms, s, m or h)"},
    {"DurationUnknownUnit", {{"operational", "{timeouts: {perWorkload: {a: 2d}}}"}}, "operational.timeouts.perWorkload.a",
     "invalid duration \"2d\": unknown unit \"d\" (use ns, us, ms, s, m or h)"},
    // Required top-level sections.
    {"NameMissing", {{"name", kDelete}}, "name", "is required"},
    {"GroupRefMissing", {{"groupRef", kDelete}}, "groupRef", "is required"},
    {"IncomingAuthNull", {{"incomingAuth", "~"}}, "incomingAuth", "is required"},
    {"OutgoingAuthNull", {{"outgoingAuth", "~"}}, "outgoingAuth", "is required"},
    {"AggregationNull", {{"aggregation", "~"}}, "aggregation", "is required"},
    // Backends.
    {"BackendNameMissing", {{"backends[1].name", kDelete}}, "backends[1].name", "is required"},
    {"BackendNameDuplicate", {{"backends[1].name", "a"}}, "backends[1].name",
     "duplicate backend name \"a\" (also backends[0])"},
    {"BackendUrlMissing", {{"backends[0].url", kDelete}}, "backends[0].url", "is required"},
    {"BackendUrlNotHttp", {{"backends[0].url", "ftp://files.example.com/mcp"}}, "backends[0].url",
     "must be an absolute http:// or https:// URL"},
    {"BackendUrlRelative", {{"backends[0].url", "/mcp"}}, "backends[0].url", "must be an absolute http:// or https:// URL"},
    {"BackendUrlNoHost", {{"backends[0].url", "http://:8080/mcp"}}, "backends[0].url", "has no host"},
    {"BackendUrlBadPort", {{"backends[0].url", "http://a.example.com:99999/mcp"}}, "backends[0].url", "has an invalid port"},
    {"BackendUrlWithSpace", {{"backends[0].url", "'http://a.example.com/m cp'"}}, "backends[0].url",
     "must not contain spaces or control characters"},
    {"TransportUnknown", {{"backends[0].transport", "grpc"}}, "backends[0].transport",
     "must be one of: streamable-http, streamable, sse (got \"grpc\")"},
    {"TransportMissing", {{"backends[0].transport", kDelete}}, "backends[0].transport", "is required"},
    {"TypeUnknown", {{"backends[0].type", "container"}}, "backends[0].type",
     "must be one of: \"\", proxy, entry, direct (got \"container\")"},
    {"CaBundleRelative", {{"backends[0].type", "entry"}, {"backends[0].caBundlePath", "certs/ca.crt"}},
     "backends[0].caBundlePath", "must be an absolute path"},
    {"CaBundleDotDot", {{"backends[0].type", "direct"}, {"backends[0].caBundlePath", "/etc/toolhive/../../ca.crt"}},
     "backends[0].caBundlePath", "contains invalid path characters (NUL or \"..\")"},
    {"CaBundleOnProxy", {{"backends[0].type", "proxy"}, {"backends[0].caBundlePath", "/etc/ca.crt"}},
     "backends[0].caBundlePath", "is only valid for direct backends (type: entry or direct)"},
    {"HeaderEnvVarRestricted", {{"backends[0].headerEnvVars", "{Host: PRESENT_SECRET}"}}, "backends[0].headerEnvVars.Host",
     "\"Host\" is a restricted header and cannot be set"},
    {"HeaderEnvVarMissingEnv", {{"backends[0].headerEnvVars", "{X-Api-Key: ABSENT_SECRET}"}},
     "backends[0].headerEnvVars.X-Api-Key", "environment variable ABSENT_SECRET is not set"},
    // Incoming auth.
    {"IncomingTypeUnknown", {{"incomingAuth.type", "saml"}}, "incomingAuth.type",
     "must be one of: oidc, local, anonymous (got \"saml\")"},
    {"OidcMissing", {{"incomingAuth.type", "oidc"}}, "incomingAuth.oidc", "is required when type is oidc"},
    {"OidcIssuerMissing", {{"incomingAuth", "{type: oidc, oidc: {audience: vmcp}}"}}, "incomingAuth.oidc.issuer", "is required"},
    {"OidcIssuerNotUrl", {{"incomingAuth", "{type: oidc, oidc: {issuer: auth.example.com, audience: vmcp}}"}},
     "incomingAuth.oidc.issuer", "must be an absolute http:// or https:// URL"},
    {"OidcAudienceMissing", {{"incomingAuth", "{type: oidc, oidc: {issuer: 'https://idp.example.com'}}"}},
     "incomingAuth.oidc.audience", "is required"},
    {"OidcCaBundleRelative",
     {{"incomingAuth", "{type: oidc, oidc: {issuer: 'https://idp', audience: a, caBundlePath: ca.crt}}"}},
     "incomingAuth.oidc.caBundlePath", "must be an absolute path"},
    {"AuthzTypeUnknown", {{"incomingAuth.authz", "{type: opa}"}}, "incomingAuth.authz.type",
     "must be one of: cedar, none (got \"opa\")"},
    {"CedarWithoutPolicies", {{"incomingAuth.authz", "{type: cedar}"}}, "incomingAuth.authz.policies",
     "at least one policy is required when type is cedar"},
    // Outgoing auth.
    {"SourceUnknown", {{"outgoingAuth.source", "magic"}}, "outgoingAuth.source",
     "must be one of: inline, discovered (got \"magic\")"},
    {"StrategyTypeUnknown", {{"outgoingAuth.default", "{type: bearer}"}}, "outgoingAuth.default.type",
     "must be one of: unauthenticated, header_injection, token_exchange, upstream_inject, aws_sts, obo, xaa (got \"bearer\")"},
    {"HeaderInjectionBlockMissing", {{"outgoingAuth.backends", "{a: {type: header_injection}}"}},
     "outgoingAuth.backends.a.headerInjection", "is required when type is header_injection"},
    {"HeaderInjectionNameMissing",
     {{"outgoingAuth.backends", "{a: {type: header_injection, headerInjection: {headerValueEnv: PRESENT_SECRET}}}"}},
     "outgoingAuth.backends.a.headerInjection.headerName", "is required"},
    {"HeaderInjectionNameInvalid",
     {{"outgoingAuth.backends", "{a: {type: header_injection, headerInjection: {headerName: 'X Key', headerValueEnv: PRESENT_SECRET}}}"}},
     "outgoingAuth.backends.a.headerInjection.headerName", "is not a valid HTTP header name"},
    {"HeaderInjectionBothValues",
     {{"outgoingAuth.backends",
       "{a: {type: header_injection, headerInjection: {headerName: X-K, headerValue: v, headerValueEnv: PRESENT_SECRET}}}"}},
     "outgoingAuth.backends.a.headerInjection", "set only one of headerValue and headerValueEnv"},
    {"HeaderInjectionNoValue", {{"outgoingAuth.backends", "{a: {type: header_injection, headerInjection: {headerName: X-K}}}"}},
     "outgoingAuth.backends.a.headerInjection", "one of headerValue or headerValueEnv is required"},
    {"HeaderInjectionEnvMissing",
     {{"outgoingAuth.backends", "{a: {type: header_injection, headerInjection: {headerName: X-K, headerValueEnv: NOT_SET_ANYWHERE}}}"}},
     "outgoingAuth.backends.a.headerInjection.headerValueEnv", "environment variable NOT_SET_ANYWHERE is not set"},
    {"TokenExchangeBlockMissing", {{"outgoingAuth.default", "{type: token_exchange}"}}, "outgoingAuth.default.tokenExchange",
     "is required when type is token_exchange"},
    {"TokenExchangeUrlMissing", {{"outgoingAuth.default", "{type: token_exchange, tokenExchange: {audience: x}}"}},
     "outgoingAuth.default.tokenExchange.tokenUrl", "is required"},
    {"TokenExchangeSecretWithoutClientId",
     {{"outgoingAuth.default", "{type: token_exchange, tokenExchange: {tokenUrl: 'https://idp/token', clientSecretEnv: PRESENT_SECRET}}"}},
     "outgoingAuth.default.tokenExchange.clientId", "is required when a client secret is set"},
    {"TokenExchangeSubjectTypeUnknown",
     {{"outgoingAuth.default", "{type: token_exchange, tokenExchange: {tokenUrl: 'https://idp/token', subjectTokenType: saml2}}"}},
     "outgoingAuth.default.tokenExchange.subjectTokenType",
     "must be access_token, id_token, jwt or the matching urn:ietf:params:oauth:token-type: URN (got \"saml2\")"},
    {"TokenExchangeSecretEnvMissing",
     {{"outgoingAuth.default",
       "{type: token_exchange, tokenExchange: {tokenUrl: 'https://idp/token', clientId: c, clientSecretEnv: TOOLHIVE_TOKEN_EXCHANGE_CLIENT_SECRET_X}}"}},
     "outgoingAuth.default.tokenExchange.clientSecretEnv",
     "environment variable TOOLHIVE_TOKEN_EXCHANGE_CLIENT_SECRET_X is not set"},
    {"AwsStsWithoutRegion", {{"outgoingAuth.backends", "{b: {type: aws_sts, awsSts: {service: bedrock}}}"}},
     "outgoingAuth.backends.b.awsSts.region", "is required"},
    {"AwsStsOnDirectBackend",
     {{"backends[0].type", "direct"}, {"outgoingAuth.backends", "{a: {type: aws_sts, awsSts: {region: us-east-1}}}"}},
     "outgoingAuth.backends.a.type",
     "\"aws_sts\" cannot be used for direct backend \"a\": direct backends accept unauthenticated, header_injection or "
     "token_exchange"},
    {"UpstreamInjectDefaultOnDirectBackend",
     {{"backends[1].type", "entry"}, {"outgoingAuth.default", "{type: upstream_inject, upstreamInject: {providerName: github}}"}},
     "outgoingAuth.default.type",
     "\"upstream_inject\" cannot be used for direct backend \"b\": direct backends accept unauthenticated, "
     "header_injection or token_exchange"},
    {"OboBothSecrets",
     {{"outgoingAuth.default", "{type: obo, obo: {tokenUrl: 'https://idp/t', clientSecret: s, clientSecretEnv: PRESENT_SECRET}}"}},
     "outgoingAuth.default.obo", "set only one of clientSecret and clientSecretEnv"},
    {"XaaWithoutAudience",
     {{"outgoingAuth.default", "{type: xaa, xaa: {idpTokenUrl: 'https://idp/t', targetTokenUrl: 'https://as/t'}}"}},
     "outgoingAuth.default.xaa.targetAudience", "is required"},
    // Aggregation.
    {"ConflictResolutionUnknown", {{"aggregation.conflictResolution", "first"}}, "aggregation.conflictResolution",
     "must be one of: prefix, priority, manual (got \"first\")"},
    {"ConflictResolutionConfigMissing", {{"aggregation.conflictResolutionConfig", kDelete}},
     "aggregation.conflictResolutionConfig", "is required (write {} when empty)"},
    {"PrefixWithoutFormat", {{"aggregation.conflictResolutionConfig", "{}"}}, "aggregation.conflictResolutionConfig.prefixFormat",
     "is required for the prefix strategy"},
    {"PriorityWithoutOrder", {{"aggregation.conflictResolution", "priority"}, {"aggregation.conflictResolutionConfig", "{}"}},
     "aggregation.conflictResolutionConfig.priorityOrder", "is required for the priority strategy"},
    {"PriorityOrderDuplicate",
     {{"aggregation.conflictResolution", "priority"}, {"aggregation.conflictResolutionConfig", "{priorityOrder: [a, b, a]}"}},
     "aggregation.conflictResolutionConfig.priorityOrder[2]", "duplicate entry \"a\""},
    {"ManualWithoutTools", {{"aggregation.conflictResolution", "manual"}}, "aggregation.tools",
     "at least one entry is required for the manual strategy"},
    {"VisibilityUnknown", {{"aggregation.defaultToolVisibility", "hidden"}}, "aggregation.defaultToolVisibility",
     "must be one of: allow, deny (got \"hidden\")"},
    {"DenyPriorityWithoutToolsEntry",
     {{"aggregation.conflictResolution", "priority"},
      {"aggregation.conflictResolutionConfig", "{priorityOrder: [a, b]}"},
      {"aggregation.defaultToolVisibility", "deny"},
      {"aggregation.tools", "[{workload: a, filter: [echo]}]"}},
     "aggregation.conflictResolutionConfig.priorityOrder[1]",
     "\"b\" has no aggregation.tools entry: with defaultToolVisibility deny it could win a name conflict and then be "
     "hidden; add a tools entry for it or remove it"},
    {"ToolsWorkloadMissing", {{"aggregation.tools", "[{filter: [echo]}]"}}, "aggregation.tools[0].workload", "is required"},
    {"ToolsWorkloadDuplicate", {{"aggregation.tools", "[{workload: a}, {workload: a}]"}}, "aggregation.tools[1].workload",
     "duplicate workload \"a\" (also aggregation.tools[0])"},
    {"OverrideEmpty", {{"aggregation.tools", "[{workload: a, overrides: {echo: {annotations: {title: T}}}}]"}},
     "aggregation.tools[0].overrides.echo", "at least one of name or description is required"},
    // Operational.
    {"TimeoutNegative", {{"operational", "{timeouts: {default: -1s}}"}}, "operational.timeouts.default", "must be positive"},
    {"PerWorkloadNegative", {{"operational", "{timeouts: {perWorkload: {a: -5s}}}"}}, "operational.timeouts.perWorkload.a",
     "must be positive"},
    {"HealthTimeoutNotBelowInterval",
     {{"operational", "{failureHandling: {healthCheckInterval: 10s, healthCheckTimeout: 10s}}"}},
     "operational.failureHandling.healthCheckTimeout",
     "must be less than healthCheckInterval (10s) so that checks cannot queue up"},
    {"HealthTimeoutNegative", {{"operational", "{failureHandling: {healthCheckTimeout: -1s}}"}},
     "operational.failureHandling.healthCheckTimeout", "must be >= 0 (0 means the default, 10s)"},
    {"UnhealthyThresholdNegative", {{"operational", "{failureHandling: {unhealthyThreshold: -2}}"}},
     "operational.failureHandling.unhealthyThreshold", "must be positive"},
    {"PartialFailureModeUnknown", {{"operational", "{failureHandling: {partialFailureMode: sometimes}}"}},
     "operational.failureHandling.partialFailureMode", "must be one of: fail, best_effort (got \"sometimes\")"},
    {"BreakerThresholdNegative", {{"operational", "{failureHandling: {circuitBreaker: {enabled: true, failureThreshold: -1}}}"}},
     "operational.failureHandling.circuitBreaker.failureThreshold", "must be >= 1"},
    {"BreakerTimeoutTooShort", {{"operational", "{failureHandling: {circuitBreaker: {enabled: true, timeout: 500ms}}}"}},
     "operational.failureHandling.circuitBreaker.timeout", "must be at least 1s to prevent thrashing"},
    // Passthrough headers.
    {"PassthroughAuthorization", {{"passthroughHeaders", "[Authorization]"}}, "passthroughHeaders[0]",
     "\"Authorization\" is a restricted header and cannot be forwarded"},
    {"PassthroughForwardedFor", {{"passthroughHeaders", "[X-Request-Id, x-forwarded-for]"}}, "passthroughHeaders[1]",
     "\"X-Forwarded-For\" is a restricted header and cannot be forwarded"},
    {"PassthroughEmpty", {{"passthroughHeaders", "['']"}}, "passthroughHeaders[0]", "header name must not be empty"},
    // Other sections.
    {"SessionStorageProviderUnknown", {{"sessionStorage", "{provider: etcd}"}}, "sessionStorage.provider",
     "must be one of: memory, redis (got \"etcd\")"},
    {"RateLimitZeroTokens", {{"rateLimiting", "{shared: {maxTokens: 0, refillPeriod: 1m0s}}"}}, "rateLimiting.shared.maxTokens",
     "must be positive"},
    {"SamplingRateTooHigh", {{"telemetry", "{endpoint: 'otel:4318', tracingEnabled: true, samplingRate: '1.5'}"}},
     "telemetry.samplingRate", "must be a number between 0 and 1 (got \"1.5\")"},
    {"CompositeToolWithoutDescription", {{"compositeTools", "[{name: wf, steps: [{id: s1, tool: a.echo}]}]"}},
     "compositeTools[0].description", "is required"},
    {"CompositeStepUnknownDependency",
     {{"compositeTools", "[{name: wf, description: d, steps: [{id: s1, tool: a.echo, dependsOn: [s0]}]}]"}},
     "compositeTools[0].steps[0].dependsOn[0]", "unknown step \"s0\""},
    {"CompositeStepCycle",
     {{"compositeTools",
       "[{name: wf, description: d, steps: [{id: s1, tool: a.x, dependsOn: [s2]}, {id: s2, tool: a.y, dependsOn: [s1]}]}]"}},
     "compositeTools[0].steps", "dependency cycle: s1 -> s2 -> s1"},
    {"CompositeElicitationWithoutMessage", {{"compositeTools", "[{name: wf, description: d, steps: [{id: s1, type: elicitation}]}]"}},
     "compositeTools[0].steps[0].message", "is required when type is elicitation"},
    {"CompositeRefWithoutName", {{"compositeToolRefs", "[{name: ''}]"}}, "compositeToolRefs[0].name", "is required"},
};

INSTANTIATE_TEST_SUITE_P(Table, BadConfig, ::testing::ValuesIn(kCases),
                         [](const ::testing::TestParamInfo<BadCase>& info) { return std::string(info.param.name); });

TEST(BadConfigTable, HasAtLeastFortyCases) { EXPECT_GE(std::size(kCases), 40u); }

TEST(BadConfigTable, BaseConfigIsValid) {
  const LoadResult r = LoadConfigText(testing::kBaseConfig, TestEnv());
  EXPECT_TRUE(r.ok()) << Dump(r);
  EXPECT_TRUE(r.warnings.empty());
}

TEST(LoaderErrors, EveryErrorIsReportedInOnePassInFileOrder) {
  const std::string yaml = WithEdits({
      {"name", kDelete},
      {"backends[0].transport", "grpc"},
      {"backends[1].url", "ftp://x"},
      {"incomingAuth.type", "saml"},
      {"outgoingAuth.source", "magic"},
      {"aggregation.conflictResolution", "first"},
      {"operational", "{failureHandling: {partialFailureMode: sometimes}}"},
  });
  const LoadResult r = LoadConfigText(yaml, TestEnv());
  ASSERT_EQ(r.errors.size(), 7u) << Dump(r);
  std::vector<std::string> paths;
  for (const ConfigError& e : r.errors) paths.push_back(e.path);
  // File order: the emitter keeps the base's key order, operational last; the absent `name` points at
  // the start of the document.
  EXPECT_EQ(paths, (std::vector<std::string>{"name", "backends[0].transport", "backends[1].url", "incomingAuth.type",
                                             "outgoingAuth.source", "aggregation.conflictResolution",
                                             "operational.failureHandling.partialFailureMode"}));
  for (size_t i = 0; i + 1 < r.errors.size(); ++i) EXPECT_LT(r.errors[i].line, r.errors[i + 1].line) << Dump(r);
}

TEST(LoaderErrors, UnreadableFileIsOneClearError) {
  const LoadResult r = LoadConfigFile("/nonexistent/dir/config.yaml", TestEnv());
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_EQ(r.errors[0].ToString(), "cannot read config file /nonexistent/dir/config.yaml: No such file or directory");
  auto status = LoadConfig("/nonexistent/dir/config.yaml", TestEnv());
  EXPECT_EQ(status.status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(LoaderErrors, InvalidYamlHasLineAndColumn) {
  const LoadResult r = LoadConfigText("name: x\ngroupRef: g\nbackends:\n  - name: a\n   url: [unclosed\n", TestEnv(), "cfg.yaml");
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_EQ(r.errors[0].path, "");
  EXPECT_EQ(r.errors[0].line, 5);
  EXPECT_GT(r.errors[0].column, 0);
  EXPECT_EQ(r.errors[0].message.rfind("cfg.yaml: invalid YAML: ", 0), 0u) << r.errors[0].message;
}

TEST(LoaderErrors, TabIndentationIsInvalidYaml) {
  const LoadResult r = LoadConfigText("name: x\nbackends:\n\t- name: a\n", TestEnv());
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_EQ(r.errors[0].line, 3);
}

TEST(LoaderErrors, EmptyAndNonMappingDocuments) {
  EXPECT_EQ(LoadConfigText("", TestEnv(), "c.yaml").errors.at(0).message, "c.yaml: the config is empty");
  EXPECT_EQ(LoadConfigText("# only a comment\n", TestEnv(), "c.yaml").errors.at(0).message, "c.yaml: the config is empty");
  const LoadResult list = LoadConfigText("- a\n- b\n", TestEnv());
  ASSERT_EQ(list.errors.size(), 1u);
  EXPECT_EQ(list.errors[0].message, "the config must be a YAML mapping, got a list");
}

TEST(LoaderErrors, DuplicateKeyNamesTheFirstDefinition) {
  std::string yaml = testing::kBaseConfig;
  yaml += "name: again\n";
  const LoadResult r = LoadConfigText(yaml, TestEnv());
  ASSERT_EQ(r.errors.size(), 1u) << Dump(r);
  EXPECT_EQ(r.errors[0].path, "name");
  EXPECT_EQ(r.errors[0].message, "duplicate key (first defined at line 1)");
}

TEST(LoaderErrors, OversizeInputIsRefused) {
  const std::string yaml = "name: " + std::string(kMaxConfigBytes, 'x') + "\n";
  const LoadResult r = LoadConfigText(yaml, TestEnv(), "big.yaml");
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_NE(r.errors[0].message.find("file is too large"), std::string::npos);
}

TEST(LoaderErrors, DeepNestingIsAnErrorNotACrash) {
  std::string deep = "name: x\nmetadata: ";
  for (int i = 0; i < 5000; ++i) deep += "[";
  const LoadResult r = LoadConfigText(deep, TestEnv());
  EXPECT_FALSE(r.ok());
  ASSERT_FALSE(r.errors.empty());
}

TEST(LoaderErrors, AliasBombInFreeFormValueIsBounded) {
  std::string yaml = testing::kBaseConfig;
  yaml += "compositeTools:\n  - name: wf\n    description: d\n    steps:\n      - id: s\n        tool: a.x\n        arguments:\n";
  yaml += "          l0: &l0 [x, x, x, x, x, x, x, x, x, x]\n";
  for (int i = 1; i < 9; ++i) {
    yaml += "          l" + std::to_string(i) + ": &l" + std::to_string(i) + " [";
    for (int j = 0; j < 10; ++j) yaml += std::string(j ? ", " : "") + "*l" + std::to_string(i - 1);
    yaml += "]\n";
  }
  const LoadResult r = LoadConfigText(yaml, TestEnv());
  ASSERT_EQ(r.errors.size(), 1u) << Dump(r);
  EXPECT_EQ(r.errors[0].message, "value is too large (too many nested items)");
}

TEST(LoaderWarnings, CaBundleWithoutTypeIsDirectWithAWarning) {
  const LoadResult r = LoadConfigText(WithEdits({{"backends[0].url", "https://remote.example.com/mcp"},
                                                 {"backends[0].caBundlePath", "/etc/toolhive/ca-bundles/a/ca.crt"}}),
                                      TestEnv());
  ASSERT_TRUE(r.ok()) << Dump(r);
  EXPECT_EQ(r.config->backends[0].mode, BackendMode::kDirect);
  ASSERT_EQ(r.warnings.size(), 1u);
  EXPECT_EQ(r.warnings[0].path, "backends[0].caBundlePath");
  EXPECT_EQ(r.warnings[0].message, "set without `type`: treating backend \"a\" as direct (type: entry)");
}

TEST(LoaderWarnings, UnusedReferencesAreWarnings) {
  const LoadResult r = LoadConfigText(
      WithEdits({{"outgoingAuth.backends", "{ghost: {type: unauthenticated}}"},
                 {"operational", "{timeouts: {perWorkload: {phantom: 5s}}}"}}),
      TestEnv());
  ASSERT_TRUE(r.ok()) << Dump(r);
  ASSERT_EQ(r.warnings.size(), 2u);
  EXPECT_EQ(r.warnings[0].path, "outgoingAuth.backends.ghost");
  EXPECT_EQ(r.warnings[1].path, "operational.timeouts.perWorkload.phantom");
}

}  // namespace
}  // namespace vmcp::config
