// Secrets from the environment, resolved at load like the Go loader does: header-injection values,
// client secrets, the RFC's per-backend `headerEnvVars`, and the operator's header-forward manifests
// (`TOOLHIVE_HEADER_FORWARD_<NORM(backend)>`, JSON, whose secret values live in
// `TOOLHIVE_SECRET_<identifier>`).
//
// A missing variable is an error naming the variable. No message here ever contains a value.

#include <set>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "config/internal.h"
#include "transport/http.h"
#include "nlohmann/json.hpp"

namespace vmcp::config {

std::string NormalizeEnvName(std::string_view name) {
  std::string out;
  out.reserve(name.size());
  for (char c : name) {
    const char u = absl::ascii_toupper(static_cast<unsigned char>(c));
    out.push_back((absl::ascii_isdigit(static_cast<unsigned char>(u)) || (u >= 'A' && u <= 'Z') || u == '_') ? u : '_');
  }
  return out;
}

namespace internal {

std::string CanonicalHeaderName(std::string_view name) {
  std::string out(name);
  bool upper = true;
  for (char& c : out) {
    c = upper ? absl::ascii_toupper(static_cast<unsigned char>(c)) : absl::ascii_tolower(static_cast<unsigned char>(c));
    upper = c == '-';
  }
  return out;
}

bool IsRestrictedForwardHeader(std::string_view name) {
  static const std::set<std::string> kRestricted = {
      "Host",           "Connection",     "Keep-Alive",          "Te",
      "Trailer",        "Upgrade",        "Http2-Settings",      "Proxy-Authorization",
      "Proxy-Authenticate", "Proxy-Connection", "Transfer-Encoding", "Content-Length",
      "Forwarded",      "X-Forwarded-For", "X-Forwarded-Host",   "X-Forwarded-Proto",
      "X-Real-Ip"};
  const std::string canonical = CanonicalHeaderName(name);
  return kRestricted.count(canonical) > 0 || absl::StartsWith(canonical, "X-Forwarded-") ||
         absl::StartsWith(canonical, "Proxy-");
}

namespace {

class SecretResolver {
 public:
  SecretResolver(const Environment& env, Diagnostics& d) : env_(env), d_(d) {}

  // Reads `var` for the key at `path`. Reports a missing or empty variable, or one whose value could
  // not be sent in a header; returns nullopt then.
  std::optional<std::string> Read(const std::string& path, const std::string& var, bool header_value) {
    std::optional<std::string> value = env_.Get(var);
    if (!value.has_value()) {
      d_.Error(path, absl::StrCat("environment variable ", var, " is not set"));
      return std::nullopt;
    }
    if (value->empty()) {
      d_.Error(path, absl::StrCat("environment variable ", var, " is empty"));
      return std::nullopt;
    }
    if (header_value && !transport::IsFieldValue(*value)) {
      d_.Error(path, absl::StrCat("environment variable ", var,
                                  " holds control characters (CR, LF, NUL) and cannot be sent in a header"));
      return std::nullopt;
    }
    return value;
  }

  void Strategy(const std::string& p, BackendAuthStrategy& s) {
    if (s.type == kStrategyHeaderInjection && s.header_injection) {
      HeaderInjectionConfig& h = *s.header_injection;
      if (!h.header_value_env.empty() && h.header_value.empty()) {
        if (auto v = Read(Key(p, "headerInjection.headerValueEnv"), h.header_value_env, true)) {
          h.header_value = Secret(std::move(*v));
        }
      }
    } else if (s.type == kStrategyTokenExchange && s.token_exchange) {
      TokenExchangeConfig& t = *s.token_exchange;
      if (!t.client_secret_env.empty()) {
        auto v = Read(Key(p, "tokenExchange.clientSecretEnv"), t.client_secret_env, false);
        // A literal clientSecret takes precedence, as in the Go strategy.
        if (v && t.client_secret.empty()) t.client_secret = Secret(std::move(*v));
      }
    } else if (s.type == kStrategyObo && s.obo) {
      OboConfig& o = *s.obo;
      if (!o.client_secret_env.empty() && o.client_secret.empty()) {
        if (auto v = Read(Key(p, "obo.clientSecretEnv"), o.client_secret_env, false)) o.client_secret = Secret(std::move(*v));
      }
    } else if (s.type == kStrategyXaa && s.xaa) {
      XaaConfig& x = *s.xaa;
      if (!x.idp_client_secret_env.empty() && x.idp_client_secret.empty()) {
        if (auto v = Read(Key(p, "xaa.idpClientSecretEnv"), x.idp_client_secret_env, false)) {
          x.idp_client_secret = Secret(std::move(*v));
        }
      }
      if (!x.target_client_secret_env.empty() && x.target_client_secret.empty()) {
        if (auto v = Read(Key(p, "xaa.targetClientSecretEnv"), x.target_client_secret_env, false)) {
          x.target_client_secret = Secret(std::move(*v));
        }
      }
    }
  }

  void BackendHeaders(const std::string& p, StaticBackend& b) {
    std::set<std::string> set_names;
    for (const auto& [header, var] : b.header_env_vars) {
      if (var.empty() || !transport::IsFieldName(header) || IsRestrictedForwardHeader(header)) continue;  // validator
      if (auto v = Read(Key(Key(p, "headerEnvVars"), header), var, true)) {
        b.headers.push_back(BackendHeader{header, Secret(std::move(*v)), "env:" + var});
        set_names.insert(CanonicalHeaderName(header));
      }
    }
    Manifest(p, b, set_names);
  }

  // TOOLHIVE_HEADER_FORWARD_<NORM(name)> = {"addPlaintextHeaders":{H:V},"addHeadersFromSecret":{H:ID}}
  void Manifest(const std::string& p, StaticBackend& b, std::set<std::string>& set_names) {
    if (b.name.empty()) return;
    const std::string var = "TOOLHIVE_HEADER_FORWARD_" + NormalizeEnvName(b.name);
    const std::optional<std::string> text = env_.Get(var);
    if (!text.has_value() || text->empty()) return;
    nlohmann::json manifest;
    try {
      manifest = nlohmann::json::parse(*text);
    } catch (const nlohmann::json::parse_error& e) {
      // e.what() quotes the input, which may hold header values: report the position only.
      d_.Error(p, absl::StrCat("environment variable ", var, " is not valid JSON (error at byte ", e.byte, ")"));
      return;
    }
    if (!manifest.is_object()) {
      d_.Error(p, absl::StrCat("environment variable ", var, " must hold a JSON object"));
      return;
    }
    auto section = [&](const char* key, bool from_secret) {
      auto it = manifest.find(key);
      if (it == manifest.end() || it->is_null()) return;
      if (!it->is_object()) {
        d_.Error(p, absl::StrCat("environment variable ", var, ": ", key, " must be a JSON object"));
        return;
      }
      for (const auto& [header, value] : it->items()) {
        const std::string where = absl::StrCat("environment variable ", var, ": ", key, ".", header);
        if (!value.is_string()) {
          d_.Error(p, where + " must be a string");
          continue;
        }
        if (!transport::IsFieldName(header)) {
          d_.Error(p, where + " is not a valid HTTP header name");
          continue;
        }
        if (IsRestrictedForwardHeader(header)) {
          d_.Error(p, absl::StrCat(where, ": \"", CanonicalHeaderName(header), "\" is a restricted header"));
          continue;
        }
        if (set_names.count(CanonicalHeaderName(header))) {
          d_.Warning(p, where + " is also set by headerEnvVars, which wins");
          continue;
        }
        std::string resolved;
        std::string origin;
        if (from_secret) {
          const std::string secret_var = "TOOLHIVE_SECRET_" + value.get<std::string>();
          std::optional<std::string> v = Read(p, secret_var, true);
          if (!v) continue;
          resolved = std::move(*v);
          origin = "env:" + secret_var;
        } else {
          resolved = value.get<std::string>();
          if (!transport::IsFieldValue(resolved)) {
            d_.Error(p, where + " holds control characters (CR, LF, NUL) and cannot be sent in a header");
            continue;
          }
          origin = "manifest:" + var;
        }
        set_names.insert(CanonicalHeaderName(header));
        b.headers.push_back(BackendHeader{header, Secret(std::move(resolved)), std::move(origin)});
      }
    };
    section("addPlaintextHeaders", false);
    section("addHeadersFromSecret", true);
  }

 private:
  const Environment& env_;
  Diagnostics& d_;
};

}  // namespace

void ResolveSecrets(Config& cfg, const Environment& env, Diagnostics& d) {
  SecretResolver r(env, d);
  if (cfg.outgoing_auth) {
    if (cfg.outgoing_auth->default_strategy) r.Strategy("outgoingAuth.default", *cfg.outgoing_auth->default_strategy);
    for (auto& [name, s] : cfg.outgoing_auth->backends) r.Strategy(Key("outgoingAuth.backends", name), s);
  }
  if (cfg.incoming_auth && cfg.incoming_auth->oidc && !cfg.incoming_auth->oidc->client_secret_env.empty()) {
    OidcConfig& o = *cfg.incoming_auth->oidc;
    // The Go runtime never reads this secret (JWT validation needs none), so its absence is a warning.
    if (std::optional<std::string> v = env.Get(o.client_secret_env); v && !v->empty()) {
      o.client_secret = Secret(std::move(*v));
    } else {
      d.Warning("incomingAuth.oidc.clientSecretEnv",
                absl::StrCat("environment variable ", o.client_secret_env, " is not set; token introspection will "
                             "authenticate without a client secret"));
    }
  }
  for (size_t i = 0; i < cfg.backends.size(); ++i) r.BackendHeaders(Index("backends", i), cfg.backends[i]);
}

}  // namespace internal
}  // namespace vmcp::config
