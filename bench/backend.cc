// A fast native MCP backend for benchmarks, on the project's own HTTP server: streamable HTTP answered
// with JSON (application/json), no SSE.
//
//   mcp_backend --port=0 --tools=50 --page=20 --payload=1024 --latency_us=200 [--tls_cert=.. --tls_key=..]
//
//   POST initialize                  issues an Mcp-Session-Id (required on everything after it: 400/404)
//   POST notifications/*, responses  202
//   POST tools/list                  tool_0 .. tool_{N-1}, `--page` per page with nextCursor (0 = one page)
//   POST tools/call                  echoes arguments.text back, followed by `--payload` bytes of padding
//   POST ping                        {}
//   GET                              405 (no standalone stream); DELETE ends the session
//
// `--latency_us` delays every JSON-RPC answer on a timer (the thread serves others meanwhile). Prints
// "listening on PORT" on stdout once bound; SIGINT/SIGTERM stop it.

#include <pthread.h>
#include <signal.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <iostream>
#include <mutex>
#include <random>
#include <string>
#include <unordered_set>
#include <vector>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <nlohmann/json.hpp>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "bench/flags.h"
#include "transport/server.h"

namespace vmcp::bench {
namespace {

namespace asio = boost::asio;
using Json = nlohmann::json;
using transport::Exchange;
using transport::Response;

struct BackendOptions {
  std::string name = "bench-backend";
  int tools = 10;
  int page = 0;
  size_t payload = 0;
  int latency_us = 0;
};

bool SupportedVersion(const std::string& v) {
  return v == "2025-11-25" || v == "2025-06-18" || v == "2025-03-26" || v == "2024-11-05";
}

class Backend {
 public:
  explicit Backend(BackendOptions options) : options_(std::move(options)), padding_(options_.payload, 'x') {
    for (int i = 0; i < options_.tools; ++i) {
      tools_.push_back(Json{{"name", absl::StrCat("tool_", i)},
                            {"description", absl::StrCat("Echoes its text argument back (benchmark tool ", i, ")")},
                            {"inputSchema",
                             {{"type", "object"},
                              {"properties", {{"text", {{"type", "string"}}}}},
                              {"required", Json::array({"text"})}}}});
    }
    std::random_device rd;
    salt_ = (static_cast<uint64_t>(rd()) << 32) ^ rd();
  }

  asio::awaitable<void> Handle(Exchange& ex) {
    const transport::Request& req = ex.request();
    if (req.Path() == "/health") {
      Response r = JsonResponse(200, R"({"status":"ok"})");
      co_await ex.Respond(std::move(r));
      co_return;
    }
    if (req.method == "GET") {
      Response r;
      r.status = 405;
      r.headers.Set("Allow", "POST, DELETE");
      co_await ex.Respond(std::move(r));
      co_return;
    }
    if (req.method == "DELETE") {
      const std::string sid(req.headers.Get("Mcp-Session-Id").value_or(""));
      bool erased = false;
      {
        std::lock_guard lock(mu_);
        erased = sessions_.erase(sid) > 0;
      }
      Response r;
      r.status = erased ? 200 : 404;
      co_await ex.Respond(std::move(r));
      co_return;
    }
    if (req.method != "POST") {
      Response r = JsonResponse(405, Error(Json(), -32600, "use POST"));
      co_await ex.Respond(std::move(r));
      co_return;
    }
    Json message = Json::parse(req.body, nullptr, false);
    if (message.is_discarded() || !message.is_object()) {
      Response r = JsonResponse(400, Error(Json(), -32700, "Parse error"));
      co_await ex.Respond(std::move(r));
      co_return;
    }
    const bool has_method = message.contains("method") && message["method"].is_string();
    const bool has_id = message.contains("id");
    const Json id = has_id ? message["id"] : Json();
    if (has_method && has_id && message["method"] == "initialize") {
      co_await Initialize(ex, message, id);
      co_return;
    }
    // Everything after initialize names its session.
    auto sid = req.headers.Get("Mcp-Session-Id");
    if (!sid || sid->empty()) {
      Response r = JsonResponse(400, Error(id, -32600, "Bad Request: Mcp-Session-Id header is required"));
      co_await ex.Respond(std::move(r));
      co_return;
    }
    bool known = false;
    {
      std::lock_guard lock(mu_);
      known = sessions_.count(std::string(*sid)) > 0;
    }
    if (!known) {
      Response r = JsonResponse(404, Error(id, -32001, "Session not found"));
      co_await ex.Respond(std::move(r));
      co_return;
    }
    if (!has_method || !has_id) {  // a notification, or a response to a request of ours (we send none)
      Response r;
      r.status = 202;
      co_await ex.Respond(std::move(r));
      co_return;
    }
    std::string body = Answer(message, id);
    co_await Delay();
    Response r = JsonResponse(200, std::move(body));
    co_await ex.Respond(std::move(r));
  }

  size_t sessions() const {
    std::lock_guard lock(mu_);
    return sessions_.size();
  }

 private:
  asio::awaitable<void> Initialize(Exchange& ex, const Json& message, const Json& id) {
    std::string version = "2025-06-18";
    if (message.contains("params") && message["params"].is_object()) {
      const Json& params = message["params"];
      if (params.contains("protocolVersion") && params["protocolVersion"].is_string() &&
          SupportedVersion(params["protocolVersion"].get<std::string>())) {
        version = params["protocolVersion"].get<std::string>();
      }
    }
    const uint64_t n = ++next_session_;
    std::string sid = absl::StrCat(absl::Hex(salt_, absl::kZeroPad16), "-", absl::Hex(n, absl::kZeroPad8));
    {
      std::lock_guard lock(mu_);
      sessions_.insert(sid);
    }
    Json result{{"protocolVersion", version},
                {"capabilities", {{"tools", {{"listChanged", false}}}}},
                {"serverInfo", {{"name", options_.name}, {"version", "1.0.0"}}}};
    Json answer{{"jsonrpc", "2.0"}, {"id", id}, {"result", std::move(result)}};
    co_await Delay();
    Response r;
    r.status = 200;
    r.headers.Set("Content-Type", "application/json");
    r.headers.Set("Mcp-Session-Id", sid);
    r.body = answer.dump();
    co_await ex.Respond(std::move(r));
  }

  std::string Answer(const Json& message, const Json& id) {
    const std::string method = message["method"].get<std::string>();
    static const Json kNoParams = Json::object();
    const Json& params = message.contains("params") && message["params"].is_object() ? message["params"] : kNoParams;
    if (method == "tools/call") return Call(params, id);
    if (method == "tools/list") return List(params, id);
    if (method == "ping") return Result(id, "{}");
    return Error(id, -32601, absl::StrCat("Method not found: ", method));
  }

  // The hot path: the answer is written directly rather than built as a JSON tree.
  std::string Call(const Json& params, const Json& id) {
    const auto name = params.find("name");
    int index = -1;
    if (name != params.end() && name->is_string()) {
      const std::string& n = name->get_ref<const std::string&>();
      if (n.rfind("tool_", 0) != 0 || !absl::SimpleAtoi(n.substr(5), &index) || index < 0 || index >= options_.tools) {
        index = -1;
      }
    }
    if (index < 0) return Error(id, -32602, "Unknown tool");
    const auto args = params.find("arguments");
    if (args == params.end() || !args->is_object() || !args->contains("text") || !(*args)["text"].is_string()) {
      return Result(id, R"({"content":[{"type":"text","text":"the text argument is required"}],"isError":true})");
    }
    std::string text = (*args)["text"].get<std::string>();
    text += padding_;
    return Result(id, absl::StrCat(R"({"content":[{"type":"text","text":)", Json(text).dump(), R"(}],"isError":false})"));
  }

  std::string List(const Json& params, const Json& id) {
    size_t start = 0;
    if (params.contains("cursor") && !params["cursor"].is_null()) {
      if (!params["cursor"].is_string() || !absl::SimpleAtoi(params["cursor"].get<std::string>(), &start) ||
          start > tools_.size()) {
        return Error(id, -32602, "Invalid params: invalid cursor");
      }
    }
    const size_t end = options_.page > 0 ? std::min(tools_.size(), start + static_cast<size_t>(options_.page)) : tools_.size();
    Json result{{"tools", Json::array()}};
    for (size_t i = start; i < end; ++i) result["tools"].push_back(tools_[i]);
    if (end < tools_.size()) result["nextCursor"] = std::to_string(end);
    return Result(id, result.dump());
  }

  static std::string Result(const Json& id, const std::string& result) {
    return absl::StrCat(R"({"jsonrpc":"2.0","id":)", id.dump(), R"(,"result":)", result, "}");
  }
  static std::string Error(const Json& id, int code, const std::string& message) {
    return Json{{"jsonrpc", "2.0"}, {"id", id}, {"error", {{"code", code}, {"message", message}}}}.dump();
  }

  asio::awaitable<void> Delay() {
    if (options_.latency_us <= 0) co_return;
    asio::steady_timer timer(co_await asio::this_coro::executor);
    timer.expires_after(std::chrono::microseconds(options_.latency_us));
    co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));
  }

  // (Responses are built in named variables: GCC 12 destroys a temporary passed to a coroutine's by-value
  // parameter twice.)
  static Response JsonResponse(int status, std::string body) {
    Response r;
    r.status = status;
    r.headers.Set("Content-Type", "application/json");
    r.body = std::move(body);
    return r;
  }

  const BackendOptions options_;
  const std::string padding_;
  std::vector<Json> tools_;
  uint64_t salt_ = 0;
  std::atomic<uint64_t> next_session_{0};
  mutable std::mutex mu_;
  std::unordered_set<std::string> sessions_;
};

int Main(int argc, char** argv) {
  Flags flags(argc, argv, {"host", "port", "tools", "page", "payload", "latency_us", "tls_cert", "tls_key", "threads", "name"});
  BackendOptions options;
  options.name = flags.Str("name", options.name);
  options.tools = static_cast<int>(flags.Int("tools", 10));
  options.page = static_cast<int>(flags.Int("page", 0));
  options.payload = static_cast<size_t>(flags.Int("payload", 0));
  options.latency_us = static_cast<int>(flags.Int("latency_us", 0));
  if (options.tools < 0 || options.page < 0 || options.latency_us < 0) Flags::Fail("--tools, --page and --latency_us must not be negative");

  transport::ServerOptions server_options;
  server_options.host = flags.Str("host", "127.0.0.1");
  const int64_t port = flags.Int("port", 0);
  if (port < 0 || port > 65535) Flags::Fail("--port must be 0..65535");
  server_options.port = static_cast<uint16_t>(port);
  server_options.threads = static_cast<int>(flags.Int("threads", 0));
  server_options.max_connections = 100000;
  if (flags.Has("tls_cert") != flags.Has("tls_key")) Flags::Fail("--tls_cert and --tls_key go together");
  if (flags.Has("tls_cert")) server_options.tls = transport::ServerTlsOptions{flags.Str("tls_cert"), flags.Str("tls_key")};

  // The server's threads inherit this mask: only this thread takes the signals.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  Backend backend(options);
  transport::HttpServer server(server_options, [&backend](Exchange& ex) { return backend.Handle(ex); });
  absl::StatusOr<uint16_t> bound = server.Start();
  if (!bound.ok()) {
    std::cerr << "mcp_backend: " << bound.status().message() << "\n";
    return 1;
  }
  std::cout << "listening on " << *bound << std::endl;
  int sig = 0;
  sigwait(&signals, &sig);
  server.Stop(std::chrono::seconds(1));
  return 0;
}

}  // namespace
}  // namespace vmcp::bench

int main(int argc, char** argv) { return vmcp::bench::Main(argc, argv); }
