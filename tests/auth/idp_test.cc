// The auth library against a real OpenID provider: oidc-provider 9.13.3 (tests/peers/idp.mjs) on
// loopback, with its real discovery, JWKS, introspection, client_credentials grant and a registered
// RFC 8693 token-exchange grant. The gateway side validates tokens the provider issues (and a table of
// bad ones, each with its 401), follows its key rotation without a restart, introspects its opaque
// tokens, and exchanges a user's token once for a thousand backend requests, once for fifty concurrent
// first requests, again after expiry, with the provider's answers checked (audience) and its outages
// reported. Needs VMCP_PEERS_DIR (scripts/test.sh sets it).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <future>
#include <set>

#include "absl/strings/escaping.h"
#include "auth/incoming.h"
#include "auth/outgoing.h"
#include "auth/token_exchange.h"
#include "auth/util.h"
#include "tests/auth/test_keys.h"
#include "tests/gateway/child_process.h"
#include "tests/transport/test_io.h"

namespace vmcp::auth {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using transport::testing::IoThread;
using vmcp::testing::ChildProcess;
using vmcp::testing::NodeBinary;
using vmcp::testing::PeersDir;
using Json = nlohmann::json;

constexpr char kGatewayAudience[] = "urn:vmcp:gateway";
constexpr char kBackendAudience[] = "urn:backend:github";
constexpr char kGatewaySecret[] = "gateway secret:/+&";

class IdpTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_FALSE(PeersDir().empty()) << "VMCP_PEERS_DIR is not set: run the tests with scripts/test.sh";
    idp_ = std::make_unique<ChildProcess>(std::vector<std::string>{NodeBinary(), PeersDir() + "/idp.mjs", "--port", "0"});
    const int port = idp_->WaitForListening();
    ASSERT_GT(port, 0) << idp_->output();
    issuer_ = "http://127.0.0.1:" + std::to_string(port);
    client_ = std::make_shared<transport::HttpClient>(io_.executor());
  }

  TimePoint Now() const { return std::chrono::system_clock::now() + std::chrono::seconds(offset_s_.load()); }

  // --- talking to the provider as a test -------------------------------------------------------------

  transport::Response Call(const std::string& method, const std::string& path, std::string body,
                           const std::string& content_type = "application/json", const std::string& authorization = "") {
    transport::Request req;
    req.method = method;
    req.target = path;
    req.body = std::move(body);
    if (!req.body.empty()) req.headers.Set("Content-Type", content_type);
    if (!authorization.empty()) req.headers.Set("Authorization", authorization);
    auto url = transport::ParseUrl(issuer_ + path);
    EXPECT_TRUE(url.ok());
    auto resp = io_.Run(client_->Send(*url, std::move(req), transport::Endpoint{}));
    EXPECT_TRUE(resp.ok()) << resp.status();
    if (resp.ok()) return *resp;
    transport::Response none;
    none.status = 0;
    return none;
  }
  Json Stats() { return Json::parse(Call("GET", "/test/stats", "").body); }
  void Configure(const Json& settings) { ASSERT_EQ(Call("POST", "/test/config", settings.dump()).status, 200); }
  std::string Mint(const Json& claims, const std::string& key = "current") {
    auto r = Call("POST", "/test/mint", Json{{"claims", claims}, {"key", key}}.dump());
    return Json::parse(r.body).value("token", "");
  }
  // A user's access token from the provider: client_credentials of the user's client, for `resource`.
  std::string UserToken(const std::string& user, const std::string& resource = kGatewayAudience) {
    auto r = Call("POST", "/token",
                  internal::FormBody({{"grant_type", "client_credentials"}, {"resource", resource}, {"scope", "mcp:tools"}}),
                  "application/x-www-form-urlencoded", internal::BasicAuthorization(user, user + "-secret"));
    EXPECT_EQ(r.status, 200) << r.body;
    return Json::parse(r.body).value("access_token", "");
  }
  int64_t NowS() const { return std::chrono::duration_cast<std::chrono::seconds>(Now().time_since_epoch()).count(); }

  // --- the gateway side ------------------------------------------------------------------------------

  config::IncomingAuthConfig Oidc() const {
    config::IncomingAuthConfig c;
    c.type = "oidc";
    c.oidc.emplace();
    c.oidc->issuer = issuer_;
    c.oidc->audience = kGatewayAudience;
    c.oidc->client_id = "vmcp-gateway";
    c.oidc->client_secret = config::Secret(kGatewaySecret);
    c.oidc->insecure_allow_http = true;
    c.oidc->resource = "http://127.0.0.1:4483/mcp";
    return c;
  }

  std::shared_ptr<IncomingAuthenticator> Incoming(int64_t clock_offset_s = 0) {
    IncomingOptions o;
    o.clock = [this, clock_offset_s] { return Now() + std::chrono::seconds(clock_offset_s); };
    auto a = IncomingAuthenticator::Create(Oidc(), client_, o);
    EXPECT_TRUE(a.ok()) << a.status();
    return a.ok() ? *a : nullptr;
  }

  absl::StatusOr<Identity> Authenticate(IncomingAuthenticator& a, const std::string& token) {
    return io_.Run(a.Authenticate("Bearer " + token));
  }

  // Backends: github (token exchange at the provider), static (header injection).
  config::Config Gateway() const {
    config::Config c;
    config::StaticBackend github, fixed;
    github.name = "github";
    github.url = github.endpoint = "https://github-mcp.example.com/mcp";
    fixed.name = "static";
    fixed.url = fixed.endpoint = "http://static.example.com/mcp";
    c.backends = {github, fixed};
    c.outgoing_auth.emplace();
    c.outgoing_auth->source = "inline";
    config::BackendAuthStrategy te;
    te.type = config::kStrategyTokenExchange;
    te.token_exchange.emplace();
    te.token_exchange->token_url = issuer_ + "/token";
    te.token_exchange->client_id = "vmcp-gateway";
    te.token_exchange->client_secret = config::Secret(kGatewaySecret);
    te.token_exchange->audience = kBackendAudience;
    te.token_exchange->scopes = {"mcp:tools"};
    te.token_exchange->subject_token_type = kAccessTokenType;
    c.outgoing_auth->backends["github"] = te;
    config::BackendAuthStrategy inject;
    inject.type = config::kStrategyHeaderInjection;
    inject.header_injection.emplace();
    inject.header_injection->header_name = "X-Api-Key";
    inject.header_injection->header_value = config::Secret("static-key");
    c.outgoing_auth->backends["static"] = inject;
    return c;
  }

  std::shared_ptr<TokenExchanger> Exchanger() {
    TokenExchangeOptions o;
    o.clock = [this] { return Now(); };
    return std::make_shared<TokenExchanger>(client_, o);
  }

  std::shared_ptr<OutgoingAuth> Outgoing(std::shared_ptr<TokenExchanger> exchanger) {
    auto o = OutgoingAuth::Create(Gateway(), std::move(exchanger));
    EXPECT_TRUE(o.ok()) << o.status();
    return o.ok() ? *o : nullptr;
  }

  // The user's identity as the incoming side establishes it from a provider-issued token.
  Identity User(const std::string& name) {
    auto incoming = Incoming();
    auto id = Authenticate(*incoming, UserToken(name));
    EXPECT_TRUE(id.ok()) << id.status();
    return id.ok() ? *id : Identity{};
  }

  // The bearer token of the Authorization header in `headers`.
  static std::string BearerOf(const HeaderList& headers) {
    for (const auto& [name, value] : headers) {
      if (name == "Authorization" && value.rfind("Bearer ", 0) == 0) return value.substr(7);
    }
    return "";
  }

  IoThread io_{2};
  std::unique_ptr<ChildProcess> idp_;
  std::string issuer_;
  std::shared_ptr<transport::HttpClient> client_;
  std::atomic<int64_t> offset_s_{0};
};

TEST_F(IdpTest, ValidatesTokensTheProviderIssues) {
  auto incoming = Incoming();
  ASSERT_TRUE(incoming);
  for (const std::string user : {"alice", "bob"}) {
    auto id = Authenticate(*incoming, UserToken(user));
    ASSERT_TRUE(id.ok()) << id.status();
    EXPECT_EQ(id->subject, user);
    EXPECT_EQ(id->issuer, issuer_);
    EXPECT_EQ(id->audience, std::vector<std::string>{kGatewayAudience});
    EXPECT_THAT(id->scopes, ::testing::Contains("mcp:tools"));
    EXPECT_EQ(id->SessionBindingKey(), issuer_ + "\n" + user);
  }
  const Json stats = Stats();
  EXPECT_EQ(stats["discovery"], 1);
  EXPECT_EQ(stats["jwks"], 1);
}

// A validated token is remembered (no signature check per request), but never past its expiry: the
// same token, presented after it expired, is refused although it was accepted a moment before.
TEST_F(IdpTest, ARememberedTokenStillExpires) {
  auto incoming = Incoming();
  ASSERT_TRUE(incoming);
  const std::string token = UserToken("alice");
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(Authenticate(*incoming, token).ok());
  offset_s_ += 600 + 61;  // past the token's 600 s lifetime and the clock skew
  auto late = Authenticate(*incoming, token);
  ASSERT_FALSE(late.ok());
  EXPECT_NE(std::string(late.status().message()).find("expired"), std::string::npos) << late.status();
}

TEST_F(IdpTest, BadIncomingTokensEachGetTheirOwn401) {
  auto incoming = Incoming();
  ASSERT_TRUE(incoming);
  const std::string good = UserToken("alice");
  ASSERT_TRUE(Authenticate(*incoming, good).ok());
  const std::string header_part = good.substr(0, good.find('.'));
  const std::string payload_part = good.substr(good.find('.') + 1, good.rfind('.') - good.find('.') - 1);
  std::string tampered = good;
  tampered[good.rfind('.') + 10] = tampered[good.rfind('.') + 10] == 'A' ? 'B' : 'A';
  // The provider's own public key, as an HMAC secret.
  const Json keys = Json::parse(Call("GET", "/test/keys", "").body);
  const std::string pem = testing::PemFromRsaJwk(keys["current"]);
  std::string payload_json;
  ASSERT_TRUE(absl::WebSafeBase64Unescape(payload_part, &payload_json));
  const Json payload = Json::parse(payload_json);
  const Json base = {{"iss", issuer_}, {"aud", kGatewayAudience}, {"sub", "alice"}, {"exp", NowS() + 600}};
  auto without = [&](const char* claim) {
    Json c = base;
    c.erase(claim);
    return c;
  };
  Json other_issuer = base;
  other_issuer["iss"] = "http://evil.example.com";

  struct Case {
    std::string name;
    std::string token;
    std::string message;
  };
  const std::vector<Case> cases = {
      {"wrong audience", UserToken("alice", "urn:some:other-api"), "audience mismatch"},
      {"wrong issuer", Mint(other_issuer), "issuer mismatch: token iss is http://evil.example.com"},
      {"bad signature", tampered, "signature invalid"},
      {"alg none", testing::B64Url(Json{{"alg", "none"}, {"kid", "idp-key-1"}}.dump()) + "." + payload_part + ".",
       "alg none not accepted"},
      {"HS256 with the provider's public key", testing::HmacJwt(pem, payload, Json{{"kid", "idp-key-1"}}),
       "alg HS256 not accepted (HMAC algorithms are refused)"},
      {"missing sub", Mint(without("sub")), "token has no sub"},
      {"missing exp", Mint(without("exp")), "token has no exp"},
      {"unknown kid (a key the provider has not published)", Mint(base, "next"), "unknown signing key kid=idp-key-2"},
      {"not a token at all", "not-a-jwt", "token is not active"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    ASSERT_FALSE(c.token.empty());
    auto r = Authenticate(*incoming, c.token);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.status().code(), absl::StatusCode::kUnauthenticated) << r.status();
    EXPECT_THAT(r.status().message(), HasSubstr(c.message));
    const Challenge ch = incoming->ChallengeFor(r.status());
    EXPECT_EQ(ch.status, 401);
    EXPECT_THAT(ch.www_authenticate, HasSubstr("error=\"invalid_token\""));
    EXPECT_THAT(ch.www_authenticate,
                HasSubstr("resource_metadata=\"http://127.0.0.1:4483/.well-known/oauth-protected-resource/mcp\""));
  }
  // One JWKS fetch for all of it (the unknown kid came right after the first fetch: rate-limited).
  EXPECT_EQ(Stats()["jwks"], 1);
  // Expired: the same good token, an hour later.
  auto later = Incoming(3600);
  auto expired = Authenticate(*later, good);
  ASSERT_FALSE(expired.ok());
  EXPECT_EQ(expired.status().message(), "token expired");
}

TEST_F(IdpTest, KeyRotationIsFollowedWithoutARestart) {
  auto incoming = Incoming();
  ASSERT_TRUE(incoming);
  const std::string before = UserToken("alice");
  ASSERT_TRUE(Authenticate(*incoming, before).ok());
  const Json claims = {{"iss", issuer_}, {"aud", kGatewayAudience}, {"sub", "alice"}, {"exp", NowS() + 3600}};
  const std::string with_next_key = Mint(claims, "next");
  // Before rotation: the kid is unknown.
  auto r = Authenticate(*incoming, with_next_key);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message(), "unknown signing key kid=idp-key-2");
  // The provider rotates: it publishes the new key and signs with it.
  ASSERT_EQ(Call("POST", "/test/rotate", "{}").status, 200);
  const std::string after = UserToken("bob");
  offset_s_ += 11;  // past the refresh rate limit
  auto rotated = Authenticate(*incoming, after);
  ASSERT_TRUE(rotated.ok()) << rotated.status();
  EXPECT_EQ(rotated->subject, "bob");
  EXPECT_TRUE(Authenticate(*incoming, with_next_key).ok());
  EXPECT_TRUE(Authenticate(*incoming, before).ok());  // the old key is still published
  EXPECT_EQ(Stats()["jwks"], 2);
}

TEST_F(IdpTest, OpaqueTokensAreIntrospected) {
  auto incoming = Incoming();
  ASSERT_TRUE(incoming);
  const std::string opaque = UserToken("opaque-user");
  ASSERT_FALSE(LooksLikeJwt(opaque));
  auto id = Authenticate(*incoming, opaque);
  ASSERT_TRUE(id.ok()) << id.status();
  EXPECT_EQ(id->subject, "opaque-user");
  EXPECT_EQ(id->issuer, issuer_);
  EXPECT_EQ(Stats()["introspections"], 1);
  auto bogus = Authenticate(*incoming, "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA");
  ASSERT_FALSE(bogus.ok());
  EXPECT_EQ(bogus.status().message(), "token is not active");
}

TEST_F(IdpTest, OneExchangeForAThousandRequests) {
  auto exchanger = Exchanger();
  auto outgoing = Outgoing(exchanger);
  ASSERT_TRUE(outgoing);
  const Identity alice = User("alice");
  const transport::Headers client_headers;
  std::string first;
  for (int i = 0; i < 1000; ++i) {
    auto h = io_.Run(outgoing->HeadersFor("github", &alice, client_headers));
    ASSERT_TRUE(h.ok()) << h.status();
    const std::string token = BearerOf(*h);
    if (i == 0) first = token;
    ASSERT_EQ(token, first);
  }
  EXPECT_EQ(Stats()["exchanges"], 1);
  EXPECT_EQ(exchanger->exchanges(), 1u);
  EXPECT_EQ(exchanger->cache_hits(), 999u);

  // What the provider received: the RFC 8693 fields, the client authenticated with HTTP Basic.
  const Json last = Stats()["last_exchange"];
  EXPECT_EQ(last["client"], "vmcp-gateway");
  EXPECT_EQ(last["client_auth"], "Basic");
  EXPECT_EQ(last["subject_token_type"], "urn:ietf:params:oauth:token-type:access_token");
  EXPECT_EQ(last["requested_token_type"], "urn:ietf:params:oauth:token-type:access_token");
  EXPECT_EQ(last["audience"], kBackendAudience);
  EXPECT_EQ(last["scope"], "mcp:tools");
  EXPECT_FALSE(last.contains("resource"));

  // What the backend gets: a JWT from the provider for its audience, on behalf of alice.
  auto jwks = Json::parse(Call("GET", "/jwks", "").body);
  auto keys = ParseJwksJson(jwks);
  ASSERT_TRUE(keys.ok());
  JwtOptions o;
  o.claims.issuer = issuer_;
  o.claims.audience = kBackendAudience;
  auto claims = ValidateJwt(first, *keys, o);
  ASSERT_TRUE(claims.ok()) << claims.status();
  EXPECT_EQ(claims->subject, "alice");
  EXPECT_EQ(claims->all["act"]["sub"], "vmcp-gateway");
  EXPECT_NE(first, alice.token.Reveal());

  // Another user is another exchange.
  const Identity bob = User("bob");
  auto h = io_.Run(outgoing->HeadersFor("github", &bob, client_headers));
  ASSERT_TRUE(h.ok());
  EXPECT_NE(BearerOf(*h), first);
  EXPECT_EQ(Stats()["exchanges"], 2);
}

TEST_F(IdpTest, ExpiryCausesANewExchange) {
  Configure({{"exchange_ttl", 45}});  // expires_in 45 s: cached for 15 s (30 s skew)
  auto exchanger = Exchanger();
  auto outgoing = Outgoing(exchanger);
  ASSERT_TRUE(outgoing);
  const Identity alice = User("alice");
  const transport::Headers none;
  auto first = io_.Run(outgoing->HeadersFor("github", &alice, none));
  ASSERT_TRUE(first.ok()) << first.status();
  offset_s_ += 14;
  auto cached = io_.Run(outgoing->HeadersFor("github", &alice, none));
  ASSERT_TRUE(cached.ok());
  EXPECT_EQ(BearerOf(*cached), BearerOf(*first));
  EXPECT_EQ(Stats()["exchanges"], 1);
  offset_s_ += 2;
  auto renewed = io_.Run(outgoing->HeadersFor("github", &alice, none));
  ASSERT_TRUE(renewed.ok()) << renewed.status();
  EXPECT_NE(BearerOf(*renewed), BearerOf(*first));
  EXPECT_EQ(Stats()["exchanges"], 2);
}

TEST_F(IdpTest, FiftyConcurrentFirstRequestsCauseOneExchange) {
  Configure({{"exchange_delay_ms", 300}});
  auto exchanger = Exchanger();
  auto outgoing = Outgoing(exchanger);
  ASSERT_TRUE(outgoing);
  const Identity alice = User("alice");
  const transport::Headers none;
  std::vector<std::future<absl::StatusOr<HeaderList>>> calls;
  const std::string backend = "github";  // outlives the spawned calls
  for (int i = 0; i < 50; ++i) calls.push_back(io_.Spawn(outgoing->HeadersFor(backend, &alice, none)));
  std::set<std::string> tokens;
  for (auto& f : calls) {
    auto h = f.get();
    ASSERT_TRUE(h.ok()) << h.status();
    tokens.insert(BearerOf(*h));
  }
  EXPECT_EQ(tokens.size(), 1u);
  EXPECT_EQ(Stats()["exchanges"], 1);
  EXPECT_EQ(exchanger->exchanges(), 1u);
  EXPECT_EQ(exchanger->coalesced() + exchanger->cache_hits(), 49u);
}

TEST_F(IdpTest, AudienceOfTheExchangedTokenIsChecked) {
  Configure({{"audience_override", "urn:backend:someone-else"}});
  auto exchanger = Exchanger();
  auto outgoing = Outgoing(exchanger);
  ASSERT_TRUE(outgoing);
  const Identity alice = User("alice");
  const transport::Headers none;
  auto h = io_.Run(outgoing->HeadersFor("github", &alice, none));
  ASSERT_FALSE(h.ok());
  EXPECT_EQ(h.status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_THAT(h.status().message(),
              HasSubstr("backend github: token exchange at " + issuer_ +
                        "/token: the issued token's audience [urn:backend:someone-else] does not include the configured "
                        "audience urn:backend:github"));
  EXPECT_EQ(exchanger->cache_size(), 0u);
  Configure({{"audience_override", nullptr}});
  EXPECT_TRUE(io_.Run(outgoing->HeadersFor("github", &alice, none)).ok());
  EXPECT_EQ(Stats()["exchanges"], 2);
}

TEST_F(IdpTest, ProviderRefusalIsReportedWithoutTheToken) {
  Configure({{"fail_exchange", "subject is not allowed"}});
  auto outgoing = Outgoing(Exchanger());
  ASSERT_TRUE(outgoing);
  const Identity alice = User("alice");
  const transport::Headers none;
  auto h = io_.Run(outgoing->HeadersFor("github", &alice, none));
  ASSERT_FALSE(h.ok());
  EXPECT_EQ(h.status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_THAT(h.status().message(), HasSubstr("backend github: token exchange at " + issuer_ + "/token refused (HTTP 400): invalid_grant"));
  EXPECT_THAT(h.status().message(), Not(HasSubstr(alice.token.Reveal().substr(0, 30))));
  EXPECT_THAT(h.status().message(), Not(HasSubstr(kGatewaySecret)));
}

TEST_F(IdpTest, ProviderDownGivesAClearErrorAndOtherBackendsKeepServing) {
  auto outgoing = Outgoing(Exchanger());
  ASSERT_TRUE(outgoing);
  const Identity alice = User("alice");
  idp_->Terminate();
  const transport::Headers none;
  auto h = io_.Run(outgoing->HeadersFor("github", &alice, none));
  ASSERT_FALSE(h.ok());
  EXPECT_EQ(h.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(h.status().message(), HasSubstr("backend github: token exchange: POST " + issuer_ + "/token failed"));
  auto other = io_.Run(outgoing->HeadersFor("static", &alice, none));
  ASSERT_TRUE(other.ok()) << other.status();
  EXPECT_EQ(other->size(), 1u);
}

TEST_F(IdpTest, HealthChecksUseClientCredentials) {
  auto exchanger = Exchanger();
  auto outgoing = Outgoing(exchanger);
  ASSERT_TRUE(outgoing);
  const int before = Stats()["client_credentials"].get<int>();
  auto h = io_.Run(outgoing->HealthCheckHeaders("github"));
  ASSERT_TRUE(h.ok()) << h.status();
  EXPECT_FALSE(BearerOf(*h).empty());
  EXPECT_EQ(Stats()["client_credentials"].get<int>(), before + 1);
  EXPECT_EQ(Stats()["exchanges"], 0);
  EXPECT_EQ(exchanger->client_credentials_grants(), 1u);
}

}  // namespace
}  // namespace vmcp::auth
