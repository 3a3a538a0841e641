// Tests of auth/jwt.h: JWK import, JWKS parsing, signature verification for every accepted algorithm
// with keys made in the test, and a table of bad tokens, each with its own message.
#include "auth/jwt.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "absl/strings/escaping.h"
#include "auth/util.h"
#include "tests/auth/test_keys.h"

namespace vmcp::auth {
namespace {

using ::testing::HasSubstr;
using testing::HmacJwt;
using testing::SignJwt;
using testing::TestKey;
using testing::UnsignedJwt;
using Json = nlohmann::json;

constexpr char kIssuer[] = "https://idp.example.com";
constexpr char kAudience[] = "vmcp";
const TimePoint kNow = TimePoint(std::chrono::seconds(1'800'000'000));

int64_t At(int64_t offset_s) { return 1'800'000'000 + offset_s; }

class JwtTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    rsa_ = new TestKey(TestKey::Rsa("rsa-1"));
    p256_ = new TestKey(TestKey::Ec("ec-256", "P-256"));
    p384_ = new TestKey(TestKey::Ec("ec-384", "P-384"));
    other_rsa_ = new TestKey(TestKey::Rsa("rsa-1"));  // same kid, other key: a forged signature
  }
  static void TearDownTestSuite() {
    delete rsa_;
    delete p256_;
    delete p384_;
    delete other_rsa_;
  }

  static KeySet Keys() {
    Json jwks = {{"keys", Json::array({rsa_->Jwk(), p256_->Jwk(), p384_->Jwk()})}};
    auto set = ParseJwks(jwks.dump());
    EXPECT_TRUE(set.ok()) << set.status();
    return *set;
  }

  static Json Claims() {
    return Json{{"iss", kIssuer}, {"aud", kAudience}, {"sub", "alice"}, {"exp", At(600)}, {"iat", At(-10)},
                {"scope", "openid mcp:tools"}};
  }

  static JwtOptions Options() {
    JwtOptions o;
    o.claims.issuer = kIssuer;
    o.claims.audience = kAudience;
    o.clock = [] { return kNow; };
    return o;
  }

  static absl::StatusOr<auth::Claims> Validate(const std::string& token, JwtOptions options = Options()) {
    return ValidateJwt(token, Keys(), options);
  }

  static TestKey* rsa_;
  static TestKey* p256_;
  static TestKey* p384_;
  static TestKey* other_rsa_;
};

TestKey* JwtTest::rsa_ = nullptr;
TestKey* JwtTest::p256_ = nullptr;
TestKey* JwtTest::p384_ = nullptr;
TestKey* JwtTest::other_rsa_ = nullptr;

TEST_F(JwtTest, GoodTokenForEveryAcceptedAlgorithm) {
  struct Case {
    const char* alg;
    const TestKey* key;
  };
  for (const Case& c : {Case{"RS256", rsa_}, Case{"RS384", rsa_}, Case{"RS512", rsa_}, Case{"PS256", rsa_},
                        Case{"ES256", p256_}, Case{"ES384", p384_}}) {
    SCOPED_TRACE(c.alg);
    auto claims = Validate(SignJwt(*c.key, c.alg, Claims()));
    ASSERT_TRUE(claims.ok()) << claims.status();
    EXPECT_EQ(claims->issuer, kIssuer);
    EXPECT_EQ(claims->subject, "alice");
    EXPECT_EQ(claims->audience, std::vector<std::string>{kAudience});
    EXPECT_EQ(claims->scopes, (std::vector<std::string>{"openid", "mcp:tools"}));
    ASSERT_TRUE(claims->expiry.has_value());
    EXPECT_EQ(*claims->expiry, TimePoint(std::chrono::seconds(At(600))));
  }
}

TEST_F(JwtTest, Ps384AndPs512OnlyWhenAllowed) {
  const std::string token = SignJwt(*rsa_, "PS384", Claims());
  auto refused = Validate(token);
  ASSERT_FALSE(refused.ok());
  EXPECT_THAT(refused.status().message(), HasSubstr("alg PS384 not accepted"));
  JwtOptions o = Options();
  o.allowed_algs = SupportedAlgs();
  EXPECT_TRUE(Validate(token, o).ok());
  EXPECT_TRUE(Validate(SignJwt(*rsa_, "PS512", Claims()), o).ok());
}

struct BadCase {
  std::string name;
  std::string token;
  std::string message;  // a substring of the error
  absl::StatusCode code = absl::StatusCode::kUnauthenticated;
};

TEST_F(JwtTest, BadTokensEachFailWithTheirOwnMessage) {
  auto with = [](std::function<void(Json&)> edit) {
    Json c = Claims();
    edit(c);
    return c;
  };
  std::string tampered = SignJwt(*rsa_, "RS256", Claims());
  tampered[tampered.size() - 5] = tampered[tampered.size() - 5] == 'A' ? 'B' : 'A';
  // The same header and payload, but the payload of another token: the signature no longer matches.
  const std::string good = SignJwt(*rsa_, "RS256", Claims());
  const std::string other_payload = SignJwt(*rsa_, "RS256", with([](Json& c) { c["sub"] = "mallory"; }));
  const std::string spliced = good.substr(0, good.find('.')) + other_payload.substr(other_payload.find('.'), other_payload.rfind('.') - other_payload.find('.')) + good.substr(good.rfind('.'));

  const std::vector<BadCase> cases = {
      {"expired", SignJwt(*rsa_, "RS256", with([](Json& c) { c["exp"] = At(-61); })), "token expired"},
      {"nbf in the future", SignJwt(*rsa_, "RS256", with([](Json& c) { c["nbf"] = At(120); })), "not yet valid"},
      {"iat in the future", SignJwt(*rsa_, "RS256", with([](Json& c) { c["iat"] = At(120); })), "issued in the future"},
      {"wrong audience", SignJwt(*rsa_, "RS256", with([](Json& c) { c["aud"] = "other"; })), "audience mismatch"},
      {"no audience", SignJwt(*rsa_, "RS256", with([](Json& c) { c.erase("aud"); })), "audience mismatch: token has no aud"},
      {"wrong issuer", SignJwt(*rsa_, "RS256", with([](Json& c) { c["iss"] = "https://evil.example.com"; })),
       "issuer mismatch: token iss is https://evil.example.com"},
      {"no issuer", SignJwt(*rsa_, "RS256", with([](Json& c) { c.erase("iss"); })), "token has no iss"},
      {"bad signature", tampered, "signature invalid"},
      {"spliced payload", spliced, "signature invalid"},
      {"forged with another key under a known kid", SignJwt(*other_rsa_, "RS256", Claims()), "signature invalid"},
      {"alg none", UnsignedJwt(Claims(), Json{{"kid", "rsa-1"}}), "alg none not accepted"},
      {"alg None", testing::B64Url(Json{{"alg", "None"}, {"kid", "rsa-1"}}.dump()) + "." + testing::B64Url(Claims().dump()) + ".",
       "alg none not accepted"},
      {"HS256 signed with the RSA public key (PEM)", HmacJwt(rsa_->PublicPem(), Claims(), Json{{"kid", "rsa-1"}}),
       "alg HS256 not accepted (HMAC algorithms are refused)"},
      {"HS256 signed with the RSA public key (JWK)", HmacJwt(rsa_->Jwk().dump(), Claims(), Json{{"kid", "rsa-1"}}),
       "HMAC algorithms are refused"},
      {"unknown kid", SignJwt(TestKey::Rsa("rsa-2"), "RS256", Claims()), "unknown signing key kid=rsa-2"},
      {"RS256 with an EC key's kid", SignJwt(*rsa_, "RS256", Claims(), Json{{"kid", "ec-256"}}), "needs an RSA key"},
      {"ES256 with the P-384 key's kid", SignJwt(*p256_, "ES256", Claims(), Json{{"kid", "ec-384"}}), "needs an EC P-256 key"},
      {"ES384 with an RSA kid", SignJwt(*p384_, "ES384", Claims(), Json{{"kid", "rsa-1"}}), "needs an EC P-384 key"},
      {"missing sub", SignJwt(*rsa_, "RS256", with([](Json& c) { c.erase("sub"); })), "token has no sub"},
      {"empty sub", SignJwt(*rsa_, "RS256", with([](Json& c) { c["sub"] = ""; })), "token has no sub"},
      {"missing exp", SignJwt(*rsa_, "RS256", with([](Json& c) { c.erase("exp"); })), "token has no exp"},
      {"exp not a number", SignJwt(*rsa_, "RS256", with([](Json& c) { c["exp"] = "tomorrow"; })), "claim exp is not a number"},
      {"JWE", "a.b.c.d.e", "encrypted tokens (JWE) are not accepted"},
      {"two parts", "abc.def", "not three dot-separated parts"},
      {"padded base64", SignJwt(*rsa_, "RS256", Claims()) + "==", "signature is not base64url"},
      {"header not JSON", testing::B64Url("nope") + "." + testing::B64Url("{}") + ".c2ln", "header is not a JSON object"},
      {"crit header", SignJwt(*rsa_, "RS256", Claims(), Json{{"crit", {"exp"}}}), "crit"},
      {"alg not allowed", SignJwt(*rsa_, "PS512", Claims()), "alg PS512 not accepted"},
      {"unknown alg", SignJwt(*rsa_, "RS256", Claims(), Json{{"alg", "EdDSA"}}), "alg EdDSA not accepted"},
  };
  for (const BadCase& c : cases) {
    SCOPED_TRACE(c.name);
    const std::string& token = c.token;
    auto r = Validate(token);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.status().code(), c.code) << r.status();
    EXPECT_THAT(r.status().message(), HasSubstr(c.message));
    // The token never appears in the message.
    EXPECT_EQ(std::string(r.status().message()).find(token.substr(0, 20)), std::string::npos);
  }
}

TEST_F(JwtTest, MissingRequiredScopeIsPermissionDenied) {
  JwtOptions o = Options();
  o.claims.required_scopes = {"mcp:tools", "mcp:admin"};
  auto r = Validate(SignJwt(*rsa_, "RS256", Claims()), o);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(r.status().message(), "missing required scope mcp:admin");
  // `scp` as an array counts too.
  Json c = Claims();
  c.erase("scope");
  c["scp"] = {"mcp:tools", "mcp:admin"};
  EXPECT_TRUE(Validate(SignJwt(*rsa_, "RS256", c), o).ok());
}

TEST_F(JwtTest, ClockSkewIsHonouredAndConfigurable) {
  Json c = Claims();
  c["exp"] = At(-30);  // expired 30 s ago: within the default 60 s
  c["nbf"] = At(30);   // valid in 30 s: within the skew too
  EXPECT_TRUE(Validate(SignJwt(*rsa_, "RS256", c)).ok());
  JwtOptions strict = Options();
  strict.claims.clock_skew = std::chrono::seconds(0);
  auto r = Validate(SignJwt(*rsa_, "RS256", c), strict);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message(), "token expired");
}

TEST_F(JwtTest, AudienceArrayAndNoAudienceCheck) {
  Json c = Claims();
  c["aud"] = {"a", kAudience, "b"};
  EXPECT_TRUE(Validate(SignJwt(*p256_, "ES256", c)).ok());
  c["aud"] = {"a", "b"};
  EXPECT_FALSE(Validate(SignJwt(*p256_, "ES256", c)).ok());
  JwtOptions any = Options();
  any.claims.audience.clear();
  EXPECT_TRUE(Validate(SignJwt(*p256_, "ES256", c), any).ok());
}

TEST_F(JwtTest, TokenWithoutKidUsesAKeyOfTheRightType) {
  const std::string input = testing::B64Url(Json{{"alg", "ES384"}}.dump()) + "." + testing::B64Url(Claims().dump());
  const std::string token = input + "." + testing::B64Url(p384_->Sign("ES384", input));
  EXPECT_TRUE(Validate(token).ok());
}

TEST_F(JwtTest, EcdsaSignatureOfTheWrongLengthIsRefused) {
  std::string token = SignJwt(*p256_, "ES256", Claims());
  token = token.substr(0, token.rfind('.') + 1) + testing::B64Url(std::string(70, 'x'));
  auto r = Validate(token);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message(), "signature invalid");
}

TEST_F(JwtTest, JwkImportChecks) {
  // A small RSA key.
  auto small = PublicKey::FromJwk(TestKey::Rsa("small", 1024).Jwk());
  ASSERT_FALSE(small.ok());
  EXPECT_THAT(small.status().message(), HasSubstr("1024 bits is too small"));
  // An EC point that is not on the curve.
  Json bad = p256_->Jwk();
  std::string y;
  ASSERT_TRUE(absl::WebSafeBase64Unescape(bad["y"].get<std::string>(), &y));
  y[5] ^= 0x01;
  bad["y"] = testing::B64Url(y);
  EXPECT_FALSE(PublicKey::FromJwk(bad).ok());
  // Wrong coordinate length.
  Json short_x = p256_->Jwk();
  short_x["x"] = testing::B64Url(std::string(31, 'a'));
  EXPECT_THAT(PublicKey::FromJwk(short_x).status().message(), HasSubstr("must be 32 bytes"));
  // Not for signatures.
  Json enc = rsa_->Jwk();
  enc["use"] = "enc";
  EXPECT_THAT(PublicKey::FromJwk(enc).status().message(), HasSubstr("not for signatures"));
  // A pinned alg that does not fit the key.
  Json pinned = rsa_->Jwk();
  pinned["alg"] = "ES256";
  EXPECT_FALSE(PublicKey::FromJwk(pinned).ok());
  // A pinned alg restricts what the key verifies.
  pinned["alg"] = "RS256";
  auto key = PublicKey::FromJwk(pinned);
  ASSERT_TRUE(key.ok());
  EXPECT_TRUE(key->Supports("RS256").ok());
  EXPECT_THAT(key->Supports("PS256").message(), HasSubstr("is for alg RS256"));
  EXPECT_EQ(key->bits(), 2048);
}

TEST_F(JwtTest, JwksSkipsUnusableKeysAndRefusesAnEmptySet) {
  Json doc = {{"keys", Json::array({Json{{"kty", "oct"}, {"kid", "hmac"}, {"k", "c2VjcmV0"}}, rsa_->Jwk(),
                                    Json{{"kty", "OKP"}, {"kid", "ed"}, {"crv", "Ed25519"}, {"x", "AAAA"}}})}};
  auto set = ParseJwks(doc.dump());
  ASSERT_TRUE(set.ok()) << set.status();
  EXPECT_EQ(set->keys.size(), 1u);
  EXPECT_EQ(set->skipped.size(), 2u);
  EXPECT_THAT(set->skipped[0], HasSubstr("kid=hmac: kty oct is not supported"));
  EXPECT_TRUE(set->Has("rsa-1"));
  auto none = ParseJwks(R"({"keys":[{"kty":"oct","k":"c2VjcmV0"}]})");
  ASSERT_FALSE(none.ok());
  EXPECT_THAT(none.status().message(), HasSubstr("no usable key"));
  EXPECT_FALSE(ParseJwks("[]").ok());
  EXPECT_FALSE(ParseJwks("not json").ok());
}

TEST_F(JwtTest, LooksLikeJwt) {
  EXPECT_TRUE(LooksLikeJwt(SignJwt(*rsa_, "RS256", Claims())));
  EXPECT_FALSE(LooksLikeJwt("2YotnFZFEjr1zCsicMWpAA"));
  EXPECT_FALSE(LooksLikeJwt("a.b.c"));
  EXPECT_FALSE(LooksLikeJwt(""));
}

TEST(AuthUtilTest, FormEncodingAndBasicAuth) {
  using namespace internal;
  EXPECT_EQ(FormEncode("a b+c/d:e~f.g_h-i*"), "a+b%2Bc%2Fd%3Ae~f.g_h-i%2A");
  EXPECT_EQ(FormBody({{"grant_type", "client_credentials"}, {"scope", "a b"}}), "grant_type=client_credentials&scope=a+b");
  EXPECT_EQ(FormDecode("a+b%2Bc"), "a b+c");
  EXPECT_FALSE(FormDecode("%2").has_value());
  EXPECT_FALSE(FormDecode("%zz").has_value());
  // RFC 6749 section 2.3.1: id and secret form-encoded, then base64.
  std::string decoded;
  const std::string basic = BasicAuthorization("my client", "p@ss:w/rd");
  ASSERT_EQ(basic.rfind("Basic ", 0), 0u);
  ASSERT_TRUE(absl::Base64Unescape(basic.substr(6), &decoded));
  EXPECT_EQ(decoded, "my+client:p%40ss%3Aw%2Frd");
  EXPECT_EQ(Hex(Sha256("abc")), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_FALSE(DecodeBase64Url("YQ==").has_value());  // padding is not base64url in JOSE
  EXPECT_FALSE(DecodeBase64Url("Y Q").has_value());
  EXPECT_EQ(DecodeBase64Url("YQ"), "a");
  EXPECT_EQ(Printable("a\"b\\c\nd"), "a?b?c?d");
  EXPECT_EQ(Redact("bad token abc.def here", {"abc.def"}), "bad token [redacted] here");
}

}  // namespace
}  // namespace vmcp::auth
