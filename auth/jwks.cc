// File: auth/jwks.cc
#include "auth/jwks.h"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/experimental/concurrent_channel.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "absl/strings/str_cat.h"
#include "auth/fetch.h"
#include "auth/util.h"

namespace vmcp::auth {

namespace asio = boost::asio;
using Json = nlohmann::json;
using internal::CheckScheme;
using internal::Printable;
using internal::UrlForMessage;

namespace {

using StatusChannel = asio::experimental::concurrent_channel<void(boost::system::error_code, absl::Status)>;
constexpr auto kTuple = asio::as_tuple(asio::use_awaitable);

std::string TrimSlash(std::string s) {
  while (!s.empty() && s.back() == '/') s.pop_back();
  return s;
}

// The internal answer of a refresh that the rate limit held back.
absl::Status RateLimited() { return absl::ResourceExhaustedError("JWKS refresh rate-limited"); }

}  // namespace

struct JwksCache::Flight {
  std::vector<std::shared_ptr<StatusChannel>> waiters;
};

struct JwksCache::Loop {
  explicit Loop(asio::any_io_executor ex) : strand(asio::make_strand(ex)), timer(strand) {}
  asio::strand<asio::any_io_executor> strand;
  asio::steady_timer timer;
  bool stopped = false;  // on the strand
};

JwksCache::JwksCache(std::shared_ptr<transport::HttpClient> client, JwksOptions options)
    : client_(std::move(client)), options_(std::move(options)) {
  endpoint_.ca_bundle_path = options_.ca_bundle_path;
  jwks_url_ = options_.jwks_url;
  if (!options_.clock) options_.clock = SystemClock();
}

JwksCache::~JwksCache() = default;

absl::StatusOr<std::shared_ptr<JwksCache>> JwksCache::Create(std::shared_ptr<transport::HttpClient> client,
                                                             JwksOptions options) {
  if (!client) return absl::InvalidArgumentError("JWKS cache needs an HTTP client");
  if (options.jwks_url.empty() && options.issuer.empty()) {
    return absl::InvalidArgumentError("OIDC needs an issuer (for discovery) or a jwksUrl");
  }
  if (!options.issuer.empty()) {
    if (absl::Status s = CheckScheme("issuer", options.issuer, options.insecure_allow_http); !s.ok()) return s;
  }
  if (!options.jwks_url.empty()) {
    if (absl::Status s = CheckScheme("jwksUrl", options.jwks_url, options.insecure_allow_http); !s.ok()) return s;
  }
  if (!options.ca_bundle_path.empty()) {
    if (absl::Status s = transport::HttpClient::CheckCaBundle(options.ca_bundle_path); !s.ok()) {
      return absl::InvalidArgumentError(absl::StrCat("OIDC caBundlePath: ", s.message()));
    }
  }
  return std::shared_ptr<JwksCache>(new JwksCache(std::move(client), std::move(options)));
}

std::shared_ptr<const KeySet> JwksCache::current() const {
  std::lock_guard lock(mu_);
  return keys_;
}

std::string JwksCache::jwks_url() const {
  std::lock_guard lock(mu_);
  return jwks_url_;
}

asio::awaitable<absl::StatusOr<std::shared_ptr<const KeySet>>> JwksCache::KeysFor(std::string kid) {
  std::shared_ptr<const KeySet> snap = current();
  if (snap && (kid.empty() || snap->Has(kid))) co_return snap;
  absl::Status s = co_await SharedFetch(/*respect_rate_limit=*/true);
  absl::Status last;
  {
    std::lock_guard lock(mu_);
    snap = keys_;
    last = last_error_;
  }
  if (snap) co_return snap;
  if (s.ok() || absl::IsResourceExhausted(s)) s = last;
  if (s.ok()) s = absl::UnavailableError("no signing keys fetched yet");
  co_return absl::UnavailableError(absl::StrCat("signing keys unavailable: ", s.message()));
}

asio::awaitable<absl::Status> JwksCache::Refresh() { co_return co_await SharedFetch(/*respect_rate_limit=*/false); }

asio::awaitable<absl::StatusOr<DiscoveryDocument>> JwksCache::Discover() {
  if (options_.issuer.empty() || !options_.jwks_url.empty()) {
    co_return absl::FailedPreconditionError("OIDC discovery is not used (jwksUrl is configured)");
  }
  {
    std::lock_guard lock(mu_);
    if (discovery_) co_return *discovery_;
  }
  absl::Status s = co_await SharedFetch(/*respect_rate_limit=*/true);
  absl::Status last;
  {
    std::lock_guard lock(mu_);
    if (discovery_) co_return *discovery_;
    last = last_error_;
  }
  if (s.ok() || absl::IsResourceExhausted(s)) s = last;
  if (s.ok()) s = absl::UnavailableError("discovery not done yet");
  co_return s;
}

asio::awaitable<absl::Status> JwksCache::SharedFetch(bool respect_rate_limit) {
  auto executor = co_await asio::this_coro::executor;
  std::shared_ptr<StatusChannel> wait;
  std::shared_ptr<Flight> mine;
  {
    std::lock_guard lock(mu_);
    if (flight_) {
      wait = std::make_shared<StatusChannel>(executor, 1);
      flight_->waiters.push_back(wait);
      coalesced_.fetch_add(1);
    } else {
      const TimePoint now = options_.clock();
      if (respect_rate_limit && last_attempt_ && now - *last_attempt_ < options_.min_refresh_interval &&
          now >= *last_attempt_) {
        co_return RateLimited();
      }
      last_attempt_ = now;
      mine = std::make_shared<Flight>();
      flight_ = mine;
    }
  }
  if (wait) {
    auto [ec, status] = co_await wait->async_receive(kTuple);
    co_return ec ? absl::CancelledError("JWKS refresh abandoned") : status;
  }
  // Whatever happens to this coroutine, the waiters get an answer and the next caller can fetch.
  struct Finisher {
    JwksCache* self;
    std::shared_ptr<Flight> flight;
    bool done = false;
    void Finish(const absl::Status& s) {
      done = true;
      {
        std::lock_guard lock(self->mu_);
        if (self->flight_ == flight) self->flight_.reset();
      }
      for (auto& w : flight->waiters) w->try_send(boost::system::error_code{}, s);
    }
    ~Finisher() {
      if (!done) Finish(absl::CancelledError("JWKS refresh abandoned"));
    }
  } finisher{this, mine};
  absl::Status s = co_await FetchOnce();
  if (!s.ok()) {
    refresh_failures_.fetch_add(1);
    std::lock_guard lock(mu_);
    last_error_ = s;
  }
  finisher.Finish(s);
  co_return s;
}

asio::awaitable<absl::Status> JwksCache::EnsureDiscovery() {
  {
    std::lock_guard lock(mu_);
    if (discovery_) co_return absl::OkStatus();
  }
  const std::string url = TrimSlash(options_.issuer) + "/.well-known/openid-configuration";
  discovery_fetches_.fetch_add(1);
  auto doc = co_await internal::GetJson(*client_, url, endpoint_, options_.timeout);
  if (!doc.ok()) co_return absl::Status(doc.status().code(), absl::StrCat("OIDC discovery: ", doc.status().message()));
  DiscoveryDocument d;
  auto str = [&](const char* key) -> std::string {
    auto it = doc->find(key);
    return it != doc->end() && it->is_string() ? it->get<std::string>() : std::string();
  };
  d.issuer = str("issuer");
  d.jwks_uri = str("jwks_uri");
  d.introspection_endpoint = str("introspection_endpoint");
  d.token_endpoint = str("token_endpoint");
  if (TrimSlash(d.issuer) != TrimSlash(options_.issuer)) {
    co_return absl::InvalidArgumentError(absl::StrCat("OIDC discovery: the document's issuer ", Printable(d.issuer),
                                                      " is not the configured issuer ", Printable(options_.issuer)));
  }
  if (options_.jwks_url.empty()) {
    if (d.jwks_uri.empty()) co_return absl::InvalidArgumentError("OIDC discovery: the document has no jwks_uri");
    if (absl::Status s = CheckScheme("discovered jwks_uri", d.jwks_uri, options_.insecure_allow_http); !s.ok()) co_return s;
  }
  if (!d.introspection_endpoint.empty()) {
    if (absl::Status s = CheckScheme("discovered introspection_endpoint", d.introspection_endpoint,
                                     options_.insecure_allow_http);
        !s.ok()) {
      co_return s;
    }
  }
  std::lock_guard lock(mu_);
  if (jwks_url_.empty()) jwks_url_ = d.jwks_uri;
  discovery_ = std::move(d);
  co_return absl::OkStatus();
}

asio::awaitable<absl::Status> JwksCache::FetchOnce() {
  std::string url = jwks_url();
  if (url.empty() || (!options_.issuer.empty() && options_.jwks_url.empty())) {
    if (absl::Status s = co_await EnsureDiscovery(); !s.ok()) co_return s;
    url = jwks_url();
  }
  jwks_fetches_.fetch_add(1);
  auto doc = co_await internal::GetJson(*client_, url, endpoint_, options_.timeout);
  if (!doc.ok()) co_return absl::Status(doc.status().code(), absl::StrCat("JWKS: ", doc.status().message()));
  auto set = ParseJwksJson(*doc);
  if (!set.ok()) {
    co_return absl::InvalidArgumentError(absl::StrCat("JWKS from ", UrlForMessage(url), ": ", set.status().message()));
  }
  std::lock_guard lock(mu_);
  keys_ = std::make_shared<const KeySet>(std::move(*set));
  last_error_ = absl::OkStatus();
  co_return absl::OkStatus();
}

void JwksCache::Start(asio::any_io_executor executor) {
  std::shared_ptr<Loop> loop;
  {
    std::lock_guard lock(mu_);
    if (loop_) return;
    loop_ = loop = std::make_shared<Loop>(executor);
  }
  asio::co_spawn(loop->strand, RunLoop(shared_from_this(), loop), asio::detached);
}

void JwksCache::Stop() {
  std::shared_ptr<Loop> loop;
  {
    std::lock_guard lock(mu_);
    loop = loop_;
  }
  if (!loop) return;
  asio::post(loop->strand, [loop] {
    loop->stopped = true;
    loop->timer.cancel();
  });
}

asio::awaitable<void> JwksCache::RunLoop(std::shared_ptr<JwksCache> self, std::shared_ptr<Loop> loop) {
  // A first fetch right away, so the first request does not wait for the IdP.
  if (!loop->stopped) (void)co_await self->SharedFetch(/*respect_rate_limit=*/true);
  while (!loop->stopped && self->options_.refresh_interval.count() > 0) {
    loop->timer.expires_after(self->options_.refresh_interval);
    (void)co_await loop->timer.async_wait(kTuple);
    if (loop->stopped) break;
    (void)co_await self->Refresh();
  }
}

}  // namespace vmcp::auth
