// Strict YAML -> struct decoding, the counterpart of the Go loader's `yaml.v3` decode with
// `KnownFields(true)`: every mapping key must be known, every value must have the expected shape.
// Everything that is wrong is reported (not only the first), each with its key path and position.

#include <yaml-cpp/yaml.h>

#include <cerrno>
#include <cstdlib>
#include <functional>
#include <limits>
#include <map>
#include <set>
#include <string>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "config/internal.h"
#include "nlohmann/json.hpp"

namespace vmcp::config::internal {
namespace {

using Json = nlohmann::json;

Mark ToMark(const YAML::Mark& m) {
  if (m.is_null() || m.line < 0) return {};
  return Mark{m.line + 1, m.column + 1};
}

const char* KindName(const YAML::Node& n) {
  switch (n.Type()) {
    case YAML::NodeType::Map:
      return "a mapping";
    case YAML::NodeType::Sequence:
      return "a list";
    case YAML::NodeType::Scalar:
      return "a scalar";
    case YAML::NodeType::Null:
      return "null";
    default:
      return "nothing";
  }
}

bool IsPlain(const YAML::Node& n) { return n.Tag() != "!"; }

// YAML 1.2 core-schema resolution of a plain scalar, the way yaml.v3 resolves it.
bool ResolveBool(const std::string& s, bool& out) {
  static const std::set<std::string> kTrue = {"true", "True", "TRUE", "yes", "Yes", "YES", "on", "On", "ON"};
  static const std::set<std::string> kFalse = {"false", "False", "FALSE", "no", "No", "NO", "off", "Off", "OFF"};
  if (kTrue.count(s)) {
    out = true;
    return true;
  }
  if (kFalse.count(s)) {
    out = false;
    return true;
  }
  return false;
}

bool ResolveInt(const std::string& s, int64_t& out) {
  std::string t = s;
  t.erase(std::remove(t.begin(), t.end(), '_'), t.end());
  if (t.empty()) return false;
  size_t start = (t[0] == '-' || t[0] == '+') ? 1 : 0;
  int base = 10;
  if (t.size() > start + 2 && t[start] == '0' && (t[start + 1] == 'x' || t[start + 1] == 'X')) base = 16;
  if (t.size() > start + 2 && t[start] == '0' && (t[start + 1] == 'o' || t[start + 1] == 'O')) {
    base = 8;
    t.erase(start + 1, 1);
  }
  errno = 0;
  char* end = nullptr;
  const long long v = std::strtoll(t.c_str(), &end, base);
  if (errno != 0 || end == t.c_str() || *end != '\0') return false;
  out = v;
  return true;
}

bool ResolveFloat(const std::string& s, double& out) {
  if (s == ".inf" || s == ".Inf" || s == "+.inf") {
    out = std::numeric_limits<double>::infinity();
    return true;
  }
  if (s == "-.inf" || s == "-.Inf") {
    out = -std::numeric_limits<double>::infinity();
    return true;
  }
  if (s.empty() || !(std::isdigit(static_cast<unsigned char>(s.back())) || s.back() == '.')) return false;
  return absl::SimpleAtod(s, &out);
}

bool IsNullScalar(const std::string& s) { return s.empty() || s == "~" || s == "null" || s == "Null" || s == "NULL"; }

// Converts a free-form YAML value (JSON Schema, tool arguments, default results) into JSON, resolving
// plain scalars with the core schema. The node budget bounds alias expansion ("billion laughs").
class JsonConverter {
 public:
  JsonConverter(Diagnostics& diag) : diag_(diag) {}

  bool Convert(const YAML::Node& n, const std::string& path, int depth, Json& out) {
    if (++nodes_ > kMaxNodes) {
      if (!reported_) diag_.DecodeError(path, "value is too large (too many nested items)", ToMark(n.Mark()));
      reported_ = true;
      return false;
    }
    if (depth > kMaxNestingDepth) {
      diag_.DecodeError(path, absl::StrCat("value is nested deeper than ", kMaxNestingDepth, " levels"), ToMark(n.Mark()));
      return false;
    }
    switch (n.Type()) {
      case YAML::NodeType::Map: {
        out = Json::object();
        for (const auto& kv : n) {
          if (!kv.first.IsScalar()) {
            diag_.ErrorAt(path, "mapping keys must be scalars", ToMark(kv.first.Mark()));
            return false;
          }
          const std::string key = kv.first.Scalar();
          Json child;
          if (!Convert(kv.second, Key(path, key), depth + 1, child)) return false;
          out[key] = std::move(child);
        }
        return true;
      }
      case YAML::NodeType::Sequence: {
        out = Json::array();
        size_t i = 0;
        for (const auto& item : n) {
          Json child;
          if (!Convert(item, Index(path, i++), depth + 1, child)) return false;
          out.push_back(std::move(child));
        }
        return true;
      }
      case YAML::NodeType::Scalar: {
        const std::string& s = n.Scalar();
        if (!IsPlain(n)) {
          out = s;
          return true;
        }
        bool b;
        int64_t i;
        double d;
        if (IsNullScalar(s)) {
          out = nullptr;
        } else if (s == "true" || s == "True" || s == "TRUE" || s == "false" || s == "False" || s == "FALSE") {
          ResolveBool(s, b);
          out = b;
        } else if (ResolveInt(s, i)) {
          out = i;
        } else if (ResolveFloat(s, d) && std::isfinite(d)) {
          out = d;
        } else {
          out = s;
        }
        return true;
      }
      default:
        out = nullptr;
        return true;
    }
  }

 private:
  static constexpr size_t kMaxNodes = 100000;
  Diagnostics& diag_;
  size_t nodes_ = 0;
  bool reported_ = false;
};

// Reads one YAML mapping into a struct: each known key is declared with one of the typed readers;
// `Finish()` reports the keys nobody declared.
class MapReader {
 public:
  MapReader(Diagnostics& diag, const YAML::Node& node, std::string path)
      : diag_(diag), path_(std::move(path)) {
    if (node.IsNull() || !node.IsDefined()) return;
    if (!node.IsMap()) {
      diag_.DecodeError(path_, absl::StrCat("expected a mapping, got ", KindName(node)), ToMark(node.Mark()));
      return;
    }
    for (const auto& kv : node) {
      if (!kv.first.IsScalar()) {
        diag_.ErrorAt(path_, "mapping keys must be plain strings", ToMark(kv.first.Mark()));
        continue;
      }
      const std::string key = kv.first.Scalar();
      const Mark key_mark = ToMark(kv.first.Mark());
      auto [it, inserted] = entries_.emplace(key, Entry{kv.second, key_mark});
      if (!inserted) {
        diag_.ErrorAt(Key(path_, key),
                      absl::StrCat("duplicate key (first defined at line ", it->second.key_mark.line, ")"), key_mark);
        continue;
      }
      // Values point at themselves; null values (no position of their own) at their key.
      Mark value_mark = ToMark(kv.second.Mark());
      if (value_mark.line == 0 || kv.second.IsNull()) value_mark = key_mark;
      diag_.RecordMark(Key(path_, key), value_mark);
    }
  }

  const std::string& path() const { return path_; }
  Diagnostics& diag() { return diag_; }

  // Calls fn(node, path) when the key is present; declares it known either way.
  void Field(const std::string& key, const std::function<void(const YAML::Node&, const std::string&)>& fn) {
    known_.insert(key);
    auto it = entries_.find(key);
    if (it == entries_.end()) return;
    fn(it->second.node, Key(path_, key));
  }

  void String(const std::string& key, std::string& out) {
    Field(key, [&](const YAML::Node& n, const std::string& p) { ReadString(n, p, out); });
  }
  void Secret(const std::string& key, config::Secret& out) {
    Field(key, [&](const YAML::Node& n, const std::string& p) {
      std::string v;
      if (ReadString(n, p, v)) out = config::Secret(std::move(v));
    });
  }
  void OptString(const std::string& key, std::optional<std::string>& out) {
    Field(key, [&](const YAML::Node& n, const std::string& p) {
      if (n.IsNull()) return;
      std::string v;
      if (ReadString(n, p, v)) out = std::move(v);
    });
  }
  void Bool(const std::string& key, bool& out) {
    Field(key, [&](const YAML::Node& n, const std::string& p) { ReadBool(n, p, out); });
  }
  void OptBool(const std::string& key, std::optional<bool>& out) {
    Field(key, [&](const YAML::Node& n, const std::string& p) {
      if (n.IsNull()) return;
      bool v = false;
      if (ReadBool(n, p, v)) out = v;
    });
  }
  template <typename T>
  void Int(const std::string& key, T& out) {
    Field(key, [&](const YAML::Node& n, const std::string& p) {
      int64_t v = 0;
      if (ReadInt(n, p, v, std::numeric_limits<T>::min(), std::numeric_limits<T>::max())) out = static_cast<T>(v);
    });
  }
  template <typename T>
  void OptInt(const std::string& key, std::optional<T>& out) {
    Field(key, [&](const YAML::Node& n, const std::string& p) {
      if (n.IsNull()) return;
      int64_t v = 0;
      if (ReadInt(n, p, v, std::numeric_limits<T>::min(), std::numeric_limits<T>::max())) out = static_cast<T>(v);
    });
  }
  void Dur(const std::string& key, Duration& out) {
    Field(key, [&](const YAML::Node& n, const std::string& p) { ReadDuration(n, p, out); });
  }
  void StringList(const std::string& key, std::vector<std::string>& out) {
    Field(key, [&](const YAML::Node& n, const std::string& p) {
      if (n.IsNull()) return;
      if (!n.IsSequence()) {
        diag_.DecodeError(p, absl::StrCat("expected a list of strings, got ", KindName(n)), ToMark(n.Mark()));
        return;
      }
      size_t i = 0;
      for (const auto& item : n) {
        const std::string ip = Index(p, i++);
        diag_.RecordMark(ip, ToMark(item.Mark()));
        std::string v;
        if (ReadString(item, ip, v)) out.push_back(std::move(v));
      }
    });
  }
  void StringMap(const std::string& key, std::map<std::string, std::string>& out) {
    Field(key, [&](const YAML::Node& n, const std::string& p) {
      ForEachEntry(n, p, [&](const std::string& k, const YAML::Node& v, const std::string& vp) {
        std::string s;
        if (ReadString(v, vp, s)) out[k] = std::move(s);
      });
    });
  }
  void DurationMap(const std::string& key, std::map<std::string, Duration>& out) {
    Field(key, [&](const YAML::Node& n, const std::string& p) {
      ForEachEntry(n, p, [&](const std::string& k, const YAML::Node& v, const std::string& vp) {
        Duration d{0};
        if (ReadDuration(v, vp, d)) out[k] = d;
      });
    });
  }
  // A free-form value stored as JSON text.
  void JsonValue(const std::string& key, std::string& out) {
    Field(key, [&](const YAML::Node& n, const std::string& p) {
      if (n.IsNull()) return;
      JsonConverter conv(diag_);
      Json j;
      if (conv.Convert(n, p, 0, j)) out = j.dump();
    });
  }
  // A free-form mapping stored as JSON text (JSON Schema, arguments).
  void JsonObject(const std::string& key, std::string& out) {
    Field(key, [&](const YAML::Node& n, const std::string& p) {
      if (n.IsNull()) return;
      if (!n.IsMap()) {
        diag_.DecodeError(p, absl::StrCat("expected a mapping, got ", KindName(n)), ToMark(n.Mark()));
        return;
      }
      JsonConverter conv(diag_);
      Json j;
      if (conv.Convert(n, p, 0, j)) out = j.dump();
    });
  }
  // A nested struct (a Go pointer field): absent or null leaves it unset.
  template <typename T>
  void Object(const std::string& key, std::optional<T>& out,
              void (*decode)(Diagnostics&, const YAML::Node&, const std::string&, T&)) {
    Field(key, [&](const YAML::Node& n, const std::string& p) {
      if (n.IsNull()) return;
      T value{};
      if (!n.IsMap()) {
        diag_.DecodeError(p, absl::StrCat("expected a mapping, got ", KindName(n)), ToMark(n.Mark()));
        return;
      }
      decode(diag_, n, p, value);
      out = std::move(value);
    });
  }
  template <typename T>
  void List(const std::string& key, std::vector<T>& out,
            void (*decode)(Diagnostics&, const YAML::Node&, const std::string&, T&)) {
    Field(key, [&](const YAML::Node& n, const std::string& p) {
      if (n.IsNull()) return;
      if (!n.IsSequence()) {
        diag_.DecodeError(p, absl::StrCat("expected a list, got ", KindName(n)), ToMark(n.Mark()));
        return;
      }
      size_t i = 0;
      for (const auto& item : n) {
        const std::string ip = Index(p, i++);
        diag_.RecordMark(ip, ToMark(item.Mark()));
        T value{};
        if (!item.IsNull() && !item.IsMap()) {
          diag_.DecodeError(ip, absl::StrCat("expected a mapping, got ", KindName(item)), ToMark(item.Mark()));
          continue;
        }
        decode(diag_, item, ip, value);
        out.push_back(std::move(value));
      }
    });
  }
  template <typename T>
  void Map(const std::string& key, std::map<std::string, T>& out,
           void (*decode)(Diagnostics&, const YAML::Node&, const std::string&, T&)) {
    Field(key, [&](const YAML::Node& n, const std::string& p) {
      ForEachEntry(n, p, [&](const std::string& k, const YAML::Node& v, const std::string& vp) {
        if (!v.IsNull() && !v.IsMap()) {
          diag_.DecodeError(vp, absl::StrCat("expected a mapping, got ", KindName(v)), ToMark(v.Mark()));
          return;
        }
        T value{};
        decode(diag_, v, vp, value);
        out[k] = std::move(value);
      });
    });
  }

  // Reports every key that no reader declared.
  void Finish() {
    for (const auto& [key, entry] : entries_) {
      if (!known_.count(key)) diag_.ErrorAt(Key(path_, key), "unknown key", entry.key_mark);
    }
  }

  // Readers for single values, also used for list items and map values.
  bool ReadString(const YAML::Node& n, const std::string& p, std::string& out) {
    if (n.IsNull()) {
      out.clear();
      return true;
    }
    if (!n.IsScalar()) {
      diag_.DecodeError(p, absl::StrCat("expected a string, got ", KindName(n)), ToMark(n.Mark()));
      return false;
    }
    out = n.Scalar();
    return true;
  }
  bool ReadBool(const YAML::Node& n, const std::string& p, bool& out) {
    if (n.IsNull()) {
      out = false;
      return true;
    }
    if (n.IsScalar() && IsPlain(n) && ResolveBool(n.Scalar(), out)) return true;
    diag_.DecodeError(p, "expected a boolean (true or false)", ToMark(n.Mark()));
    return false;
  }
  bool ReadInt(const YAML::Node& n, const std::string& p, int64_t& out, int64_t min, int64_t max) {
    if (n.IsNull()) {
      out = 0;
      return true;
    }
    int64_t v = 0;
    if (!n.IsScalar() || !IsPlain(n) || !ResolveInt(n.Scalar(), v)) {
      diag_.DecodeError(p, "expected an integer", ToMark(n.Mark()));
      return false;
    }
    if (v < min || v > max) {
      diag_.DecodeError(p, absl::StrCat("integer out of range (", min, " to ", max, ")"), ToMark(n.Mark()));
      return false;
    }
    out = v;
    return true;
  }
  bool ReadDuration(const YAML::Node& n, const std::string& p, Duration& out) {
    if (n.IsNull()) {
      out = Duration::zero();
      return true;
    }
    // metav1.Duration fields (rateLimiting refillPeriod) may be written as {duration: 1m0s}.
    if (n.IsMap()) {
      MapReader m(diag_, n, p);
      m.Dur("duration", out);
      m.Finish();
      return true;
    }
    if (!n.IsScalar()) {
      diag_.DecodeError(p, absl::StrCat("expected a duration such as 30s or 1m0s, got ", KindName(n)), ToMark(n.Mark()));
      return false;
    }
    auto d = ParseGoDuration(n.Scalar());
    if (!d.ok()) {
      diag_.DecodeError(p, std::string(d.status().message()), ToMark(n.Mark()));
      return false;
    }
    out = *d;
    return true;
  }

 private:
  struct Entry {
    YAML::Node node;
    Mark key_mark;
  };

  void ForEachEntry(const YAML::Node& n, const std::string& p,
                    const std::function<void(const std::string&, const YAML::Node&, const std::string&)>& fn) {
    if (n.IsNull()) return;
    if (!n.IsMap()) {
      diag_.DecodeError(p, absl::StrCat("expected a mapping, got ", KindName(n)), ToMark(n.Mark()));
      return;
    }
    std::map<std::string, Mark> seen;
    for (const auto& kv : n) {
      if (!kv.first.IsScalar()) {
        diag_.ErrorAt(p, "mapping keys must be plain strings", ToMark(kv.first.Mark()));
        continue;
      }
      const std::string k = kv.first.Scalar();
      const Mark key_mark = ToMark(kv.first.Mark());
      const std::string vp = Key(p, k);
      auto [it, inserted] = seen.emplace(k, key_mark);
      if (!inserted) {
        diag_.ErrorAt(vp, absl::StrCat("duplicate key (first defined at line ", it->second.line, ")"), key_mark);
        continue;
      }
      Mark value_mark = ToMark(kv.second.Mark());
      if (value_mark.line == 0 || kv.second.IsNull()) value_mark = key_mark;
      diag_.RecordMark(vp, value_mark);
      fn(k, kv.second, vp);
    }
  }

  Diagnostics& diag_;
  std::string path_;
  std::map<std::string, Entry> entries_;
  std::set<std::string> known_;
};

// --- one decoder per struct, keys in the Go declaration order ------------------------------------

void DecodeOidc(Diagnostics& d, const YAML::Node& n, const std::string& p, OidcConfig& o) {
  MapReader m(d, n, p);
  m.String("issuer", o.issuer);
  m.String("clientId", o.client_id);
  m.String("clientSecretEnv", o.client_secret_env);
  m.String("audience", o.audience);
  m.String("resource", o.resource);
  m.String("jwksUrl", o.jwks_url);
  m.String("introspectionUrl", o.introspection_url);
  m.StringList("scopes", o.scopes);
  m.Bool("protectedResourceAllowPrivateIp", o.protected_resource_allow_private_ip);
  m.Bool("jwksAllowPrivateIp", o.jwks_allow_private_ip);
  m.Bool("insecureAllowHttp", o.insecure_allow_http);
  m.String("caBundlePath", o.ca_bundle_path);
  m.Finish();
}

void DecodeAuthz(Diagnostics& d, const YAML::Node& n, const std::string& p, AuthzConfig& a) {
  MapReader m(d, n, p);
  m.String("type", a.type);
  m.StringList("policies", a.policies);
  m.String("entitiesJson", a.entities_json);
  m.String("primaryUpstreamProvider", a.primary_upstream_provider);
  m.String("groupClaimName", a.group_claim_name);
  m.String("roleClaimName", a.role_claim_name);
  m.String("groupEntityType", a.group_entity_type);
  m.Finish();
}

void DecodeIncomingAuth(Diagnostics& d, const YAML::Node& n, const std::string& p, IncomingAuthConfig& a) {
  MapReader m(d, n, p);
  m.String("type", a.type);
  m.Object("oidc", a.oidc, DecodeOidc);
  m.Object("authz", a.authz, DecodeAuthz);
  m.Finish();
}

void DecodeHeaderInjection(Diagnostics& d, const YAML::Node& n, const std::string& p, HeaderInjectionConfig& h) {
  MapReader m(d, n, p);
  m.String("headerName", h.header_name);
  m.Secret("headerValue", h.header_value);
  m.String("headerValueEnv", h.header_value_env);
  m.Finish();
}

void DecodeTokenExchange(Diagnostics& d, const YAML::Node& n, const std::string& p, TokenExchangeConfig& t) {
  MapReader m(d, n, p);
  m.String("tokenUrl", t.token_url);
  m.String("clientId", t.client_id);
  m.Secret("clientSecret", t.client_secret);
  m.String("clientSecretEnv", t.client_secret_env);
  m.String("audience", t.audience);
  m.StringList("scopes", t.scopes);
  m.String("subjectTokenType", t.subject_token_type);
  m.String("subjectProviderName", t.subject_provider_name);
  m.Finish();
}

void DecodeUpstreamInject(Diagnostics& d, const YAML::Node& n, const std::string& p, UpstreamInjectConfig& u) {
  MapReader m(d, n, p);
  m.String("providerName", u.provider_name);
  m.Finish();
}

void DecodeRoleMapping(Diagnostics& d, const YAML::Node& n, const std::string& p, RoleMapping& r) {
  MapReader m(d, n, p);
  m.String("claim", r.claim);
  m.String("matcher", r.matcher);
  m.String("roleArn", r.role_arn);
  m.OptInt("priority", r.priority);
  m.Finish();
}

void DecodeAwsSts(Diagnostics& d, const YAML::Node& n, const std::string& p, AwsStsConfig& a) {
  MapReader m(d, n, p);
  m.String("region", a.region);
  m.String("service", a.service);
  m.String("fallbackRoleArn", a.fallback_role_arn);
  m.List("roleMappings", a.role_mappings, DecodeRoleMapping);
  m.String("roleClaim", a.role_claim);
  m.OptInt("sessionDuration", a.session_duration);
  m.String("sessionNameClaim", a.session_name_claim);
  m.String("subjectProviderName", a.subject_provider_name);
  m.Finish();
}

void DecodeObo(Diagnostics& d, const YAML::Node& n, const std::string& p, OboConfig& o) {
  MapReader m(d, n, p);
  m.String("tokenUrl", o.token_url);
  m.String("clientId", o.client_id);
  m.Secret("clientSecret", o.client_secret);
  m.String("clientSecretEnv", o.client_secret_env);
  m.String("audience", o.audience);
  m.StringList("scopes", o.scopes);
  m.String("subjectTokenProviderName", o.subject_token_provider_name);
  m.OptInt("cacheSkewSeconds", o.cache_skew_seconds);
  m.Finish();
}

void DecodeXaa(Diagnostics& d, const YAML::Node& n, const std::string& p, XaaConfig& x) {
  MapReader m(d, n, p);
  m.String("idpTokenUrl", x.idp_token_url);
  m.String("idpClientId", x.idp_client_id);
  m.Secret("idpClientSecret", x.idp_client_secret);
  m.String("idpClientSecretEnv", x.idp_client_secret_env);
  m.String("targetTokenUrl", x.target_token_url);
  m.Bool("insecureTargetTokenUrl", x.insecure_target_token_url);
  m.String("targetClientId", x.target_client_id);
  m.Secret("targetClientSecret", x.target_client_secret);
  m.String("targetClientSecretEnv", x.target_client_secret_env);
  m.String("targetAudience", x.target_audience);
  m.String("targetResource", x.target_resource);
  m.StringList("scopes", x.scopes);
  m.String("subjectProviderName", x.subject_provider_name);
  m.String("subjectTokenType", x.subject_token_type);
  m.Finish();
}

void DecodeStrategy(Diagnostics& d, const YAML::Node& n, const std::string& p, BackendAuthStrategy& s) {
  MapReader m(d, n, p);
  m.String("type", s.type);
  m.Object("headerInjection", s.header_injection, DecodeHeaderInjection);
  m.Object("tokenExchange", s.token_exchange, DecodeTokenExchange);
  m.Object("upstreamInject", s.upstream_inject, DecodeUpstreamInject);
  m.Object("awsSts", s.aws_sts, DecodeAwsSts);
  m.Object("obo", s.obo, DecodeObo);
  m.Object("xaa", s.xaa, DecodeXaa);
  m.Finish();
}

void DecodeOutgoingAuth(Diagnostics& d, const YAML::Node& n, const std::string& p, OutgoingAuthConfig& o) {
  MapReader m(d, n, p);
  m.String("source", o.source);
  m.Object("default", o.default_strategy, DecodeStrategy);
  m.Map("backends", o.backends, DecodeStrategy);
  m.Finish();
}

void DecodeBackend(Diagnostics& d, const YAML::Node& n, const std::string& p, StaticBackend& b) {
  MapReader m(d, n, p);
  m.String("name", b.name);
  m.String("url", b.url);
  m.String("transport", b.transport);
  m.String("type", b.type);
  m.String("caBundlePath", b.ca_bundle_path);
  m.StringMap("metadata", b.metadata);
  m.StringMap("headerEnvVars", b.header_env_vars);
  m.Finish();
}

void DecodeAnnotations(Diagnostics& d, const YAML::Node& n, const std::string& p, ToolAnnotationsOverride& a) {
  MapReader m(d, n, p);
  m.OptString("title", a.title);
  m.OptBool("readOnlyHint", a.read_only_hint);
  m.OptBool("destructiveHint", a.destructive_hint);
  m.OptBool("idempotentHint", a.idempotent_hint);
  m.OptBool("openWorldHint", a.open_world_hint);
  m.Finish();
}

void DecodeToolOverride(Diagnostics& d, const YAML::Node& n, const std::string& p, ToolOverride& o) {
  MapReader m(d, n, p);
  m.String("name", o.name);
  m.String("description", o.description);
  m.Object("annotations", o.annotations, DecodeAnnotations);
  m.Finish();
}

void DecodeWorkloadTools(Diagnostics& d, const YAML::Node& n, const std::string& p, WorkloadToolConfig& w) {
  MapReader m(d, n, p);
  m.String("workload", w.workload);
  m.Field("toolConfigRef", [&](const YAML::Node& rn, const std::string& rp) {
    if (rn.IsNull()) return;
    MapReader r(d, rn, rp);
    std::string name;
    r.String("name", name);
    r.Finish();
    w.tool_config_ref = name;
  });
  m.StringList("filter", w.filter);
  m.Map("overrides", w.overrides, DecodeToolOverride);
  m.Bool("excludeAll", w.exclude_all);
  m.Finish();
}

void DecodeConflictConfig(Diagnostics& d, const YAML::Node& n, const std::string& p, ConflictResolutionConfig& c) {
  MapReader m(d, n, p);
  m.String("prefixFormat", c.prefix_format);
  m.StringList("priorityOrder", c.priority_order);
  m.Finish();
}

void DecodeAggregation(Diagnostics& d, const YAML::Node& n, const std::string& p, AggregationConfig& a) {
  MapReader m(d, n, p);
  m.String("conflictResolution", a.conflict_resolution);
  // `conflictResolutionConfig: {}` is the operator's way of writing "present but empty"; a null value
  // is still present for the validator's "required" rule.
  m.Field("conflictResolutionConfig", [&](const YAML::Node& cn, const std::string& cp) {
    ConflictResolutionConfig c;
    if (!cn.IsNull() && !cn.IsMap()) {
      d.DecodeError(cp, absl::StrCat("expected a mapping, got ", KindName(cn)), ToMark(cn.Mark()));
      return;
    }
    if (cn.IsNull()) return;  // yaml.v3 leaves a nil pointer for `key:` with no value
    DecodeConflictConfig(d, cn, cp, c);
    a.conflict_resolution_config = std::move(c);
  });
  m.List("tools", a.tools, DecodeWorkloadTools);
  m.Bool("excludeAllTools", a.exclude_all_tools);
  m.String("defaultToolVisibility", a.default_tool_visibility);
  m.Finish();
}

void DecodeTimeouts(Diagnostics& d, const YAML::Node& n, const std::string& p, TimeoutConfig& t) {
  MapReader m(d, n, p);
  m.Dur("default", t.default_timeout);
  m.DurationMap("perWorkload", t.per_workload);
  m.Finish();
}

void DecodeCircuitBreaker(Diagnostics& d, const YAML::Node& n, const std::string& p, CircuitBreakerConfig& c) {
  MapReader m(d, n, p);
  m.Bool("enabled", c.enabled);
  m.Int("failureThreshold", c.failure_threshold);
  m.Dur("timeout", c.timeout);
  m.Finish();
}

void DecodeFailureHandling(Diagnostics& d, const YAML::Node& n, const std::string& p, FailureHandlingConfig& f) {
  MapReader m(d, n, p);
  m.Dur("healthCheckInterval", f.health_check_interval);
  m.Int("unhealthyThreshold", f.unhealthy_threshold);
  m.Dur("healthCheckTimeout", f.health_check_timeout);
  m.Dur("statusReportingInterval", f.status_reporting_interval);
  m.String("partialFailureMode", f.partial_failure_mode);
  m.Object("circuitBreaker", f.circuit_breaker, DecodeCircuitBreaker);
  m.Finish();
}

void DecodeOperational(Diagnostics& d, const YAML::Node& n, const std::string& p, OperationalConfig& o) {
  MapReader m(d, n, p);
  m.String("logLevel", o.log_level);
  m.Object("timeouts", o.timeouts, DecodeTimeouts);
  m.Object("failureHandling", o.failure_handling, DecodeFailureHandling);
  m.Finish();
}

void DecodeStepErrorHandling(Diagnostics& d, const YAML::Node& n, const std::string& p, StepErrorHandling& e) {
  MapReader m(d, n, p);
  m.String("action", e.action);
  m.Int("retryCount", e.retry_count);
  m.Dur("retryDelay", e.retry_delay);
  m.Finish();
}

void DecodeElicitationResponse(MapReader& m, const std::string& key, std::optional<std::string>& out) {
  m.Field(key, [&](const YAML::Node& n, const std::string& p) {
    if (n.IsNull()) return;
    MapReader r(m.diag(), n, p);
    std::string action;
    r.String("action", action);
    r.Finish();
    out = action;
  });
}

void DecodeStep(Diagnostics& d, const YAML::Node& n, const std::string& p, WorkflowStep& s) {
  MapReader m(d, n, p);
  m.String("id", s.id);
  m.String("type", s.type);
  m.String("tool", s.tool);
  m.JsonObject("arguments", s.arguments_json);
  m.String("condition", s.condition);
  m.StringList("dependsOn", s.depends_on);
  m.Object("onError", s.on_error, DecodeStepErrorHandling);
  m.String("message", s.message);
  m.JsonObject("schema", s.schema_json);
  m.Dur("timeout", s.timeout);
  DecodeElicitationResponse(m, "onDecline", s.on_decline_action);
  DecodeElicitationResponse(m, "onCancel", s.on_cancel_action);
  m.JsonObject("defaultResults", s.default_results_json);
  m.String("collection", s.collection);
  m.String("itemVar", s.item_var);
  m.Int("maxParallel", s.max_parallel);
  m.Int("maxIterations", s.max_iterations);
  m.Field("step", [&](const YAML::Node& sn, const std::string& sp) {
    if (sn.IsNull()) return;
    if (!sn.IsMap()) {
      d.DecodeError(sp, absl::StrCat("expected a mapping, got ", KindName(sn)), ToMark(sn.Mark()));
      return;
    }
    WorkflowStep inner;
    DecodeStep(d, sn, sp, inner);
    s.inner_step.push_back(std::move(inner));
  });
  m.Finish();
}

void DecodeOutputProperty(Diagnostics& d, const YAML::Node& n, const std::string& p, OutputProperty& o) {
  MapReader m(d, n, p);
  m.String("type", o.type);
  m.String("description", o.description);
  m.String("value", o.value);
  m.Map("properties", o.properties, DecodeOutputProperty);
  m.JsonValue("default", o.default_json);
  m.Finish();
}

void DecodeOutput(Diagnostics& d, const YAML::Node& n, const std::string& p, OutputConfig& o) {
  MapReader m(d, n, p);
  m.Map("properties", o.properties, DecodeOutputProperty);
  m.StringList("required", o.required);
  m.Finish();
}

void DecodeCompositeTool(Diagnostics& d, const YAML::Node& n, const std::string& p, CompositeToolConfig& c) {
  MapReader m(d, n, p);
  m.String("name", c.name);
  m.String("description", c.description);
  m.JsonObject("parameters", c.parameters_json);
  m.Dur("timeout", c.timeout);
  m.List("steps", c.steps, DecodeStep);
  m.Object("output", c.output, DecodeOutput);
  m.Object("annotations", c.annotations, DecodeAnnotations);
  m.Finish();
}

void DecodeCompositeToolRef(Diagnostics& d, const YAML::Node& n, const std::string& p, std::string& name) {
  MapReader m(d, n, p);
  m.String("name", name);
  m.Finish();
}

void DecodeTelemetry(Diagnostics& d, const YAML::Node& n, const std::string& p, TelemetryConfig& t) {
  MapReader m(d, n, p);
  m.String("endpoint", t.endpoint);
  m.String("serviceName", t.service_name);
  m.String("serviceVersion", t.service_version);
  m.Bool("tracingEnabled", t.tracing_enabled);
  m.Bool("metricsEnabled", t.metrics_enabled);
  m.String("samplingRate", t.sampling_rate);
  m.StringMap("headers", t.headers);
  m.Bool("insecure", t.insecure);
  m.Bool("enablePrometheusMetricsPath", t.enable_prometheus_metrics_path);
  m.Int("prometheusPort", t.prometheus_port);
  m.OptBool("metricsOnTransportPort", t.metrics_on_transport_port);
  m.StringList("environmentVariables", t.environment_variables);
  m.StringMap("customAttributes", t.custom_attributes);
  m.Bool("useLegacyAttributes", t.use_legacy_attributes);
  m.String("caCertPath", t.ca_cert_path);
  m.Finish();
}

void DecodeAudit(Diagnostics& d, const YAML::Node& n, const std::string& p, AuditConfig& a) {
  MapReader m(d, n, p);
  m.Bool("enabled", a.enabled);
  m.String("component", a.component);
  m.StringList("eventTypes", a.event_types);
  m.StringList("excludeEventTypes", a.exclude_event_types);
  m.Bool("includeRequestData", a.include_request_data);
  m.Bool("includeResponseData", a.include_response_data);
  m.OptBool("detectApplicationErrors", a.detect_application_errors);
  m.Int("maxDataSize", a.max_data_size);
  m.OptInt("maxDelegationDepth", a.max_delegation_depth);
  m.String("logFile", a.log_file);
  m.Finish();
}

void DecodeOptimizer(Diagnostics& d, const YAML::Node& n, const std::string& p, OptimizerConfig& o) {
  MapReader m(d, n, p);
  m.String("embeddingService", o.embedding_service);
  m.Dur("embeddingServiceTimeout", o.embedding_service_timeout);
  m.String("embeddingProvider", o.embedding_provider);
  m.String("embeddingModel", o.embedding_model);
  m.StringMap("embeddingHeaders", o.embedding_headers);
  m.Int("maxToolsToReturn", o.max_tools_to_return);
  m.String("hybridSearchSemanticRatio", o.hybrid_search_semantic_ratio);
  m.String("semanticDistanceThreshold", o.semantic_distance_threshold);
  m.Finish();
}

void DecodeCodeMode(Diagnostics& d, const YAML::Node& n, const std::string& p, CodeModeConfig& c) {
  MapReader m(d, n, p);
  m.Bool("enabled", c.enabled);
  m.Int("stepLimit", c.step_limit);
  m.Int("parallelMaxConcurrency", c.parallel_max_concurrency);
  m.Dur("toolCallTimeout", c.tool_call_timeout);
  m.Finish();
}

void DecodeSessionStorage(Diagnostics& d, const YAML::Node& n, const std::string& p, SessionStorageConfig& s) {
  MapReader m(d, n, p);
  m.String("provider", s.provider);
  m.String("address", s.address);
  m.Int("db", s.db);
  m.String("keyPrefix", s.key_prefix);
  m.Finish();
}

void DecodeBucket(Diagnostics& d, const YAML::Node& n, const std::string& p, RateLimitBucket& b) {
  MapReader m(d, n, p);
  m.Int("maxTokens", b.max_tokens);
  m.Dur("refillPeriod", b.refill_period);
  m.Finish();
}

void DecodeToolRateLimit(Diagnostics& d, const YAML::Node& n, const std::string& p, ToolRateLimitConfig& t) {
  MapReader m(d, n, p);
  m.String("name", t.name);
  m.Object("shared", t.shared, DecodeBucket);
  m.Object("perUser", t.per_user, DecodeBucket);
  m.Finish();
}

void DecodeRateLimit(Diagnostics& d, const YAML::Node& n, const std::string& p, RateLimitConfig& r) {
  MapReader m(d, n, p);
  m.Object("shared", r.shared, DecodeBucket);
  m.Object("perUser", r.per_user, DecodeBucket);
  m.List("tools", r.tools, DecodeToolRateLimit);
  m.Finish();
}

}  // namespace

bool Decode(const YAML::Node& root, Diagnostics& d, Config& c) {
  if (!root.IsMap()) {
    d.ErrorAt("", absl::StrCat("the config must be a YAML mapping, got ", KindName(root)), ToMark(root.Mark()));
    return false;
  }
  // Errors about absent keys point at their parent; absent top-level keys at the document.
  d.RecordMark("", ToMark(root.Mark()));
  MapReader m(d, root, "");
  m.String("name", c.name);
  m.String("groupRef", c.group_ref);
  m.List("backends", c.backends, DecodeBackend);
  m.Object("incomingAuth", c.incoming_auth, DecodeIncomingAuth);
  m.Object("outgoingAuth", c.outgoing_auth, DecodeOutgoingAuth);
  m.Object("aggregation", c.aggregation, DecodeAggregation);
  m.List("compositeTools", c.composite_tools, DecodeCompositeTool);
  m.List("compositeToolRefs", c.composite_tool_refs, DecodeCompositeToolRef);
  m.Object("operational", c.operational, DecodeOperational);
  m.StringMap("metadata", c.metadata);
  m.Object("telemetry", c.telemetry, DecodeTelemetry);
  m.Object("audit", c.audit, DecodeAudit);
  m.Object("optimizer", c.optimizer, DecodeOptimizer);
  m.Object("codeMode", c.code_mode, DecodeCodeMode);
  m.Object("sessionStorage", c.session_storage, DecodeSessionStorage);
  m.Object("rateLimiting", c.rate_limiting, DecodeRateLimit);
  m.StringList("passthroughHeaders", c.passthrough_headers);
  m.Finish();
  return true;
}

}  // namespace vmcp::config::internal
