// File: tests/auth/fake_idp.cc
#include "tests/auth/fake_idp.h"

#include <chrono>
#include <thread>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "auth/util.h"

namespace vmcp::auth::testing {

namespace asio = boost::asio;
using Json = nlohmann::json;

namespace {

// Keeps a request waiting while `flag` is set, counted in `waiting`.
asio::awaitable<void> WaitWhile(const std::atomic<bool>& flag, std::atomic<int>& waiting) {
  waiting.fetch_add(1);
  asio::steady_timer timer(co_await asio::this_coro::executor);
  while (flag) {
    timer.expires_after(std::chrono::milliseconds(2));
    co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));
  }
  waiting.fetch_sub(1);
}

}  // namespace

FakeIdp::FakeIdp(std::optional<transport::ServerTlsOptions> tls) {
  transport::ServerOptions options;
  options.threads = 2;
  const bool https = tls.has_value();
  options.tls = std::move(tls);
  server_ = std::make_unique<transport::HttpServer>(options, [this](transport::Exchange& ex) -> asio::awaitable<void> {
    const transport::Request& req = ex.request();
    const std::string path(req.Path());
    transport::Response resp;
    resp.headers.Set("Content-Type", "application/json");
    if (path == "/.well-known/openid-configuration") {
      discovery_fetches_.fetch_add(1);
      std::lock_guard lock(mu_);
      resp.body = discovery_ ? discovery_->dump()
                             : Json{{"issuer", issuer_},
                                    {"jwks_uri", issuer_ + "/jwks"},
                                    {"introspection_endpoint", issuer_ + "/introspect"},
                                    {"token_endpoint", issuer_ + "/token"}}
                                   .dump();
    } else if (path == "/jwks") {
      jwks_fetches_.fetch_add(1);
      if (hold_jwks_) co_await WaitWhile(hold_jwks_, jwks_waiting_);
      std::lock_guard lock(mu_);
      resp.body = jwks_.dump();
    } else if (path == "/introspect") {
      std::lock_guard lock(mu_);
      introspection_requests_.push_back(req);
      auto form = ParseForm(req.body);
      auto it = introspection_.find(form["token"]);
      resp.body = it == introspection_.end() ? Json{{"active", false}}.dump() : it->second.dump();
    } else if (path == "/token") {
      {
        std::lock_guard lock(mu_);
        token_requests_.push_back(req);
      }
      if (hold_) co_await WaitWhile(hold_, token_waiting_);
      std::function<transport::Response(const transport::Request&)> handler;
      {
        std::lock_guard lock(mu_);
        handler = token_handler_;
      }
      if (handler) {
        resp = handler(req);
      } else {
        resp.status = 500;
      }
    } else {
      resp.status = 404;
      resp.body = "{}";
    }
    co_await ex.Respond(std::move(resp));
  });
  auto port = server_->Start();
  if (!port.ok()) throw std::runtime_error(std::string(port.status().message()));
  issuer_ = (https ? "https://127.0.0.1:" : "http://127.0.0.1:") + std::to_string(*port);
}

FakeIdp::~FakeIdp() { Stop(); }

void FakeIdp::Stop() {
  hold_ = false;
  hold_jwks_ = false;
  if (server_) server_->Stop(std::chrono::seconds(2));
}

void FakeIdp::SetJwks(Json jwks) {
  std::lock_guard lock(mu_);
  jwks_ = std::move(jwks);
}

void FakeIdp::SetDiscovery(Json doc) {
  std::lock_guard lock(mu_);
  discovery_ = std::move(doc);
}

void FakeIdp::SetIntrospection(const std::string& token, Json answer) {
  std::lock_guard lock(mu_);
  introspection_[token] = std::move(answer);
}

void FakeIdp::SetTokenHandler(std::function<transport::Response(const transport::Request&)> handler) {
  std::lock_guard lock(mu_);
  token_handler_ = std::move(handler);
}

std::vector<transport::Request> FakeIdp::token_requests() const {
  std::lock_guard lock(mu_);
  return token_requests_;
}

std::vector<transport::Request> FakeIdp::introspection_requests() const {
  std::lock_guard lock(mu_);
  return introspection_requests_;
}

std::map<std::string, std::string> ParseForm(const std::string& body) {
  std::map<std::string, std::string> out;
  for (std::string_view pair : internal::Split(body, '&')) {
    if (pair.empty()) continue;
    const size_t eq = pair.find('=');
    auto key = internal::FormDecode(pair.substr(0, eq));
    auto value = internal::FormDecode(eq == std::string_view::npos ? std::string_view() : pair.substr(eq + 1));
    if (key && value) out[*key] = *value;
  }
  return out;
}

bool WaitFor(const std::function<bool()>& condition, int timeout_ms) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  while (!condition()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  return true;
}

}  // namespace vmcp::auth::testing
