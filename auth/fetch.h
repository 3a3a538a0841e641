// File: auth/fetch.h
//
// The HTTP calls of the auth components (internal to auth/), on the project's transport::HttpClient:
// GET of a JSON document (OIDC discovery, JWKS) and POST of a form (token exchange, introspection,
// client credentials). Errors name the URL (without its query) and what went wrong, never a body that
// could hold a credential.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include <boost/asio/awaitable.hpp>
#include <nlohmann/json.hpp>

#include "absl/status/statusor.h"
#include "transport/client.h"

namespace vmcp::auth::internal {

// Responses larger than this are refused (a JWKS, a discovery document or a token response is small).
inline constexpr size_t kMaxAuthResponseBytes = 1024 * 1024;

// scheme://host:port/path of `url`, for messages.
std::string UrlForMessage(const std::string& url);
// OK for https; for http only when `allow_http` ("<what> <url> uses http; ...").
absl::Status CheckScheme(const std::string& what, const std::string& url, bool allow_http);

// GETs `url` and parses a JSON object. UNAVAILABLE when the server cannot be reached or answers
// other than 200; INVALID_ARGUMENT when the body is not a JSON object.
boost::asio::awaitable<absl::StatusOr<nlohmann::json>> GetJson(transport::HttpClient& client, const std::string& url,
                                                               const transport::Endpoint& endpoint,
                                                               transport::Duration timeout);

// POSTs an application/x-www-form-urlencoded body; `authorization` is sent when not empty. Returns the
// response whatever its status (UNAVAILABLE only when there is none).
boost::asio::awaitable<absl::StatusOr<transport::Response>> PostForm(
    transport::HttpClient& client, const std::string& url, std::string body, std::string authorization,
    const transport::Endpoint& endpoint, transport::Duration timeout);

}  // namespace vmcp::auth::internal
