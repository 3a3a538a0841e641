#include "transport/url.h"

#include <cctype>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace vmcp::transport {

std::string Url::Authority() const {
  const bool v6 = host.find(':') != std::string::npos;
  return absl::StrCat(v6 ? "[" : "", host, v6 ? "]" : "", ":", port);
}

std::string Url::Origin() const { return absl::StrCat(tls ? "https://" : "http://", Authority()); }

std::string Url::ToString() const { return Origin() + target; }

bool Url::IsIpLiteral() const {
  if (host.find(':') != std::string::npos) return true;
  for (char c : host) {
    if (!(std::isdigit(static_cast<unsigned char>(c)) || c == '.')) return false;
  }
  return !host.empty();
}

absl::StatusOr<Url> ParseUrl(std::string_view text) {
  std::string s(text.substr(0, text.find('#')));
  for (unsigned char c : s) {
    if (c <= 0x20 || c == 0x7f) return absl::InvalidArgumentError("URL contains spaces or control characters");
  }
  const size_t scheme_end = s.find("://");
  if (scheme_end == std::string::npos) return absl::InvalidArgumentError("URL is not absolute (no scheme://)");
  const std::string scheme = absl::AsciiStrToLower(s.substr(0, scheme_end));
  Url url;
  if (scheme == "https") {
    url.tls = true;
  } else if (scheme != "http") {
    return absl::InvalidArgumentError(absl::StrCat("unsupported URL scheme \"", scheme, "\" (http or https)"));
  }
  const size_t auth_start = scheme_end + 3;
  const size_t auth_end = s.find_first_of("/?", auth_start);
  std::string authority = s.substr(auth_start, auth_end == std::string::npos ? std::string::npos : auth_end - auth_start);
  if (const size_t at = authority.rfind('@'); at != std::string::npos) authority = authority.substr(at + 1);
  std::string port_text;
  if (!authority.empty() && authority[0] == '[') {
    const size_t close = authority.find(']');
    if (close == std::string::npos) return absl::InvalidArgumentError("URL has an unterminated IPv6 address");
    url.host = authority.substr(1, close - 1);
    if (close + 1 < authority.size()) {
      if (authority[close + 1] != ':') return absl::InvalidArgumentError("URL has garbage after the IPv6 address");
      port_text = authority.substr(close + 2);
    }
  } else {
    const size_t colon = authority.rfind(':');
    url.host = authority.substr(0, colon);
    if (colon != std::string::npos) port_text = authority.substr(colon + 1);
  }
  if (url.host.empty()) return absl::InvalidArgumentError("URL has no host");
  url.host = absl::AsciiStrToLower(url.host);
  if (port_text.empty()) {
    url.port = url.tls ? 443 : 80;
  } else {
    int port = 0;
    if (!absl::SimpleAtoi(port_text, &port) || port < 1 || port > 65535) {
      return absl::InvalidArgumentError("URL has an invalid port");
    }
    url.port = static_cast<uint16_t>(port);
  }
  url.target = auth_end == std::string::npos ? "/" : s.substr(auth_end);
  if (url.target[0] == '?') url.target = "/" + url.target;
  return url;
}

absl::StatusOr<Url> ResolveUrl(const Url& base, std::string_view reference) {
  std::string ref(reference.substr(0, reference.find('#')));
  if (ref.find("://") != std::string::npos && ref.find("://") < ref.find_first_of("/?")) return ParseUrl(ref);
  if (ref.rfind("//", 0) == 0) return ParseUrl((base.tls ? "https:" : "http:") + ref);
  Url out = base;
  if (ref.empty()) return out;
  if (ref[0] == '/') {
    out.target = ref;
  } else if (ref[0] == '?') {
    out.target = std::string(base.target.substr(0, base.target.find('?'))) + ref;
  } else {
    const std::string base_path = base.target.substr(0, base.target.find('?'));
    out.target = base_path.substr(0, base_path.rfind('/') + 1) + ref;
  }
  return out;
}

}  // namespace vmcp::transport
