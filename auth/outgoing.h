// File: auth/outgoing.h
//
// The headers the gateway adds to each request to a backend: the backend's static headers
// (`headerEnvVars` and TOOLHIVE_HEADER_FORWARD_<BACKEND> manifests), the client's headers named in
// `passthroughHeaders`, and the outgoing auth strategy resolved per backend (`outgoingAuth.backends[name]`,
// else `default`, else none):
//  - `unauthenticated`: nothing;
//  - `header_injection`: the configured header and value;
//  - `token_exchange`: `Authorization: Bearer <token>` from RFC 8693 exchange of the caller's token
//    (auth/token_exchange.h, cached).
// Other strategy types are refused when built ("... is not supported by the data plane").
//
// Precedence: the strategy's header replaces any header of the same name; a static header wins over a
// forwarded one of the same name (a client cannot override what the operator set). Header names are
// checked (RFC 9110 tokens, not restricted) when built; a value with CR, LF, NUL or another control
// character (tab excepted) is refused, at build time for configured values, per request for forwarded
// ones (the request then fails naming the header, never its value).
//
// Restricted names, never forwarded or injected (hop-by-hop, framing, routing and what the gateway
// itself manages on backend requests): Host, Content-Length, Transfer-Encoding, Connection, Keep-Alive,
// Upgrade, TE, Trailer, Expect, HTTP2-Settings, Proxy-* (Proxy-Authorization, Proxy-Connection, ...),
// Forwarded, X-Forwarded-For, X-Forwarded-Host, X-Forwarded-Proto, X-Real-IP (ToolHive's list), plus
// Mcp-Session-Id, Mcp-Protocol-Version, Last-Event-ID, Content-Type, Accept, traceparent, tracestate.
// `Authorization` and `Cookie` may be forwarded when the operator lists them (as in ToolHive); an auth
// strategy's Authorization still wins.
//
//   auto outgoing = OutgoingAuth::Create(config, std::make_shared<TokenExchanger>(http_client));
//   auto headers = co_await (*outgoing)->HeadersFor(backend_name, &identity, client_request.headers);
//   for (auto& [name, value] : *headers) backend_request.headers.Set(name, value);
#pragma once

#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <boost/asio/awaitable.hpp>

#include "absl/status/statusor.h"
#include "auth/identity.h"
#include "auth/token_exchange.h"
#include "config/config.h"
#include "transport/http.h"

namespace vmcp::auth {

using HeaderList = std::vector<std::pair<std::string, std::string>>;

// True for the restricted names above (case-insensitive).
bool IsRestrictedHeader(std::string_view name);
// A valid field name (RFC 9110 token) that is not restricted.
absl::Status CheckHeaderName(std::string_view name);
// No CR, LF, NUL or other control character except tab. The message names the header, not the value.
absl::Status CheckHeaderValue(std::string_view name, std::string_view value);
// `passthroughHeaders`: each name valid and not restricted (every problem in one message).
absl::Status CheckPassthroughHeaders(const std::vector<std::string>& names);

class OutgoingAuth {
 public:
  // Checks everything below (Check) and builds the per-backend plans. `exchanger` may be null when no
  // backend uses token_exchange.
  static absl::StatusOr<std::shared_ptr<OutgoingAuth>> Create(const config::Config& config,
                                                              std::shared_ptr<TokenExchanger> exchanger);
  // What Create checks, for config load / reload: passthroughHeaders; for every backend its resolved
  // strategy (type supported; header_injection name and value; token_exchange per
  // TokenExchanger::CheckConfig) and its static headers. Every problem in one message, "; "-separated,
  // each naming its backend.
  static absl::Status Check(const config::Config& config);

  // The headers for one request to `backend`. `identity` is the caller (null or anonymous: no token to
  // exchange, so a token_exchange backend fails with FAILED_PRECONDITION); `client_headers` the
  // client's request headers (for passthrough). Errors name the backend. The arguments must outlive
  // the call (co_await it at once).
  boost::asio::awaitable<absl::StatusOr<HeaderList>> HeadersFor(const std::string& backend, const Identity* identity,
                                                                const transport::Headers& client_headers) const;

  // The headers for a health check of `backend` (no user): static headers, header_injection's header,
  // and for token_exchange a client_credentials token when the client id and secret are set (none
  // otherwise, as in ToolHive).
  boost::asio::awaitable<absl::StatusOr<HeaderList>> HealthCheckHeaders(const std::string& backend) const;

  // "unauthenticated" | "header_injection" | "token_exchange" (for audit records), "" for an unknown
  // backend.
  std::string StrategyFor(const std::string& backend) const;

  const std::shared_ptr<TokenExchanger>& exchanger() const { return exchanger_; }

 private:
  struct Plan {
    std::string strategy;  // one of the three types
    HeaderList static_headers;
    std::string inject_name;
    config::Secret inject_value;
    std::optional<config::TokenExchangeConfig> token_exchange;
  };
  std::map<std::string, Plan> plans_;
  std::vector<std::string> passthrough_;
  std::shared_ptr<TokenExchanger> exchanger_;
};

}  // namespace vmcp::auth
