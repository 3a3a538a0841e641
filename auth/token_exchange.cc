// File: auth/token_exchange.cc
#include "auth/token_exchange.h"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/experimental/concurrent_channel.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <algorithm>
#include <cctype>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "auth/fetch.h"
#include "auth/jwt.h"
#include "auth/util.h"

// GCC 12 misreads the frame allocation of some asio coroutines (a known false positive).
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"

namespace vmcp::auth {

namespace asio = boost::asio;
using Json = nlohmann::json;
using internal::Printable;
using internal::UrlForMessage;

namespace {

using ResultChannel =
    asio::experimental::concurrent_channel<void(boost::system::error_code, absl::StatusOr<config::Secret>)>;
constexpr auto kTuple = asio::as_tuple(asio::use_awaitable);

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
         });
}

// Length-prefixed, so that no two configs (or token + config) share an encoding.
void AddField(std::string& out, std::string_view field) {
  absl::StrAppend(&out, field.size(), ":");
  out.append(field);
  out.push_back(';');
}

std::string ConfigFingerprint(const config::TokenExchangeConfig& c) {
  std::string out;
  AddField(out, c.token_url);
  AddField(out, c.client_id);
  AddField(out, c.client_secret.Reveal());
  AddField(out, c.audience);
  AddField(out, std::to_string(c.scopes.size()));
  for (const std::string& s : c.scopes) AddField(out, s);
  AddField(out, c.subject_token_type);
  AddField(out, c.subject_provider_name);
  return out;
}

std::string TokenUrlMessage(const std::string& url) { return UrlForMessage(url); }

}  // namespace

// --- response validation -----------------------------------------------------------------------------

absl::StatusOr<TokenResponse> ParseTokenResponse(int http_status, std::string_view body, bool token_exchange,
                                                 const std::string& url, const std::vector<std::string_view>& redact) {
  const std::string what = absl::StrCat(token_exchange ? "token exchange at " : "client_credentials grant at ",
                                        TokenUrlMessage(url));
  Json doc = Json::parse(body.begin(), body.end(), nullptr, false);
  const bool json_object = !doc.is_discarded() && doc.is_object();
  // An OAuth error response (RFC 6749 section 5.2), on an error status or even on 200.
  if (json_object && doc.contains("error")) {
    auto err = doc.find("error");
    std::string code = err->is_string() ? Printable(err->get<std::string>(), 64) : std::string("(unreadable)");
    std::string description;
    if (auto d = doc.find("error_description"); d != doc.end() && d->is_string()) {
      description = Printable(internal::Redact(d->get<std::string>(), redact), 200);
    }
    std::string message = absl::StrCat(what, " refused (HTTP ", http_status, "): ", code,
                                        description.empty() ? "" : ": ", description);
    if (http_status >= 500) return absl::UnavailableError(message);
    return absl::PermissionDeniedError(message);
  }
  if (http_status != 200) {
    std::string message = absl::StrCat(what, " answered HTTP ", http_status);
    if (http_status >= 500 || http_status == 429) return absl::UnavailableError(message);
    return absl::PermissionDeniedError(message);
  }
  if (!json_object) return absl::FailedPreconditionError(absl::StrCat(what, ": the response is not a JSON object"));
  TokenResponse r;
  auto str = [&](const char* key) -> std::optional<std::string> {
    auto it = doc.find(key);
    if (it == doc.end() || !it->is_string()) return std::nullopt;
    return it->get<std::string>();
  };
  auto access = str("access_token");
  if (!access || access->empty()) return absl::FailedPreconditionError(absl::StrCat(what, ": the response has no access_token"));
  r.access_token = config::Secret(std::move(*access));
  auto issued = str("issued_token_type");
  if (token_exchange && (!issued || issued->empty())) {
    return absl::FailedPreconditionError(absl::StrCat(what, ": the response has no issued_token_type"));
  }
  r.issued_token_type = issued.value_or("");
  auto type = str("token_type");
  if (!type || type->empty()) return absl::FailedPreconditionError(absl::StrCat(what, ": the response has no token_type"));
  if (!EqualsIgnoreCase(*type, "Bearer") && !EqualsIgnoreCase(*type, "N_A")) {
    return absl::FailedPreconditionError(
        absl::StrCat(what, ": token_type ", Printable(*type, 32), " is not Bearer or N_A"));
  }
  r.token_type = *type;
  if (auto e = doc.find("expires_in"); e != doc.end() && !e->is_null()) {
    int64_t v = -1;
    if (e->is_number_integer() || e->is_number_unsigned()) {
      v = e->is_number_unsigned() ? static_cast<int64_t>(std::min<uint64_t>(e->get<uint64_t>(), INT64_MAX)) : e->get<int64_t>();
    } else if (e->is_number_float()) {
      const double d = e->get<double>();
      if (d >= 0 && d < 1e12) v = static_cast<int64_t>(d);
    } else if (e->is_string()) {
      const std::string& s = e->get_ref<const std::string&>();
      if (!s.empty() && s.size() < 12 && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; })) {
        v = std::stoll(s);
      }
    }
    if (v < 0) return absl::FailedPreconditionError(absl::StrCat(what, ": expires_in is not a non-negative number"));
    constexpr int64_t kTenYears = int64_t{10} * 365 * 24 * 3600;  // beyond that, no clock arithmetic is safe
    r.expires_in = std::min(v, kTenYears);
  }
  return r;
}

absl::Status CheckIssuedAudience(std::string_view token, const std::string& audience) {
  if (audience.empty() || !LooksLikeJwt(token)) return absl::OkStatus();
  auto jws = ParseJws(token);
  if (!jws.ok()) return absl::OkStatus();  // not a decodable JWT: opaque to us
  std::vector<std::string> aud = AudienceOf(jws->payload);
  if (std::find(aud.begin(), aud.end(), audience) != aud.end()) return absl::OkStatus();
  std::vector<std::string> shown;
  for (const std::string& a : aud) shown.push_back(Printable(a, 80));
  return absl::PermissionDeniedError(absl::StrCat("the issued token's audience [", absl::StrJoin(shown, ", "),
                                                  "] does not include the configured audience ", Printable(audience)));
}

// --- the exchanger -----------------------------------------------------------------------------------

struct TokenExchanger::Flight {
  std::vector<std::shared_ptr<ResultChannel>> waiters;
};

TokenExchanger::TokenExchanger(std::shared_ptr<transport::HttpClient> client, TokenExchangeOptions options)
    : client_(std::move(client)), options_(std::move(options)) {
  if (!options_.clock) options_.clock = SystemClock();
  if (options_.max_entries == 0) options_.max_entries = 1;
}

TokenExchanger::~TokenExchanger() = default;

absl::Status TokenExchanger::CheckConfig(const config::TokenExchangeConfig& c) {
  if (c.token_url.empty()) return absl::InvalidArgumentError("tokenExchange.tokenUrl is required");
  if (auto url = transport::ParseUrl(c.token_url); !url.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("tokenExchange.tokenUrl: ", url.status().message()));
  }
  if (c.client_id.empty() && !c.client_secret.empty()) {
    return absl::InvalidArgumentError("tokenExchange has a client secret but no clientId");
  }
  if (!c.subject_provider_name.empty()) {
    return absl::InvalidArgumentError(absl::StrCat("tokenExchange.subjectProviderName ", Printable(c.subject_provider_name),
                                                   " needs the embedded auth server, which this data plane does not have"));
  }
  return absl::OkStatus();
}

size_t TokenExchanger::cache_size() const {
  std::lock_guard lock(mu_);
  return cache_.size();
}

void TokenExchanger::ClearCache() {
  std::lock_guard lock(mu_);
  cache_.clear();
  lru_.clear();
}

asio::awaitable<absl::StatusOr<config::Secret>> TokenExchanger::Exchange(const config::TokenExchangeConfig& config,
                                                                        const config::Secret& subject_token) {
  if (subject_token.empty()) co_return absl::InvalidArgumentError("there is no subject token to exchange");
  if (absl::Status s = CheckConfig(config); !s.ok()) co_return s;
  std::string key = internal::Sha256(absl::StrCat("token_exchange\n", subject_token.Reveal().size(), ":",
                                                  subject_token.Reveal(), ";", ConfigFingerprint(config)));
  Grant grant;
  grant.url = config.token_url;
  grant.audience = config.audience;
  grant.token_exchange = true;
  std::vector<std::pair<std::string, std::string>> form = {
      {"grant_type", kTokenExchangeGrant},
      {"subject_token", subject_token.Reveal()},
      {"subject_token_type", config.subject_token_type.empty() ? std::string(kAccessTokenType) : config.subject_token_type},
      {"requested_token_type", kAccessTokenType},
  };
  if (!config.audience.empty()) form.emplace_back("audience", config.audience);
  if (!config.scopes.empty()) form.emplace_back("scope", absl::StrJoin(config.scopes, " "));
  if (!config.client_id.empty() && !config.client_secret.empty()) {
    grant.authorization = internal::BasicAuthorization(config.client_id, config.client_secret.Reveal());
  } else if (!config.client_id.empty()) {
    form.emplace_back("client_id", config.client_id);
  }
  grant.body = internal::FormBody(form);
  grant.redact = {subject_token.Reveal(), config.client_secret.Reveal()};
  co_return co_await Obtain(std::move(key), std::move(grant));
}

asio::awaitable<absl::StatusOr<config::Secret>> TokenExchanger::ClientCredentials(const config::TokenExchangeConfig& config) {
  if (absl::Status s = CheckConfig(config); !s.ok()) co_return s;
  if (config.client_id.empty() || config.client_secret.empty()) {
    co_return absl::InvalidArgumentError("the client_credentials grant needs tokenExchange.clientId and a client secret");
  }
  std::string key = internal::Sha256(absl::StrCat("client_credentials\n", ConfigFingerprint(config)));
  Grant grant;
  grant.url = config.token_url;
  grant.audience = config.audience;
  grant.token_exchange = false;
  std::vector<std::pair<std::string, std::string>> form = {{"grant_type", "client_credentials"}};
  if (!config.scopes.empty()) form.emplace_back("scope", absl::StrJoin(config.scopes, " "));
  if (!config.audience.empty()) form.emplace_back("audience", config.audience);
  grant.authorization = internal::BasicAuthorization(config.client_id, config.client_secret.Reveal());
  grant.body = internal::FormBody(form);
  grant.redact = {config.client_secret.Reveal()};
  co_return co_await Obtain(std::move(key), std::move(grant));
}

void TokenExchanger::Store(const std::string& key, const config::Secret& token, TimePoint expires_at) {
  if (auto it = cache_.find(key); it != cache_.end()) {
    lru_.erase(it->second.lru);
    cache_.erase(it);
  }
  lru_.push_front(key);
  cache_.emplace(key, Entry{token, expires_at, lru_.begin()});
  while (cache_.size() > options_.max_entries) {
    cache_.erase(lru_.back());
    lru_.pop_back();
  }
}

asio::awaitable<absl::StatusOr<config::Secret>> TokenExchanger::Obtain(std::string key, Grant grant) {
  auto executor = co_await asio::this_coro::executor;
  std::shared_ptr<ResultChannel> wait;
  std::shared_ptr<Flight> mine;
  {
    std::lock_guard lock(mu_);
    if (auto it = cache_.find(key); it != cache_.end()) {
      if (options_.clock() < it->second.expires_at) {
        lru_.splice(lru_.begin(), lru_, it->second.lru);
        cache_hits_.fetch_add(1, std::memory_order_relaxed);
        co_return it->second.token;
      }
      lru_.erase(it->second.lru);
      cache_.erase(it);
    }
    if (auto f = flights_.find(key); f != flights_.end()) {
      wait = std::make_shared<ResultChannel>(executor, 1);
      f->second->waiters.push_back(wait);
    } else {
      mine = std::make_shared<Flight>();
      flights_.emplace(key, mine);
    }
  }
  if (wait) {
    coalesced_.fetch_add(1, std::memory_order_relaxed);
    auto [ec, result] = co_await wait->async_receive(kTuple);
    if (ec) co_return absl::CancelledError("token request abandoned");
    co_return std::move(result);
  }
  // Whatever happens to this coroutine, the waiters get an answer and the key can be asked again.
  struct Finisher {
    TokenExchanger* self;
    const std::string* key;
    std::shared_ptr<Flight> flight;
    bool done = false;
    void Finish(const absl::StatusOr<config::Secret>& result) {
      done = true;
      {
        std::lock_guard lock(self->mu_);
        if (auto f = self->flights_.find(*key); f != self->flights_.end() && f->second == flight) self->flights_.erase(f);
      }
      for (auto& w : flight->waiters) w->try_send(boost::system::error_code{}, result);
    }
    ~Finisher() {
      if (!done) Finish(absl::CancelledError("token request abandoned"));
    }
  } finisher{this, &key, mine};

  (grant.token_exchange ? exchanges_ : client_credentials_).fetch_add(1, std::memory_order_relaxed);
  auto got = co_await Request(grant);
  absl::StatusOr<config::Secret> result;
  if (!got.ok()) {
    failures_.fetch_add(1, std::memory_order_relaxed);
    result = got.status();
  } else {
    result = got->first;
    if (got->second > options_.clock()) {
      std::lock_guard lock(mu_);
      Store(key, got->first, got->second);
    }
  }
  finisher.Finish(result);
  co_return result;
}

asio::awaitable<absl::StatusOr<std::pair<config::Secret, TimePoint>>> TokenExchanger::Request(const Grant& grant) {
  std::string body = grant.body;
  std::string authorization = grant.authorization;
  auto resp = co_await internal::PostForm(*client_, grant.url, std::move(body), std::move(authorization),
                                          options_.endpoint, options_.timeout);
  const char* what = grant.token_exchange ? "token exchange" : "client_credentials grant";
  if (!resp.ok()) co_return absl::UnavailableError(absl::StrCat(what, ": ", resp.status().message()));
  std::vector<std::string_view> redact(grant.redact.begin(), grant.redact.end());
  auto parsed = ParseTokenResponse(resp->status, resp->body, grant.token_exchange, grant.url, redact);
  if (!parsed.ok()) co_return parsed.status();
  const std::string& token = parsed->access_token.Reveal();
  if (absl::Status s = CheckIssuedAudience(token, grant.audience); !s.ok()) {
    co_return absl::PermissionDeniedError(absl::StrCat(what, " at ", TokenUrlMessage(grant.url), ": ", s.message()));
  }
  const TimePoint now = options_.clock();
  TimePoint expires_at =
      now + (parsed->expires_in ? std::chrono::seconds(*parsed->expires_in) : options_.default_lifetime) - options_.expiry_skew;
  // Never past the issued token's own exp.
  if (auto jws = LooksLikeJwt(token) ? ParseJws(token) : absl::StatusOr<Jws>(absl::NotFoundError("")); jws.ok()) {
    if (auto exp = jws->payload.find("exp"); exp != jws->payload.end() && exp->is_number()) {
      const double e = std::clamp(exp->get<double>(), 0.0, 9.0e9);
      const TimePoint jwt_exp{std::chrono::duration_cast<TimePoint::duration>(std::chrono::duration<double>(e))};
      expires_at = std::min(expires_at, jwt_exp - options_.expiry_skew);
    }
  }
  co_return std::make_pair(std::move(parsed->access_token), expires_at);
}

}  // namespace vmcp::auth
