// The gateway with incoming OIDC and outgoing RFC 8693 token exchange, end to end against a real OpenID
// provider (oidc-provider, tests/peers/idp.mjs) and a backend that verifies the bearer token it receives
// (tests/peers/auth-backend.mjs): callers without a valid token get 401 with the RFC 9728 challenge,
// the metadata is served, the backend sees an exchanged token for its own audience on behalf of the
// caller, one exchange serves a user's many calls, and a session is bound to the identity that made it.

#include <gtest/gtest.h>

#include <future>
#include <mutex>
#include <string>
#include <vector>

#include "auth/util.h"
#include "config/loader.h"
#include "gateway/gateway.h"
#include "nlohmann/json.hpp"
#include "tests/gateway/child_process.h"
#include "tests/gateway/e2e_support.h"
#include "tests/gateway/prom_text.h"
#include "tests/transport/test_io.h"
#include "transport/client.h"
#include "transport/sse.h"

namespace vmcp {
namespace {

using Json = nlohmann::json;
using testing::ChildProcess;
using testing::NodeBinary;
using testing::PeersDir;
using transport::testing::IoThread;

constexpr char kGatewayAudience[] = "urn:vmcp:gateway";
constexpr char kBackendAudience[] = "urn:backend:secure";
constexpr char kGatewaySecret[] = "gateway secret:/+&";

class GatewayAuthE2E : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_FALSE(PeersDir().empty()) << "VMCP_PEERS_DIR is not set: run the tests with scripts/test.sh";
    idp_ = std::make_unique<ChildProcess>(std::vector<std::string>{NodeBinary(), PeersDir() + "/idp.mjs", "--port", "0"});
    const int idp_port = idp_->WaitForListening();
    ASSERT_GT(idp_port, 0) << idp_->output();
    issuer_ = "http://127.0.0.1:" + std::to_string(idp_port);
    backend_ = testing::StartPeer("auth-backend.mjs", {"--port", "0", "--issuer", issuer_, "--audience", kBackendAudience},
                                  backend_port_);
    ASSERT_GT(backend_port_, 0) << backend_->output();
  }

  std::string Yaml() const {
    // A direct backend (type: entry), as a remote MCP server is: its requests are audited.
    return "name: e2e-vmcp\ngroupRef: e2e\nbackends:\n" + testing::BackendEntry("secure", backend_port_) + "    type: entry\n" +
           "incomingAuth:\n  type: oidc\n  oidc:\n    issuer: " + issuer_ + "\n    audience: " + kGatewayAudience +
           "\n    insecureAllowHttp: true\n    resource: http://127.0.0.1:4483/mcp\n"
           "outgoingAuth:\n  source: inline\n  backends:\n    secure:\n      type: token_exchange\n      tokenExchange:\n"
           "        tokenUrl: " + issuer_ + "/token\n        clientId: vmcp-gateway\n        clientSecret: '" + kGatewaySecret +
           "'\n        audience: " + kBackendAudience + "\n"
           "aggregation:\n" + testing::PrefixAggregation();
  }

  transport::Response Send(const std::string& url, transport::Request req) {
    auto r = io_.Run(client_.Send(*transport::ParseUrl(url), std::move(req), {}, std::chrono::seconds(30)));
    EXPECT_TRUE(r.ok()) << r.status();
    return r.ok() ? *r : transport::Response{599, {}, r.status().ToString()};
  }

  // A user's access token for the gateway, from the provider (client_credentials of the user's client).
  std::string UserToken(const std::string& user) {
    transport::Request req;
    req.method = "POST";
    req.target = "/token";
    req.headers.Set("Content-Type", "application/x-www-form-urlencoded");
    req.headers.Set("Authorization", auth::internal::BasicAuthorization(user, user + "-secret"));
    req.body = auth::internal::FormBody({{"grant_type", "client_credentials"}, {"resource", kGatewayAudience}, {"scope", "mcp:tools"}});
    auto r = Send(issuer_ + "/token", std::move(req));
    EXPECT_EQ(r.status, 200) << r.body;
    return Json::parse(r.body, nullptr, false).value("access_token", "");
  }

  Json IdpStats() {
    transport::Request req;
    req.target = "/test/stats";
    return Json::parse(Send(issuer_ + "/test/stats", std::move(req)).body, nullptr, false);
  }

  // One JSON-RPC POST to the gateway with a bearer token (and a session).
  transport::Response Post(uint16_t port, const Json& message, const std::string& token, const std::string& session = "") {
    transport::Request req;
    req.method = "POST";
    req.target = "/mcp";
    req.headers.Set("Content-Type", "application/json");
    req.headers.Set("Accept", "application/json, text/event-stream");
    if (!token.empty()) req.headers.Set("Authorization", "Bearer " + token);
    if (!session.empty()) req.headers.Set("Mcp-Session-Id", session);
    req.body = message.dump();
    return Send("http://127.0.0.1:" + std::to_string(port) + "/mcp", std::move(req));
  }

  static Json Body(const transport::Response& r) {
    auto ct = r.headers.Get("Content-Type");
    if (ct && ct->find("text/event-stream") != std::string_view::npos) {
      transport::SseParser parser;
      std::vector<transport::SseEvent> events;
      EXPECT_TRUE(parser.Feed(r.body, events).ok());
      for (auto& ev : events) {
        Json m = Json::parse(ev.data, nullptr, false);
        if (m.is_object() && (m.contains("result") || m.contains("error"))) return m;
      }
      return Json();
    }
    return Json::parse(r.body, nullptr, false);
  }

  std::string Initialize(uint16_t port, const std::string& token) {
    auto r = Post(port, Json{{"jsonrpc", "2.0"}, {"id", 1}, {"method", "initialize"},
                             {"params", {{"protocolVersion", "2025-11-25"}, {"capabilities", Json::object()},
                                         {"clientInfo", {{"name", "auth-e2e"}, {"version", "1"}}}}}},
                  token);
    EXPECT_EQ(r.status, 200) << r.body;
    auto sid = r.headers.Get("Mcp-Session-Id");
    return sid ? std::string(*sid) : std::string();
  }

  Json Call(uint16_t port, const std::string& token, const std::string& session, const std::string& tool, int id) {
    return Body(Post(port, Json{{"jsonrpc", "2.0"}, {"id", id}, {"method", "tools/call"},
                                {"params", {{"name", tool}, {"arguments", Json::object()}}}},
                     token, session));
  }

  IoThread io_{1};
  transport::HttpClient client_{io_.executor()};
  std::unique_ptr<ChildProcess> idp_;
  std::unique_ptr<ChildProcess> backend_;
  int backend_port_ = 0;
  std::string issuer_;
};

TEST_F(GatewayAuthE2E, ChallengesValidatesExchangesOncePerUserAndBindsSessions) {
  uint16_t port = 0;
  std::mutex log_mu;
  std::vector<std::string> logs;
  GatewayOptions options;
  options.log_sink = [&](const std::string& line) {
    std::lock_guard lock(log_mu);
    logs.push_back(line);
  };
  auto gw = testing::StartGateway(Yaml(), port, options);
  ASSERT_NE(gw, nullptr);
  const std::string base = "http://127.0.0.1:" + std::to_string(port);

  // No token: 401 with a bare challenge naming the metadata; the metadata names the provider.
  auto none = Post(port, Json{{"jsonrpc", "2.0"}, {"id", 1}, {"method", "ping"}}, "");
  EXPECT_EQ(none.status, 401) << none.body;
  const std::string challenge(none.headers.Get("WWW-Authenticate").value_or(""));
  EXPECT_NE(challenge.find("Bearer"), std::string::npos) << challenge;
  EXPECT_NE(challenge.find("resource_metadata=\"http://127.0.0.1:4483/.well-known/oauth-protected-resource/mcp\""),
            std::string::npos)
      << challenge;
  transport::Request meta;
  meta.target = "/.well-known/oauth-protected-resource/mcp";
  auto metadata = Send(base + "/.well-known/oauth-protected-resource/mcp", std::move(meta));
  ASSERT_EQ(metadata.status, 200) << metadata.body;
  const Json m = Json::parse(metadata.body, nullptr, false);
  EXPECT_EQ(m["resource"], "http://127.0.0.1:4483/mcp");
  EXPECT_EQ(m["authorization_servers"][0], issuer_);

  // A bad token: 401 invalid_token.
  auto bad = Post(port, Json{{"jsonrpc", "2.0"}, {"id", 1}, {"method", "ping"}}, "not-a-token");
  EXPECT_EQ(bad.status, 401);
  EXPECT_NE(std::string(bad.headers.Get("WWW-Authenticate").value_or("")).find("invalid_token"), std::string::npos);

  // Alice: the backend sees a token exchanged for its audience, on her behalf.
  const std::string alice = UserToken("alice");
  ASSERT_FALSE(alice.empty());
  const std::string session = Initialize(port, alice);
  ASSERT_FALSE(session.empty());
  Json who = Call(port, alice, session, "secure_whoami", 2);
  ASSERT_TRUE(who.contains("result")) << who.dump();
  ASSERT_FALSE(who["result"].value("isError", false)) << who.dump();
  const Json claims = Json::parse(who["result"]["content"][0].value("text", "{}"), nullptr, false);
  EXPECT_EQ(claims["sub"], "alice") << claims.dump();
  EXPECT_EQ(claims["iss"], issuer_);
  const std::string aud = claims["aud"].is_array() ? claims["aud"][0].get<std::string>() : claims.value("aud", "");
  EXPECT_EQ(aud, kBackendAudience) << claims.dump();

  // 1,000 more calls (10 at a time): still the one exchange.
  for (int round = 0; round < 100; ++round) {
    std::vector<std::future<Json>> calls;
    for (int i = 0; i < 10; ++i) {
      calls.push_back(std::async(std::launch::async, [&, id = 100 + round * 10 + i] {
        return Call(port, alice, session, "secure_whoami", id);
      }));
    }
    for (auto& c : calls) {
      Json r = c.get();
      EXPECT_FALSE(r["result"].value("isError", false)) << r.dump();
    }
  }
  EXPECT_EQ(IdpStats().value("exchanges", -1), 1) << IdpStats().dump();
  auto prom = testing::ParsePromText(gw->PrometheusText());
  ASSERT_TRUE(prom.ok()) << prom.status();
  EXPECT_EQ(prom->Get("vmcp_token_exchanges_total"), 1);
  EXPECT_GE(prom->Get("vmcp_token_exchange_cache_hits_total"), 1000);

  // Bob presenting Alice's session: not found. Bob's own session gets his own exchange.
  const std::string bob = UserToken("bob");
  Json stolen = Body(Post(port, Json{{"jsonrpc", "2.0"}, {"id", 9}, {"method", "tools/list"}}, bob, session));
  EXPECT_EQ(stolen["error"]["code"], -32001) << stolen.dump();
  const std::string bob_session = Initialize(port, bob);
  Json bob_who = Call(port, bob, bob_session, "secure_whoami", 3);
  EXPECT_EQ(Json::parse(bob_who["result"]["content"][0].value("text", "{}"), nullptr, false)["sub"], "bob") << bob_who.dump();
  EXPECT_EQ(IdpStats().value("exchanges", -1), 2);

  // Alice's refreshed token keeps her session.
  const std::string alice_again = UserToken("alice");
  Json refreshed = Call(port, alice_again, session, "secure_whoami", 4);
  EXPECT_FALSE(refreshed["result"].value("isError", false)) << refreshed.dump();
  gw->Stop(std::chrono::seconds(2));

  // Every request to the direct backend has its audit record: method, outcome, status; never a token.
  std::lock_guard lock(log_mu);
  int audited = 0;
  for (const std::string& line : logs) {
    EXPECT_EQ(line.find(alice), std::string::npos) << "a token in the log: " << line.substr(0, 200);
    EXPECT_EQ(line.find(bob), std::string::npos) << "a token in the log: " << line.substr(0, 200);
    const Json j = Json::parse(line, nullptr, false);
    if (j.value("msg", "") != "backend call audit") continue;
    ++audited;
    EXPECT_EQ(j.value("backend", ""), "secure") << line;
    EXPECT_EQ(j.value("auth_method", ""), "token_exchange") << line;
    EXPECT_EQ(j.value("auth_outcome", ""), "ok") << line;
    EXPECT_EQ(j.value("outcome", ""), "success") << line;
    EXPECT_GE(j.value("http_status", 0), 200) << line;
    EXPECT_NE(j.value("url", "").find("/mcp"), std::string::npos) << line;
  }
  EXPECT_GE(audited, 1000);
}

// The provider refusing exchanges: a new user's session cannot reach the backend, and says why clearly
// (no token in the message); a user whose exchanged token is cached keeps working.
TEST_F(GatewayAuthE2E, ARefusedExchangeIsReportedClearlyAndCachedUsersKeepWorking) {
  uint16_t port = 0;
  auto gw = testing::StartGateway(Yaml(), port);
  ASSERT_NE(gw, nullptr);
  const std::string alice = UserToken("alice");
  const std::string session = Initialize(port, alice);
  ASSERT_FALSE(session.empty());
  ASSERT_FALSE(Call(port, alice, session, "secure_whoami", 2)["result"].value("isError", false));
  transport::Request cfg;
  cfg.method = "POST";
  cfg.target = "/test/config";
  cfg.headers.Set("Content-Type", "application/json");
  cfg.body = Json{{"fail_exchange", "exchanges are disabled for this test"}}.dump();
  ASSERT_EQ(Send(issuer_ + "/test/config", std::move(cfg)).status, 200);

  const std::string bob = UserToken("bob");
  const std::string bob_session = Initialize(port, bob);
  ASSERT_FALSE(bob_session.empty());
  Json listed = Body(Post(port, Json{{"jsonrpc", "2.0"}, {"id", 5}, {"method", "tools/list"}}, bob, bob_session));
  ASSERT_TRUE(listed.contains("error")) << listed.dump();
  const std::string why = listed["error"].value("message", "");
  EXPECT_NE(why.find("backend secure"), std::string::npos) << why;
  EXPECT_NE(why.find("invalid_grant"), std::string::npos) << why;
  EXPECT_EQ(why.find(bob), std::string::npos) << "the subject token must not appear in errors";

  Json still = Call(port, alice, session, "secure_whoami", 6);
  EXPECT_FALSE(still["result"].value("isError", false)) << still.dump();
  gw->Stop(std::chrono::seconds(2));
}

// A bad incomingAuth stops the gateway from being made at all (never a gateway that lets callers in
// without the authenticator it was configured with).
TEST_F(GatewayAuthE2E, ABadIncomingAuthIsRefusedAtCreate) {
  std::string yaml = Yaml();
  yaml.replace(yaml.find("    insecureAllowHttp: true\n"), std::string("    insecureAllowHttp: true\n").size(), "");
  config::MapEnvironment env;
  auto loaded = config::LoadConfigText(yaml, env);
  ASSERT_TRUE(loaded.ok());
  auto gw = Gateway::Create(std::move(*loaded.config), GatewayOptions{});
  ASSERT_FALSE(gw.ok());
  EXPECT_NE(std::string(gw.status().message()).find("incomingAuth"), std::string::npos) << gw.status();
}

}  // namespace
}  // namespace vmcp
