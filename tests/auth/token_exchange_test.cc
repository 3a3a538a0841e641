// Tests of auth/token_exchange.h against a loopback token endpoint whose answers the test writes: the
// exact RFC 8693 wire format (form fields, client authentication), response validation (each refusal
// with its own message, no token in any), post-exchange audience validation, and the cache: hits,
// expiry with an injected clock, the LRU bound, failures not cached, and single flight.
#include "auth/token_exchange.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <future>

#include "absl/strings/escaping.h"
#include "tests/auth/fake_idp.h"
#include "tests/auth/test_keys.h"
#include "tests/transport/test_io.h"

namespace vmcp::auth {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using testing::FakeIdp;
using testing::ParseForm;
using testing::WaitFor;
using transport::testing::IoThread;
using Json = nlohmann::json;
using Form = std::map<std::string, std::string>;

constexpr char kSubject[] = "user-token-SECRET-1234";

transport::Response JsonResponse(int status, const Json& body) {
  transport::Response r;
  r.status = status;
  r.headers.Set("Content-Type", "application/json");
  r.body = body.dump();
  return r;
}

Json Issued(const std::string& token, int64_t expires_in = 600) {
  return Json{{"access_token", token},
              {"issued_token_type", "urn:ietf:params:oauth:token-type:access_token"},
              {"token_type", "Bearer"},
              {"expires_in", expires_in}};
}

class TokenExchangeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    client_ = std::make_shared<transport::HttpClient>(io_.executor());
    // By default: a new opaque token per request, "tok-<n>".
    idp_.SetTokenHandler([this](const transport::Request&) { return JsonResponse(200, Issued("tok-" + std::to_string(++issued_))); });
  }

  config::TokenExchangeConfig Config() const {
    config::TokenExchangeConfig c;
    c.token_url = idp_.Url("/token");
    c.client_id = "vmcp gateway";
    c.client_secret = config::Secret("p@ss:w/rd");
    c.audience = "https://backend.example.com";
    c.scopes = {"read", "write"};
    c.subject_token_type = "urn:ietf:params:oauth:token-type:access_token";
    return c;
  }

  TokenExchangeOptions Options() {
    TokenExchangeOptions o;
    o.clock = [this] { return base_ + std::chrono::seconds(offset_s_.load()); };
    return o;
  }

  absl::StatusOr<config::Secret> Exchange(TokenExchanger& ex, const config::TokenExchangeConfig& c,
                                          const std::string& subject = kSubject) {
    config::Secret s(subject);
    return io_.Run(ex.Exchange(c, s));
  }

  IoThread io_{2};
  FakeIdp idp_;
  std::shared_ptr<transport::HttpClient> client_;
  std::atomic<int> issued_{0};
  const TimePoint base_ = std::chrono::system_clock::now();
  std::atomic<int64_t> offset_s_{0};
};

TEST_F(TokenExchangeTest, WireFormatWithBasicClientAuthentication) {
  TokenExchanger ex(client_, Options());
  auto token = Exchange(ex, Config());
  ASSERT_TRUE(token.ok()) << token.status();
  EXPECT_EQ(token->Reveal(), "tok-1");
  auto reqs = idp_.token_requests();
  ASSERT_EQ(reqs.size(), 1u);
  EXPECT_EQ(reqs[0].method, "POST");
  EXPECT_EQ(reqs[0].target, "/token");
  EXPECT_EQ(reqs[0].headers.Get("Content-Type"), "application/x-www-form-urlencoded");
  EXPECT_EQ(ParseForm(reqs[0].body), (Form{{"grant_type", "urn:ietf:params:oauth:grant-type:token-exchange"},
                                           {"subject_token", kSubject},
                                           {"subject_token_type", "urn:ietf:params:oauth:token-type:access_token"},
                                           {"requested_token_type", "urn:ietf:params:oauth:token-type:access_token"},
                                           {"audience", "https://backend.example.com"},
                                           {"scope", "read write"}}));
  // RFC 6749 section 2.3.1: form-encode id and secret, then Basic.
  auto auth = reqs[0].headers.Get("Authorization");
  ASSERT_TRUE(auth.has_value());
  ASSERT_EQ(auth->substr(0, 6), "Basic ");
  std::string decoded;
  ASSERT_TRUE(absl::Base64Unescape(std::string(auth->substr(6)), &decoded));
  EXPECT_EQ(decoded, "vmcp+gateway:p%40ss%3Aw%2Frd");
  EXPECT_EQ(ex.exchanges(), 1u);
}

TEST_F(TokenExchangeTest, ClientIdAloneGoesInTheFormAndNothingWithoutIt) {
  TokenExchanger ex(client_, Options());
  config::TokenExchangeConfig c = Config();
  c.client_secret = config::Secret();
  c.audience.clear();
  c.scopes.clear();
  c.subject_token_type = "urn:ietf:params:oauth:token-type:jwt";
  ASSERT_TRUE(Exchange(ex, c).ok());
  config::TokenExchangeConfig bare = c;
  bare.client_id.clear();
  ASSERT_TRUE(Exchange(ex, bare).ok());
  auto reqs = idp_.token_requests();
  ASSERT_EQ(reqs.size(), 2u);
  EXPECT_FALSE(reqs[0].headers.Has("Authorization"));
  EXPECT_EQ(ParseForm(reqs[0].body), (Form{{"grant_type", "urn:ietf:params:oauth:grant-type:token-exchange"},
                                           {"subject_token", kSubject},
                                           {"subject_token_type", "urn:ietf:params:oauth:token-type:jwt"},
                                           {"requested_token_type", "urn:ietf:params:oauth:token-type:access_token"},
                                           {"client_id", "vmcp gateway"}}));
  EXPECT_FALSE(reqs[1].headers.Has("Authorization"));
  EXPECT_EQ(ParseForm(reqs[1].body).count("client_id"), 0u);
}

TEST_F(TokenExchangeTest, ResponsesAreValidated) {
  struct Case {
    std::string name;
    transport::Response response;
    std::string message;
    absl::StatusCode code;
  };
  const std::vector<Case> cases = {
      {"OAuth error", JsonResponse(400, {{"error", "invalid_grant"}, {"error_description", std::string("subject_token ") + kSubject + " is expired"}}),
       "refused (HTTP 400): invalid_grant: subject_token [redacted] is expired", absl::StatusCode::kPermissionDenied},
      {"OAuth error on 200", JsonResponse(200, {{"error", "invalid_request"}}), "refused (HTTP 200): invalid_request",
       absl::StatusCode::kPermissionDenied},
      {"server error", JsonResponse(503, {{"message", "down"}}), "answered HTTP 503", absl::StatusCode::kUnavailable},
      {"not JSON", [] { transport::Response r; r.body = "<html>"; return r; }(), "the response is not a JSON object",
       absl::StatusCode::kFailedPrecondition},
      {"no access_token", JsonResponse(200, {{"issued_token_type", "x"}, {"token_type", "Bearer"}}), "has no access_token",
       absl::StatusCode::kFailedPrecondition},
      {"empty access_token", JsonResponse(200, Issued("")), "has no access_token", absl::StatusCode::kFailedPrecondition},
      {"no issued_token_type", JsonResponse(200, {{"access_token", "t"}, {"token_type", "Bearer"}}), "has no issued_token_type",
       absl::StatusCode::kFailedPrecondition},
      {"no token_type", JsonResponse(200, {{"access_token", "t"}, {"issued_token_type", "x"}}), "has no token_type",
       absl::StatusCode::kFailedPrecondition},
      {"MAC token_type", JsonResponse(200, {{"access_token", "t"}, {"issued_token_type", "x"}, {"token_type", "mac"}}),
       "token_type mac is not Bearer or N_A", absl::StatusCode::kFailedPrecondition},
      {"negative expires_in", JsonResponse(200, Issued("t", -5)), "expires_in is not a non-negative number",
       absl::StatusCode::kFailedPrecondition},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    idp_.SetTokenHandler([r = c.response](const transport::Request&) { return r; });
    TokenExchanger ex(client_, Options());
    auto token = Exchange(ex, Config());
    ASSERT_FALSE(token.ok());
    EXPECT_EQ(token.status().code(), c.code) << token.status();
    EXPECT_THAT(token.status().message(), HasSubstr(c.message));
    EXPECT_THAT(token.status().message(), HasSubstr("token exchange at " + idp_.Url("/token")));
    EXPECT_THAT(token.status().message(), Not(HasSubstr(kSubject)));
    EXPECT_THAT(token.status().message(), Not(HasSubstr("p@ss")));
    EXPECT_EQ(ex.failures(), 1u);
  }
  // Accepted variants: token_type in any case, N_A, expires_in as a string or absent.
  for (const Json& body : {Json{{"access_token", "t"}, {"issued_token_type", "x"}, {"token_type", "bearer"}},
                           Json{{"access_token", "t"}, {"issued_token_type", "x"}, {"token_type", "N_A"}, {"expires_in", "60"}}}) {
    idp_.SetTokenHandler([body](const transport::Request&) { return JsonResponse(200, body); });
    TokenExchanger ex(client_, Options());
    EXPECT_TRUE(Exchange(ex, Config()).ok()) << body.dump();
  }
}

TEST_F(TokenExchangeTest, IssuedJwtMustCarryTheConfiguredAudience) {
  testing::TestKey key = testing::TestKey::Rsa("k");
  std::atomic<bool> right{false};
  idp_.SetTokenHandler([&](const transport::Request&) {
    const Json aud = right ? Json{"https://backend.example.com", "other"} : Json("https://someone-else.example.com");
    return JsonResponse(200, Issued(testing::SignJwt(key, "RS256", Json{{"sub", "alice"}, {"aud", aud}})));
  });
  TokenExchanger ex(client_, Options());
  auto wrong = Exchange(ex, Config());
  ASSERT_FALSE(wrong.ok());
  EXPECT_EQ(wrong.status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_THAT(wrong.status().message(),
              HasSubstr("the issued token's audience [https://someone-else.example.com] does not include the configured "
                        "audience https://backend.example.com"));
  EXPECT_EQ(ex.cache_size(), 0u);  // not cached: the next call asks again
  right = true;
  auto good = Exchange(ex, Config());
  ASSERT_TRUE(good.ok()) << good.status();
  EXPECT_EQ(idp_.token_requests().size(), 2u);
  // Without a configured audience nothing is checked.
  right = false;
  config::TokenExchangeConfig no_aud = Config();
  no_aud.audience.clear();
  EXPECT_TRUE(Exchange(ex, no_aud).ok());
}

TEST_F(TokenExchangeTest, CacheHitsUntilExpiresInMinusSkew) {
  TokenExchanger ex(client_, Options());
  for (int i = 0; i < 100; ++i) {
    auto t = Exchange(ex, Config());
    ASSERT_TRUE(t.ok());
    EXPECT_EQ(t->Reveal(), "tok-1");
  }
  EXPECT_EQ(ex.exchanges(), 1u);
  EXPECT_EQ(ex.cache_hits(), 99u);
  // expires_in 600, skew 30: still cached at 569 s, a new exchange at 570 s.
  offset_s_ = 569;
  EXPECT_EQ(Exchange(ex, Config())->Reveal(), "tok-1");
  offset_s_ = 570;
  EXPECT_EQ(Exchange(ex, Config())->Reveal(), "tok-2");
  EXPECT_EQ(ex.exchanges(), 2u);
  // Another user token, or another strategy config, is another entry.
  EXPECT_EQ(Exchange(ex, Config(), "another-user")->Reveal(), "tok-3");
  config::TokenExchangeConfig other = Config();
  other.audience = "https://other.example.com";
  EXPECT_EQ(Exchange(ex, other)->Reveal(), "tok-4");
  other.scopes = {"read"};
  EXPECT_EQ(Exchange(ex, other)->Reveal(), "tok-5");
  EXPECT_EQ(ex.cache_size(), 4u);
}

TEST_F(TokenExchangeTest, NoExpiresInUsesTheDefaultLifetimeAndJwtExpCapsIt) {
  idp_.SetTokenHandler([this](const transport::Request&) {
    return JsonResponse(200, Json{{"access_token", "tok-" + std::to_string(++issued_)},
                                  {"issued_token_type", "urn:ietf:params:oauth:token-type:access_token"},
                                  {"token_type", "Bearer"}});
  });
  TokenExchanger ex(client_, Options());
  EXPECT_EQ(Exchange(ex, Config())->Reveal(), "tok-1");
  offset_s_ = 269;  // 300 - 30 - 1
  EXPECT_EQ(Exchange(ex, Config())->Reveal(), "tok-1");
  offset_s_ = 270;
  EXPECT_EQ(Exchange(ex, Config())->Reveal(), "tok-2");

  // A JWT whose exp comes before expires_in: the exp wins.
  testing::TestKey key = testing::TestKey::Rsa("k");
  const int64_t now_s = std::chrono::duration_cast<std::chrono::seconds>(base_.time_since_epoch()).count();
  idp_.SetTokenHandler([&](const transport::Request&) {
    return JsonResponse(200, Issued(testing::SignJwt(key, "RS256", Json{{"aud", "https://backend.example.com"},
                                                                        {"exp", now_s + 100}, {"n", ++issued_}}),
                                    3600));
  });
  TokenExchanger jwt(client_, Options());
  offset_s_ = 0;
  auto first = Exchange(jwt, Config());
  ASSERT_TRUE(first.ok());
  offset_s_ = 69;
  EXPECT_EQ(Exchange(jwt, Config())->Reveal(), first->Reveal());
  offset_s_ = 71;
  EXPECT_NE(Exchange(jwt, Config())->Reveal(), first->Reveal());
}

TEST_F(TokenExchangeTest, LruBound) {
  TokenExchangeOptions o = Options();
  o.max_entries = 2;
  TokenExchanger ex(client_, o);
  EXPECT_EQ(Exchange(ex, Config(), "a")->Reveal(), "tok-1");
  EXPECT_EQ(Exchange(ex, Config(), "b")->Reveal(), "tok-2");
  EXPECT_EQ(Exchange(ex, Config(), "a")->Reveal(), "tok-1");  // a is now the most recent
  EXPECT_EQ(Exchange(ex, Config(), "c")->Reveal(), "tok-3");  // evicts b
  EXPECT_EQ(ex.cache_size(), 2u);
  EXPECT_EQ(Exchange(ex, Config(), "a")->Reveal(), "tok-1");
  EXPECT_EQ(Exchange(ex, Config(), "b")->Reveal(), "tok-4");
}

TEST_F(TokenExchangeTest, FailuresAreNotCached) {
  std::atomic<bool> fail{true};
  idp_.SetTokenHandler([&](const transport::Request&) {
    if (fail) return JsonResponse(400, {{"error", "invalid_grant"}});
    return JsonResponse(200, Issued("good"));
  });
  TokenExchanger ex(client_, Options());
  EXPECT_FALSE(Exchange(ex, Config()).ok());
  EXPECT_FALSE(Exchange(ex, Config()).ok());
  fail = false;
  EXPECT_EQ(Exchange(ex, Config())->Reveal(), "good");
  EXPECT_EQ(ex.exchanges(), 3u);
  EXPECT_EQ(ex.failures(), 2u);
}

TEST_F(TokenExchangeTest, ConcurrentCallersShareOneExchange) {
  TokenExchanger ex(client_, Options());
  idp_.HoldTokens(true);
  const config::TokenExchangeConfig c = Config();
  const config::Secret subject(kSubject);
  std::vector<std::future<absl::StatusOr<config::Secret>>> calls;
  for (int i = 0; i < 50; ++i) calls.push_back(io_.Spawn(ex.Exchange(c, subject)));
  ASSERT_TRUE(WaitFor([&] { return idp_.token_waiting() == 1 && ex.coalesced() == 49; }));
  idp_.HoldTokens(false);
  for (auto& f : calls) {
    auto t = f.get();
    ASSERT_TRUE(t.ok()) << t.status();
    EXPECT_EQ(t->Reveal(), "tok-1");
  }
  EXPECT_EQ(idp_.token_requests().size(), 1u);
  EXPECT_EQ(ex.exchanges(), 1u);
}

TEST_F(TokenExchangeTest, AFailureReachesEveryWaiter) {
  TokenExchanger ex(client_, Options());
  idp_.SetTokenHandler([](const transport::Request&) { return JsonResponse(400, {{"error", "invalid_grant"}}); });
  idp_.HoldTokens(true);
  const config::TokenExchangeConfig c = Config();
  const config::Secret subject(kSubject);
  std::vector<std::future<absl::StatusOr<config::Secret>>> calls;
  for (int i = 0; i < 10; ++i) calls.push_back(io_.Spawn(ex.Exchange(c, subject)));
  ASSERT_TRUE(WaitFor([&] { return idp_.token_waiting() == 1 && ex.coalesced() == 9; }));
  idp_.HoldTokens(false);
  for (auto& f : calls) {
    auto t = f.get();
    ASSERT_FALSE(t.ok());
    EXPECT_THAT(t.status().message(), HasSubstr("invalid_grant"));
  }
  EXPECT_EQ(ex.failures(), 1u);
  EXPECT_EQ(ex.cache_size(), 0u);
}

TEST_F(TokenExchangeTest, IdpDownIsAClearError) {
  TokenExchanger ex(client_, Options());
  const std::string url = idp_.Url("/token");
  idp_.Stop();
  auto t = Exchange(ex, Config());
  ASSERT_FALSE(t.ok());
  EXPECT_EQ(t.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(t.status().message(), HasSubstr("token exchange: POST " + url + " failed"));
}

TEST_F(TokenExchangeTest, ClientCredentialsGrant) {
  TokenExchanger ex(client_, Options());
  idp_.SetTokenHandler([](const transport::Request&) {
    return JsonResponse(200, Json{{"access_token", "cc-token"}, {"token_type", "Bearer"}, {"expires_in", 300}});
  });
  auto t = io_.Run(ex.ClientCredentials(Config()));
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_EQ(t->Reveal(), "cc-token");
  EXPECT_TRUE(io_.Run(ex.ClientCredentials(Config())).ok());  // cached
  auto reqs = idp_.token_requests();
  ASSERT_EQ(reqs.size(), 1u);
  EXPECT_EQ(ParseForm(reqs[0].body),
            (Form{{"grant_type", "client_credentials"}, {"scope", "read write"}, {"audience", "https://backend.example.com"}}));
  EXPECT_TRUE(reqs[0].headers.Has("Authorization"));
  EXPECT_EQ(ex.client_credentials_grants(), 1u);
  EXPECT_EQ(ex.exchanges(), 0u);
  config::TokenExchangeConfig no_secret = Config();
  no_secret.client_secret = config::Secret();
  auto refused = io_.Run(ex.ClientCredentials(no_secret));
  ASSERT_FALSE(refused.ok());
  EXPECT_THAT(refused.status().message(), HasSubstr("needs tokenExchange.clientId and a client secret"));
}

TEST_F(TokenExchangeTest, ConfigChecks) {
  config::TokenExchangeConfig c = Config();
  EXPECT_TRUE(TokenExchanger::CheckConfig(c).ok());
  c.subject_provider_name = "github";
  EXPECT_THAT(TokenExchanger::CheckConfig(c).message(), HasSubstr("subjectProviderName github needs the embedded auth server"));
  c = Config();
  c.client_id.clear();
  EXPECT_THAT(TokenExchanger::CheckConfig(c).message(), HasSubstr("client secret but no clientId"));
  c = Config();
  c.token_url = "ftp://x";
  EXPECT_THAT(TokenExchanger::CheckConfig(c).message(), HasSubstr("tokenUrl"));
  TokenExchanger ex(client_, Options());
  auto empty = Exchange(ex, Config(), "");
  ASSERT_FALSE(empty.ok());
  EXPECT_EQ(empty.status().message(), "there is no subject token to exchange");
  EXPECT_TRUE(idp_.token_requests().empty());
}

}  // namespace
}  // namespace vmcp::auth
