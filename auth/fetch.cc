// File: auth/fetch.cc
#include "auth/fetch.h"

#include "absl/strings/str_cat.h"
#include "auth/util.h"

namespace vmcp::auth::internal {

namespace asio = boost::asio;
using Json = nlohmann::json;

std::string UrlForMessage(const std::string& url) {
  auto parsed = transport::ParseUrl(url);
  if (!parsed.ok()) return Printable(url, 120);
  std::string target = parsed->target;
  if (size_t q = target.find('?'); q != std::string::npos) target.resize(q);
  return Printable(parsed->Origin() + target, 200);
}

absl::Status CheckScheme(const std::string& what, const std::string& url, bool allow_http) {
  auto parsed = transport::ParseUrl(url);
  if (!parsed.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(what, " ", Printable(url, 120), " is not a valid URL: ", parsed.status().message()));
  }
  if (!parsed->tls && !allow_http) {
    return absl::InvalidArgumentError(
        absl::StrCat(what, " ", UrlForMessage(url), " uses http; set insecureAllowHttp to allow it"));
  }
  return absl::OkStatus();
}

asio::awaitable<absl::StatusOr<Json>> GetJson(transport::HttpClient& client, const std::string& url,
                                              const transport::Endpoint& endpoint, transport::Duration timeout) {
  auto parsed = transport::ParseUrl(url);
  if (!parsed.ok()) co_return absl::InvalidArgumentError(absl::StrCat(UrlForMessage(url), ": ", parsed.status().message()));
  transport::Request req;
  req.method = "GET";
  req.target = parsed->target;
  req.headers.Set("Accept", "application/json");
  auto resp = co_await client.Send(*parsed, std::move(req), endpoint, timeout);
  if (!resp.ok()) {
    co_return absl::UnavailableError(absl::StrCat("GET ", UrlForMessage(url), " failed: ", resp.status().message()));
  }
  if (resp->status != 200) {
    co_return absl::UnavailableError(absl::StrCat("GET ", UrlForMessage(url), " answered HTTP ", resp->status));
  }
  if (resp->body.size() > kMaxAuthResponseBytes) {
    co_return absl::InvalidArgumentError(absl::StrCat("GET ", UrlForMessage(url), ": response larger than 1 MiB"));
  }
  Json doc = Json::parse(resp->body, nullptr, false);
  if (doc.is_discarded() || !doc.is_object()) {
    co_return absl::InvalidArgumentError(absl::StrCat("GET ", UrlForMessage(url), ": response is not a JSON object"));
  }
  co_return doc;
}

asio::awaitable<absl::StatusOr<transport::Response>> PostForm(transport::HttpClient& client, const std::string& url,
                                                              std::string body, std::string authorization,
                                                              const transport::Endpoint& endpoint,
                                                              transport::Duration timeout) {
  auto parsed = transport::ParseUrl(url);
  if (!parsed.ok()) co_return absl::InvalidArgumentError(absl::StrCat(UrlForMessage(url), ": ", parsed.status().message()));
  transport::Request req;
  req.method = "POST";
  req.target = parsed->target;
  req.headers.Set("Content-Type", "application/x-www-form-urlencoded");
  req.headers.Set("Accept", "application/json");
  if (!authorization.empty()) req.headers.Set("Authorization", std::move(authorization));
  req.body = std::move(body);
  auto resp = co_await client.Send(*parsed, std::move(req), endpoint, timeout);
  if (!resp.ok()) {
    co_return absl::UnavailableError(absl::StrCat("POST ", UrlForMessage(url), " failed: ", resp.status().message()));
  }
  if (resp->body.size() > kMaxAuthResponseBytes) {
    co_return absl::UnavailableError(absl::StrCat("POST ", UrlForMessage(url), ": response larger than 1 MiB"));
  }
  co_return std::move(*resp);
}

}  // namespace vmcp::auth::internal
