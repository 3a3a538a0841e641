// File: tests/auth/test_keys.h
//
// Signing keys made with OpenSSL at test time (RSA, EC P-256/P-384), their public JWKs, and compact
// JWS tokens signed with them (or with HMAC, or unsigned) so the validator can be fed good and bad
// tokens alike.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

namespace vmcp::auth::testing {

class TestKey {
 public:
  static TestKey Rsa(std::string kid, int bits = 2048);
  static TestKey Ec(std::string kid, const std::string& curve);  // "P-256" | "P-384"

  const std::string& kid() const { return kid_; }
  // The public JWK (kty, kid, use=sig, n/e or crv/x/y).
  nlohmann::json Jwk() const;
  // The public key as PEM (SubjectPublicKeyInfo).
  std::string PublicPem() const;
  // A JWS signature over `input` for `alg` (RS*, PS*, ES*), raw r||s for ECDSA.
  std::string Sign(std::string_view alg, std::string_view input) const;

 private:
  std::string kid_;
  std::shared_ptr<void> pkey_;  // EVP_PKEY
};

// base64url(json(header)) "." base64url(json(payload)), signed with `key` under `alg`. `header` gets
// alg and kid (unless already given).
std::string SignJwt(const TestKey& key, std::string_view alg, nlohmann::json payload,
                    nlohmann::json header = nlohmann::json::object());
// Signed with HMAC-SHA256 over `secret` (header alg HS256).
std::string HmacJwt(std::string_view secret, nlohmann::json payload, nlohmann::json header = nlohmann::json::object());
// Header {"alg":"none"} plus `header`, empty signature.
std::string UnsignedJwt(nlohmann::json payload, nlohmann::json header = nlohmann::json::object());
// The PEM of an RSA public JWK (for "HS256 signed with the public key").
std::string PemFromRsaJwk(const nlohmann::json& jwk);

std::string B64Url(std::string_view bytes);

}  // namespace vmcp::auth::testing
