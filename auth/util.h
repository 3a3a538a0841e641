// File: auth/util.h
//
// Small pieces shared by the auth components (internal to auth/): base64url decoding of JOSE parts,
// application/x-www-form-urlencoded bodies and OAuth client authentication (RFC 6749 section 2.3.1),
// SHA-256, and making untrusted text safe to quote in an error message.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace vmcp::auth::internal {

// Decodes one base64url part of a JOSE object (RFC 7515: no padding, no whitespace). nullopt when the
// text has any other character or does not decode.
std::optional<std::string> DecodeBase64Url(std::string_view part);
std::string EncodeBase64Url(std::string_view bytes);

// application/x-www-form-urlencoded, as Go's url.QueryEscape: unreserved bytes kept, space as '+',
// everything else %XX.
std::string FormEncode(std::string_view value);
std::string FormBody(const std::vector<std::pair<std::string, std::string>>& fields);
// Decodes a form-encoded value ('+' is a space); nullopt on a bad escape.
std::optional<std::string> FormDecode(std::string_view value);

// "Basic base64(form(id):form(secret))", RFC 6749 section 2.3.1.
std::string BasicAuthorization(std::string_view client_id, std::string_view client_secret);

// Raw SHA-256 digest (32 bytes), and as lowercase hex.
std::string Sha256(std::string_view data);
std::string Hex(std::string_view bytes);

// Untrusted text (a kid, an issuer from a token, an IdP's error description) made fit to quote in a
// message: printable ASCII only (others become '?'), no quotes or backslashes, at most `max` bytes.
std::string Printable(std::string_view text, size_t max = 80);

// Splits at every `sep` (empty pieces kept).
std::vector<std::string_view> Split(std::string_view text, char sep);

// Replaces every occurrence of each non-empty `secret` in `text` with "[redacted]".
std::string Redact(std::string text, const std::vector<std::string_view>& secrets);

}  // namespace vmcp::auth::internal
