// Tests of auth/outgoing.h: strategy resolution per backend (backends[name], else default, else none),
// what each strategy adds, precedence (the strategy's header over static over forwarded), the restricted
// header set refused at load, CR/LF refused in any value, unsupported strategies refused with a clear
// message, token exchange through a loopback token endpoint, health-check headers, and audit records.
#include "auth/outgoing.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "auth/audit.h"
#include "tests/auth/fake_idp.h"
#include "tests/transport/test_io.h"

namespace vmcp::auth {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::Pair;
using testing::FakeIdp;
using transport::testing::IoThread;
using Json = nlohmann::json;

config::StaticBackend Backend(const std::string& name) {
  config::StaticBackend b;
  b.name = name;
  b.url = "https://" + name + ".example.com/mcp";
  b.endpoint = b.url;
  return b;
}

config::BackendAuthStrategy Inject(const std::string& name, const std::string& value) {
  config::BackendAuthStrategy s;
  s.type = config::kStrategyHeaderInjection;
  s.header_injection.emplace();
  s.header_injection->header_name = name;
  s.header_injection->header_value = config::Secret(value);
  return s;
}

class OutgoingTest : public ::testing::Test {
 protected:
  void SetUp() override {
    client_ = std::make_shared<transport::HttpClient>(io_.executor());
    exchanger_ = std::make_shared<TokenExchanger>(client_);
    idp_.SetTokenHandler([this](const transport::Request& req) {
      transport::Response r;
      r.body = Json{{"access_token", "exchanged-" + std::to_string(++issued_)},
                    {"issued_token_type", "urn:ietf:params:oauth:token-type:access_token"},
                    {"token_type", "Bearer"},
                    {"expires_in", 600}}
                   .dump();
      return r;
    });
  }

  config::BackendAuthStrategy Exchange() const {
    config::BackendAuthStrategy s;
    s.type = config::kStrategyTokenExchange;
    s.token_exchange.emplace();
    s.token_exchange->token_url = idp_.Url("/token");
    s.token_exchange->client_id = "gw";
    s.token_exchange->client_secret = config::Secret("gw-secret");
    s.token_exchange->subject_token_type = "urn:ietf:params:oauth:token-type:access_token";
    return s;
  }

  // Backends: plain (no entry, no default), injected, exchanged; passthrough X-Tenant and Authorization.
  config::Config Base() const {
    config::Config c;
    c.backends = {Backend("plain"), Backend("injected"), Backend("exchanged")};
    c.backends[0].headers.push_back({"X-Static", config::Secret("static-value"), "env:X"});
    c.backends[1].headers.push_back({"X-Api-Key", config::Secret("static-key"), "env:Y"});
    c.outgoing_auth.emplace();
    c.outgoing_auth->source = "inline";
    c.outgoing_auth->backends["injected"] = Inject("X-Api-Key", "injected-key");
    c.outgoing_auth->backends["exchanged"] = Exchange();
    c.passthrough_headers = {"X-Tenant", "Authorization", "X-Api-Key"};
    return c;
  }

  std::shared_ptr<OutgoingAuth> Make(const config::Config& c) {
    auto o = OutgoingAuth::Create(c, exchanger_);
    EXPECT_TRUE(o.ok()) << o.status();
    return o.ok() ? *o : nullptr;
  }

  absl::StatusOr<HeaderList> Headers(const OutgoingAuth& o, const std::string& backend, const Identity* id,
                                     const transport::Headers& client_headers) {
    return io_.Run(o.HeadersFor(backend, id, client_headers));
  }

  static Identity User(const std::string& token) {
    Identity id;
    id.issuer = "https://idp";
    id.subject = "alice";
    id.token = config::Secret(token);
    return id;
  }

  IoThread io_{2};
  FakeIdp idp_;
  std::shared_ptr<transport::HttpClient> client_;
  std::shared_ptr<TokenExchanger> exchanger_;
  std::atomic<int> issued_{0};
};

TEST_F(OutgoingTest, EachStrategyAndThePrecedenceOfHeaders) {
  auto out = Make(Base());
  ASSERT_TRUE(out);
  transport::Headers client;
  client.Set("X-Tenant", "acme");
  client.Set("Authorization", "Bearer client-token");
  client.Set("X-Api-Key", "client-key");
  client.Set("X-Other", "not forwarded");
  const Identity user = User("user-token");

  // No strategy: static headers and the forwarded ones (the client's Authorization too, as listed).
  auto plain = Headers(*out, "plain", &user, client);
  ASSERT_TRUE(plain.ok()) << plain.status();
  EXPECT_THAT(*plain, ElementsAre(Pair("X-Static", "static-value"), Pair("X-Tenant", "acme"),
                                  Pair("Authorization", "Bearer client-token"), Pair("X-Api-Key", "client-key")));
  EXPECT_EQ(out->StrategyFor("plain"), "unauthenticated");

  // header_injection wins over the static header and the forwarded one of the same name.
  auto injected = Headers(*out, "injected", &user, client);
  ASSERT_TRUE(injected.ok()) << injected.status();
  EXPECT_THAT(*injected, ElementsAre(Pair("X-Tenant", "acme"), Pair("Authorization", "Bearer client-token"),
                                     Pair("X-Api-Key", "injected-key")));
  EXPECT_EQ(out->StrategyFor("injected"), "header_injection");

  // token_exchange: the exchanged token replaces the client's Authorization.
  auto exchanged = Headers(*out, "exchanged", &user, client);
  ASSERT_TRUE(exchanged.ok()) << exchanged.status();
  EXPECT_THAT(*exchanged, ElementsAre(Pair("X-Tenant", "acme"), Pair("X-Api-Key", "client-key"),
                                      Pair("Authorization", "Bearer exchanged-1")));
  EXPECT_EQ(out->StrategyFor("exchanged"), "token_exchange");
  EXPECT_EQ(out->StrategyFor("nope"), "");
  EXPECT_EQ(testing::ParseForm(idp_.token_requests().at(0).body)["subject_token"], "user-token");
}

TEST_F(OutgoingTest, StaticHeaderWinsOverAForwardedOne) {
  config::Config c = Base();
  c.passthrough_headers = {"X-Static"};
  auto out = Make(c);
  ASSERT_TRUE(out);
  transport::Headers client;
  client.Set("x-static", "from the client");
  auto h = Headers(*out, "plain", nullptr, client);
  ASSERT_TRUE(h.ok());
  EXPECT_THAT(*h, ElementsAre(Pair("X-Static", "static-value")));
}

TEST_F(OutgoingTest, DefaultStrategyAppliesToBackendsWithoutTheirOwn) {
  config::Config c = Base();
  c.outgoing_auth->default_strategy = Inject("X-Default", "d");
  auto out = Make(c);
  ASSERT_TRUE(out);
  transport::Headers none;
  auto h = Headers(*out, "plain", nullptr, none);
  ASSERT_TRUE(h.ok());
  EXPECT_THAT(*h, ElementsAre(Pair("X-Static", "static-value"), Pair("X-Default", "d")));
  // No outgoingAuth at all: nothing beyond the static headers.
  c.outgoing_auth.reset();
  out = Make(c);
  h = Headers(*out, "exchanged", nullptr, none);
  ASSERT_TRUE(h.ok());
  EXPECT_TRUE(h->empty());
}

TEST_F(OutgoingTest, RestrictedHeadersAreRefusedAtLoad) {
  for (const std::string name : {"Host", "content-length", "Transfer-Encoding", "Connection", "Upgrade", "TE", "Trailer",
                                 "Proxy-Authorization", "proxy-anything", "Mcp-Session-Id", "X-Forwarded-For",
                                 "Forwarded", "Keep-Alive", "traceparent"}) {
    SCOPED_TRACE(name);
    EXPECT_TRUE(IsRestrictedHeader(name));
    config::Config c = Base();
    c.passthrough_headers = {"X-Tenant", name};
    auto out = OutgoingAuth::Create(c, exchanger_);
    ASSERT_FALSE(out.ok());
    EXPECT_THAT(out.status().message(), HasSubstr("passthroughHeaders: header " + name + " is restricted"));
  }
  EXPECT_FALSE(IsRestrictedHeader("Authorization"));
  EXPECT_FALSE(IsRestrictedHeader("Cookie"));
  EXPECT_FALSE(IsRestrictedHeader("X-Tenant"));
  config::Config c = Base();
  c.passthrough_headers = {"X Bad", ""};
  auto bad = OutgoingAuth::Check(c);
  EXPECT_THAT(bad.message(), HasSubstr("header name X Bad is not a valid field name"));
  EXPECT_THAT(bad.message(), HasSubstr("a header name is empty"));
  // Injected and static headers follow the same rules.
  c = Base();
  c.outgoing_auth->backends["injected"] = Inject("Host", "x");
  c.backends[0].headers.push_back({"Content-Length", config::Secret("1"), "env:Z"});
  bad = OutgoingAuth::Check(c);
  EXPECT_THAT(bad.message(), HasSubstr("backend injected: headerInjection: header Host is restricted"));
  EXPECT_THAT(bad.message(), HasSubstr("backend plain: header Content-Length is restricted"));
}

TEST_F(OutgoingTest, ControlCharactersInValuesAreRefused) {
  config::Config c = Base();
  c.outgoing_auth->backends["injected"] = Inject("X-Api-Key", "evil\r\nX-Injected: 1");
  c.backends[0].headers.push_back({"X-Nul", config::Secret(std::string("a\0b", 3)), "env:Z"});
  auto bad = OutgoingAuth::Check(c);
  EXPECT_THAT(bad.message(), HasSubstr("backend injected: headerInjection: header X-Api-Key has a value with CR, LF, NUL"));
  EXPECT_THAT(bad.message(), HasSubstr("backend plain: header X-Nul has a value with CR, LF, NUL"));
  EXPECT_THAT(bad.message(), Not(HasSubstr("evil")));

  auto out = Make(Base());
  ASSERT_TRUE(out);
  transport::Headers client;
  client.Set("X-Tenant", "acme\nX-Admin: yes");
  auto h = Headers(*out, "plain", nullptr, client);
  ASSERT_FALSE(h.ok());
  EXPECT_EQ(h.status().message(), "backend plain: forwarded header X-Tenant has a value with CR, LF, NUL or another control character");
  EXPECT_TRUE(CheckHeaderValue("X", "tab\tis fine").ok());
}

TEST_F(OutgoingTest, UnsupportedStrategiesAreRefusedWithTheirName) {
  config::Config c = Base();
  config::BackendAuthStrategy sts;
  sts.type = config::kStrategyAwsSts;
  sts.aws_sts.emplace();
  sts.aws_sts->region = "us-east-1";
  c.outgoing_auth->backends["plain"] = sts;
  config::BackendAuthStrategy upstream;
  upstream.type = config::kStrategyUpstreamInject;
  c.outgoing_auth->backends["injected"] = upstream;
  auto out = OutgoingAuth::Create(c, exchanger_);
  ASSERT_FALSE(out.ok());
  EXPECT_THAT(out.status().message(), HasSubstr("backend plain: outgoing auth strategy aws_sts is not supported by the data plane"));
  EXPECT_THAT(out.status().message(), HasSubstr("backend injected: outgoing auth strategy upstream_inject is not supported"));
  // An unsupported default that every backend overrides is not in the way.
  c = Base();
  c.outgoing_auth->default_strategy = sts;
  c.outgoing_auth->backends["plain"] = Inject("X-A", "a");
  EXPECT_TRUE(OutgoingAuth::Create(c, exchanger_).ok());
  // subjectProviderName needs an embedded auth server.
  c = Base();
  c.outgoing_auth->backends["exchanged"].token_exchange->subject_provider_name = "github";
  EXPECT_THAT(OutgoingAuth::Check(c).message(), HasSubstr("backend exchanged: tokenExchange.subjectProviderName github"));
}

TEST_F(OutgoingTest, TokenExchangeNeedsACallerToken) {
  auto out = Make(Base());
  ASSERT_TRUE(out);
  transport::Headers none;
  Identity anonymous;
  anonymous.anonymous = true;
  anonymous.issuer = kAnonymousIssuer;
  anonymous.subject = kAnonymousSubject;
  for (const Identity* id : {static_cast<const Identity*>(nullptr), static_cast<const Identity*>(&anonymous)}) {
    auto h = Headers(*out, "exchanged", id, none);
    ASSERT_FALSE(h.ok());
    EXPECT_EQ(h.status().code(), absl::StatusCode::kFailedPrecondition);
    EXPECT_EQ(h.status().message(), "backend exchanged uses token_exchange but the caller has no bearer token to exchange");
  }
  EXPECT_TRUE(idp_.token_requests().empty());
  auto unknown = Headers(*out, "missing", nullptr, none);
  EXPECT_EQ(unknown.status().code(), absl::StatusCode::kNotFound);
}

TEST_F(OutgoingTest, ExchangeFailureNamesTheBackendAndOthersKeepWorking) {
  auto out = Make(Base());
  ASSERT_TRUE(out);
  idp_.Stop();
  transport::Headers none;
  const Identity user = User("user-token");
  auto h = Headers(*out, "exchanged", &user, none);
  ASSERT_FALSE(h.ok());
  EXPECT_EQ(h.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(h.status().message(), HasSubstr("backend exchanged: token exchange: POST " + idp_.Url("/token") + " failed"));
  EXPECT_THAT(h.status().message(), Not(HasSubstr("user-token")));
  EXPECT_TRUE(Headers(*out, "injected", &user, none).ok());
  EXPECT_TRUE(Headers(*out, "plain", &user, none).ok());
}

TEST_F(OutgoingTest, HealthCheckHeaders) {
  idp_.SetTokenHandler([](const transport::Request& req) {
    transport::Response r;
    r.body = Json{{"access_token", testing::ParseForm(req.body)["grant_type"] + "-token"}, {"token_type", "Bearer"}}.dump();
    return r;
  });
  config::Config c = Base();
  config::BackendAuthStrategy public_client = Exchange();
  public_client.token_exchange->client_secret = config::Secret();
  c.backends.push_back(Backend("public"));
  c.outgoing_auth->backends["public"] = public_client;
  auto out = Make(c);
  ASSERT_TRUE(out);
  auto exchanged = io_.Run(out->HealthCheckHeaders("exchanged"));
  ASSERT_TRUE(exchanged.ok()) << exchanged.status();
  EXPECT_THAT(*exchanged, ElementsAre(Pair("Authorization", "Bearer client_credentials-token")));
  auto pub = io_.Run(out->HealthCheckHeaders("public"));
  ASSERT_TRUE(pub.ok());
  EXPECT_TRUE(pub->empty());  // no secret: the probe goes out unauthenticated, as in ToolHive
  auto injected = io_.Run(out->HealthCheckHeaders("injected"));
  ASSERT_TRUE(injected.ok());
  EXPECT_THAT(*injected, ElementsAre(Pair("X-Api-Key", "injected-key")));
  EXPECT_EQ(exchanger_->client_credentials_grants(), 1u);
}

TEST(AuditTest, RecordAsJson) {
  AuditRecord r;
  r.time = TimePoint(std::chrono::milliseconds(1'700'000'000'123));
  r.backend = "salesforce";
  r.url = "https://mcp.salesforce.example.com/mcp?token=x";
  r.auth_method = "token_exchange";
  r.auth_outcome = "ok";
  r.http_status = 403;
  r.outcome = OutcomeForHttpStatus(r.http_status);
  r.duration_ms = 12.5;
  EXPECT_EQ(Json::parse(AuditJson(r)), (Json{{"type", "backend_call"},
                                             {"time", "2023-11-14T22:13:20.123Z"},
                                             {"backend", "salesforce"},
                                             {"url", "https://mcp.salesforce.example.com/mcp"},
                                             {"auth_method", "token_exchange"},
                                             {"auth_outcome", "ok"},
                                             {"outcome", "denied"},
                                             {"http_status", 403},
                                             {"duration_ms", 12.5}}));
  EXPECT_NE(AuditJson(r).find(R"("http_status":403,)"), std::string::npos) << AuditJson(r);

  // The fields the gateway's audit log line is written from: in their order, the time aside, the URL
  // without its query, an error only when there is one.
  auto names = [](const AuditRecord& record) {
    std::vector<std::string> out;
    for (const AuditField& f : AuditFields(record)) out.push_back(f.name);
    return out;
  };
  EXPECT_THAT(names(r), ElementsAre("type", "backend", "url", "auth_method", "auth_outcome", "outcome", "http_status",
                                    "duration_ms"));
  EXPECT_EQ(AuditFields(r)[2].text, "https://mcp.salesforce.example.com/mcp");
  EXPECT_EQ(AuditFields(r)[6].number, 403);
  r.error = "connection refused";
  ASSERT_EQ(names(r).back(), "error");
  EXPECT_EQ(AuditFields(r).back().text, "connection refused");

  EXPECT_EQ(OutcomeForHttpStatus(200), "success");
  EXPECT_EQ(OutcomeForHttpStatus(404), "failure");
  EXPECT_EQ(OutcomeForHttpStatus(502), "error");
  EXPECT_EQ(OutcomeForHttpStatus(0), "error");
}

}  // namespace
}  // namespace vmcp::auth
