// File: auth/outgoing.cc
#include "auth/outgoing.h"

#include <algorithm>
#include <cctype>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "auth/util.h"

// GCC 12 misreads the frame allocation of some asio coroutines (a known false positive).
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"

namespace vmcp::auth {

namespace asio = boost::asio;
using internal::Printable;

namespace {

std::string Lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(), [](unsigned char c) { return std::tolower(c); });
  return out;
}

// Sets `name` in `headers`, replacing every field of that name (case-insensitive).
void SetHeader(HeaderList& headers, const std::string& name, std::string value) {
  headers.erase(std::remove_if(headers.begin(), headers.end(),
                               [&](const auto& h) { return transport::EqualsIgnoreCase(h.first, name); }),
                headers.end());
  headers.emplace_back(name, std::move(value));
}

bool HasHeader(const HeaderList& headers, std::string_view name) {
  return std::any_of(headers.begin(), headers.end(),
                     [&](const auto& h) { return transport::EqualsIgnoreCase(h.first, name); });
}

}  // namespace

bool IsRestrictedHeader(std::string_view name) {
  static const char* const kRestricted[] = {
      "host", "content-length", "transfer-encoding", "connection", "keep-alive", "upgrade", "te", "trailer",
      "expect", "http2-settings", "forwarded", "x-forwarded-for", "x-forwarded-host", "x-forwarded-proto",
      "x-real-ip", "mcp-session-id", "mcp-protocol-version", "last-event-id", "content-type", "accept",
      "traceparent", "tracestate",
  };
  const std::string lower = Lower(name);
  if (lower.rfind("proxy-", 0) == 0) return true;
  return std::find(std::begin(kRestricted), std::end(kRestricted), lower) != std::end(kRestricted);
}

absl::Status CheckHeaderName(std::string_view name) {
  if (name.empty()) return absl::InvalidArgumentError("a header name is empty");
  if (!transport::IsFieldName(name)) {
    return absl::InvalidArgumentError(absl::StrCat("header name ", Printable(name, 64), " is not a valid field name"));
  }
  if (IsRestrictedHeader(name)) {
    return absl::InvalidArgumentError(absl::StrCat("header ", std::string(name), " is restricted and cannot be set or forwarded"));
  }
  return absl::OkStatus();
}

absl::Status CheckHeaderValue(std::string_view name, std::string_view value) {
  if (!transport::IsFieldValue(value)) {
    return absl::InvalidArgumentError(absl::StrCat("header ", Printable(name, 64),
                                                   " has a value with CR, LF, NUL or another control character"));
  }
  return absl::OkStatus();
}

absl::Status CheckPassthroughHeaders(const std::vector<std::string>& names) {
  std::vector<std::string> problems;
  for (const std::string& n : names) {
    if (absl::Status s = CheckHeaderName(n); !s.ok()) problems.push_back(absl::StrCat("passthroughHeaders: ", s.message()));
  }
  if (problems.empty()) return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrJoin(problems, "; "));
}

absl::Status OutgoingAuth::Check(const config::Config& config) {
  std::vector<std::string> problems;
  if (absl::Status s = CheckPassthroughHeaders(config.passthrough_headers); !s.ok()) problems.emplace_back(s.message());
  for (const config::StaticBackend& b : config.backends) {
    const std::string where = absl::StrCat("backend ", b.name, ": ");
    for (const config::BackendHeader& h : b.headers) {
      if (absl::Status s = CheckHeaderName(h.name); !s.ok()) problems.push_back(absl::StrCat(where, s.message()));
      if (absl::Status s = CheckHeaderValue(h.name, h.value.Reveal()); !s.ok()) problems.push_back(absl::StrCat(where, s.message()));
    }
    const config::BackendAuthStrategy* strategy =
        config.outgoing_auth.has_value() ? config.outgoing_auth->ResolveForBackend(b.name) : nullptr;
    if (strategy == nullptr || strategy->type.empty() || strategy->type == config::kStrategyUnauthenticated) continue;
    if (strategy->type == config::kStrategyHeaderInjection) {
      if (!strategy->header_injection) {
        problems.push_back(where + "header_injection has no headerInjection section");
        continue;
      }
      const auto& hi = *strategy->header_injection;
      if (absl::Status s = CheckHeaderName(hi.header_name); !s.ok()) {
        problems.push_back(absl::StrCat(where, "headerInjection: ", s.message()));
      }
      if (hi.header_value.empty()) problems.push_back(where + "headerInjection has no value");
      if (absl::Status s = CheckHeaderValue(hi.header_name, hi.header_value.Reveal()); !s.ok()) {
        problems.push_back(absl::StrCat(where, "headerInjection: ", s.message()));
      }
    } else if (strategy->type == config::kStrategyTokenExchange) {
      if (!strategy->token_exchange) {
        problems.push_back(where + "token_exchange has no tokenExchange section");
        continue;
      }
      if (absl::Status s = TokenExchanger::CheckConfig(*strategy->token_exchange); !s.ok()) {
        problems.push_back(absl::StrCat(where, s.message()));
      }
    } else {
      problems.push_back(absl::StrCat(where, "outgoing auth strategy ", Printable(strategy->type, 32),
                                      " is not supported by the data plane (unauthenticated, header_injection, "
                                      "token_exchange)"));
    }
  }
  if (problems.empty()) return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrJoin(problems, "; "));
}

absl::StatusOr<std::shared_ptr<OutgoingAuth>> OutgoingAuth::Create(const config::Config& config,
                                                                   std::shared_ptr<TokenExchanger> exchanger) {
  if (absl::Status s = Check(config); !s.ok()) return s;
  std::shared_ptr<OutgoingAuth> out(new OutgoingAuth());
  out->passthrough_ = config.passthrough_headers;
  out->exchanger_ = std::move(exchanger);
  for (const config::StaticBackend& b : config.backends) {
    Plan p;
    for (const config::BackendHeader& h : b.headers) p.static_headers.emplace_back(h.name, h.value.Reveal());
    const config::BackendAuthStrategy* strategy =
        config.outgoing_auth.has_value() ? config.outgoing_auth->ResolveForBackend(b.name) : nullptr;
    p.strategy = config::kStrategyUnauthenticated;
    if (strategy != nullptr && strategy->type == config::kStrategyHeaderInjection) {
      p.strategy = config::kStrategyHeaderInjection;
      p.inject_name = strategy->header_injection->header_name;
      p.inject_value = strategy->header_injection->header_value;
    } else if (strategy != nullptr && strategy->type == config::kStrategyTokenExchange) {
      if (!out->exchanger_) {
        return absl::InvalidArgumentError(absl::StrCat("backend ", b.name, " uses token_exchange but no token exchanger was given"));
      }
      p.strategy = config::kStrategyTokenExchange;
      p.token_exchange = *strategy->token_exchange;
    }
    out->plans_.emplace(b.name, std::move(p));
  }
  return out;
}

std::string OutgoingAuth::StrategyFor(const std::string& backend) const {
  auto it = plans_.find(backend);
  return it == plans_.end() ? std::string() : it->second.strategy;
}

asio::awaitable<absl::StatusOr<HeaderList>> OutgoingAuth::HeadersFor(const std::string& backend, const Identity* identity,
                                                                     const transport::Headers& client_headers) const {
  auto it = plans_.find(backend);
  if (it == plans_.end()) co_return absl::NotFoundError(absl::StrCat("no backend named ", Printable(backend, 64)));
  const Plan& p = it->second;
  HeaderList out = p.static_headers;
  for (const std::string& name : passthrough_) {
    auto value = client_headers.Get(name);
    if (!value || value->empty() || HasHeader(out, name)) continue;
    if (absl::Status s = CheckHeaderValue(name, *value); !s.ok()) {
      co_return absl::InvalidArgumentError(absl::StrCat("backend ", backend, ": forwarded ", s.message()));
    }
    out.emplace_back(name, std::string(*value));
  }
  if (p.strategy == config::kStrategyHeaderInjection) {
    SetHeader(out, p.inject_name, p.inject_value.Reveal());
  } else if (p.strategy == config::kStrategyTokenExchange) {
    if (identity == nullptr || identity->anonymous || identity->token.empty()) {
      co_return absl::FailedPreconditionError(
          absl::StrCat("backend ", backend, " uses token_exchange but the caller has no bearer token to exchange"));
    }
    auto token = co_await exchanger_->Exchange(*p.token_exchange, identity->token);
    if (!token.ok()) co_return absl::Status(token.status().code(), absl::StrCat("backend ", backend, ": ", token.status().message()));
    SetHeader(out, "Authorization", "Bearer " + token->Reveal());
  }
  co_return out;
}

asio::awaitable<absl::StatusOr<HeaderList>> OutgoingAuth::HealthCheckHeaders(const std::string& backend) const {
  auto it = plans_.find(backend);
  if (it == plans_.end()) co_return absl::NotFoundError(absl::StrCat("no backend named ", Printable(backend, 64)));
  const Plan& p = it->second;
  HeaderList out = p.static_headers;
  if (p.strategy == config::kStrategyHeaderInjection) {
    SetHeader(out, p.inject_name, p.inject_value.Reveal());
  } else if (p.strategy == config::kStrategyTokenExchange && !p.token_exchange->client_id.empty() &&
             !p.token_exchange->client_secret.empty()) {
    auto token = co_await exchanger_->ClientCredentials(*p.token_exchange);
    if (!token.ok()) co_return absl::Status(token.status().code(), absl::StrCat("backend ", backend, ": ", token.status().message()));
    SetHeader(out, "Authorization", "Bearer " + token->Reveal());
  }
  co_return out;
}

}  // namespace vmcp::auth
