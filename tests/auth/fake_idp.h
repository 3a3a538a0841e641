// File: tests/auth/fake_idp.h
//
// A programmable identity provider on loopback (the project's own HttpServer, plain or TLS) for the
// auth tests that need exact control: OIDC discovery, a JWKS the test swaps (key rotation), RFC 7662
// introspection answers per token, and a token endpoint whose answer the test writes. It records the
// requests it gets and counts fetches; its token endpoint can be held so that concurrent callers pile
// up on it.
#pragma once

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "transport/server.h"

namespace vmcp::auth::testing {

class FakeIdp {
 public:
  explicit FakeIdp(std::optional<transport::ServerTlsOptions> tls = std::nullopt);
  ~FakeIdp();

  // "http://127.0.0.1:<port>" (https with TLS).
  const std::string& issuer() const { return issuer_; }
  std::string Url(const std::string& path) const { return issuer_ + path; }
  void Stop();

  void SetJwks(nlohmann::json jwks);
  // What /.well-known/openid-configuration answers (defaults: issuer, jwks_uri, introspection and token
  // endpoints of this server).
  void SetDiscovery(nlohmann::json doc);
  // The introspection answer for a token (unknown tokens get {"active":false}).
  void SetIntrospection(const std::string& token, nlohmann::json answer);
  // The token endpoint's answer to each request.
  void SetTokenHandler(std::function<transport::Response(const transport::Request&)> handler);
  // While held, token requests wait (and are counted in token_waiting()).
  void HoldTokens(bool hold) { hold_ = hold; }
  // While held, JWKS requests wait (and are counted in jwks_waiting()).
  void HoldJwks(bool hold) { hold_jwks_ = hold; }

  int jwks_fetches() const { return jwks_fetches_.load(); }
  int discovery_fetches() const { return discovery_fetches_.load(); }
  int token_waiting() const { return token_waiting_.load(); }
  int jwks_waiting() const { return jwks_waiting_.load(); }
  std::vector<transport::Request> token_requests() const;
  std::vector<transport::Request> introspection_requests() const;

 private:
  std::unique_ptr<transport::HttpServer> server_;
  std::string issuer_;
  mutable std::mutex mu_;
  nlohmann::json jwks_ = nlohmann::json{{"keys", nlohmann::json::array()}};
  std::optional<nlohmann::json> discovery_;
  std::map<std::string, nlohmann::json> introspection_;
  std::function<transport::Response(const transport::Request&)> token_handler_;
  std::vector<transport::Request> token_requests_;
  std::vector<transport::Request> introspection_requests_;
  std::atomic<bool> hold_{false};
  std::atomic<bool> hold_jwks_{false};
  std::atomic<int> jwks_waiting_{0};
  std::atomic<int> jwks_fetches_{0};
  std::atomic<int> discovery_fetches_{0};
  std::atomic<int> token_waiting_{0};
};

// The fields of an application/x-www-form-urlencoded body (decoded).
std::map<std::string, std::string> ParseForm(const std::string& body);

// Waits (polling, up to `timeout_ms`) until `condition` holds; false on timeout.
bool WaitFor(const std::function<bool()>& condition, int timeout_ms = 10000);

}  // namespace vmcp::auth::testing
