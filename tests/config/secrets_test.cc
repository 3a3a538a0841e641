// Secrets from the environment: resolved when set, a clear error naming the variable when missing, and
// never a value in any error, warning or summary.

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "config/loader.h"
#include "config/summary.h"
#include "tests/config/test_util.h"

namespace vmcp::config {
namespace {

using testing::WithEdits;

std::string Dump(const LoadResult& r) {
  std::string out;
  for (const ConfigError& e : r.errors) out += "  " + e.ToString() + "\n";
  return out;
}

TEST(Secrets, HeaderInjectionValueFromEnv) {
  MapEnvironment env({{"TOOLHIVE_HEADER_INJECTION_VALUE_X", "hdr-value-1"}});
  const LoadResult r = LoadConfigText(
      WithEdits({{"outgoingAuth.backends",
                  "{a: {type: header_injection, headerInjection: {headerName: X-Key, headerValueEnv: TOOLHIVE_HEADER_INJECTION_VALUE_X}}}"}}),
      env);
  ASSERT_TRUE(r.ok()) << Dump(r);
  EXPECT_EQ(r.config->outgoing_auth->backends.at("a").header_injection->header_value.Reveal(), "hdr-value-1");
}

TEST(Secrets, LiteralHeaderValueNeedsNoEnv) {
  const LoadResult r = LoadConfigText(
      WithEdits({{"outgoingAuth.default", "{type: header_injection, headerInjection: {headerName: X-Key, headerValue: lit}}"}}),
      MapEnvironment());
  ASSERT_TRUE(r.ok()) << Dump(r);
  EXPECT_EQ(r.config->outgoing_auth->default_strategy->header_injection->header_value.Reveal(), "lit");
}

TEST(Secrets, EmptyEnvVarIsAnError) {
  MapEnvironment env({{"EMPTY_ONE", ""}});
  const LoadResult r = LoadConfigText(
      WithEdits({{"outgoingAuth.default", "{type: header_injection, headerInjection: {headerName: X-Key, headerValueEnv: EMPTY_ONE}}"}}),
      env);
  ASSERT_EQ(r.errors.size(), 1u) << Dump(r);
  EXPECT_EQ(r.errors[0].path, "outgoingAuth.default.headerInjection.headerValueEnv");
  EXPECT_EQ(r.errors[0].message, "environment variable EMPTY_ONE is empty");
}

TEST(Secrets, HeaderValueWithNewlineIsRefused) {
  MapEnvironment env({{"SPLIT", "good\r\nX-Evil: 1"}});
  const LoadResult r = LoadConfigText(
      WithEdits({{"outgoingAuth.default", "{type: header_injection, headerInjection: {headerName: X-Key, headerValueEnv: SPLIT}}"}}),
      env);
  ASSERT_EQ(r.errors.size(), 1u) << Dump(r);
  EXPECT_EQ(r.errors[0].message,
            "environment variable SPLIT holds control characters (CR, LF, NUL) and cannot be sent in a header");
}

TEST(Secrets, TokenExchangeClientSecretFromEnvAndLiteralWins) {
  MapEnvironment env({{"TE_SECRET", "from-env"}});
  const LoadResult from_env = LoadConfigText(
      WithEdits({{"outgoingAuth.default",
                  "{type: token_exchange, tokenExchange: {tokenUrl: 'https://idp/t', clientId: c, clientSecretEnv: TE_SECRET}}"}}),
      env);
  ASSERT_TRUE(from_env.ok()) << Dump(from_env);
  EXPECT_EQ(from_env.config->outgoing_auth->default_strategy->token_exchange->client_secret.Reveal(), "from-env");
  const LoadResult literal = LoadConfigText(
      WithEdits({{"outgoingAuth.default",
                  "{type: token_exchange, tokenExchange: {tokenUrl: 'https://idp/t', clientId: c, clientSecret: lit, "
                  "clientSecretEnv: TE_SECRET}}"}}),
      env);
  ASSERT_TRUE(literal.ok()) << Dump(literal);
  EXPECT_EQ(literal.config->outgoing_auth->default_strategy->token_exchange->client_secret.Reveal(), "lit");
  EXPECT_EQ(literal.config->outgoing_auth->default_strategy->token_exchange->subject_token_type, "");
}

TEST(Secrets, SubjectTokenTypeIsNormalized) {
  const LoadResult r = LoadConfigText(
      WithEdits({{"outgoingAuth.default", "{type: token_exchange, tokenExchange: {tokenUrl: 'https://idp/t', subjectTokenType: jwt}}"}}),
      MapEnvironment());
  ASSERT_TRUE(r.ok()) << Dump(r);
  EXPECT_EQ(r.config->outgoing_auth->default_strategy->token_exchange->subject_token_type,
            "urn:ietf:params:oauth:token-type:jwt");
}

TEST(Secrets, OboAndXaaSecretsResolve) {
  MapEnvironment env({{"OBO_S", "obo-v"}, {"XAA_I", "xaa-i"}, {"XAA_T", "xaa-t"}});
  const LoadResult r = LoadConfigText(
      WithEdits({{"outgoingAuth.backends",
                  "{a: {type: obo, obo: {tokenUrl: 'https://idp/t', clientSecretEnv: OBO_S}}, b: {type: xaa, xaa: "
                  "{idpTokenUrl: 'https://idp/t', idpClientSecretEnv: XAA_I, targetTokenUrl: 'https://as/t', "
                  "targetClientSecretEnv: XAA_T, targetAudience: aud}}}"}}),
      env);
  ASSERT_TRUE(r.ok()) << Dump(r);
  EXPECT_EQ(r.config->outgoing_auth->backends.at("a").obo->client_secret.Reveal(), "obo-v");
  EXPECT_EQ(r.config->outgoing_auth->backends.at("b").xaa->idp_client_secret.Reveal(), "xaa-i");
  EXPECT_EQ(r.config->outgoing_auth->backends.at("b").xaa->target_client_secret.Reveal(), "xaa-t");
}

TEST(Secrets, HeaderForwardManifestNormalizesTheBackendName) {
  EXPECT_EQ(NormalizeEnvName("my-backend.v2"), "MY_BACKEND_V2");
  MapEnvironment env({{"TOOLHIVE_HEADER_FORWARD_A", R"({"addPlaintextHeaders":{"X-Tenant":"t1"}})"}});
  const LoadResult r = LoadConfigText(testing::kBaseConfig, env);
  ASSERT_TRUE(r.ok()) << Dump(r);
  ASSERT_EQ(r.config->backends[0].headers.size(), 1u);
  EXPECT_EQ(r.config->backends[0].headers[0].name, "X-Tenant");
  EXPECT_EQ(r.config->backends[0].headers[0].value.Reveal(), "t1");
  EXPECT_TRUE(r.config->backends[1].headers.empty());
}

TEST(Secrets, HeaderForwardManifestErrorsNameTheVariable) {
  struct Case {
    std::string manifest;
    std::string message;
  };
  const std::vector<Case> cases = {
      {R"({"addPlaintextHeaders":{"X-A":"v")", "environment variable TOOLHIVE_HEADER_FORWARD_A is not valid JSON (error at byte 34)"},
      {R"(["x"])", "environment variable TOOLHIVE_HEADER_FORWARD_A must hold a JSON object"},
      {R"({"addHeadersFromSecret":{"X-Api-Key":"HEADER_FORWARD_X_API_KEY_A"}})",
       "environment variable TOOLHIVE_SECRET_HEADER_FORWARD_X_API_KEY_A is not set"},
      {R"({"addPlaintextHeaders":{"Host":"evil"}})",
       "environment variable TOOLHIVE_HEADER_FORWARD_A: addPlaintextHeaders.Host: \"Host\" is a restricted header"},
      {R"({"addPlaintextHeaders":{"X-A":"a\r\nb"}})",
       "environment variable TOOLHIVE_HEADER_FORWARD_A: addPlaintextHeaders.X-A holds control characters (CR, LF, NUL) "
       "and cannot be sent in a header"},
      {R"({"addPlaintextHeaders":{"X-A":7}})", "environment variable TOOLHIVE_HEADER_FORWARD_A: addPlaintextHeaders.X-A must be a string"},
  };
  for (const Case& c : cases) {
    MapEnvironment env({{"TOOLHIVE_HEADER_FORWARD_A", c.manifest}});
    const LoadResult r = LoadConfigText(testing::kBaseConfig, env);
    ASSERT_EQ(r.errors.size(), 1u) << c.manifest << "\n" << Dump(r);
    EXPECT_EQ(r.errors[0].path, "backends[0]");
    EXPECT_EQ(r.errors[0].message, c.message);
  }
}

TEST(Secrets, AuthorizationIsAllowedInTheManifest) {
  MapEnvironment env({{"TOOLHIVE_HEADER_FORWARD_A", R"({"addHeadersFromSecret":{"Authorization":"BEARER_A"}})"},
                      {"TOOLHIVE_SECRET_BEARER_A", "Bearer xyz"}});
  const LoadResult r = LoadConfigText(testing::kBaseConfig, env);
  ASSERT_TRUE(r.ok()) << Dump(r);
  EXPECT_EQ(r.config->backends[0].headers.at(0).value.Reveal(), "Bearer xyz");
}

TEST(Secrets, OidcClientSecretMissingIsOnlyAWarning) {
  const LoadResult r = LoadConfigText(
      WithEdits({{"incomingAuth", "{type: oidc, oidc: {issuer: 'https://idp', audience: a, clientSecretEnv: VMCP_OIDC_CLIENT_SECRET}}"}}),
      MapEnvironment());
  ASSERT_TRUE(r.ok()) << Dump(r);
  ASSERT_EQ(r.warnings.size(), 1u);
  EXPECT_EQ(r.warnings[0].path, "incomingAuth.oidc.clientSecretEnv");
}

// Every secret value below is distinctive; none may appear in any text the loader produces, for good
// configs (summary, warnings) and bad ones (errors) alike.
TEST(Secrets, NoSecretValueLeaksIntoAnyText) {
  const std::vector<std::string> secrets = {"S3CRET-hdr-inject", "S3CRET-te-client", "S3CRET-fwd-secret",
                                            "S3CRET-plain-hdr", "S3CRET-literal-te", "S3CRET-oidc",
                                            "S3CRET-literal-hdr\r\n", "S3CRET-rfc-hdr"};
  MapEnvironment env({
      {"HI_ENV", secrets[0]},
      {"TE_ENV", secrets[1]},
      {"TOOLHIVE_SECRET_FWD_A", secrets[2]},
      {"TOOLHIVE_HEADER_FORWARD_A",
       R"({"addPlaintextHeaders":{"X-Plain":"S3CRET-plain-hdr"},"addHeadersFromSecret":{"X-Sec":"FWD_A","X-Missing":"NOPE"}})"},
      {"OIDC_ENV", secrets[5]},
      {"RFC_ENV", secrets[7]},
      {"BAD_HDR_ENV", "S3CRET-bad\nvalue"},
  });
  const std::vector<std::vector<testing::Edit>> variants = {
      // A good config using every secret.
      {{"outgoingAuth.backends",
        "{a: {type: header_injection, headerInjection: {headerName: X-Key, headerValueEnv: HI_ENV}}, b: {type: "
        "token_exchange, tokenExchange: {tokenUrl: 'https://idp/t', clientId: c, clientSecretEnv: TE_ENV}}}"},
       {"incomingAuth", "{type: oidc, oidc: {issuer: 'https://idp', audience: a, clientSecretEnv: OIDC_ENV}}"},
       {"backends[1].headerEnvVars", "{X-Rfc: RFC_ENV}"}},
      // Literal secrets next to errors in the same strategy.
      {{"outgoingAuth.default",
        "{type: token_exchange, tokenExchange: {clientSecret: S3CRET-literal-te, subjectTokenType: bogus}}"}},
      {{"outgoingAuth.default",
        "{type: header_injection, headerInjection: {headerName: 'X K', headerValue: \"S3CRET-literal-hdr\\r\\n\", "
        "headerValueEnv: HI_ENV}}"}},
      // Env values that fail validation.
      {{"outgoingAuth.default", "{type: header_injection, headerInjection: {headerName: X-K, headerValueEnv: BAD_HDR_ENV}}"}},
      // Secrets in a config that fails elsewhere too.
      {{"name", "~"}, {"outgoingAuth.default", "{type: token_exchange, tokenExchange: {tokenUrl: nope, clientSecretEnv: TE_ENV}}"}},
  };
  size_t texts = 0;
  for (const auto& edits : variants) {
    const LoadResult r = LoadConfigText(WithEdits(edits), env);
    std::vector<std::string> all;
    for (const ConfigError& e : r.errors) all.push_back(e.ToString());
    for (const ConfigError& w : r.warnings) all.push_back(w.ToString());
    if (r.config) all.push_back(SummarizeConfig(*r.config));
    for (const std::string& text : all) {
      ++texts;
      EXPECT_EQ(text.find("S3CRET"), std::string::npos) << "leaked into: " << text;
    }
  }
  EXPECT_GE(texts, 8u);  // the variants produced errors, warnings and a summary to look at
}

TEST(Secrets, UrlCredentialsAreMaskedInTheSummary) {
  const LoadResult r = LoadConfigText(WithEdits({{"backends[0].url", "https://user:S3CRET-pw@remote.example.com/mcp"}}),
                                      MapEnvironment());
  ASSERT_TRUE(r.ok()) << Dump(r);
  EXPECT_EQ(RedactUrl("https://user:pw@host/x@y"), "https://***@host/x@y");
  const std::string summary = SummarizeConfig(*r.config);
  EXPECT_EQ(summary.find("S3CRET"), std::string::npos) << summary;
  EXPECT_NE(summary.find("https://***@remote.example.com/mcp"), std::string::npos) << summary;
  ASSERT_EQ(r.warnings.size(), 1u);
  EXPECT_EQ(r.warnings[0].ToString().find("S3CRET"), std::string::npos);
}

}  // namespace
}  // namespace vmcp::config
