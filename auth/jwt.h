// File: auth/jwt.h
//
// JSON Web Tokens as bearer access tokens: compact JWS parsing, JWK public keys (RSA, EC P-256/P-384)
// and JWKS documents, signature verification (RS256/384/512, PS256/384/512, ES256/384) and the claim
// checks of an OAuth resource server (iss, aud, exp, nbf, iat, sub, required scopes).
//
//   absl::StatusOr<KeySet> keys = ParseJwks(jwks_json);
//   JwtOptions options{.claims = {.issuer = "https://idp", .audience = "vmcp"}};
//   absl::StatusOr<Claims> claims = ValidateJwt(token, *keys, options);
//
// `none` and every HMAC algorithm are refused whatever the allow-list says; a key is used only for the
// algorithm family (and curve) it is made for. Every failure is its own message ("token expired",
// "audience mismatch", "unknown signing key kid=...", "alg none not accepted"); the token itself never
// appears in one. Codes: UNAUTHENTICATED for a bad token, PERMISSION_DENIED for a missing scope.
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "auth/clock.h"

namespace vmcp::auth {

// RS256, RS384, RS512, PS256, ES256, ES384: what is accepted unless configured otherwise.
const std::vector<std::string>& DefaultAllowedAlgs();
// Every algorithm this build can verify (the default ones plus PS384 and PS512).
const std::vector<std::string>& SupportedAlgs();

// A verification key made from a JWK. Cheap to copy (the key material is shared, immutable).
class PublicKey {
 public:
  // RSA (n, e; at least 2048 bits) or EC (crv P-256 or P-384, x, y on the curve). A JWK meant for
  // something else (`use` other than "sig", `key_ops` without "verify") is refused.
  static absl::StatusOr<PublicKey> FromJwk(const nlohmann::json& jwk);

  const std::string& kid() const;
  const std::string& kty() const;    // "RSA" | "EC"
  const std::string& curve() const;  // "P-256" | "P-384" for EC, "" for RSA
  const std::string& alg() const;    // the JWK's own `alg`, "" when it does not pin one
  int bits() const;

  // OK when this key may verify `alg`: the key type (and curve) fits, and the JWK's `alg` if any is it.
  absl::Status Supports(std::string_view alg) const;
  // Verifies `signature` (raw bytes: r||s for ECDSA, as JWS carries it) over `signing_input`.
  absl::Status Verify(std::string_view alg, std::string_view signing_input, std::string_view signature) const;

 private:
  struct Impl;
  explicit PublicKey(std::shared_ptr<const Impl> impl) : impl_(std::move(impl)) {}
  std::shared_ptr<const Impl> impl_;
};

// A parsed JWKS. Keys this build cannot use (oct, OKP, P-521, encryption keys, ...) are skipped with a
// reason rather than failing the whole set.
struct KeySet {
  std::vector<PublicKey> keys;
  std::vector<std::string> skipped;  // "kid=abc: kty oct is not supported", no key material

  // The keys with this `kid`; with an empty `kid`, every key.
  std::vector<const PublicKey*> Find(std::string_view kid) const;
  bool Has(std::string_view kid) const;
};

// A JWKS document ({"keys":[...]}). An error when it is not one, or when no key in it is usable.
absl::StatusOr<KeySet> ParseJwks(std::string_view json_text);
absl::StatusOr<KeySet> ParseJwksJson(const nlohmann::json& doc);

// A compact JWS split and decoded, not yet verified.
struct Jws {
  nlohmann::json header;   // a JSON object
  nlohmann::json payload;  // a JSON object
  std::string alg;
  std::string kid;            // "" when the header has none
  std::string signing_input;  // "<header>.<payload>" as sent
  std::string signature;      // decoded bytes
};

// Splits and decodes a compact JWS (three base64url parts without padding, JSON header and payload).
// Refuses JWE (five parts) and any `crit` header extension.
absl::StatusOr<Jws> ParseJws(std::string_view token);
// Whether `token` has the shape of a JWS (three parts, a decodable JSON header with `alg`): what decides
// between JWT validation and introspection for an incoming token.
bool LooksLikeJwt(std::string_view token);

// OK when `alg` is in `allowed` and supported; "alg none not accepted", "alg HS256 not accepted (HMAC
// algorithms are refused)", "alg X not accepted" otherwise.
absl::Status CheckAlg(std::string_view alg, const std::vector<std::string>& allowed);

// Verifies the signature with the key named by the header's `kid` (or, without a kid, any key of the
// set that supports the algorithm).
absl::Status VerifyJws(const Jws& jws, const KeySet& keys, const std::vector<std::string>& allowed_algs);

struct ClaimRules {
  std::string issuer;    // `iss` must equal it ("" = not checked)
  std::string audience;  // `aud` (string or array) must contain it ("" = not checked)
  std::vector<std::string> required_scopes;  // each must be in `scope` (space-separated) or `scp`
  std::chrono::seconds clock_skew{60};       // leeway for exp, nbf and iat
  bool require_exp = true;
  bool require_sub = true;
};

// What a validated token says.
struct Claims {
  std::string issuer;
  std::string subject;
  std::vector<std::string> audience;
  std::optional<TimePoint> expiry;
  std::optional<TimePoint> not_before;
  std::optional<TimePoint> issued_at;
  std::vector<std::string> scopes;
  nlohmann::json all = nlohmann::json::object();  // every claim of the payload
};

// Checks the claims of a payload (a JWT's, or an introspection response's) at `now`.
absl::StatusOr<Claims> CheckClaims(const nlohmann::json& payload, const ClaimRules& rules, TimePoint now);

// `aud` as a list (a string is a list of one; anything else is empty).
std::vector<std::string> AudienceOf(const nlohmann::json& payload);
// `scope` (space-separated) and `scp` (array or string) together, without duplicates, in order.
std::vector<std::string> ScopesOf(const nlohmann::json& payload);

struct JwtOptions {
  ClaimRules claims;
  std::vector<std::string> allowed_algs = DefaultAllowedAlgs();
  Clock clock = SystemClock();
};

// ParseJws + CheckAlg + VerifyJws + CheckClaims.
absl::StatusOr<Claims> ValidateJwt(std::string_view token, const KeySet& keys, const JwtOptions& options);

}  // namespace vmcp::auth
