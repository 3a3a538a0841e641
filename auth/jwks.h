// File: auth/jwks.h
//
// The signing keys of an OIDC issuer, kept current: fetched from `jwksUrl`, or from the `jwks_uri` of
// the issuer's discovery document (`<issuer>/.well-known/openid-configuration`, which also gives the
// `introspection_endpoint`), over transport::HttpClient with the IdP's CA bundle.
//
//   auto cache = JwksCache::Create(client, {.issuer = "https://idp.example.com"});
//   (*cache)->Start(executor);                          // background refresh every refresh_interval
//   auto keys = co_await (*cache)->KeysFor(jws.kid);    // refreshes at once on an unknown kid
//
// A token signed with a key the cache does not know triggers a refresh at once, so a rotated key is
// accepted without a restart; such refreshes are rate-limited (at most one per min_refresh_interval,
// whatever the tokens say) and single-flight (every validation waiting on the same refresh shares one
// fetch). A failed refresh keeps the last good keys. Thread-safe.
#pragma once

#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>

#include "absl/status/statusor.h"
#include "auth/clock.h"
#include "auth/jwt.h"
#include "transport/client.h"

namespace vmcp::auth {

struct JwksOptions {
  std::string issuer;          // discovery base (required when jwks_url is empty)
  std::string jwks_url;        // when set, no discovery is needed for the keys
  std::string ca_bundle_path;  // the IdP's CA bundle (PEM), added to the system roots
  bool insecure_allow_http = false;  // http:// issuer / JWKS / discovered URLs refused unless set
  std::chrono::seconds refresh_interval{300};    // background refresh (0 = none)
  std::chrono::seconds min_refresh_interval{10};  // rate limit of on-demand refreshes
  transport::Duration timeout = std::chrono::seconds(10);  // per HTTP request
  Clock clock = SystemClock();
};

// What the discovery document says (the fields the gateway uses).
struct DiscoveryDocument {
  std::string issuer;
  std::string jwks_uri;
  std::string introspection_endpoint;  // "" when the IdP has none
  std::string token_endpoint;
};

class JwksCache : public std::enable_shared_from_this<JwksCache> {
 public:
  // Checks the URLs (an http:// one is refused unless insecure_allow_http) and the CA bundle; fetches
  // nothing yet.
  static absl::StatusOr<std::shared_ptr<JwksCache>> Create(std::shared_ptr<transport::HttpClient> client,
                                                           JwksOptions options);
  ~JwksCache();

  // The current keys when they include `kid` (any keys, for an empty kid). Otherwise refreshes first,
  // unless a refresh happened less than min_refresh_interval ago (then the current keys are returned
  // as they are, and the caller's lookup fails with "unknown signing key"). An error (UNAVAILABLE) only
  // when no keys could ever be fetched.
  boost::asio::awaitable<absl::StatusOr<std::shared_ptr<const KeySet>>> KeysFor(std::string kid);

  // Fetches the keys now (joining a refresh in flight), ignoring the rate limit.
  boost::asio::awaitable<absl::Status> Refresh();

  // The discovery document, fetched once (a failure is retried on the next call, rate-limited like
  // refreshes). With jwks_url set and no issuer discovery wanted, callers need not call this.
  boost::asio::awaitable<absl::StatusOr<DiscoveryDocument>> Discover();

  // Refreshes every refresh_interval on `executor` until Stop(). Idempotent.
  void Start(boost::asio::any_io_executor executor);
  void Stop();

  // The keys as last fetched (null before the first success).
  std::shared_ptr<const KeySet> current() const;
  // The JWKS URL in use ("" until discovery gave one).
  std::string jwks_url() const;
  uint64_t jwks_fetches() const { return jwks_fetches_.load(); }
  uint64_t discovery_fetches() const { return discovery_fetches_.load(); }
  uint64_t refresh_failures() const { return refresh_failures_.load(); }
  // Callers that waited for a fetch another caller had started (single-flight).
  uint64_t coalesced() const { return coalesced_.load(); }

 private:
  struct Flight;
  struct Loop;
  JwksCache(std::shared_ptr<transport::HttpClient> client, JwksOptions options);
  // One fetch (discovery if needed, then the JWKS), shared by everyone who asks while it runs.
  boost::asio::awaitable<absl::Status> SharedFetch(bool respect_rate_limit);
  boost::asio::awaitable<absl::Status> FetchOnce();
  boost::asio::awaitable<absl::Status> EnsureDiscovery();
  static boost::asio::awaitable<void> RunLoop(std::shared_ptr<JwksCache> self, std::shared_ptr<Loop> loop);

  std::shared_ptr<transport::HttpClient> client_;
  JwksOptions options_;
  transport::Endpoint endpoint_;

  mutable std::mutex mu_;
  std::shared_ptr<const KeySet> keys_;             // guarded by mu_
  std::optional<DiscoveryDocument> discovery_;     // guarded by mu_
  std::string jwks_url_;                           // guarded by mu_
  std::optional<TimePoint> last_attempt_;          // guarded by mu_
  absl::Status last_error_;                        // guarded by mu_
  std::shared_ptr<Flight> flight_;                 // guarded by mu_: the fetch in progress
  std::shared_ptr<Loop> loop_;                     // guarded by mu_

  std::atomic<uint64_t> jwks_fetches_{0};
  std::atomic<uint64_t> discovery_fetches_{0};
  std::atomic<uint64_t> refresh_failures_{0};
  std::atomic<uint64_t> coalesced_{0};
};

}  // namespace vmcp::auth
