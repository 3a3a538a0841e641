// File: transport/url.h
//
// Absolute http(s) URLs as the config gives them for backends, split into what the client needs: the
// origin it connects to (scheme, host, port) and the request target it sends. A `#fragment` is dropped
// (it is never sent on the wire); relative references (the legacy SSE `endpoint` event carries one) are
// resolved against a base URL.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace vmcp::transport {

struct Url {
  bool tls = false;     // https
  std::string host;     // without brackets for IPv6 literals
  uint16_t port = 0;    // the explicit port, or 80 / 443
  std::string target;   // path and query, at least "/"

  // "host:port" (IPv6 in brackets), for Host headers and messages.
  std::string Authority() const;
  // scheme://authority, the connection pool key (with the CA bundle).
  std::string Origin() const;
  std::string ToString() const;
  bool IsIpLiteral() const;
};

absl::StatusOr<Url> ParseUrl(std::string_view text);

// Resolves `reference` (absolute, scheme-relative, absolute-path or relative-path, with query) against
// `base`, per RFC 3986 section 5.2 without dot-segment normalization beyond what servers send.
absl::StatusOr<Url> ResolveUrl(const Url& base, std::string_view reference);

}  // namespace vmcp::transport
