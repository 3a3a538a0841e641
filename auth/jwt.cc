// File: auth/jwt.cc
#include "auth/jwt.h"

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/rsa.h>

#include <algorithm>
#include <cmath>
#include <limits>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "auth/util.h"

namespace vmcp::auth {

using Json = nlohmann::json;
using internal::DecodeBase64Url;
using internal::Printable;

namespace {

constexpr size_t kMaxTokenBytes = 64 * 1024;

struct PkeyFree {
  void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); }
};
using PkeyPtr = std::unique_ptr<EVP_PKEY, PkeyFree>;

struct AlgInfo {
  std::string_view name;
  const EVP_MD* (*md)();
  enum Family { kRsaPkcs1, kRsaPss, kEcdsa } family;
  std::string_view curve;  // for ECDSA
  size_t coord_bytes;      // for ECDSA
};

const AlgInfo kAlgs[] = {
    {"RS256", EVP_sha256, AlgInfo::kRsaPkcs1, "", 0}, {"RS384", EVP_sha384, AlgInfo::kRsaPkcs1, "", 0},
    {"RS512", EVP_sha512, AlgInfo::kRsaPkcs1, "", 0}, {"PS256", EVP_sha256, AlgInfo::kRsaPss, "", 0},
    {"PS384", EVP_sha384, AlgInfo::kRsaPss, "", 0},   {"PS512", EVP_sha512, AlgInfo::kRsaPss, "", 0},
    {"ES256", EVP_sha256, AlgInfo::kEcdsa, "P-256", 32}, {"ES384", EVP_sha384, AlgInfo::kEcdsa, "P-384", 48},
};

const AlgInfo* FindAlg(std::string_view alg) {
  for (const AlgInfo& a : kAlgs) {
    if (a.name == alg) return &a;
  }
  return nullptr;
}

std::string KidText(std::string_view kid) { return kid.empty() ? std::string("(none)") : Printable(kid, 64); }

absl::Status Bad(std::string_view message) {
  return absl::UnauthenticatedError(absl::string_view(message.data(), message.size()));
}

// A JSON member that must be a string if present.
absl::StatusOr<std::string> OptionalString(const Json& obj, const char* key) {
  auto it = obj.find(key);
  if (it == obj.end()) return std::string();
  if (!it->is_string()) return absl::InvalidArgumentError(absl::StrCat("\"", key, "\" is not a string"));
  return it->get<std::string>();
}

absl::StatusOr<std::string> RequiredB64(const Json& jwk, const char* key) {
  auto it = jwk.find(key);
  if (it == jwk.end() || !it->is_string()) {
    return absl::InvalidArgumentError(absl::StrCat("\"", key, "\" is missing or not a string"));
  }
  auto bytes = DecodeBase64Url(it->get_ref<const std::string&>());
  if (!bytes || bytes->empty()) return absl::InvalidArgumentError(absl::StrCat("\"", key, "\" is not base64url"));
  return *bytes;
}

struct BnFree {
  void operator()(BIGNUM* b) const { BN_free(b); }
};
struct BldFree {
  void operator()(OSSL_PARAM_BLD* b) const { OSSL_PARAM_BLD_free(b); }
};
struct ParamFree {
  void operator()(OSSL_PARAM* p) const { OSSL_PARAM_free(p); }
};
struct PkeyCtxFree {
  void operator()(EVP_PKEY_CTX* c) const { EVP_PKEY_CTX_free(c); }
};
struct MdCtxFree {
  void operator()(EVP_MD_CTX* c) const { EVP_MD_CTX_free(c); }
};
struct EcdsaSigFree {
  void operator()(ECDSA_SIG* s) const { ECDSA_SIG_free(s); }
};

absl::StatusOr<PkeyPtr> FromData(const char* type, OSSL_PARAM_BLD* bld) {
  std::unique_ptr<OSSL_PARAM, ParamFree> params(OSSL_PARAM_BLD_to_param(bld));
  if (!params) return absl::InternalError("OpenSSL could not build key parameters");
  std::unique_ptr<EVP_PKEY_CTX, PkeyCtxFree> ctx(EVP_PKEY_CTX_new_from_name(nullptr, type, nullptr));
  if (!ctx || EVP_PKEY_fromdata_init(ctx.get()) != 1) return absl::InternalError("OpenSSL has no key type " + std::string(type));
  EVP_PKEY* raw = nullptr;
  if (EVP_PKEY_fromdata(ctx.get(), &raw, EVP_PKEY_PUBLIC_KEY, params.get()) != 1 || raw == nullptr) {
    return absl::InvalidArgumentError("the key parameters do not make a valid public key");
  }
  PkeyPtr pkey(raw);
  std::unique_ptr<EVP_PKEY_CTX, PkeyCtxFree> check(EVP_PKEY_CTX_new_from_pkey(nullptr, pkey.get(), nullptr));
  if (!check || EVP_PKEY_public_check(check.get()) != 1) {
    return absl::InvalidArgumentError("the public key fails its consistency check");
  }
  return pkey;
}

absl::StatusOr<PkeyPtr> RsaKey(const Json& jwk) {
  auto n = RequiredB64(jwk, "n");
  if (!n.ok()) return n.status();
  auto e = RequiredB64(jwk, "e");
  if (!e.ok()) return e.status();
  std::unique_ptr<BIGNUM, BnFree> bn_n(BN_bin2bn(reinterpret_cast<const unsigned char*>(n->data()), n->size(), nullptr));
  std::unique_ptr<BIGNUM, BnFree> bn_e(BN_bin2bn(reinterpret_cast<const unsigned char*>(e->data()), e->size(), nullptr));
  if (!bn_n || !bn_e) return absl::InternalError("OpenSSL could not read the RSA numbers");
  if (BN_num_bits(bn_n.get()) < 2048) {
    return absl::InvalidArgumentError(absl::StrCat("RSA key of ", BN_num_bits(bn_n.get()), " bits is too small (2048 at least)"));
  }
  std::unique_ptr<OSSL_PARAM_BLD, BldFree> bld(OSSL_PARAM_BLD_new());
  if (!bld || OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_RSA_N, bn_n.get()) != 1 ||
      OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_RSA_E, bn_e.get()) != 1) {
    return absl::InternalError("OpenSSL could not build RSA parameters");
  }
  return FromData("RSA", bld.get());
}

absl::StatusOr<PkeyPtr> EcKey(const Json& jwk, const std::string& crv) {
  size_t coord = 0;
  const char* group = nullptr;
  if (crv == "P-256") {
    coord = 32;
    group = "prime256v1";
  } else if (crv == "P-384") {
    coord = 48;
    group = "secp384r1";
  } else {
    return absl::InvalidArgumentError(absl::StrCat("EC curve ", crv.empty() ? "(none)" : Printable(crv, 16), " is not supported"));
  }
  auto x = RequiredB64(jwk, "x");
  if (!x.ok()) return x.status();
  auto y = RequiredB64(jwk, "y");
  if (!y.ok()) return y.status();
  if (x->size() != coord || y->size() != coord) {
    return absl::InvalidArgumentError(absl::StrCat("EC coordinates for ", crv, " must be ", coord, " bytes"));
  }
  std::string point = "\x04" + *x + *y;
  std::unique_ptr<OSSL_PARAM_BLD, BldFree> bld(OSSL_PARAM_BLD_new());
  if (!bld || OSSL_PARAM_BLD_push_utf8_string(bld.get(), OSSL_PKEY_PARAM_GROUP_NAME, group, 0) != 1 ||
      OSSL_PARAM_BLD_push_octet_string(bld.get(), OSSL_PKEY_PARAM_PUB_KEY, point.data(), point.size()) != 1) {
    return absl::InternalError("OpenSSL could not build EC parameters");
  }
  return FromData("EC", bld.get());
}

// JWS ECDSA signatures are r||s; OpenSSL verifies DER.
std::optional<std::string> EcdsaRawToDer(std::string_view raw, size_t coord) {
  if (raw.size() != 2 * coord) return std::nullopt;
  std::unique_ptr<ECDSA_SIG, EcdsaSigFree> sig(ECDSA_SIG_new());
  if (!sig) return std::nullopt;
  BIGNUM* r = BN_bin2bn(reinterpret_cast<const unsigned char*>(raw.data()), coord, nullptr);
  BIGNUM* s = BN_bin2bn(reinterpret_cast<const unsigned char*>(raw.data() + coord), coord, nullptr);
  if (r == nullptr || s == nullptr || ECDSA_SIG_set0(sig.get(), r, s) != 1) {
    BN_free(r);
    BN_free(s);
    return std::nullopt;
  }
  unsigned char* der = nullptr;
  const int len = i2d_ECDSA_SIG(sig.get(), &der);
  if (len <= 0) return std::nullopt;
  std::string out(reinterpret_cast<char*>(der), len);
  OPENSSL_free(der);
  return out;
}

// A numeric date claim; nullopt when absent.
absl::StatusOr<std::optional<TimePoint>> NumericDate(const Json& payload, const char* key) {
  auto it = payload.find(key);
  if (it == payload.end()) return std::optional<TimePoint>();
  if (!it->is_number()) return Bad(absl::StrCat("claim ", key, " is not a number"));
  double v = it->get<double>();
  if (!std::isfinite(v)) return Bad(absl::StrCat("claim ", key, " is not a number"));
  // Far past and far future are clamped to what the clock can hold (year ~2262 for nanoseconds).
  constexpr double kLimit = 9.0e9;
  v = std::clamp(v, -kLimit, kLimit);
  return std::optional<TimePoint>(TimePoint(std::chrono::duration_cast<TimePoint::duration>(std::chrono::duration<double>(v))));
}

}  // namespace

const std::vector<std::string>& DefaultAllowedAlgs() {
  static const auto* algs = new std::vector<std::string>{"RS256", "RS384", "RS512", "PS256", "ES256", "ES384"};
  return *algs;
}

const std::vector<std::string>& SupportedAlgs() {
  static const auto* algs =
      new std::vector<std::string>{"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384"};
  return *algs;
}

// --- PublicKey ---------------------------------------------------------------------------------------

struct PublicKey::Impl {
  std::string kid, kty, crv, alg;
  int bits = 0;
  PkeyPtr pkey;
};

const std::string& PublicKey::kid() const { return impl_->kid; }
const std::string& PublicKey::kty() const { return impl_->kty; }
const std::string& PublicKey::curve() const { return impl_->crv; }
const std::string& PublicKey::alg() const { return impl_->alg; }
int PublicKey::bits() const { return impl_->bits; }

absl::StatusOr<PublicKey> PublicKey::FromJwk(const Json& jwk) {
  if (!jwk.is_object()) return absl::InvalidArgumentError("a JWK must be a JSON object");
  auto kty = OptionalString(jwk, "kty");
  if (!kty.ok()) return kty.status();
  auto kid = OptionalString(jwk, "kid");
  if (!kid.ok()) return kid.status();
  auto alg = OptionalString(jwk, "alg");
  if (!alg.ok()) return alg.status();
  auto use = OptionalString(jwk, "use");
  if (!use.ok()) return use.status();
  if (!use->empty() && *use != "sig") {
    return absl::InvalidArgumentError(absl::StrCat("use ", Printable(*use, 16), " is not for signatures"));
  }
  if (auto ops = jwk.find("key_ops"); ops != jwk.end()) {
    if (!ops->is_array() || std::find(ops->begin(), ops->end(), Json("verify")) == ops->end()) {
      return absl::InvalidArgumentError("key_ops does not include verify");
    }
  }
  auto impl = std::make_shared<Impl>();
  impl->kid = *kid;
  impl->kty = *kty;
  impl->alg = *alg;
  if (*kty == "RSA") {
    auto key = RsaKey(jwk);
    if (!key.ok()) return key.status();
    impl->pkey = std::move(*key);
  } else if (*kty == "EC") {
    auto crv = OptionalString(jwk, "crv");
    if (!crv.ok()) return crv.status();
    auto key = EcKey(jwk, *crv);
    if (!key.ok()) return key.status();
    impl->crv = *crv;
    impl->pkey = std::move(*key);
  } else {
    return absl::InvalidArgumentError(absl::StrCat("kty ", kty->empty() ? "(none)" : Printable(*kty, 16), " is not supported"));
  }
  if (!impl->alg.empty()) {
    const AlgInfo* info = FindAlg(impl->alg);
    if (info == nullptr) return absl::InvalidArgumentError(absl::StrCat("alg ", Printable(impl->alg, 16), " is not supported"));
  }
  impl->bits = EVP_PKEY_get_bits(impl->pkey.get());
  PublicKey key{std::shared_ptr<const Impl>(std::move(impl))};
  if (!key.alg().empty()) {
    if (absl::Status s = key.Supports(key.alg()); !s.ok()) return absl::InvalidArgumentError(s.message());
  }
  return key;
}

absl::Status PublicKey::Supports(std::string_view alg) const {
  const AlgInfo* info = FindAlg(alg);
  if (info == nullptr) return Bad(absl::StrCat("alg ", Printable(alg, 16), " is not supported"));
  const bool rsa = info->family != AlgInfo::kEcdsa;
  if (rsa && impl_->kty != "RSA") {
    return Bad(absl::StrCat("key kid=", KidText(impl_->kid), " is ", impl_->kty, ", alg ", std::string(alg), " needs an RSA key"));
  }
  if (!rsa && (impl_->kty != "EC" || impl_->crv != info->curve)) {
    return Bad(absl::StrCat("key kid=", KidText(impl_->kid), " is ", impl_->kty, impl_->crv.empty() ? "" : " ", impl_->crv,
                            ", alg ", std::string(alg), " needs an EC ", std::string(info->curve), " key"));
  }
  if (!impl_->alg.empty() && impl_->alg != alg) {
    return Bad(absl::StrCat("key kid=", KidText(impl_->kid), " is for alg ", impl_->alg, ", not ", std::string(alg)));
  }
  return absl::OkStatus();
}

absl::Status PublicKey::Verify(std::string_view alg, std::string_view signing_input, std::string_view signature) const {
  if (absl::Status s = Supports(alg); !s.ok()) return s;
  const AlgInfo* info = FindAlg(alg);
  std::string der;
  std::string_view sig = signature;
  if (info->family == AlgInfo::kEcdsa) {
    auto converted = EcdsaRawToDer(signature, info->coord_bytes);
    if (!converted) return Bad("signature invalid");
    der = std::move(*converted);
    sig = der;
  }
  std::unique_ptr<EVP_MD_CTX, MdCtxFree> ctx(EVP_MD_CTX_new());
  EVP_PKEY_CTX* pctx = nullptr;
  if (!ctx || EVP_DigestVerifyInit(ctx.get(), &pctx, info->md(), nullptr, impl_->pkey.get()) != 1) {
    return absl::InternalError("OpenSSL could not start a signature verification");
  }
  if (info->family == AlgInfo::kRsaPss) {
    if (EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) != 1 ||
        EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_DIGEST) != 1 ||
        EVP_PKEY_CTX_set_rsa_mgf1_md(pctx, info->md()) != 1) {
      return absl::InternalError("OpenSSL could not set up RSA-PSS");
    }
  }
  const int rc = EVP_DigestVerify(ctx.get(), reinterpret_cast<const unsigned char*>(sig.data()), sig.size(),
                                  reinterpret_cast<const unsigned char*>(signing_input.data()), signing_input.size());
  if (rc != 1) return Bad("signature invalid");
  return absl::OkStatus();
}

// --- KeySet ------------------------------------------------------------------------------------------

std::vector<const PublicKey*> KeySet::Find(std::string_view kid) const {
  std::vector<const PublicKey*> out;
  for (const PublicKey& k : keys) {
    if (kid.empty() || k.kid() == kid) out.push_back(&k);
  }
  return out;
}

bool KeySet::Has(std::string_view kid) const {
  for (const PublicKey& k : keys) {
    if (k.kid() == kid) return true;
  }
  return false;
}

absl::StatusOr<KeySet> ParseJwks(std::string_view json_text) {
  Json doc = Json::parse(json_text, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded()) return absl::InvalidArgumentError("the JWKS is not a JSON object");
  return ParseJwksJson(doc);
}

absl::StatusOr<KeySet> ParseJwksJson(const Json& doc) {
  if (!doc.is_object()) return absl::InvalidArgumentError("the JWKS is not a JSON object");
  auto keys = doc.find("keys");
  if (keys == doc.end() || !keys->is_array()) return absl::InvalidArgumentError("the JWKS has no \"keys\" array");
  KeySet set;
  for (const Json& jwk : *keys) {
    std::string kid = "(none)";
    if (jwk.is_object()) {
      if (auto k = jwk.find("kid"); k != jwk.end() && k->is_string()) kid = Printable(k->get_ref<const std::string&>(), 64);
    }
    auto key = PublicKey::FromJwk(jwk);
    if (!key.ok()) {
      set.skipped.push_back(absl::StrCat("kid=", kid, ": ", key.status().message()));
      continue;
    }
    set.keys.push_back(std::move(*key));
  }
  if (set.keys.empty()) {
    return absl::InvalidArgumentError(absl::StrCat("the JWKS has no usable key",
                                                   set.skipped.empty() ? "" : " (" + absl::StrJoin(set.skipped, "; ") + ")"));
  }
  return set;
}

// --- JWS ---------------------------------------------------------------------------------------------

absl::StatusOr<Jws> ParseJws(std::string_view token) {
  if (token.empty()) return Bad("malformed token: empty");
  if (token.size() > kMaxTokenBytes) return Bad("malformed token: longer than 64 KiB");
  std::vector<std::string_view> parts = internal::Split(token, '.');
  if (parts.size() == 5) return Bad("encrypted tokens (JWE) are not accepted");
  if (parts.size() != 3) return Bad("malformed token: not three dot-separated parts");
  auto header_bytes = DecodeBase64Url(parts[0]);
  if (!header_bytes) return Bad("malformed token: header is not base64url");
  auto payload_bytes = DecodeBase64Url(parts[1]);
  if (!payload_bytes) return Bad("malformed token: payload is not base64url");
  auto signature = DecodeBase64Url(parts[2]);
  if (!signature) return Bad("malformed token: signature is not base64url");
  Jws jws;
  jws.header = Json::parse(*header_bytes, nullptr, false);
  if (jws.header.is_discarded() || !jws.header.is_object()) return Bad("malformed token: header is not a JSON object");
  jws.payload = Json::parse(*payload_bytes, nullptr, false);
  if (jws.payload.is_discarded() || !jws.payload.is_object()) return Bad("malformed token: payload is not a JSON object");
  auto alg = jws.header.find("alg");
  if (alg == jws.header.end() || !alg->is_string()) return Bad("malformed token: header has no alg");
  jws.alg = alg->get<std::string>();
  if (auto kid = jws.header.find("kid"); kid != jws.header.end()) {
    if (!kid->is_string()) return Bad("malformed token: kid is not a string");
    jws.kid = kid->get<std::string>();
  }
  if (jws.header.contains("crit")) return Bad("token header has crit extensions, none of which are understood");
  jws.signing_input = std::string(parts[0]) + "." + std::string(parts[1]);
  jws.signature = std::move(*signature);
  return jws;
}

bool LooksLikeJwt(std::string_view token) {
  if (token.size() > kMaxTokenBytes) return false;
  std::vector<std::string_view> parts = internal::Split(token, '.');
  if (parts.size() != 3) return false;
  auto header_bytes = DecodeBase64Url(parts[0]);
  if (!header_bytes) return false;
  Json header = Json::parse(*header_bytes, nullptr, false);
  return header.is_object() && header.contains("alg");
}

absl::Status CheckAlg(std::string_view alg, const std::vector<std::string>& allowed) {
  std::string lower(alg);
  std::transform(lower.begin(), lower.end(), lower.begin(), [](unsigned char c) { return std::tolower(c); });
  if (lower == "none") return Bad("alg none not accepted");
  if (lower.rfind("hs", 0) == 0) {
    return Bad(absl::StrCat("alg ", Printable(alg, 16), " not accepted (HMAC algorithms are refused)"));
  }
  if (std::find(allowed.begin(), allowed.end(), alg) == allowed.end()) {
    return Bad(absl::StrCat("alg ", Printable(alg, 16), " not accepted (allowed: ", absl::StrJoin(allowed, ", "), ")"));
  }
  if (FindAlg(alg) == nullptr) return Bad(absl::StrCat("alg ", Printable(alg, 16), " is not supported"));
  return absl::OkStatus();
}

absl::Status VerifyJws(const Jws& jws, const KeySet& keys, const std::vector<std::string>& allowed_algs) {
  if (absl::Status s = CheckAlg(jws.alg, allowed_algs); !s.ok()) return s;
  std::vector<const PublicKey*> candidates = keys.Find(jws.kid);
  if (!jws.kid.empty()) {
    if (candidates.empty()) return Bad(absl::StrCat("unknown signing key kid=", KidText(jws.kid)));
    absl::Status last;
    for (const PublicKey* k : candidates) {
      last = k->Verify(jws.alg, jws.signing_input, jws.signature);
      if (last.ok()) return last;
    }
    return last;
  }
  bool any = false;
  for (const PublicKey* k : candidates) {
    if (!k->Supports(jws.alg).ok()) continue;
    any = true;
    if (k->Verify(jws.alg, jws.signing_input, jws.signature).ok()) return absl::OkStatus();
  }
  if (!any) return Bad(absl::StrCat("token has no kid and no key of the set is for alg ", jws.alg));
  return Bad("signature invalid");
}

// --- claims ------------------------------------------------------------------------------------------

std::vector<std::string> AudienceOf(const Json& payload) {
  std::vector<std::string> out;
  auto it = payload.find("aud");
  if (it == payload.end()) return out;
  if (it->is_string()) {
    out.push_back(it->get<std::string>());
  } else if (it->is_array()) {
    for (const Json& a : *it) {
      if (a.is_string()) out.push_back(a.get<std::string>());
    }
  }
  return out;
}

std::vector<std::string> ScopesOf(const Json& payload) {
  std::vector<std::string> out;
  auto add = [&](std::string_view s) {
    if (!s.empty() && std::find(out.begin(), out.end(), s) == out.end()) out.emplace_back(s);
  };
  auto split = [&](const std::string& text) {
    for (std::string_view s : internal::Split(text, ' ')) add(s);
  };
  if (auto it = payload.find("scope"); it != payload.end() && it->is_string()) split(it->get<std::string>());
  if (auto it = payload.find("scp"); it != payload.end()) {
    if (it->is_string()) split(it->get<std::string>());
    if (it->is_array()) {
      for (const Json& s : *it) {
        if (s.is_string()) add(s.get_ref<const std::string&>());
      }
    }
  }
  return out;
}

absl::StatusOr<Claims> CheckClaims(const Json& payload, const ClaimRules& rules, TimePoint now) {
  if (!payload.is_object()) return Bad("token claims are not a JSON object");
  Claims c;
  c.all = payload;
  if (auto iss = payload.find("iss"); iss != payload.end()) {
    if (!iss->is_string()) return Bad("claim iss is not a string");
    c.issuer = iss->get<std::string>();
  }
  if (!rules.issuer.empty()) {
    if (c.issuer.empty()) return Bad("token has no iss");
    if (c.issuer != rules.issuer) return Bad(absl::StrCat("issuer mismatch: token iss is ", Printable(c.issuer)));
  }
  c.audience = AudienceOf(payload);
  if (!rules.audience.empty() && std::find(c.audience.begin(), c.audience.end(), rules.audience) == c.audience.end()) {
    return Bad(c.audience.empty() ? "audience mismatch: token has no aud" : "audience mismatch");
  }
  auto exp = NumericDate(payload, "exp");
  if (!exp.ok()) return exp.status();
  auto nbf = NumericDate(payload, "nbf");
  if (!nbf.ok()) return nbf.status();
  auto iat = NumericDate(payload, "iat");
  if (!iat.ok()) return iat.status();
  c.expiry = *exp;
  c.not_before = *nbf;
  c.issued_at = *iat;
  if (!c.expiry && rules.require_exp) return Bad("token has no exp");
  if (c.expiry && now > *c.expiry + rules.clock_skew) return Bad("token expired");
  if (c.not_before && now + rules.clock_skew < *c.not_before) return Bad("token not yet valid (nbf is in the future)");
  if (c.issued_at && now + rules.clock_skew < *c.issued_at) return Bad("token issued in the future (iat)");
  if (auto sub = payload.find("sub"); sub != payload.end()) {
    if (!sub->is_string()) return Bad("claim sub is not a string");
    c.subject = sub->get<std::string>();
  }
  if (rules.require_sub && c.subject.empty()) return Bad("token has no sub");
  c.scopes = ScopesOf(payload);
  for (const std::string& want : rules.required_scopes) {
    if (std::find(c.scopes.begin(), c.scopes.end(), want) == c.scopes.end()) {
      return absl::PermissionDeniedError(absl::StrCat("missing required scope ", Printable(want)));
    }
  }
  return c;
}

absl::StatusOr<Claims> ValidateJwt(std::string_view token, const KeySet& keys, const JwtOptions& options) {
  auto jws = ParseJws(token);
  if (!jws.ok()) return jws.status();
  if (absl::Status s = VerifyJws(*jws, keys, options.allowed_algs); !s.ok()) return s;
  return CheckClaims(jws->payload, options.claims, options.clock ? options.clock() : std::chrono::system_clock::now());
}

}  // namespace vmcp::auth
