// Tests of auth/incoming.h and auth/jwks.h against a loopback identity provider (tests/auth/fake_idp.h):
// discovery and JWKS fetched over the project's HTTP client (plain, and TLS trusted through the IdP's CA
// bundle), key rotation picked up on an unknown kid, the refresh rate limit and single flight counted at
// the IdP, background refresh, RFC 7662 introspection of opaque tokens, the 401/403/503 answers with
// their WWW-Authenticate values, RFC 9728 metadata, anonymous mode, and session binding.
#include "auth/incoming.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <future>

#include "absl/strings/escaping.h"
#include "tests/auth/fake_idp.h"
#include "tests/auth/test_keys.h"
#include "tests/transport/test_certs.h"
#include "tests/transport/test_io.h"

namespace vmcp::auth {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using testing::FakeIdp;
using testing::SignJwt;
using testing::TestKey;
using testing::WaitFor;
using transport::testing::IoThread;
using Json = nlohmann::json;

constexpr char kAudience[] = "vmcp";

class IncomingTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    k1_ = new TestKey(TestKey::Rsa("k1"));
    k2_ = new TestKey(TestKey::Ec("k2", "P-256"));
    k3_ = new TestKey(TestKey::Rsa("k3"));
  }
  static void TearDownTestSuite() {
    delete k1_;
    delete k2_;
    delete k3_;
  }

  void SetUp() override {
    idp_ = std::make_unique<FakeIdp>();
    idp_->SetJwks(Json{{"keys", {k1_->Jwk()}}});
    client_ = std::make_shared<transport::HttpClient>(io_.executor());
  }

  TimePoint Now() const { return base_ + std::chrono::seconds(offset_s_.load()); }
  int64_t NowS() const { return std::chrono::duration_cast<std::chrono::seconds>(Now().time_since_epoch()).count(); }

  config::IncomingAuthConfig Oidc() const {
    config::IncomingAuthConfig c;
    c.type = "oidc";
    c.oidc.emplace();
    c.oidc->issuer = idp_->issuer();
    c.oidc->audience = kAudience;
    c.oidc->resource = "https://vmcp.example.com/mcp";
    c.oidc->client_id = "vmcp";
    c.oidc->client_secret = config::Secret("s3cret:/x");
    c.oidc->insecure_allow_http = true;
    return c;
  }

  IncomingOptions Options() {
    IncomingOptions o;
    o.clock = [this] { return Now(); };
    return o;
  }

  std::shared_ptr<IncomingAuthenticator> Make(const config::IncomingAuthConfig& c, IncomingOptions o) {
    auto a = IncomingAuthenticator::Create(c, client_, std::move(o));
    EXPECT_TRUE(a.ok()) << a.status();
    return a.ok() ? *a : nullptr;
  }
  std::shared_ptr<IncomingAuthenticator> Make() { return Make(Oidc(), Options()); }

  Json Claims(const std::string& sub = "alice") const {
    return Json{{"iss", idp_->issuer()}, {"aud", kAudience}, {"sub", sub}, {"exp", NowS() + 3600}, {"iat", NowS()}};
  }

  absl::StatusOr<Identity> Auth(IncomingAuthenticator& a, const std::string& header) {
    return io_.Run(a.Authenticate(header));
  }

  static TestKey* k1_;
  static TestKey* k2_;
  static TestKey* k3_;
  IoThread io_{2};
  std::unique_ptr<FakeIdp> idp_;
  std::shared_ptr<transport::HttpClient> client_;
  const TimePoint base_ = std::chrono::time_point_cast<std::chrono::seconds>(std::chrono::system_clock::now());
  std::atomic<int64_t> offset_s_{0};
};

TestKey* IncomingTest::k1_ = nullptr;
TestKey* IncomingTest::k2_ = nullptr;
TestKey* IncomingTest::k3_ = nullptr;

TEST_F(IncomingTest, ValidatesThroughDiscoveryAndJwks) {
  auto auth = Make();
  ASSERT_TRUE(auth);
  EXPECT_FALSE(auth->anonymous());
  const std::string token = SignJwt(*k1_, "RS256", Claims());
  auto id = Auth(*auth, "Bearer " + token);
  ASSERT_TRUE(id.ok()) << id.status();
  EXPECT_FALSE(id->anonymous);
  EXPECT_EQ(id->issuer, idp_->issuer());
  EXPECT_EQ(id->subject, "alice");
  EXPECT_EQ(id->token.Reveal(), token);
  EXPECT_EQ(id->SessionBindingKey(), idp_->issuer() + "\nalice");
  ASSERT_TRUE(id->expiry.has_value());
  EXPECT_EQ(idp_->discovery_fetches(), 1);
  EXPECT_EQ(idp_->jwks_fetches(), 1);
  // The scheme is case-insensitive; the keys are cached.
  EXPECT_TRUE(Auth(*auth, "bearer " + token).ok());
  EXPECT_EQ(idp_->jwks_fetches(), 1);
  EXPECT_EQ(auth->accepted(), 2u);
  EXPECT_EQ(auth->jwks()->jwks_url(), idp_->issuer() + "/jwks");
}

TEST_F(IncomingTest, JwksUrlSkipsDiscovery) {
  config::IncomingAuthConfig c = Oidc();
  c.oidc->jwks_url = idp_->Url("/jwks");
  auto auth = Make(c, Options());
  ASSERT_TRUE(auth);
  EXPECT_TRUE(Auth(*auth, "Bearer " + SignJwt(*k1_, "RS256", Claims())).ok());
  EXPECT_EQ(idp_->discovery_fetches(), 0);
  EXPECT_EQ(idp_->jwks_fetches(), 1);
}

TEST_F(IncomingTest, HttpIsRefusedUnlessAllowed) {
  config::IncomingAuthConfig c = Oidc();
  c.oidc->insecure_allow_http = false;
  auto a = IncomingAuthenticator::Create(c, client_, Options());
  ASSERT_FALSE(a.ok());
  EXPECT_THAT(a.status().message(), HasSubstr("uses http; set insecureAllowHttp"));
  // An http jwksUrl beside an https issuer is refused too.
  c.oidc->jwks_url = "http://127.0.0.1:1/jwks";
  c.oidc->issuer = "https://idp.example.com";
  c.oidc->insecure_allow_http = false;
  a = IncomingAuthenticator::Create(c, client_, Options());
  ASSERT_FALSE(a.ok());
  EXPECT_THAT(a.status().message(), HasSubstr("jwksUrl http://127.0.0.1:1/jwks uses http"));
}

TEST_F(IncomingTest, UnsupportedTypesAndMissingFieldsAreRefused) {
  config::IncomingAuthConfig local;
  local.type = "local";
  auto a = IncomingAuthenticator::Create(local, client_);
  ASSERT_FALSE(a.ok());
  EXPECT_THAT(a.status().message(), HasSubstr("incomingAuth type local is not supported"));
  config::IncomingAuthConfig c = Oidc();
  c.oidc->audience.clear();
  EXPECT_THAT(IncomingAuthenticator::Create(c, client_).status().message(), HasSubstr("audience is required"));
  c = Oidc();
  c.oidc->ca_bundle_path = "/nonexistent/ca.crt";
  EXPECT_THAT(IncomingAuthenticator::Create(c, client_).status().message(), HasSubstr("caBundlePath"));
}

TEST_F(IncomingTest, RotatedKeyIsFetchedOnUnknownKidWithinTheRateLimit) {
  auto auth = Make();
  ASSERT_TRUE(auth);
  ASSERT_TRUE(Auth(*auth, "Bearer " + SignJwt(*k1_, "RS256", Claims())).ok());
  ASSERT_EQ(idp_->jwks_fetches(), 1);

  // The IdP rotates to k2. Right after the last fetch the rate limit holds: no fetch, a clear 401.
  idp_->SetJwks(Json{{"keys", {k1_->Jwk(), k2_->Jwk()}}});
  const std::string rotated = SignJwt(*k2_, "ES256", Claims("bob"));
  auto early = Auth(*auth, "Bearer " + rotated);
  ASSERT_FALSE(early.ok());
  EXPECT_EQ(early.status().code(), absl::StatusCode::kUnauthenticated);
  EXPECT_EQ(early.status().message(), "unknown signing key kid=k2");
  EXPECT_EQ(idp_->jwks_fetches(), 1);

  // 11 s later the unknown kid triggers one refresh and the token is accepted, no restart needed.
  offset_s_ += 11;
  auto later = Auth(*auth, "Bearer " + SignJwt(*k2_, "ES256", Claims("bob")));
  ASSERT_TRUE(later.ok()) << later.status();
  EXPECT_EQ(later->subject, "bob");
  EXPECT_EQ(idp_->jwks_fetches(), 2);

  // A kid the IdP does not have: many attempts inside the window cause no fetch at all...
  const std::string unknown = SignJwt(*k3_, "RS256", Claims());
  for (int i = 0; i < 20; ++i) {
    auto r = Auth(*auth, "Bearer " + unknown);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.status().message(), "unknown signing key kid=k3");
  }
  EXPECT_EQ(idp_->jwks_fetches(), 2);
  // ...and one per window after it.
  offset_s_ += 11;
  EXPECT_FALSE(Auth(*auth, "Bearer " + SignJwt(*k3_, "RS256", Claims())).ok());
  EXPECT_FALSE(Auth(*auth, "Bearer " + SignJwt(*k3_, "RS256", Claims())).ok());
  EXPECT_EQ(idp_->jwks_fetches(), 3);
  // A key removed from the JWKS stops validating after the next refresh.
  idp_->SetJwks(Json{{"keys", {k2_->Jwk()}}});
  offset_s_ += 11;
  ASSERT_TRUE(io_.Run(auth->jwks()->Refresh()).ok());
  auto removed = Auth(*auth, "Bearer " + SignJwt(*k1_, "RS256", Claims()));
  ASSERT_FALSE(removed.ok());
  EXPECT_EQ(removed.status().message(), "unknown signing key kid=k1");
}

TEST_F(IncomingTest, ConcurrentValidationsWithAnUnknownKidShareOneFetch) {
  auto auth = Make();
  ASSERT_TRUE(auth);
  ASSERT_TRUE(Auth(*auth, "Bearer " + SignJwt(*k1_, "RS256", Claims())).ok());
  idp_->SetJwks(Json{{"keys", {k1_->Jwk(), k2_->Jwk()}}});
  offset_s_ += 11;
  idp_->HoldJwks(true);
  const std::string header = "Bearer " + SignJwt(*k2_, "ES256", Claims("carol"));
  std::vector<std::future<absl::StatusOr<Identity>>> calls;
  for (int i = 0; i < 20; ++i) calls.push_back(io_.Spawn(auth->Authenticate(header)));
  // One request reaches the IdP; the 19 others wait for it rather than being turned away.
  ASSERT_TRUE(WaitFor([&] { return idp_->jwks_waiting() == 1 && auth->jwks()->coalesced() == 19; }));
  idp_->HoldJwks(false);
  for (auto& f : calls) {
    auto r = f.get();
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_EQ(r->subject, "carol");
  }
  EXPECT_EQ(idp_->jwks_fetches(), 2);
}

TEST_F(IncomingTest, BackgroundRefreshPicksUpNewKeysWithoutAnyRequest) {
  IncomingOptions o = Options();
  o.jwks_refresh_interval = std::chrono::seconds(1);
  auto auth = Make(Oidc(), o);
  ASSERT_TRUE(auth);
  auth->Start(io_.executor());
  ASSERT_TRUE(WaitFor([&] { return idp_->jwks_fetches() >= 1; }));  // the first fetch at start
  idp_->SetJwks(Json{{"keys", {k1_->Jwk(), k2_->Jwk()}}});
  ASSERT_TRUE(WaitFor([&] {
    auto keys = auth->jwks()->current();
    return keys && keys->Has("k2");
  }));
  // No request had to pay for the fetch, and the rotated key validates right away.
  const int fetches = idp_->jwks_fetches();
  EXPECT_TRUE(Auth(*auth, "Bearer " + SignJwt(*k2_, "ES256", Claims())).ok());
  EXPECT_LE(idp_->jwks_fetches(), fetches + 1);  // at most a background tick in between
  auth->Stop();
}

TEST_F(IncomingTest, ChallengesForEachKindOfFailure) {
  IncomingOptions o = Options();
  config::IncomingAuthConfig c = Oidc();
  c.oidc->scopes = {"mcp:tools"};
  auto auth = Make(c, o);
  ASSERT_TRUE(auth);
  const std::string realm = "Bearer realm=\"" + idp_->issuer() + "\"";
  const std::string metadata = "resource_metadata=\"https://vmcp.example.com/.well-known/oauth-protected-resource/mcp\"";

  // No token: a bare challenge.
  auto none = Auth(*auth, "");
  ASSERT_FALSE(none.ok());
  Challenge ch = auth->ChallengeFor(none.status());
  EXPECT_EQ(ch.status, 401);
  EXPECT_EQ(ch.www_authenticate, realm + ", scope=\"mcp:tools\", " + metadata);
  EXPECT_THAT(ch.www_authenticate, Not(HasSubstr("error=")));

  // Another scheme, or junk: invalid_request.
  for (const std::string h : {"Basic dXNlcjpwYXNz", "Bearer", "Bearer a b"}) {
    SCOPED_TRACE(h);
    auto r = Auth(*auth, h);
    ASSERT_FALSE(r.ok());
    ch = auth->ChallengeFor(r.status());
    EXPECT_EQ(ch.status, 401);
    EXPECT_THAT(ch.www_authenticate, HasSubstr("error=\"invalid_request\""));
  }

  // A bad token: invalid_token with the reason.
  Json expired = Claims();
  expired["scope"] = "mcp:tools";
  expired["exp"] = NowS() - 3600;
  auto bad = Auth(*auth, "Bearer " + SignJwt(*k1_, "RS256", expired));
  ASSERT_FALSE(bad.ok());
  ch = auth->ChallengeFor(bad.status());
  EXPECT_EQ(ch.status, 401);
  EXPECT_EQ(ch.www_authenticate, realm + ", error=\"invalid_token\", error_description=\"token expired\", scope=\"mcp:tools\", " + metadata);
  EXPECT_EQ(Json::parse(ch.body), (Json{{"error", "invalid_token"}, {"error_description", "token expired"}}));

  // A missing scope: 403 insufficient_scope.
  auto scope = Auth(*auth, "Bearer " + SignJwt(*k1_, "RS256", Claims()));
  ASSERT_FALSE(scope.ok());
  ch = auth->ChallengeFor(scope.status());
  EXPECT_EQ(ch.status, 403);
  EXPECT_THAT(ch.www_authenticate, HasSubstr("error=\"insufficient_scope\""));
  EXPECT_THAT(ch.www_authenticate, HasSubstr("scope=\"mcp:tools\""));
  EXPECT_EQ(auth->rejected(), 6u);

  // With the scope, it passes.
  Json ok = Claims();
  ok["scope"] = "openid mcp:tools";
  EXPECT_TRUE(Auth(*auth, "Bearer " + SignJwt(*k1_, "RS256", ok)).ok());
}

TEST_F(IncomingTest, IdpDownIsServiceUnavailable) {
  config::IncomingAuthConfig c = Oidc();
  idp_->Stop();
  auto auth = Make(c, Options());
  ASSERT_TRUE(auth);
  auto r = Auth(*auth, "Bearer " + SignJwt(*k1_, "RS256", Claims()));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(r.status().message(), HasSubstr("signing keys unavailable: OIDC discovery: GET " + idp_->issuer() +
                                              "/.well-known/openid-configuration failed"));
  Challenge ch = auth->ChallengeFor(r.status());
  EXPECT_EQ(ch.status, 503);
  EXPECT_TRUE(ch.www_authenticate.empty());
  // The next request inside the rate-limit window does not dial the IdP again; it gets the same answer.
  auto again = Auth(*auth, "Bearer " + SignJwt(*k1_, "RS256", Claims()));
  EXPECT_EQ(again.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(auth->jwks()->refresh_failures(), 1u);
}

TEST_F(IncomingTest, DiscoveryWithAnotherIssuerIsRefused) {
  idp_->SetDiscovery(Json{{"issuer", "https://elsewhere.example.com"}, {"jwks_uri", idp_->Url("/jwks")}});
  auto auth = Make();
  ASSERT_TRUE(auth);
  auto r = Auth(*auth, "Bearer " + SignJwt(*k1_, "RS256", Claims()));
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.status().message(), HasSubstr("the document's issuer https://elsewhere.example.com is not the configured issuer"));
  EXPECT_EQ(idp_->jwks_fetches(), 0);
}

TEST_F(IncomingTest, IdpOverTlsIsTrustedThroughItsCaBundle) {
  transport::testing::TestCa ca(transport::testing::TempDir(), "idp-ca");
  auto cert = ca.Issue("idp", {"localhost"}, {"127.0.0.1"});
  FakeIdp tls_idp(transport::ServerTlsOptions{cert.cert_path, cert.key_path});
  tls_idp.SetJwks(Json{{"keys", {k1_->Jwk()}}});
  config::IncomingAuthConfig c = Oidc();
  c.oidc->issuer = tls_idp.issuer();
  c.oidc->insecure_allow_http = false;
  Json claims = Claims();
  claims["iss"] = tls_idp.issuer();
  const std::string header = "Bearer " + SignJwt(*k1_, "RS256", claims);

  auto untrusted = Make(c, Options());
  ASSERT_TRUE(untrusted);
  auto r = Auth(*untrusted, header);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(r.status().message(), HasSubstr("TLS"));

  c.oidc->ca_bundle_path = ca.cert_path();
  auto trusted = Make(c, Options());
  ASSERT_TRUE(trusted);
  auto ok = Auth(*trusted, header);
  ASSERT_TRUE(ok.ok()) << ok.status();
  EXPECT_EQ(tls_idp.jwks_fetches(), 1);
}

TEST_F(IncomingTest, OpaqueTokensGoToIntrospection) {
  auto auth = Make();
  ASSERT_TRUE(auth);
  idp_->SetIntrospection("opaque-abc", Json{{"active", true}, {"sub", "dave"}, {"iss", idp_->issuer()}, {"aud", kAudience},
                                            {"exp", NowS() + 600}, {"scope", "mcp:tools"}, {"client_id", "x"}});
  idp_->SetIntrospection("opaque-other-aud", Json{{"active", true}, {"sub", "dave"}, {"aud", "other"}});
  auto id = Auth(*auth, "Bearer opaque-abc");
  ASSERT_TRUE(id.ok()) << id.status();
  EXPECT_EQ(id->subject, "dave");
  EXPECT_EQ(id->issuer, idp_->issuer());
  EXPECT_EQ(id->token.Reveal(), "opaque-abc");
  // RFC 7662 request: the token in the form, the client authenticated with HTTP Basic.
  auto reqs = idp_->introspection_requests();
  ASSERT_EQ(reqs.size(), 1u);
  EXPECT_EQ(testing::ParseForm(reqs[0].body),
            (std::map<std::string, std::string>{{"token", "opaque-abc"}, {"token_type_hint", "access_token"}}));
  EXPECT_EQ(reqs[0].headers.Get("Content-Type"), "application/x-www-form-urlencoded");
  std::string basic;
  ASSERT_TRUE(absl::Base64Unescape(std::string(reqs[0].headers.Get("Authorization")->substr(6)), &basic));
  EXPECT_EQ(basic, "vmcp:s3cret%3A%2Fx");
  EXPECT_EQ(auth->introspections(), 1u);

  auto inactive = Auth(*auth, "Bearer opaque-unknown");
  ASSERT_FALSE(inactive.ok());
  EXPECT_EQ(inactive.status().message(), "token is not active");
  EXPECT_EQ(auth->ChallengeFor(inactive.status()).status, 401);
  auto aud = Auth(*auth, "Bearer opaque-other-aud");
  ASSERT_FALSE(aud.ok());
  EXPECT_EQ(aud.status().message(), "audience mismatch");
}

TEST_F(IncomingTest, OpaqueTokenWithoutIntrospectionIsRefused) {
  config::IncomingAuthConfig c = Oidc();
  c.oidc->jwks_url = idp_->Url("/jwks");  // no discovery, no introspectionUrl
  auto auth = Make(c, Options());
  ASSERT_TRUE(auth);
  auto r = Auth(*auth, "Bearer opaque-abc");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message(), "token is not a JWT and no introspection endpoint is configured");
  EXPECT_TRUE(idp_->introspection_requests().empty());
}

TEST_F(IncomingTest, ProtectedResourceMetadata) {
  config::IncomingAuthConfig c = Oidc();
  auto auth = Make(c, Options());
  ASSERT_TRUE(auth);
  EXPECT_EQ(auth->MetadataPath(), "/.well-known/oauth-protected-resource/mcp");
  EXPECT_EQ(auth->MetadataUrl(), "https://vmcp.example.com/.well-known/oauth-protected-resource/mcp");
  EXPECT_EQ(Json::parse(auth->ProtectedResourceMetadata()),
            (Json{{"resource", "https://vmcp.example.com/mcp"},
                  {"authorization_servers", {idp_->issuer()}},
                  {"bearer_methods_supported", {"header"}},
                  {"scopes_supported", {"openid"}}}));
  // No oidc.resource: the gateway's own URL.
  c.oidc->resource.clear();
  c.oidc->scopes = {"mcp:tools"};
  IncomingOptions o = Options();
  o.public_url = "http://vmcp.ns.svc.cluster.local:4483";
  auth = Make(c, o);
  ASSERT_TRUE(auth);
  EXPECT_EQ(auth->MetadataPath(), "/.well-known/oauth-protected-resource");
  EXPECT_EQ(auth->MetadataUrl(), "http://vmcp.ns.svc.cluster.local:4483/.well-known/oauth-protected-resource");
  Json doc = Json::parse(auth->ProtectedResourceMetadata());
  EXPECT_EQ(doc["resource"], "http://vmcp.ns.svc.cluster.local:4483");
  EXPECT_EQ(doc["scopes_supported"], Json({"mcp:tools"}));
}

TEST_F(IncomingTest, AnonymousPassesEveryRequest) {
  auto auth = IncomingAuthenticator::Create(std::nullopt, nullptr);
  ASSERT_TRUE(auth.ok());
  EXPECT_TRUE((*auth)->anonymous());
  for (const std::string h : {"", "Bearer whatever", "Basic x"}) {
    auto id = Auth(**auth, h);
    ASSERT_TRUE(id.ok());
    EXPECT_TRUE(id->anonymous);
    EXPECT_EQ(id->subject, "anonymous");
    EXPECT_EQ(id->issuer, "toolhive-local");
    EXPECT_TRUE(id->token.empty());
  }
  EXPECT_EQ((*auth)->ProtectedResourceMetadata(), "");
  config::IncomingAuthConfig anon;
  anon.type = "anonymous";
  EXPECT_TRUE(IncomingAuthenticator::Create(anon, nullptr).ok());
}

TEST(SessionBinding, SameIdentityMatchesOthersDoNot) {
  Identity a;
  a.issuer = "https://idp";
  a.subject = "alice";
  Identity refreshed = a;
  refreshed.token = config::Secret("a-new-token");
  Identity b = a;
  b.subject = "alicex";
  Identity c = a;
  c.issuer = "https://other";
  EXPECT_TRUE(BindingMatches(a.SessionBindingKey(), refreshed));
  EXPECT_FALSE(BindingMatches(a.SessionBindingKey(), b));
  EXPECT_FALSE(BindingMatches(a.SessionBindingKey(), c));
  // issuer "a\nb" + subject "c" is not issuer "a" + subject "b\nc" in practice: issuers are URLs.
  EXPECT_FALSE(BindingMatches("", a));
}

}  // namespace
}  // namespace vmcp::auth
