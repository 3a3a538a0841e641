// File: auth/incoming.cc
#include "auth/incoming.h"

// GCC 12 misreads the frame allocation of some asio coroutines (a known false positive).
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"

#include <boost/asio/this_coro.hpp>

#include "absl/strings/cord.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "auth/fetch.h"
#include "auth/util.h"

namespace vmcp::auth {

namespace asio = boost::asio;
using Json = nlohmann::json;
using internal::Printable;

namespace {

// The RFC 6750 error code of a failure travels with its status as a payload ("" = no token given).
constexpr char kOAuthErrorPayload[] = "vmcp.auth/oauth-error";

absl::Status WithOAuthError(absl::Status s, std::string_view error) {
  s.SetPayload(kOAuthErrorPayload, absl::Cord(absl::string_view(error.data(), error.size())));
  return s;
}

std::optional<std::string> OAuthErrorOf(const absl::Status& s) {
  auto p = s.GetPayload(kOAuthErrorPayload);
  if (!p) return std::nullopt;
  return std::string(*p);
}

absl::Status InvalidToken(const absl::Status& s) {
  if (absl::IsPermissionDenied(s)) return WithOAuthError(s, "insufficient_scope");
  if (absl::IsUnavailable(s)) return s;
  return WithOAuthError(absl::UnauthenticatedError(s.message()), "invalid_token");
}

absl::Status InvalidRequest(std::string_view message) {
  return WithOAuthError(absl::UnauthenticatedError(absl::string_view(message.data(), message.size())), "invalid_request");
}

// A quoted-string parameter value: printable ASCII, no quote or backslash.
std::string QuoteParam(std::string_view text) {
  std::string out;
  for (unsigned char c : text) {
    if (out.size() >= 200) break;
    if (c == '"' || c == '\\') {
      out.push_back('\'');
    } else {
      out.push_back(c >= 0x20 && c < 0x7f ? static_cast<char>(c) : '?');
    }
  }
  return out;
}

bool IsToken68Char(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.' ||
         c == '_' || c == '~' || c == '+' || c == '/';
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

Identity IdentityFrom(Claims claims, std::string token) {
  Identity id;
  id.issuer = std::move(claims.issuer);
  id.subject = std::move(claims.subject);
  id.audience = std::move(claims.audience);
  id.scopes = std::move(claims.scopes);
  id.expiry = claims.expiry;
  id.claims = std::move(claims.all);
  id.token = config::Secret(std::move(token));
  return id;
}

}  // namespace

bool BindingMatches(std::string_view bound_key, const Identity& caller) {
  const std::string key = caller.SessionBindingKey();
  unsigned char diff = bound_key.size() == key.size() ? 0 : 1;
  const size_t n = std::min(bound_key.size(), key.size());
  for (size_t i = 0; i < n; ++i) diff |= static_cast<unsigned char>(bound_key[i] ^ key[i]);
  return diff == 0;
}

IncomingAuthenticator::~IncomingAuthenticator() { Stop(); }

absl::StatusOr<std::shared_ptr<IncomingAuthenticator>> IncomingAuthenticator::Create(
    const std::optional<config::IncomingAuthConfig>& config, std::shared_ptr<transport::HttpClient> client,
    IncomingOptions options) {
  std::shared_ptr<IncomingAuthenticator> a(new IncomingAuthenticator());
  if (!options.clock) options.clock = SystemClock();
  a->options_ = options;
  if (!config.has_value() || config->type.empty() || config->type == "anonymous") {
    a->anonymous_ = true;
    return a;
  }
  if (config->type != "oidc") {
    return absl::InvalidArgumentError(
        absl::StrCat("incomingAuth type ", Printable(config->type, 32), " is not supported by the data plane (anonymous or oidc)"));
  }
  if (!config->oidc.has_value()) return absl::InvalidArgumentError("incomingAuth type oidc needs an oidc section");
  const config::OidcConfig& oidc = *config->oidc;
  if (oidc.issuer.empty()) return absl::InvalidArgumentError("incomingAuth.oidc.issuer is required");
  if (oidc.audience.empty()) return absl::InvalidArgumentError("incomingAuth.oidc.audience is required");
  if (!client) return absl::InvalidArgumentError("incoming OIDC auth needs an HTTP client");
  if (!oidc.introspection_url.empty()) {
    if (absl::Status s = internal::CheckScheme("introspectionUrl", oidc.introspection_url, oidc.insecure_allow_http);
        !s.ok()) {
      return s;
    }
  }
  for (const std::string& alg : options.allowed_algs) {
    if (absl::Status s = CheckAlg(alg, SupportedAlgs()); !s.ok()) {
      return absl::InvalidArgumentError(absl::StrCat("allowed algorithms: ", s.message()));
    }
  }
  JwksOptions jo;
  jo.issuer = oidc.issuer;
  jo.jwks_url = oidc.jwks_url;
  jo.ca_bundle_path = oidc.ca_bundle_path;
  jo.insecure_allow_http = oidc.insecure_allow_http;
  jo.refresh_interval = options.jwks_refresh_interval;
  jo.min_refresh_interval = options.jwks_min_refresh_interval;
  jo.timeout = options.http_timeout;
  jo.clock = options.clock;
  auto jwks = JwksCache::Create(client, std::move(jo));
  if (!jwks.ok()) return jwks.status();
  a->anonymous_ = false;
  a->oidc_ = oidc;
  a->client_ = std::move(client);
  a->jwks_ = std::move(*jwks);
  a->endpoint_.ca_bundle_path = oidc.ca_bundle_path;
  a->resource_ = !oidc.resource.empty() ? oidc.resource : options.public_url;
  a->required_scopes_ = oidc.scopes;
  return a;
}

void IncomingAuthenticator::Start(asio::any_io_executor executor) {
  if (jwks_) jwks_->Start(std::move(executor));
}

void IncomingAuthenticator::Stop() {
  if (jwks_) jwks_->Stop();
}

asio::awaitable<absl::StatusOr<Identity>> IncomingAuthenticator::Authenticate(const std::string& authorization_ref) {
  const std::string authorization = authorization_ref;
  if (anonymous_) {
    Identity id;
    id.anonymous = true;
    id.issuer = kAnonymousIssuer;
    id.subject = kAnonymousSubject;
    accepted_.fetch_add(1, std::memory_order_relaxed);
    co_return id;
  }
  std::string_view header = Trim(authorization);
  absl::StatusOr<Identity> result;
  if (header.empty()) {
    result = WithOAuthError(absl::UnauthenticatedError("no bearer token"), "");
  } else {
    const size_t sp = header.find_first_of(" \t");
    std::string_view scheme = header.substr(0, sp);
    std::string_view token = sp == std::string_view::npos ? std::string_view() : Trim(header.substr(sp));
    size_t eq = token.size();
    while (eq > 0 && token[eq - 1] == '=') --eq;
    bool chars_ok = eq > 0;
    for (size_t i = 0; i < eq && chars_ok; ++i) chars_ok = IsToken68Char(token[i]);
    if (!transport::EqualsIgnoreCase(scheme, "Bearer")) {
      result = InvalidRequest("the Authorization header is not a Bearer token");
    } else if (token.empty()) {
      result = InvalidRequest("the bearer token is empty");
    } else if (!chars_ok) {
      result = InvalidRequest("the bearer token is malformed");
    } else {
      std::string bearer(token);
      result = co_await AuthenticateOidc(std::move(bearer));
    }
  }
  (result.ok() ? accepted_ : rejected_).fetch_add(1, std::memory_order_relaxed);
  co_return result;
}

asio::awaitable<absl::StatusOr<Identity>> IncomingAuthenticator::AuthenticateOidc(std::string token) {
  if (LooksLikeJwt(token)) co_return co_await ValidateJwtToken(std::move(token));
  co_return co_await Introspect(std::move(token));
}

asio::awaitable<absl::StatusOr<Identity>> IncomingAuthenticator::ValidateJwtToken(std::string token) {
  // A JWT already validated is not verified again (a signature check per request is most of the cost
  // of an authenticated call) until it expires or kValidatedFor passes, whichever is first; its expiry
  // is checked on every use. The cache is bounded and keyed by the token's hash.
  const std::string key = internal::Sha256(token);
  const TimePoint now = options_.clock();
  {
    std::lock_guard lock(validated_mu_);
    auto it = validated_.find(key);
    if (it != validated_.end()) {
      if (now < it->second.until) co_return it->second.identity;
      validated_.erase(it);
    }
  }
  auto jws = ParseJws(token);
  if (!jws.ok()) co_return InvalidToken(jws.status());
  if (absl::Status s = CheckAlg(jws->alg, options_.allowed_algs); !s.ok()) co_return InvalidToken(s);
  auto keys = co_await jwks_->KeysFor(jws->kid);
  if (!keys.ok()) co_return keys.status();
  if (absl::Status s = VerifyJws(*jws, **keys, options_.allowed_algs); !s.ok()) co_return InvalidToken(s);
  ClaimRules rules;
  rules.issuer = oidc_.issuer;
  rules.audience = oidc_.audience;
  rules.required_scopes = required_scopes_;
  rules.clock_skew = options_.clock_skew;
  auto claims = CheckClaims(jws->payload, rules, options_.clock());
  if (!claims.ok()) co_return InvalidToken(claims.status());
  Identity identity = IdentityFrom(std::move(*claims), std::move(token));
  TimePoint until = now + kValidatedFor;
  if (identity.expiry) until = std::min(until, *identity.expiry);
  {
    std::lock_guard lock(validated_mu_);
    if (validated_.size() >= kMaxValidated) {
      // Bounded: expired entries go first; if none, the table starts over (a re-validation is cheap).
      std::erase_if(validated_, [&](const auto& e) { return e.second.until <= now; });
      if (validated_.size() >= kMaxValidated) validated_.clear();
    }
    validated_[key] = Validated{identity, until};
  }
  co_return identity;
}

asio::awaitable<absl::StatusOr<Identity>> IncomingAuthenticator::Introspect(std::string token) {
  std::string url = oidc_.introspection_url;
  if (url.empty() && oidc_.jwks_url.empty()) {
    auto d = co_await jwks_->Discover();
    if (!d.ok()) {
      co_return absl::UnavailableError(absl::StrCat("opaque token: the introspection endpoint is unknown (", d.status().message(), ")"));
    }
    url = d->introspection_endpoint;
  }
  if (url.empty()) {
    co_return WithOAuthError(absl::UnauthenticatedError("token is not a JWT and no introspection endpoint is configured"),
                             "invalid_token");
  }
  if (oidc_.client_id.empty()) {
    // Introspection needs the gateway's own client credentials (RFC 7662 section 2.1); without them
    // an opaque token cannot be checked, so it is not accepted.
    co_return WithOAuthError(
        absl::UnauthenticatedError("token is not a JWT and no client credentials are configured to introspect it"),
        "invalid_token");
  }
  std::vector<std::pair<std::string, std::string>> form = {{"token", token}, {"token_type_hint", "access_token"}};
  std::string authorization;
  if (!oidc_.client_id.empty() && !oidc_.client_secret.empty()) {
    authorization = internal::BasicAuthorization(oidc_.client_id, oidc_.client_secret.Reveal());
  } else if (!oidc_.client_id.empty()) {
    form.emplace_back("client_id", oidc_.client_id);
  }
  introspections_.fetch_add(1, std::memory_order_relaxed);
  std::string body = internal::FormBody(form);
  auto resp = co_await internal::PostForm(*client_, url, std::move(body), std::move(authorization), endpoint_,
                                          options_.http_timeout);
  if (!resp.ok()) co_return absl::UnavailableError(absl::StrCat("introspection: ", resp.status().message()));
  if (resp->status != 200) {
    co_return absl::UnavailableError(
        absl::StrCat("introspection at ", internal::UrlForMessage(url), " answered HTTP ", resp->status));
  }
  Json doc = Json::parse(resp->body, nullptr, false);
  if (doc.is_discarded() || !doc.is_object()) {
    co_return absl::UnavailableError(absl::StrCat("introspection at ", internal::UrlForMessage(url), ": response is not a JSON object"));
  }
  auto active = doc.find("active");
  if (active == doc.end() || !active->is_boolean() || !active->get<bool>()) {
    co_return WithOAuthError(absl::UnauthenticatedError("token is not active"), "invalid_token");
  }
  ClaimRules rules;
  rules.issuer = doc.contains("iss") ? oidc_.issuer : std::string();
  rules.audience = oidc_.audience;
  rules.required_scopes = required_scopes_;
  rules.clock_skew = options_.clock_skew;
  rules.require_exp = false;  // RFC 7662: exp is optional; when present it is checked
  auto claims = CheckClaims(doc, rules, options_.clock());
  if (!claims.ok()) co_return InvalidToken(claims.status());
  if (claims->issuer.empty()) claims->issuer = oidc_.issuer;
  co_return IdentityFrom(std::move(*claims), std::move(token));
}

Challenge IncomingAuthenticator::ChallengeFor(const absl::Status& failure) const {
  Challenge c;
  const std::optional<std::string> oauth_error = OAuthErrorOf(failure);
  const bool no_token = oauth_error.has_value() && oauth_error->empty();
  const bool scope = absl::IsPermissionDenied(failure);
  if (!absl::IsUnauthenticated(failure) && !scope) {
    c.status = 503;
    c.body = Json{{"error", "temporarily_unavailable"}, {"error_description", std::string(failure.message())}}
                 .dump(-1, ' ', false, Json::error_handler_t::replace);  // (an IdP's bytes may not be UTF-8)
    return c;
  }
  const std::string error = scope ? "insufficient_scope" : (oauth_error && !oauth_error->empty() ? *oauth_error : "invalid_token");
  c.status = scope ? 403 : 401;
  std::string h = absl::StrCat("Bearer realm=\"", QuoteParam(oidc_.issuer), "\"");
  if (!no_token) {
    absl::StrAppend(&h, ", error=\"", error, "\", error_description=\"", QuoteParam(std::string(failure.message())), "\"");
  }
  if (!required_scopes_.empty()) absl::StrAppend(&h, ", scope=\"", QuoteParam(absl::StrJoin(required_scopes_, " ")), "\"");
  if (const std::string url = MetadataUrl(); !url.empty()) absl::StrAppend(&h, ", resource_metadata=\"", QuoteParam(url), "\"");
  c.www_authenticate = std::move(h);
  c.body = Json{{"error", no_token ? std::string("unauthorized") : error},
                {"error_description", std::string(failure.message())}}
               .dump(-1, ' ', false, Json::error_handler_t::replace);
  return c;
}

namespace {

// The resource URL split as written: "scheme://authority" and its path (no query or fragment, no
// trailing slash). nullopt when it is not an absolute http(s) URL.
std::optional<std::pair<std::string, std::string>> SplitResource(const std::string& resource) {
  if (!transport::ParseUrl(resource).ok()) return std::nullopt;
  const size_t scheme_end = resource.find("://");
  const size_t path_start = resource.find_first_of("/?#", scheme_end + 3);
  std::string origin = resource.substr(0, path_start);
  std::string path = path_start == std::string::npos ? std::string() : resource.substr(path_start);
  if (size_t q = path.find_first_of("?#"); q != std::string::npos) path.resize(q);
  while (!path.empty() && path.back() == '/') path.pop_back();
  return std::make_pair(std::move(origin), std::move(path));
}

}  // namespace

std::string IncomingAuthenticator::MetadataPath() const {
  auto split = SplitResource(resource_);
  return split ? kProtectedResourcePath + split->second : std::string(kProtectedResourcePath);
}

std::string IncomingAuthenticator::MetadataUrl() const {
  auto split = SplitResource(resource_);
  return split ? split->first + kProtectedResourcePath + split->second : std::string();
}

std::string IncomingAuthenticator::ProtectedResourceMetadata() const {
  if (anonymous_) return "";
  Json doc = Json::object();
  doc["resource"] = resource_;
  doc["authorization_servers"] = Json::array({oidc_.issuer});
  doc["bearer_methods_supported"] = Json::array({"header"});
  doc["scopes_supported"] = oidc_.scopes.empty() ? Json::array({"openid"}) : Json(oidc_.scopes);
  return doc.dump();
}

}  // namespace vmcp::auth
