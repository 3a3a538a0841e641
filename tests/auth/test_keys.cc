// File: tests/auth/test_keys.cc
#include "tests/auth/test_keys.h"

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>

#include <stdexcept>

#include "absl/strings/escaping.h"

namespace vmcp::auth::testing {

using Json = nlohmann::json;

namespace {

EVP_PKEY* Pkey(const std::shared_ptr<void>& p) { return static_cast<EVP_PKEY*>(p.get()); }

std::string Bn(EVP_PKEY* pkey, const char* param) {
  BIGNUM* bn = nullptr;
  if (EVP_PKEY_get_bn_param(pkey, param, &bn) != 1) throw std::runtime_error("get_bn_param");
  std::string out(BN_num_bytes(bn), '\0');
  BN_bn2bin(bn, reinterpret_cast<unsigned char*>(out.data()));
  BN_free(bn);
  return out;
}

const EVP_MD* Md(std::string_view alg) {
  if (alg.substr(2) == "256") return EVP_sha256();
  if (alg.substr(2) == "384") return EVP_sha384();
  return EVP_sha512();
}

}  // namespace

std::string B64Url(std::string_view bytes) { return absl::WebSafeBase64Escape(absl::string_view(bytes.data(), bytes.size())); }

TestKey TestKey::Rsa(std::string kid, int bits) {
  TestKey k;
  k.kid_ = std::move(kid);
  EVP_PKEY* p = EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", static_cast<size_t>(bits));
  if (p == nullptr) throw std::runtime_error("RSA keygen");
  k.pkey_ = std::shared_ptr<void>(p, [](void* x) { EVP_PKEY_free(static_cast<EVP_PKEY*>(x)); });
  return k;
}

TestKey TestKey::Ec(std::string kid, const std::string& curve) {
  TestKey k;
  k.kid_ = std::move(kid);
  EVP_PKEY* p = EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", curve == "P-256" ? "P-256" : "P-384");
  if (p == nullptr) throw std::runtime_error("EC keygen");
  k.pkey_ = std::shared_ptr<void>(p, [](void* x) { EVP_PKEY_free(static_cast<EVP_PKEY*>(x)); });
  return k;
}

Json TestKey::Jwk() const {
  EVP_PKEY* p = Pkey(pkey_);
  if (EVP_PKEY_is_a(p, "RSA")) {
    return Json{{"kty", "RSA"}, {"kid", kid_}, {"use", "sig"}, {"n", B64Url(Bn(p, OSSL_PKEY_PARAM_RSA_N))},
                {"e", B64Url(Bn(p, OSSL_PKEY_PARAM_RSA_E))}};
  }
  unsigned char buf[256];
  size_t len = 0;
  if (EVP_PKEY_get_octet_string_param(p, OSSL_PKEY_PARAM_PUB_KEY, buf, sizeof(buf), &len) != 1) {
    throw std::runtime_error("pub key");
  }
  const size_t coord = (len - 1) / 2;
  std::string x(reinterpret_cast<char*>(buf) + 1, coord), y(reinterpret_cast<char*>(buf) + 1 + coord, coord);
  return Json{{"kty", "EC"}, {"kid", kid_}, {"use", "sig"}, {"crv", coord == 32 ? "P-256" : "P-384"},
              {"x", B64Url(x)}, {"y", B64Url(y)}};
}

std::string TestKey::PublicPem() const {
  BIO* bio = BIO_new(BIO_s_mem());
  PEM_write_bio_PUBKEY(bio, Pkey(pkey_));
  char* data = nullptr;
  long n = BIO_get_mem_data(bio, &data);
  std::string out(data, n);
  BIO_free(bio);
  return out;
}

std::string TestKey::Sign(std::string_view alg, std::string_view input) const {
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  EVP_PKEY_CTX* pctx = nullptr;
  if (EVP_DigestSignInit(ctx, &pctx, Md(alg), nullptr, Pkey(pkey_)) != 1) throw std::runtime_error("sign init");
  if (alg[0] == 'P') {
    EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING);
    EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_DIGEST);
  }
  size_t len = 0;
  EVP_DigestSign(ctx, nullptr, &len, reinterpret_cast<const unsigned char*>(input.data()), input.size());
  std::string sig(len, '\0');
  if (EVP_DigestSign(ctx, reinterpret_cast<unsigned char*>(sig.data()), &len,
                     reinterpret_cast<const unsigned char*>(input.data()), input.size()) != 1) {
    throw std::runtime_error("sign");
  }
  sig.resize(len);
  EVP_MD_CTX_free(ctx);
  if (alg[0] != 'E') return sig;
  // DER -> r||s
  const unsigned char* p = reinterpret_cast<const unsigned char*>(sig.data());
  ECDSA_SIG* es = d2i_ECDSA_SIG(nullptr, &p, sig.size());
  const size_t coord = alg == "ES256" ? 32 : 48;
  std::string raw(2 * coord, '\0');
  BN_bn2binpad(ECDSA_SIG_get0_r(es), reinterpret_cast<unsigned char*>(raw.data()), coord);
  BN_bn2binpad(ECDSA_SIG_get0_s(es), reinterpret_cast<unsigned char*>(raw.data()) + coord, coord);
  ECDSA_SIG_free(es);
  return raw;
}

std::string SignJwt(const TestKey& key, std::string_view alg, Json payload, Json header) {
  if (!header.contains("alg")) header["alg"] = std::string(alg);
  if (!header.contains("kid")) header["kid"] = key.kid();
  const std::string input = B64Url(header.dump()) + "." + B64Url(payload.dump());
  return input + "." + B64Url(key.Sign(alg, input));
}

std::string HmacJwt(std::string_view secret, Json payload, Json header) {
  header["alg"] = "HS256";
  const std::string input = B64Url(header.dump()) + "." + B64Url(payload.dump());
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha256(), secret.data(), static_cast<int>(secret.size()), reinterpret_cast<const unsigned char*>(input.data()),
       input.size(), mac, &len);
  return input + "." + B64Url(std::string(reinterpret_cast<char*>(mac), len));
}

std::string UnsignedJwt(Json payload, Json header) {
  header["alg"] = "none";
  return B64Url(header.dump()) + "." + B64Url(payload.dump()) + ".";
}

std::string PemFromRsaJwk(const Json& jwk) {
  std::string n, e;
  absl::WebSafeBase64Unescape(jwk.at("n").get<std::string>(), &n);
  absl::WebSafeBase64Unescape(jwk.at("e").get<std::string>(), &e);
  BIGNUM* bn_n = BN_bin2bn(reinterpret_cast<const unsigned char*>(n.data()), n.size(), nullptr);
  BIGNUM* bn_e = BN_bin2bn(reinterpret_cast<const unsigned char*>(e.data()), e.size(), nullptr);
  OSSL_PARAM_BLD* bld = OSSL_PARAM_BLD_new();
  OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, bn_n);
  OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, bn_e);
  OSSL_PARAM* params = OSSL_PARAM_BLD_to_param(bld);
  EVP_PKEY_CTX* ctx = EVP_PKEY_CTX_new_from_name(nullptr, "RSA", nullptr);
  EVP_PKEY* pkey = nullptr;
  EVP_PKEY_fromdata_init(ctx);
  EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_PUBLIC_KEY, params);
  BIO* bio = BIO_new(BIO_s_mem());
  PEM_write_bio_PUBKEY(bio, pkey);
  char* data = nullptr;
  long len = BIO_get_mem_data(bio, &data);
  std::string out(data, len);
  BIO_free(bio);
  EVP_PKEY_free(pkey);
  EVP_PKEY_CTX_free(ctx);
  OSSL_PARAM_free(params);
  OSSL_PARAM_BLD_free(bld);
  BN_free(bn_n);
  BN_free(bn_e);
  return out;
}

}  // namespace vmcp::auth::testing
