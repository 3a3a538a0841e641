// File: auth/identity.h
//
// Who a request comes from, as the incoming authenticator established it: issuer and subject (what a
// client session is bound to), the token's claims, and the raw bearer token kept as a config::Secret
// (it has no printing path) for the outgoing token exchange.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "auth/clock.h"
#include "config/secret.h"

namespace vmcp::auth {

// The identity every request gets under `anonymous` incoming auth (ToolHive's values).
inline constexpr char kAnonymousIssuer[] = "toolhive-local";
inline constexpr char kAnonymousSubject[] = "anonymous";

struct Identity {
  bool anonymous = false;
  std::string issuer;
  std::string subject;
  std::vector<std::string> audience;
  std::vector<std::string> scopes;
  std::optional<TimePoint> expiry;  // none for anonymous
  nlohmann::json claims = nlohmann::json::object();  // the token's (or introspection response's) claims
  config::Secret token;  // the raw bearer token; empty for anonymous. Never log or format it.

  // What a client session is bound to: issuer + "\n" + subject. A refreshed token of the same user
  // keeps the session; another identity presenting the session id does not match.
  std::string SessionBindingKey() const { return issuer + "\n" + subject; }
};

// Constant-time comparison of a session's binding key with the caller's identity.
bool BindingMatches(std::string_view bound_key, const Identity& caller);

}  // namespace vmcp::auth
