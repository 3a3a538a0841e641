// File: auth/token_exchange.h
//
// OAuth 2.0 Token Exchange (RFC 8693) for `token_exchange` backends, with the cache the Go system lacks:
// the user's token is exchanged once per (token, strategy config) until the issued token nears its
// expiry, not on every backend request. Also the `client_credentials` grant used for health checks.
//
//   TokenExchanger exchanger(http_client);
//   absl::StatusOr<config::Secret> token = co_await exchanger.Exchange(strategy.token_exchange.value(), identity.token);
//   // -> "Authorization: Bearer " + token->Reveal()
//
// Wire format (RFC 8693 section 2.1, RFC 6749 section 2.3.1): POST application/x-www-form-urlencoded to
// tokenUrl with grant_type=urn:ietf:params:oauth:grant-type:token-exchange, subject_token,
// subject_token_type, requested_token_type=urn:ietf:params:oauth:token-type:access_token, audience (if
// set), scope (space-joined, if any). Client authentication: HTTP Basic with the form-encoded id and
// secret when both are set; `client_id` in the form when only the id is. The response must be 200 JSON
// with a non-empty access_token, an issued_token_type and a token_type of Bearer or N_A; expires_in is
// optional. When the issued token is a JWT its `aud` must contain the configured audience, or the
// exchange fails and the token is neither returned nor cached.
//
// Cache: keyed by SHA-256 of (subject token, strategy config); an entry lives until expires_in minus a
// skew (and never past the issued JWT's own exp); bounded, least recently used evicted first;
// single-flight (concurrent callers for one key share one exchange; a failure reaches them all and is
// not cached). Errors name the token URL and the IdP's OAuth error, never a token or a secret:
// UNAVAILABLE (IdP unreachable or 5xx), PERMISSION_DENIED (the IdP refused, or audience mismatch),
// FAILED_PRECONDITION (a malformed response), INVALID_ARGUMENT (nothing to exchange). Thread-safe.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <list>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include <boost/asio/awaitable.hpp>

#include "absl/status/statusor.h"
#include "auth/clock.h"
#include "config/config.h"
#include "config/secret.h"
#include "transport/client.h"

namespace vmcp::auth {

inline constexpr char kTokenExchangeGrant[] = "urn:ietf:params:oauth:grant-type:token-exchange";
inline constexpr char kAccessTokenType[] = "urn:ietf:params:oauth:token-type:access_token";

struct TokenExchangeOptions {
  std::chrono::seconds expiry_skew{30};        // an entry is dropped this long before the token expires
  std::chrono::seconds default_lifetime{300};  // when the response has no expires_in
  size_t max_entries = 10000;                  // LRU bound
  transport::Duration timeout = std::chrono::seconds(30);  // per token request
  transport::Endpoint endpoint;  // CA bundle for token URLs (the config has none: system roots)
  Clock clock = SystemClock();
};

// A validated token endpoint response.
struct TokenResponse {
  config::Secret access_token;
  std::string issued_token_type;
  std::string token_type;
  std::optional<int64_t> expires_in;
};

// Validates a token endpoint's answer. `token_exchange` requires issued_token_type (RFC 8693); for
// client_credentials it is optional. `url` and `redact` (values that must not leak, such as the
// subject token) are for the messages.
absl::StatusOr<TokenResponse> ParseTokenResponse(int http_status, std::string_view body, bool token_exchange,
                                                 const std::string& url, const std::vector<std::string_view>& redact);

// When `token` is a JWT, OK iff its `aud` contains `audience`; OK for opaque tokens.
absl::Status CheckIssuedAudience(std::string_view token, const std::string& audience);

class TokenExchanger {
 public:
  explicit TokenExchanger(std::shared_ptr<transport::HttpClient> client, TokenExchangeOptions options = {});
  ~TokenExchanger();
  TokenExchanger(const TokenExchanger&) = delete;
  TokenExchanger& operator=(const TokenExchanger&) = delete;

  // What a strategy must satisfy to be used: a valid http(s) tokenUrl, a client id when there is a
  // secret, no subjectProviderName (needs the embedded auth server, which this data plane lacks).
  static absl::Status CheckConfig(const config::TokenExchangeConfig& config);

  // The access token to send for `subject_token` under `config` (cached). The arguments must outlive
  // the call (co_await it at once).
  boost::asio::awaitable<absl::StatusOr<config::Secret>> Exchange(const config::TokenExchangeConfig& config,
                                                                  const config::Secret& subject_token);

  // A client_credentials token for `config`'s client (health checks): needs the client id and secret;
  // sends scope and audience when set. Cached like exchanges.
  boost::asio::awaitable<absl::StatusOr<config::Secret>> ClientCredentials(const config::TokenExchangeConfig& config);

  // Counters, for metrics.
  uint64_t exchanges() const { return exchanges_.load(); }  // token-exchange requests sent
  uint64_t client_credentials_grants() const { return client_credentials_.load(); }  // such requests sent
  uint64_t cache_hits() const { return cache_hits_.load(); }  // answered from the cache
  uint64_t coalesced() const { return coalesced_.load(); }    // waited for another caller's request
  uint64_t failures() const { return failures_.load(); }      // requests that failed (any reason)
  size_t cache_size() const;
  void ClearCache();

 private:
  struct Entry {
    config::Secret token;
    TimePoint expires_at;
    std::list<std::string>::iterator lru;
  };
  struct Flight;
  struct Grant {
    std::string url;
    std::string body;
    std::string authorization;
    std::string audience;
    bool token_exchange = true;
    std::vector<std::string> redact;
  };

  // The cached token for `key`, or the result of one shared request.
  boost::asio::awaitable<absl::StatusOr<config::Secret>> Obtain(std::string key, Grant grant);
  boost::asio::awaitable<absl::StatusOr<std::pair<config::Secret, TimePoint>>> Request(const Grant& grant);
  void Store(const std::string& key, const config::Secret& token, TimePoint expires_at);  // mu_ held

  std::shared_ptr<transport::HttpClient> client_;
  TokenExchangeOptions options_;

  mutable std::mutex mu_;
  std::unordered_map<std::string, Entry> cache_;                     // guarded by mu_
  std::list<std::string> lru_;                                        // guarded by mu_: front = newest
  std::unordered_map<std::string, std::shared_ptr<Flight>> flights_;  // guarded by mu_

  std::atomic<uint64_t> exchanges_{0};
  std::atomic<uint64_t> client_credentials_{0};
  std::atomic<uint64_t> cache_hits_{0};
  std::atomic<uint64_t> coalesced_{0};
  std::atomic<uint64_t> failures_{0};
};

}  // namespace vmcp::auth
