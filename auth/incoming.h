// File: auth/incoming.h
//
// Incoming authentication of MCP clients, built from `incomingAuth`:
//  - `anonymous` (or no incomingAuth): every request passes as the anonymous identity;
//  - `oidc`: the `Authorization: Bearer` token is validated as a JWT against the issuer's keys (OIDC
//    discovery or `jwksUrl`, cached, refreshed in the background and at once on an unknown kid), or,
//    for an opaque token, by RFC 7662 introspection (`introspectionUrl`, else the discovered
//    `introspection_endpoint`) with the client's credentials.
// It also answers for failures (401 with `WWW-Authenticate: Bearer ... resource_metadata=...`, 403 for a
// missing scope, 503 when the IdP cannot be reached) and serves the RFC 9728 protected-resource
// metadata.
//
//   auto auth = IncomingAuthenticator::Create(cfg.incoming_auth, http_client, {.public_url = "https://vmcp.example.com"});
//   (*auth)->Start(executor);
//   absl::StatusOr<Identity> who = co_await (*auth)->Authenticate(std::string(header_or_empty));
//   if (!who.ok()) { Challenge c = (*auth)->ChallengeFor(who.status()); /* answer c.status ... */ }
#pragma once

#include <atomic>
#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <mutex>
#include <vector>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>

#include "absl/status/statusor.h"
#include "auth/clock.h"
#include "auth/identity.h"
#include "auth/jwks.h"
#include "auth/jwt.h"
#include "config/config.h"
#include "transport/client.h"

namespace vmcp::auth {

// The well-known path of RFC 9728 (the resource's own path, if any, is appended: see MetadataPath()).
inline constexpr char kProtectedResourcePath[] = "/.well-known/oauth-protected-resource";

struct IncomingOptions {
  // The gateway's externally visible base URL ("https://vmcp.example.com"), used as the protected
  // resource when `oidc.resource` is not set.
  std::string public_url;
  std::chrono::seconds clock_skew{60};
  std::vector<std::string> allowed_algs = DefaultAllowedAlgs();
  std::chrono::seconds jwks_refresh_interval{300};
  std::chrono::seconds jwks_min_refresh_interval{10};
  transport::Duration http_timeout = std::chrono::seconds(10);
  Clock clock = SystemClock();
};

// How to answer a request whose authentication failed.
struct Challenge {
  int status = 401;              // 401, 403 (insufficient scope) or 503 (IdP unreachable)
  std::string www_authenticate;  // "" for 503
  std::string body;              // {"error":"...","error_description":"..."}
};

class IncomingAuthenticator {
 public:
  // `config` absent or `anonymous`: anonymous. `oidc`: checks the URLs (http refused unless
  // insecureAllowHttp), the CA bundle and the audience; fetches nothing yet. `local` and other types
  // are refused ("incomingAuth type local is not supported by the data plane").
  static absl::StatusOr<std::shared_ptr<IncomingAuthenticator>> Create(
      const std::optional<config::IncomingAuthConfig>& config, std::shared_ptr<transport::HttpClient> client,
      IncomingOptions options = {});
  ~IncomingAuthenticator();

  bool anonymous() const { return anonymous_; }

  // Authenticates one request from its Authorization header value ("" when the request has none).
  // `authorization` must outlive the call (co_await it at once).
  // Failures: UNAUTHENTICATED (no token, malformed header, bad token: 401), PERMISSION_DENIED (a
  // required scope missing: 403), UNAVAILABLE (the IdP could not be reached and nothing is cached: 503).
  boost::asio::awaitable<absl::StatusOr<Identity>> Authenticate(const std::string& authorization);

  // The answer for a failure from Authenticate. "no token" gets a bare challenge (no error params).
  Challenge ChallengeFor(const absl::Status& failure) const;

  // RFC 9728 metadata as JSON text ("" under anonymous auth): resource, authorization_servers,
  // bearer_methods_supported, scopes_supported.
  std::string ProtectedResourceMetadata() const;
  // Where the gateway serves it: "/.well-known/oauth-protected-resource" plus the resource's path.
  std::string MetadataPath() const;
  // The absolute URL of the metadata (the `resource_metadata` challenge parameter); "" when unknown.
  std::string MetadataUrl() const;
  const std::string& resource() const { return resource_; }

  // Background JWKS refresh (and a first fetch) on `executor`, until Stop(). No-op for anonymous.
  void Start(boost::asio::any_io_executor executor);
  void Stop();

  // The key cache (null for anonymous), for tests and /status.
  const std::shared_ptr<JwksCache>& jwks() const { return jwks_; }
  uint64_t accepted() const { return accepted_.load(); }
  uint64_t rejected() const { return rejected_.load(); }
  uint64_t introspections() const { return introspections_.load(); }

 private:
  IncomingAuthenticator() = default;
  boost::asio::awaitable<absl::StatusOr<Identity>> AuthenticateOidc(std::string token);
  boost::asio::awaitable<absl::StatusOr<Identity>> ValidateJwtToken(std::string token);
  boost::asio::awaitable<absl::StatusOr<Identity>> Introspect(std::string token);

  bool anonymous_ = true;
  config::OidcConfig oidc_;
  IncomingOptions options_;
  std::shared_ptr<transport::HttpClient> client_;
  std::shared_ptr<JwksCache> jwks_;
  transport::Endpoint endpoint_;
  std::string resource_;
  std::vector<std::string> required_scopes_;

  // Validated JWTs by SHA-256, until their expiry or kValidatedFor (key rotation and revocation take
  // effect within that).
  static constexpr std::chrono::seconds kValidatedFor{60};
  static constexpr size_t kMaxValidated = 10000;
  struct Validated {
    Identity identity;
    TimePoint until;
  };
  std::mutex validated_mu_;
  std::unordered_map<std::string, Validated> validated_;  // guarded by validated_mu_

  std::atomic<uint64_t> accepted_{0};
  std::atomic<uint64_t> rejected_{0};
  std::atomic<uint64_t> introspections_{0};
};

}  // namespace vmcp::auth
