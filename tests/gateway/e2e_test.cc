// The gateway end to end with real MCP servers (the project's conformance backend and the reference
// server-everything, both on the official SDK) as backends, driven over HTTP by a raw JSON-RPC client:
// the session life cycle, aggregation with prefixes, routed calls of every kind, progress relayed on an
// SSE response, and the documented error for each kind of bad input while the gateway keeps serving.

#include <functional>
#include <gtest/gtest.h>

#include <atomic>
#include <set>
#include <thread>
#include <condition_variable>
#include <future>

#include "config/loader.h"
#include "gateway/gateway.h"
#include "nlohmann/json.hpp"
#include "tests/gateway/child_process.h"
#include "tests/gateway/e2e_support.h"
#include "tests/gateway/prom_text.h"
#include "tests/transport/test_io.h"
#include "transport/client.h"
#include "transport/server.h"
#include "transport/sse.h"

namespace vmcp {
namespace {

using Json = nlohmann::json;
using testing::BackendEntry;
using testing::ChildProcess;
using testing::PeersDir;
using testing::PrefixAggregation;
using testing::PriorityAggregation;
using testing::StartGateway;
using testing::StartPeer;
using testing::VmcpConfig;
using transport::testing::IoThread;

// A raw MCP client: one session, JSON-RPC over POST, answers read as JSON or SSE.
class RawMcp {
 public:
  RawMcp(IoThread& io, transport::HttpClient& client, uint16_t port)
      : io_(io), client_(client), url_(*transport::ParseUrl("http://127.0.0.1:" + std::to_string(port) + "/mcp")) {}

  transport::Response Post(const std::string& body, std::map<std::string, std::string> headers = {}) {
    transport::Request req;
    req.method = "POST";
    req.headers.Set("Content-Type", "application/json");
    req.headers.Set("Accept", "application/json, text/event-stream");
    if (!session.empty()) req.headers.Set("Mcp-Session-Id", session);
    for (auto& [k, v] : headers) req.headers.Set(k, v);
    req.body = body;
    auto r = io_.Run(client_.Send(url_, std::move(req), {}, std::chrono::seconds(60)));
    EXPECT_TRUE(r.ok()) << r.status();
    return r.ok() ? *r : transport::Response{599, {}, r.status().ToString()};
  }

  // Sends a request; returns the response message (the last JSON-RPC response on an SSE body) and
  // collects the other messages of an SSE body in `streamed`.
  Json Request(const std::string& method, Json params, std::vector<Json>* streamed = nullptr,
               std::map<std::string, std::string> headers = {}) {
    Json m{{"jsonrpc", "2.0"}, {"id", ++next_id_}, {"method", method}, {"params", std::move(params)}};
    last = Post(m.dump(), std::move(headers));
    return Decode(last, streamed);
  }

  static Json Decode(const transport::Response& r, std::vector<Json>* streamed) {
    auto ct = r.headers.Get("Content-Type");
    if (ct && ct->find("text/event-stream") != std::string_view::npos) {
      transport::SseParser parser;
      std::vector<transport::SseEvent> events;
      EXPECT_TRUE(parser.Feed(r.body, events).ok());
      Json response;
      for (auto& ev : events) {
        if (ev.data.empty()) {  // the priming event: an id, no message
          if (streamed) streamed->push_back(Json{{"priming", ev.id}, {"retry", ev.retry_ms.value_or(-1)}});
          continue;
        }
        Json m = Json::parse(ev.data, nullptr, false);
        if (m.contains("result") || m.contains("error")) {
          response = m;
        } else if (streamed) {
          streamed->push_back(m);
        }
      }
      return response;
    }
    return Json::parse(r.body, nullptr, false);
  }

  // The session's standalone GET stream (where list_changed arrives).
  absl::StatusOr<std::unique_ptr<transport::ResponseStream>> OpenStream() {
    transport::Request get;
    get.method = "GET";
    get.headers.Set("Accept", "text/event-stream");
    get.headers.Set("Mcp-Session-Id", session);
    return io_.Run(client_.Open(url_, std::move(get), {}, transport::StreamOptions{true}));
  }

  // The names tools/list gives now.
  std::set<std::string> ToolNames() {
    std::set<std::string> names;
    const Json listed = Request("tools/list", Json::object());
    for (const Json& t : listed["result"]["tools"]) names.insert(t["name"]);
    return names;
  }

  Json Initialize() {
    Json r = Request("initialize", {{"protocolVersion", "2025-11-25"},
                                    {"capabilities", Json::object()},
                                    {"clientInfo", {{"name", "e2e"}, {"version", "1"}}}});
    if (auto sid = last.headers.Get("Mcp-Session-Id")) session = std::string(*sid);
    Post(R"({"jsonrpc":"2.0","method":"notifications/initialized"})");
    return r;
  }

  std::string session;
  transport::Response last;

 private:
  IoThread& io_;
  transport::HttpClient& client_;
  transport::Url url_;
  int next_id_ = 0;
};

// Shorthands for this file's tests (the config text itself comes from e2e_support).
std::string Config(const std::string& backends, const std::string& aggregation) {
  return VmcpConfig(backends, aggregation);
}
std::string Backend(const std::string& name, int port) { return BackendEntry(name, port); }

const std::string kBare = PriorityAggregation({"conf"});
const std::string kPrefix = PrefixAggregation("{workload}_");

class GatewayE2E : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_FALSE(PeersDir().empty()) << "VMCP_PEERS_DIR is not set: run the tests with scripts/test.sh";
    backend_ = StartPeer("conformance-backend.mjs", {"--port", "0"}, backend_port_);
    ASSERT_GT(backend_port_, 0) << "the conformance backend did not start: " << backend_->output();
  }

  std::unique_ptr<ChildProcess> backend_;
  int backend_port_ = 0;
  IoThread io_{1};
  transport::HttpClient client_{io_.executor()};
};

TEST_F(GatewayE2E, SessionListAndCallsWithBareNames) {
  uint16_t port = 0;
  auto gw = StartGateway(Config(Backend("conf", backend_port_), kBare), port);
  ASSERT_NE(gw, nullptr);
  RawMcp mcp(io_, client_, port);
  Json init = mcp.Initialize();
  ASSERT_EQ(mcp.last.status, 200) << mcp.last.body;
  EXPECT_EQ(init["result"]["protocolVersion"], "2025-11-25");
  EXPECT_EQ(init["result"]["serverInfo"]["name"], "e2e-vmcp");
  EXPECT_TRUE(init["result"]["capabilities"].contains("tools"));
  ASSERT_EQ(mcp.session.size(), 32u);

  Json tools = mcp.Request("tools/list", Json::object());
  std::set<std::string> names;
  for (const Json& t : tools["result"]["tools"]) names.insert(t["name"]);
  EXPECT_TRUE(names.count("test_simple_text")) << tools.dump();
  EXPECT_TRUE(names.count("json_schema_2020_12_tool"));

  Json call = mcp.Request("tools/call", {{"name", "test_simple_text"}, {"arguments", Json::object()}});
  ASSERT_TRUE(call.contains("result")) << call.dump();
  EXPECT_EQ(call["result"]["content"][0]["type"], "text");
  EXPECT_EQ(call["id"], 3);

  Json read = mcp.Request("resources/read", {{"uri", "test://static-text"}});
  ASSERT_TRUE(read.contains("result")) << read.dump();
  EXPECT_EQ(read["result"]["contents"][0]["uri"], "test://static-text");
  Json templated = mcp.Request("resources/read", {{"uri", "test://template/42/data"}});
  ASSERT_TRUE(templated.contains("result")) << templated.dump();
  Json prompt = mcp.Request("prompts/get", {{"name", "test_prompt_with_arguments"}, {"arguments", {{"arg1", "a"}, {"arg2", "b"}}}});
  ASSERT_TRUE(prompt.contains("result")) << prompt.dump();
  Json ping = mcp.Request("ping", Json::object());
  EXPECT_EQ(ping["result"], Json::object());

  // Progress notifications reach the client on the call's SSE stream, before the result.
  std::vector<Json> streamed;
  Json progress = mcp.Request("tools/call",
                              {{"name", "test_tool_with_progress"}, {"arguments", Json::object()}, {"_meta", {{"progressToken", "p1"}}}},
                              &streamed);
  ASSERT_TRUE(progress.contains("result")) << progress.dump();
  // The stream opens with a priming event (SEP-1699): an id and a retry advice, no message.
  ASSERT_FALSE(streamed.empty());
  EXPECT_TRUE(streamed[0].contains("priming")) << streamed[0].dump();
  EXPECT_GT(streamed[0].value("retry", -1), 0);
  int progress_count = 0;
  for (const Json& m : streamed) {
    if (m.value("method", "") == "notifications/progress") {
      EXPECT_EQ(m["params"]["progressToken"], "p1");
      ++progress_count;
    }
  }
  EXPECT_GE(progress_count, 1) << mcp.last.body;

  // DELETE ends the session; it is unknown afterwards.
  transport::Request del;
  del.method = "DELETE";
  del.headers.Set("Mcp-Session-Id", mcp.session);
  auto deleted = io_.Run(client_.Send(*transport::ParseUrl("http://127.0.0.1:" + std::to_string(port) + "/mcp"), std::move(del), {}));
  ASSERT_TRUE(deleted.ok());
  EXPECT_EQ(deleted->status, 200);
  mcp.Request("tools/list", Json::object());
  EXPECT_EQ(mcp.last.status, 404);
  gw->Stop(std::chrono::seconds(2));
}

TEST_F(GatewayE2E, PrefixedNamesRouteBackToTheBackend) {
  uint16_t port = 0;
  auto gw = StartGateway(Config(Backend("conf", backend_port_), kPrefix), port);
  ASSERT_NE(gw, nullptr);
  RawMcp mcp(io_, client_, port);
  mcp.Initialize();
  Json tools = mcp.Request("tools/list", Json::object());
  std::set<std::string> names;
  for (const Json& t : tools["result"]["tools"]) names.insert(t["name"]);
  EXPECT_TRUE(names.count("conf_test_simple_text")) << tools.dump();
  EXPECT_FALSE(names.count("test_simple_text"));
  Json call = mcp.Request("tools/call", {{"name", "conf_test_simple_text"}, {"arguments", Json::object()}},
                          nullptr, {{"Accept", "application/json"}});
  ASSERT_TRUE(call.contains("result")) << call.dump();
  EXPECT_EQ(mcp.last.headers.Get("Content-Type"), "application/json");
  Json unprefixed = mcp.Request("tools/call", {{"name", "test_simple_text"}, {"arguments", Json::object()}});
  ASSERT_TRUE(unprefixed.contains("error")) << unprefixed.dump();
  EXPECT_EQ(unprefixed["error"]["code"], -32602);
  gw->Stop(std::chrono::seconds(2));
}

TEST_F(GatewayE2E, BadInputGetsItsDocumentedErrorAndTheGatewayKeepsServing) {
  uint16_t port = 0;
  auto gw = StartGateway(Config(Backend("conf", backend_port_), kBare), port);
  ASSERT_NE(gw, nullptr);
  RawMcp mcp(io_, client_, port);
  mcp.Initialize();

  auto malformed = mcp.Post("{not json");
  EXPECT_EQ(malformed.status, 400);
  EXPECT_EQ(Json::parse(malformed.body)["error"]["code"], -32700);

  auto batch = mcp.Post(R"([{"jsonrpc":"2.0","id":1,"method":"ping"}])");
  EXPECT_EQ(batch.status, 400);
  EXPECT_EQ(Json::parse(batch.body)["error"]["code"], -32600);

  auto not_rpc = mcp.Post(R"({"hello":"world"})");
  EXPECT_EQ(not_rpc.status, 400);
  EXPECT_EQ(Json::parse(not_rpc.body)["error"]["code"], -32600);

  auto wrong_session = mcp.Post(R"({"jsonrpc":"2.0","id":1,"method":"tools/list"})", {{"Mcp-Session-Id", "deadbeef"}});
  EXPECT_EQ(wrong_session.status, 404);

  RawMcp no_session(io_, client_, port);
  auto missing = no_session.Post(R"({"jsonrpc":"2.0","id":1,"method":"tools/list"})");
  EXPECT_EQ(missing.status, 400);

  auto bad_version = mcp.Post(R"({"jsonrpc":"2.0","id":1,"method":"ping"})", {{"MCP-Protocol-Version", "1999-01-01"}});
  EXPECT_EQ(bad_version.status, 400);

  auto evil_host = mcp.Post(R"({"jsonrpc":"2.0","id":1,"method":"ping"})", {{"Host", "evil.example.com"}});
  EXPECT_EQ(evil_host.status, 403);
  auto evil_origin = mcp.Post(R"({"jsonrpc":"2.0","id":1,"method":"ping"})", {{"Origin", "http://evil.example.com"}});
  EXPECT_EQ(evil_origin.status, 403);

  auto oversize = mcp.Post(std::string(9 * 1024 * 1024, ' '));
  EXPECT_EQ(oversize.status, 413);

  Json unknown_tool = mcp.Request("tools/call", {{"name", "no_such_tool"}});
  EXPECT_EQ(unknown_tool["error"]["code"], -32602);
  Json unknown_prompt = mcp.Request("prompts/get", {{"name", "no_such_prompt"}});
  EXPECT_EQ(unknown_prompt["error"]["code"], -32602);
  Json unknown_resource = mcp.Request("resources/read", {{"uri", "test://nope"}});
  EXPECT_EQ(unknown_resource["error"]["code"], -32002);
  Json unknown_method = mcp.Request("no/such/method", Json::object());
  EXPECT_EQ(unknown_method["error"]["code"], -32601);
  Json bad_cursor = mcp.Request("tools/list", {{"cursor", "!!!"}});
  EXPECT_EQ(bad_cursor["error"]["code"], -32602);

  // Still serving.
  Json ok = mcp.Request("tools/call", {{"name", "test_simple_text"}, {"arguments", Json::object()}});
  EXPECT_TRUE(ok.contains("result")) << ok.dump();
  gw->Stop(std::chrono::seconds(2));
}

// Pages written from the catalogue's wire form: small pages through the gateway list every tool once,
// in order, each exactly as one whole-list page gives it.
TEST_F(GatewayE2E, SmallPagesListEveryToolOnceExactlyAsOnePageDoes) {
  uint16_t whole_port = 0, paged_port = 0;
  auto whole = StartGateway(Config(Backend("conf", backend_port_), kPrefix), whole_port);
  GatewayOptions small;
  small.threads = 2;
  small.page_size = 2;
  auto paged = StartGateway(Config(Backend("conf", backend_port_), kPrefix), paged_port, small);
  ASSERT_NE(whole, nullptr);
  ASSERT_NE(paged, nullptr);
  RawMcp one(io_, client_, whole_port);
  RawMcp many(io_, client_, paged_port);
  one.Initialize();
  many.Initialize();
  const Json all = one.Request("tools/list", Json::object());
  ASSERT_TRUE(all["result"]["tools"].is_array()) << all.dump();
  ASSERT_GT(all["result"]["tools"].size(), 4u);
  EXPECT_FALSE(all["result"].contains("nextCursor"));
  Json walked = Json::array();
  Json params = Json::object();
  for (int pages = 0; pages < 100; ++pages) {
    const Json page = many.Request("tools/list", params);
    ASSERT_TRUE(page.contains("result")) << page.dump();
    EXPECT_EQ(page["id"], pages + 2);  // (initialize was 1)
    EXPECT_LE(page["result"]["tools"].size(), 2u);
    for (const Json& tool : page["result"]["tools"]) walked.push_back(tool);
    if (!page["result"].contains("nextCursor")) break;
    params["cursor"] = page["result"]["nextCursor"];
  }
  EXPECT_EQ(walked, all["result"]["tools"]);
  params["cursor"] = "not a cursor";
  const Json bad = many.Request("tools/list", params);
  EXPECT_EQ(bad["error"]["code"], -32602) << bad.dump();
  whole->Stop(std::chrono::seconds(2));
  paged->Stop(std::chrono::seconds(2));
}

TEST_F(GatewayE2E, DownBackendGivesAnIsErrorResultNamingIt) {
  uint16_t port = 0;
  auto gw = StartGateway(Config(Backend("conf", backend_port_), kPrefix), port);
  ASSERT_NE(gw, nullptr);
  RawMcp mcp(io_, client_, port);
  mcp.Initialize();
  backend_->Terminate();  // the backend goes away mid-session
  Json call = mcp.Request("tools/call", {{"name", "conf_test_simple_text"}, {"arguments", Json::object()}});
  ASSERT_TRUE(call.contains("result")) << call.dump();
  EXPECT_EQ(call["result"]["isError"], true);
  EXPECT_NE(call["result"]["content"][0]["text"].get<std::string>().find("backend conf unavailable"), std::string::npos)
      << call.dump();
  gw->Stop(std::chrono::seconds(2));
}

TEST_F(GatewayE2E, TwoHundredConcurrentSessionsGetTheirOwnAnswers) {
  uint16_t port = 0;
  auto gw = StartGateway(Config(Backend("conf", backend_port_), kBare), port);
  ASSERT_NE(gw, nullptr);
  IoThread io(2);
  transport::ClientOptions copt;
  copt.max_connections_per_origin = 256;
  transport::HttpClient client(io.executor(), copt);
  std::vector<std::future<bool>> results;
  std::atomic<int> failures{0};
  for (int i = 0; i < 200; ++i) {
    results.push_back(std::async(std::launch::async, [&, i] {
      RawMcp mcp(io, client, port);
      Json init = mcp.Initialize();
      if (!init.contains("result")) return false;
      // Each session asks for its own prompt arguments and must get exactly those back.
      const std::string a = "client-" + std::to_string(i);
      Json r = mcp.Request("prompts/get", {{"name", "test_prompt_with_arguments"}, {"arguments", {{"arg1", a}, {"arg2", "x"}}}});
      return r.dump().find(a) != std::string::npos && r["id"] == 2;
    }));
  }
  for (auto& r : results) {
    if (!r.get()) ++failures;
  }
  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(gw->Status().active_sessions, 200u);
  gw->Stop(std::chrono::seconds(2));
}

TEST_F(GatewayE2E, HealthStatusAndReadiness) {
  uint16_t port = 0;
  auto gw = StartGateway(Config(Backend("conf", backend_port_), kBare), port);
  ASSERT_NE(gw, nullptr);
  const std::string base = "http://127.0.0.1:" + std::to_string(port);
  for (const char* path : {"/health", "/ping"}) {
    auto r = io_.Run(client_.Send(*transport::ParseUrl(base + path), transport::Request{}, {}));
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(Json::parse(r->body), Json({{"status", "ok"}}));
  }
  auto ready = io_.Run(client_.Send(*transport::ParseUrl(base + "/readyz"), transport::Request{}, {}));
  EXPECT_EQ(Json::parse(ready->body)["status"], "ready");
  RawMcp mcp(io_, client_, port);
  mcp.Initialize();
  auto status = io_.Run(client_.Send(*transport::ParseUrl(base + "/status"), transport::Request{}, {}));
  Json s = Json::parse(status->body);
  EXPECT_EQ(s["group_ref"], "e2e");
  EXPECT_EQ(s["backends"][0]["name"], "conf");
  EXPECT_EQ(s["backends"][0]["health"], "healthy");
  EXPECT_EQ(s["healthy"], true);
  gw->Stop(std::chrono::seconds(2));
}

// /metrics after a known sequence: exact counts, in text a strict parser accepts; Metrics() agrees.
TEST_F(GatewayE2E, MetricsCountAKnownSequenceExactly) {
  uint16_t port = 0;
  auto gw = StartGateway(Config(Backend("conf", backend_port_), kBare), port);
  ASSERT_NE(gw, nullptr);
  RawMcp mcp(io_, client_, port);
  mcp.Initialize();
  ASSERT_EQ(mcp.last.status, 200);
  mcp.Request("tools/list", Json::object());
  Json ok = mcp.Request("tools/call", {{"name", "test_simple_text"}, {"arguments", Json::object()}});
  ASSERT_TRUE(ok.contains("result")) << ok.dump();
  Json unknown = mcp.Request("tools/call", {{"name", "no_such_tool"}, {"arguments", Json::object()}});
  ASSERT_TRUE(unknown.contains("error"));
  Json failing = mcp.Request("tools/call", {{"name", "test_error_handling"}, {"arguments", Json::object()}});
  ASSERT_TRUE(failing["result"].value("isError", false)) << failing.dump();
  mcp.Request("ping", Json::object());

  const std::string base = "http://127.0.0.1:" + std::to_string(port);
  auto scraped = io_.Run(client_.Send(*transport::ParseUrl(base + "/metrics"), transport::Request{}, {}));
  ASSERT_TRUE(scraped.ok());
  EXPECT_EQ(scraped->status, 200);
  EXPECT_NE(scraped->headers.Get("Content-Type").value_or("").find("text/plain; version=0.0.4"), std::string_view::npos);
  auto m = testing::ParsePromText(scraped->body);
  ASSERT_TRUE(m.ok()) << m.status() << "\n" << scraped->body;
  auto client = [&](const std::string& method, const std::string& status) {
    return m->Get("toolhive_mcp_requests_total{method=\"" + method + "\",status=\"" + status + "\"}", 0);
  };
  EXPECT_EQ(client("initialize", "success"), 1);
  EXPECT_EQ(client("tools/list", "success"), 1);
  EXPECT_EQ(client("tools/call", "success"), 1);
  EXPECT_EQ(client("tools/call", "error"), 2);  // the unknown tool (-32602) and the isError result
  EXPECT_EQ(client("ping", "success"), 1);
  EXPECT_EQ(m->Get("toolhive_mcp_request_duration_seconds_count{method=\"tools/call\"}"), 3);
  EXPECT_EQ(m->Get("toolhive_mcp_tool_calls_total"), 3);
  EXPECT_EQ(m->Get("vmcp_client_sessions_active"), 1);
  EXPECT_EQ(m->Get("vmcp_client_sessions_created_total"), 1);
  EXPECT_EQ(m->Get("toolhive_vmcp_backends_discovered"), 1);
  // Toward the backend: one initialize, the two tool calls that reached it (the unknown one did not),
  // the session's catalogue listing; one session open, no failures.
  auto backend = [&](const std::string& method) {
    return m->Get("toolhive_vmcp_backend_requests_total{backend=\"conf\",method=\"" + method + "\"}", 0);
  };
  EXPECT_EQ(backend("initialize"), 1);
  EXPECT_EQ(backend("tools/call"), 2);
  EXPECT_GE(backend("tools/list"), 1);
  EXPECT_EQ(m->Get("toolhive_vmcp_backend_errors_total{backend=\"conf\",method=\"tools/call\"}"), 0);
  EXPECT_EQ(m->Get("vmcp_backend_sessions_active{backend=\"conf\"}"), 1);
  EXPECT_EQ(m->Get("vmcp_backend_connect_failures_total{backend=\"conf\"}"), 0);
  EXPECT_EQ(m->Get("vmcp_backend_health{backend=\"conf\",state=\"healthy\"}"), 1);
  EXPECT_EQ(m->Get("vmcp_backend_health{backend=\"conf\",state=\"unhealthy\"}"), 0);

  // The API reads the same counters; DELETE ends both sessions.
  transport::Request del;
  del.method = "DELETE";
  del.headers.Set("Mcp-Session-Id", mcp.session);
  ASSERT_TRUE(io_.Run(client_.Send(*transport::ParseUrl(base + "/mcp"), std::move(del), {})).ok());
  GatewayMetrics api = gw->Metrics();
  EXPECT_EQ(api.client_sessions_active, 0u);
  EXPECT_EQ(api.client_sessions_created, 1u);
  EXPECT_EQ(api.tool_calls, 3u);
  ASSERT_EQ(api.backends.size(), 1u);
  EXPECT_EQ(api.backends[0].backend, "conf");
  EXPECT_EQ(api.backends[0].sessions_active, 0u);
  EXPECT_EQ(api.backends[0].sessions_opened, 1u);
  gw->Stop(std::chrono::seconds(2));
}

}  // namespace
std::vector<Json> ReadEvents(IoThread& io, transport::ResponseStream& stream, std::function<bool(const Json&)> until);
namespace {

// --- with clash-backend.mjs: observability (trace propagation, OTLP export, logs) and resilience ------

// Stands in for an OpenTelemetry collector (none can run here): takes OTLP/HTTP JSON posts to /v1/traces
// and keeps the spans.
class OtlpCollector {
 public:
  OtlpCollector()
      : server_({}, [this](transport::Exchange& ex) -> boost::asio::awaitable<void> {
          if (ex.request().method == "POST" && ex.request().Path() == "/v1/traces") {
            Json body = Json::parse(ex.request().body, nullptr, false);
            std::lock_guard lock(mu_);
            if (!body.is_discarded()) {
              for (const Json& rs : body["resourceSpans"]) {
                resource_ = rs["resource"];
                for (const Json& ss : rs["scopeSpans"]) {
                  for (const Json& span : ss["spans"]) spans_.push_back(span);
                }
              }
            }
          }
          transport::Response ok;
          ok.status = 200;
          ok.headers.Set("Content-Type", "application/json");
          ok.body = "{}";
          co_await ex.Respond(std::move(ok));
        }) {
    port_ = *server_.Start();
  }
  uint16_t port() const { return port_; }
  std::vector<Json> spans() {
    std::lock_guard lock(mu_);
    return spans_;
  }
  Json resource() {
    std::lock_guard lock(mu_);
    return resource_;
  }

 private:
  std::mutex mu_;
  std::vector<Json> spans_;
  Json resource_;
  transport::HttpServer server_;
  uint16_t port_ = 0;
};

class ClashBackendE2E : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_FALSE(PeersDir().empty()) << "VMCP_PEERS_DIR is not set: run the tests with scripts/test.sh";
    clash_ = StartPeer("clash-backend.mjs", {"--port", "0"}, clash_port_);
    ASSERT_GT(clash_port_, 0) << "clash-backend did not start: " << clash_->output();
  }

  std::string ConfigWithTelemetry(uint16_t collector_port) {
    return Config(Backend("clash", clash_port_), kPrefix) + "telemetry:\n  endpoint: 127.0.0.1:" +
           std::to_string(collector_port) + "\n  insecure: true\n  tracingEnabled: true\n  serviceName: e2e-vmcp\n";
  }

  GatewayOptions CapturingLogs() {
    GatewayOptions options;
    options.threads = 2;
    options.log_sink = [this](const std::string& line) {
      std::lock_guard lock(log_mu_);
      log_lines_.push_back(line);
      log_cv_.notify_all();
    };
    return options;
  }
  std::vector<std::string> Logs() {
    std::lock_guard lock(log_mu_);
    return log_lines_;
  }

  // The trace headers the backend saw for one tools/call of clash_request-headers.
  Json BackendSawHeaders(RawMcp& mcp, std::map<std::string, std::string> headers) {
    Json r = mcp.Request("tools/call", {{"name", "clash_request-headers"}, {"arguments", Json::object()}}, nullptr,
                         std::move(headers));
    EXPECT_TRUE(r.contains("result")) << r.dump();
    if (!r.contains("result")) return Json();
    return Json::parse(r["result"]["content"][0].value("text", "{}"), nullptr, false);
  }

  // Waits (bounded) for a log line with message `msg` whose `backend` field is `backend`, counting from
  // line `from` on; returns the index of the line after it, or 0 when none came in time.
  size_t WaitForLog(const std::string& msg, const std::string& backend, size_t from, int timeout_ms = 20000) {
    std::unique_lock lock(log_mu_);
    size_t next = from;
    size_t found = 0;
    log_cv_.wait_for(lock, std::chrono::milliseconds(timeout_ms), [&] {
      for (; next < log_lines_.size(); ++next) {
        Json line = Json::parse(log_lines_[next], nullptr, false);
        if (line.value("msg", "") == msg && line.value("backend", "") == backend) {
          found = next + 1;
          return true;
        }
      }
      return false;
    });
    return found;
  }
  size_t LogCount() {
    std::lock_guard lock(log_mu_);
    return log_lines_.size();
  }

  void RestartClash() {
    clash_.reset();  // SIGTERM: the process and all its sessions are gone
    int again = 0;
    clash_ = StartPeer("clash-backend.mjs", {"--port", std::to_string(clash_port_)}, again);
    ASSERT_EQ(again, clash_port_) << clash_->output();
  }

  Json Get(uint16_t port, const std::string& path) {
    auto r = io_.Run(client_.Send(*transport::ParseUrl("http://127.0.0.1:" + std::to_string(port) + path),
                                  transport::Request{}, {}));
    EXPECT_TRUE(r.ok()) << r.status();
    return r.ok() ? Json::parse(r->body, nullptr, false) : Json();
  }

  std::unique_ptr<ChildProcess> clash_;
  int clash_port_ = 0;
  IoThread io_{1};
  transport::HttpClient client_{io_.executor()};
  std::mutex log_mu_;
  std::condition_variable log_cv_;
  std::vector<std::string> log_lines_;
};

constexpr char kClientTrace[] = "4bf92f3577b34da6a3ce929d0e0e4736";
constexpr char kClientSpan[] = "00f067aa0ba902b7";

TEST_F(ClashBackendE2E, TraceContextReachesTheBackendAndSpansAreExported) {
  OtlpCollector collector;
  uint16_t port = 0;
  auto gw = StartGateway(ConfigWithTelemetry(collector.port()), port, CapturingLogs());
  ASSERT_NE(gw, nullptr);
  RawMcp mcp(io_, client_, port);
  mcp.Initialize();
  ASSERT_EQ(mcp.last.status, 200);

  // The client's trace goes on to the backend under a span of the gateway's; tracestate as received.
  const std::string traceparent = std::string("00-") + kClientTrace + "-" + kClientSpan + "-01";
  Json seen = BackendSawHeaders(mcp, {{"traceparent", traceparent}, {"tracestate", "vendor=abc"}});
  ASSERT_TRUE(seen["traceparent"].is_string()) << seen.dump();
  const std::string backend_tp = seen["traceparent"];
  ASSERT_EQ(backend_tp.size(), 55u) << backend_tp;
  EXPECT_EQ(backend_tp.substr(3, 32), kClientTrace);
  const std::string gateway_client_span = backend_tp.substr(36, 16);
  EXPECT_NE(gateway_client_span, kClientSpan);
  EXPECT_EQ(backend_tp.substr(53), "01");
  EXPECT_EQ(seen["tracestate"], "vendor=abc");

  // Without one, the gateway starts a trace: a valid traceparent all the same.
  Json fresh = BackendSawHeaders(mcp, {});
  ASSERT_TRUE(fresh["traceparent"].is_string()) << fresh.dump();
  const std::string fresh_tp = fresh["traceparent"];
  EXPECT_EQ(fresh_tp.size(), 55u);
  EXPECT_NE(fresh_tp.substr(3, 32), kClientTrace);
  EXPECT_TRUE(fresh["tracestate"].is_null());
  // A malformed traceparent is ignored (a new trace), never forwarded.
  Json bad = BackendSawHeaders(mcp, {{"traceparent", "00-00000000000000000000000000000000-00f067aa0ba902b7-01"}});
  EXPECT_NE(bad["traceparent"].get<std::string>().substr(3, 32), "00000000000000000000000000000000");

  gw->Stop(std::chrono::seconds(5));  // flushes the exporter

  // The server span continues the client's; the client span is the one the backend saw as its parent.
  std::vector<Json> spans = collector.spans();
  const Json* server = nullptr;
  const Json* client = nullptr;
  for (const Json& span : spans) {
    if (span.value("traceId", "") != kClientTrace) continue;
    if (span.value("kind", 0) == 2) server = &span;
    if (span.value("kind", 0) == 3) client = &span;
  }
  ASSERT_NE(server, nullptr) << Json(spans).dump();
  ASSERT_NE(client, nullptr) << Json(spans).dump();
  EXPECT_EQ((*server)["name"], "tools/call");
  EXPECT_EQ((*server)["parentSpanId"], kClientSpan);
  EXPECT_EQ((*client)["name"], "tools/call clash");
  EXPECT_EQ((*client)["spanId"], gateway_client_span);
  EXPECT_EQ((*client)["parentSpanId"], (*server)["spanId"]);
  EXPECT_GE(std::stoll((*server)["endTimeUnixNano"].get<std::string>()),
            std::stoll((*client)["endTimeUnixNano"].get<std::string>()) - 1000000000LL);
  bool named = false;
  const Json resource = collector.resource();
  for (const Json& a : resource.value("attributes", Json::array())) {
    named = named || (a.value("key", "") == "service.name" && a["value"].value("stringValue", "") == "e2e-vmcp");
  }
  EXPECT_TRUE(named) << resource.dump();

  // One JSON object a line; the call's line names method, backend and the client's trace; the session id
  // appears only shortened.
  std::vector<std::string> logs = Logs();
  ASSERT_FALSE(logs.empty());
  bool call_logged = false;
  for (const std::string& line : logs) {
    Json l = Json::parse(line, nullptr, false);
    ASSERT_FALSE(l.is_discarded()) << line;
    EXPECT_TRUE(l.contains("time") && l.contains("level") && l.contains("msg")) << line;
    EXPECT_EQ(line.find(mcp.session), std::string::npos) << "full session id in: " << line;
    if (l.value("msg", "") == "mcp request" && l.value("trace_id", "") == kClientTrace) {
      call_logged = true;
      EXPECT_EQ(l["method"], "tools/call");
      EXPECT_EQ(l["backend"], "clash");
      EXPECT_EQ(l["session"], mcp.session.substr(0, 8));
      EXPECT_EQ(l["outcome"], "ok");
      EXPECT_TRUE(l["duration_ms"].is_number());
    }
  }
  EXPECT_TRUE(call_logged);
}

TEST_F(ClashBackendE2E, ACollectorThatIsDownNeverSlowsCalls) {
  uint16_t dead_port = 0;
  {
    OtlpCollector gone;  // a port that was just free, now closed
    dead_port = gone.port();
  }
  uint16_t port = 0;
  auto gw = StartGateway(ConfigWithTelemetry(dead_port), port, CapturingLogs());
  ASSERT_NE(gw, nullptr);
  RawMcp mcp(io_, client_, port);
  mcp.Initialize();
  for (int i = 0; i < 20; ++i) {
    Json r = mcp.Request("tools/call", {{"name", "clash_echo"}, {"arguments", {{"message", "x"}}}});
    ASSERT_TRUE(r.contains("result")) << r.dump();
  }
  const auto started = std::chrono::steady_clock::now();
  gw->Stop(std::chrono::seconds(2));
  EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::seconds(10));
}

// --- resilience: a backend that restarts loses its sessions ---------------------------------------------

// The backend restarts (same port, every session forgotten): the next call is answered 404, the gateway
// re-initializes its session with that backend (once, for however many calls saw it lost), restores the
// log level, and sends the call again. The client's session never changes.
TEST_F(ClashBackendE2E, ABackendThatRestartsIsReinitializedAndTheCallRetriedOnce) {
  uint16_t port = 0;
  auto gw = StartGateway(Config(Backend("clash", clash_port_), kPrefix), port);
  ASSERT_NE(gw, nullptr);
  RawMcp mcp(io_, client_, port);
  mcp.Initialize();
  const std::string session = mcp.session;
  Json first = mcp.Request("tools/call", {{"name", "clash_echo"}, {"arguments", {{"message", "before"}}}});
  ASSERT_EQ(first["result"]["content"][0]["text"], "clash: echo: before") << first.dump();
  ASSERT_TRUE(mcp.Request("logging/setLevel", {{"level", "debug"}}).contains("result"));

  auto restart = [&] {
    clash_.reset();  // SIGTERM: the process and all its sessions are gone
    int again = 0;
    clash_ = StartPeer("clash-backend.mjs", {"--port", std::to_string(clash_port_)}, again);
    ASSERT_EQ(again, clash_port_) << clash_->output();
  };
  restart();
  Json after = mcp.Request("tools/call", {{"name", "clash_echo"}, {"arguments", {{"message", "after"}}}});
  ASSERT_TRUE(after.contains("result")) << after.dump();
  EXPECT_EQ(after["result"]["content"][0]["text"], "clash: echo: after") << after.dump();
  EXPECT_EQ(mcp.session, session);
  GatewayMetrics m = gw->Metrics();
  ASSERT_EQ(m.backends.size(), 1u);
  EXPECT_EQ(m.backends[0].reinitializations, 1u);

  // Again, with 6 calls at once: one re-initialization serves them all, each call answered once.
  restart();
  std::vector<std::future<transport::Response>> calls;
  for (int i = 0; i < 6; ++i) {
    Json call{{"jsonrpc", "2.0"}, {"id", 100 + i}, {"method", "tools/call"},
              {"params", {{"name", "clash_echo"}, {"arguments", {{"message", "c" + std::to_string(i)}}}}}};
    calls.push_back(std::async(std::launch::async, [&mcp, body = call.dump()] {
      return mcp.Post(body, {{"Accept", "application/json"}});
    }));
  }
  for (int i = 0; i < 6; ++i) {
    Json r = RawMcp::Decode(calls[i].get(), nullptr);
    EXPECT_EQ(r.value("id", -1), 100 + i);
    EXPECT_EQ(r["result"]["content"][0]["text"], "clash: echo: c" + std::to_string(i)) << r.dump();
  }
  m = gw->Metrics();
  EXPECT_EQ(m.backends[0].reinitializations, 2u);
  gw->Stop(std::chrono::seconds(2));
}

// A tools/call is passed to its backend as the text it came as, with only the tool's name and the id
// changed: members in any order, whitespace, escapes and a string id in UTF-8 come through, and the
// answer carries the client's id.
TEST_F(ClashBackendE2E, AToolCallReachesItsBackendAsItsOwnTextWithTheNameAndIdChanged) {
  uint16_t port = 0;
  auto gw = StartGateway(Config(Backend("clash", clash_port_), kPrefix), port);
  ASSERT_NE(gw, nullptr);
  RawMcp mcp(io_, client_, port);
  mcp.Initialize();
  // The name (longer than the backend's) before the id, so the id's place moves when it is replaced.
  const std::string echo =
      "{ \"params\" : { \"arguments\" : { \"message\" : \"d\\u00e9j\\u00e0 \\\"vu\\\"\" } , \"name\" : \"clash_echo\" ,"
      " \"_meta\" : { \"progressToken\" : \"p-1\" } } ,\n \"method\" : \"tools/call\" , \"id\" : \"r-\xc3\xa9\" ,"
      " \"jsonrpc\" : \"2.0\" }";
  for (const char* accept : {"application/json", "application/json, text/event-stream"}) {
    Json r = RawMcp::Decode(mcp.Post(echo, {{"Accept", accept}}), nullptr);
    EXPECT_EQ(r["id"], "r-\xc3\xa9") << r.dump();
    EXPECT_EQ(r["result"]["content"][0]["text"], "clash: echo: d\xc3\xa9j\xc3\xa0 \"vu\"") << r.dump();
  }
  const std::string sum = R"({"params":{"name":"clash_get-sum","arguments":{"a":2,"b":3}},"id":9,"method":"tools/call","jsonrpc":"2.0"})";
  Json r = RawMcp::Decode(mcp.Post(sum, {{"Accept", "application/json"}}), nullptr);
  EXPECT_EQ(r["id"], 9) << r.dump();
  EXPECT_EQ(r["result"]["content"][0]["text"], "clash: get-sum: 5") << r.dump();
  // A name the gateway does not offer is still the documented error.
  const std::string unknown = R"({"params":{"name":"echo"},"id":10,"method":"tools/call","jsonrpc":"2.0"})";
  r = RawMcp::Decode(mcp.Post(unknown, {{"Accept", "application/json"}}), nullptr);
  EXPECT_EQ(r["id"], 10) << r.dump();
  EXPECT_EQ(r["error"]["code"], -32602) << r.dump();
  gw->Stop(std::chrono::seconds(2));
}

// A backend that expires its sessions on demand (as one with a session timeout does): the next call
// is refused as lost, the gateway re-initializes and the call is answered; the client notices nothing.
TEST_F(ClashBackendE2E, ABackendThatExpiresSessionsIsReinitializedTransparently) {
  uint16_t port = 0;
  auto gw = StartGateway(Config(Backend("clash", clash_port_), kPrefix), port);
  ASSERT_NE(gw, nullptr);
  RawMcp mcp(io_, client_, port);
  mcp.Initialize();
  Json expire = mcp.Request("tools/call", {{"name", "clash_expire-sessions"}, {"arguments", Json::object()}});
  ASSERT_EQ(expire["result"]["content"][0]["text"], "clash: expire-sessions") << expire.dump();
  ASSERT_NE(clash_->WaitForLineContaining("EXPIRED "), "") << clash_->output();
  for (int i = 0; i < 3; ++i) {
    Json r = mcp.Request("tools/call", {{"name", "clash_echo"}, {"arguments", {{"message", "again"}}}});
    EXPECT_EQ(r["result"]["content"][0]["text"], "clash: echo: again") << r.dump();
  }
  GatewayMetrics m = gw->Metrics();
  ASSERT_EQ(m.backends.size(), 1u);
  EXPECT_EQ(m.backends[0].reinitializations, 1u);
  gw->Stop(std::chrono::seconds(2));
}

// Reload moves open sessions: an added backend is connected and its tools appear (the client is told
// on its GET stream), a removed one's tools are gone, an untouched one keeps its backend session.
TEST_F(ClashBackendE2E, ReloadMovesOpenSessionsToTheNewConfig) {
  int conf_port = 0;
  auto conf = StartPeer("conformance-backend.mjs", {"--port", "0"}, conf_port);
  ASSERT_GT(conf_port, 0) << conf->output();
  uint16_t port = 0;
  auto gw = StartGateway(Config(Backend("clash", clash_port_), kPrefix), port);
  ASSERT_NE(gw, nullptr);
  RawMcp mcp(io_, client_, port);
  mcp.Initialize();
  // The client's standalone stream, where list_changed arrives.
  auto opened = mcp.OpenStream();
  ASSERT_TRUE(opened.ok() && (*opened)->status() == 200);

  auto tool_names = [&] { return mcp.ToolNames(); };
  ASSERT_TRUE(tool_names().count("clash_echo")) << mcp.last.status << " " << mcp.last.body;
  ASSERT_FALSE(tool_names().count("conf_test_simple_text"));

  config::MapEnvironment env;
  auto both = config::LoadConfigText(Config(Backend("clash", clash_port_) + Backend("conf", conf_port), kPrefix), env);
  ASSERT_TRUE(both.ok());
  ASSERT_TRUE(gw->Reload(std::move(*both.config)).ok());
  auto events = ReadEvents(io_, **opened, [](const Json& m) {
    return m.value("method", "") == "notifications/tools/list_changed";
  });
  bool told = false;
  for (const Json& e : events) told = told || e.value("method", "") == "notifications/tools/list_changed";
  EXPECT_TRUE(told) << Json(events).dump();
  std::set<std::string> names = tool_names();
  EXPECT_TRUE(names.count("clash_echo"));
  EXPECT_TRUE(names.count("conf_test_simple_text"));
  Json call = mcp.Request("tools/call", {{"name", "conf_test_simple_text"}, {"arguments", Json::object()}});
  EXPECT_TRUE(call.contains("result")) << call.dump();

  auto only_conf = config::LoadConfigText(Config(Backend("conf", conf_port), kPrefix), env);
  ASSERT_TRUE(only_conf.ok());
  ASSERT_TRUE(gw->Reload(std::move(*only_conf.config)).ok());
  names = tool_names();
  EXPECT_FALSE(names.count("clash_echo"));
  EXPECT_TRUE(names.count("conf_test_simple_text"));
  Json gone = mcp.Request("tools/call", {{"name", "clash_echo"}, {"arguments", {{"message", "x"}}}});
  EXPECT_TRUE(gone.contains("error")) << gone.dump();
  // conf was untouched by the second reload: still its first backend session.
  for (const BackendMetricsSnapshot& b : gw->Metrics().backends) {
    if (b.backend == "conf") EXPECT_EQ(b.sessions_opened, 1u);
    if (b.backend == "clash") EXPECT_EQ(b.sessions_active, 0u) << "the removed backend's session is closed";
  }
  EXPECT_EQ(mcp.last.status, 200);
  (*opened)->Close();
  gw->Stop(std::chrono::seconds(2));
}

}  // namespace

// Reads SSE events from a streaming response until `until` says stop or the body ends.
std::vector<Json> ReadEvents(IoThread& io, transport::ResponseStream& stream, std::function<bool(const Json&)> until) {
  std::vector<Json> out;
  transport::SseParser parser;
  while (true) {
    auto chunk = io.Run(stream.Read(std::chrono::seconds(20)));
    if (!chunk.ok() || chunk->empty()) break;
    std::vector<transport::SseEvent> events;
    if (!parser.Feed(*chunk, events).ok()) break;
    bool stop = false;
    for (auto& ev : events) {
      Json m = Json::parse(ev.data, nullptr, false);
      if (m.is_discarded()) m = Json{{"raw", ev.data}, {"event", ev.event}};
      out.push_back(m);
      if (until && until(m)) stop = true;
    }
    if (stop) break;
  }
  return out;
}

TEST_F(GatewayE2E, ClientCancellationReachesTheBackendUnderItsOwnIdAndEndsTheCall) {
  uint16_t port = 0;
  auto gw = StartGateway(Config(Backend("conf", backend_port_), kBare), port);
  RawMcp mcp(io_, client_, port);
  mcp.Initialize();
  // Another call first, so the gateway's id for the backend differs from the client's id.
  mcp.Request("tools/call", {{"name", "test_simple_text"}, {"arguments", Json::object()}});

  transport::Request call;
  call.method = "POST";
  call.headers.Set("Content-Type", "application/json");
  call.headers.Set("Accept", "application/json, text/event-stream");
  call.headers.Set("Mcp-Session-Id", mcp.session);
  call.body = Json{{"jsonrpc", "2.0"}, {"id", "call-77"}, {"method", "tools/call"},
                   {"params", {{"name", "vmcp_wait_for_cancel"}, {"arguments", Json::object()}, {"_meta", {{"progressToken", 5}}}}}}
                  .dump();
  const auto url = *transport::ParseUrl("http://127.0.0.1:" + std::to_string(port) + "/mcp");
  auto opened = io_.Run(client_.Open(url, std::move(call), {}, transport::StreamOptions{true}));
  ASSERT_TRUE(opened.ok()) << opened.status();
  auto& stream = **opened;
  ASSERT_EQ(stream.status(), 200);
  // The backend reports progress 0 once it runs the call.
  auto first = ReadEvents(io_, stream, [](const Json& m) { return m.value("method", "") == "notifications/progress"; });
  ASSERT_FALSE(first.empty());
  ASSERT_EQ(first.back()["method"], "notifications/progress") << first.back().dump();

  auto cancelled = mcp.Post(Json{{"jsonrpc", "2.0"}, {"method", "notifications/cancelled"},
                                 {"params", {{"requestId", "call-77"}, {"reason", "test"}}}}
                                .dump());
  EXPECT_EQ(cancelled.status, 202);
  // The call's stream ends without an answer (the client asked for none).
  auto rest = ReadEvents(io_, stream, nullptr);
  for (const Json& m : rest) EXPECT_FALSE(m.contains("result") || m.contains("error")) << m.dump();

  Json count = mcp.Request("tools/call", {{"name", "vmcp_cancellations"}, {"arguments", Json::object()}});
  EXPECT_EQ(count["result"]["content"][0]["text"], "1") << count.dump();
  gw->Stop(std::chrono::seconds(2));
}

TEST_F(GatewayE2E, LegacySseClientsGetTheEndpointAndTheirAnswersOnTheStream) {
  uint16_t port = 0;
  auto gw = StartGateway(Config(Backend("conf", backend_port_), kBare), port);
  const std::string base = "http://127.0.0.1:" + std::to_string(port);
  transport::Request get;
  get.method = "GET";
  get.target = "/sse";
  get.headers.Set("Accept", "text/event-stream");
  auto opened = io_.Run(client_.Open(*transport::ParseUrl(base + "/sse"), std::move(get), {}, transport::StreamOptions{true}));
  ASSERT_TRUE(opened.ok()) << opened.status();
  auto& stream = **opened;
  ASSERT_EQ(stream.status(), 200);
  auto endpoint = ReadEvents(io_, stream, [](const Json& m) { return m.value("event", "") == "endpoint"; });
  ASSERT_FALSE(endpoint.empty());
  const std::string path = endpoint.back().value("raw", "");
  ASSERT_EQ(path.rfind("/messages?sessionId=", 0), 0u) << path;

  auto post = [&](const Json& m) {
    transport::Request req;
    req.method = "POST";
    req.headers.Set("Content-Type", "application/json");
    req.body = m.dump();
    auto r = io_.Run(client_.Send(*transport::ParseUrl(base + path), std::move(req), {}));
    EXPECT_TRUE(r.ok());
    return r.ok() ? r->status : 0;
  };
  auto answer_to = [](int id) { return [id](const Json& m) { return m.value("id", -1) == id; }; };
  EXPECT_EQ(post({{"jsonrpc", "2.0"}, {"id", 1}, {"method", "initialize"},
                  {"params", {{"protocolVersion", "2024-11-05"}, {"capabilities", Json::object()},
                              {"clientInfo", {{"name", "legacy"}, {"version", "1"}}}}}}),
            202);
  auto init = ReadEvents(io_, stream, answer_to(1));
  ASSERT_FALSE(init.empty());
  EXPECT_EQ(init.back()["result"]["protocolVersion"], "2024-11-05") << init.back().dump();
  EXPECT_EQ(post({{"jsonrpc", "2.0"}, {"method", "notifications/initialized"}}), 202);
  EXPECT_EQ(post({{"jsonrpc", "2.0"}, {"id", 2}, {"method", "tools/call"},
                  {"params", {{"name", "test_simple_text"}, {"arguments", Json::object()}}}}),
            202);
  auto call = ReadEvents(io_, stream, answer_to(2));
  ASSERT_FALSE(call.empty());
  EXPECT_EQ(call.back()["result"]["content"][0]["type"], "text") << call.back().dump();

  // An unknown session and a missing one are refused.
  transport::Request bad;
  bad.method = "POST";
  bad.body = R"({"jsonrpc":"2.0","id":1,"method":"ping"})";
  auto unknown = io_.Run(client_.Send(*transport::ParseUrl(base + "/messages?sessionId=nope"), std::move(bad), {}));
  EXPECT_EQ(unknown->status, 404);
  EXPECT_EQ(gw->Status().active_sessions, 1u);
  // The session ends with its stream.
  stream.Close();
  gw->Stop(std::chrono::seconds(2));
}

// --- backends that send what no backend should: the gateway names it, and never waits forever -------

// An MCP backend (both transports) whose initialize result is `init_result` and whose legacy SSE stream
// carries `junk` (event data that is not a routable JSON-RPC message) before each answer. It offers one
// tools: `ok`, which answers "fine", and `broken`, which a streamable POST answers with HTTP 500 and a body
// that is not UTF-8.
class MisbehavingBackend {
 public:
  MisbehavingBackend(Json init_result, std::vector<std::string> junk)
      : init_result_(std::move(init_result)), junk_(std::move(junk)),
        server_(transport::ServerOptions{.threads = 1}, [this](transport::Exchange& ex) { return Serve(ex); }) {
    port_ = *server_.Start();
  }
  uint16_t port() const { return port_; }

 private:
  Json Answer(const Json& m) const {
    const std::string method = m.value("method", "");
    Json result = Json::object();
    if (method == "initialize") result = init_result_;
    if (method == "tools/list") {
      result = {{"tools", Json::array({{{"name", "ok"}, {"inputSchema", {{"type", "object"}}}},
                                       {{"name", "broken"}, {"inputSchema", {{"type", "object"}}}}})}};
    }
    if (method == "tools/call") result = {{"content", Json::array({{{"type", "text"}, {"text", "fine"}}})}};
    return Json{{"jsonrpc", "2.0"}, {"id", m["id"]}, {"result", result}};
  }

  boost::asio::awaitable<void> Serve(transport::Exchange& ex) {
    const transport::Request& req = ex.request();
    if (req.method == "GET" && req.Path() == "/sse") {  // legacy: the stream, then POSTs to /messages
      auto stream = co_await ex.StartSse();
      if (!stream.ok()) co_return;
      std::lock_guard lock(mu_);
      const std::string id = std::to_string(streams_.size());
      transport::SseEvent endpoint;
      endpoint.event = "endpoint";
      endpoint.data = "/messages?sessionId=" + id;
      (*stream)->Send(std::move(endpoint));
      streams_.push_back(*stream);
      co_return;
    }
    const Json m = Json::parse(req.body, nullptr, false);
    transport::Response res;
    if (req.method != "POST" || !m.is_object()) {
      res.status = req.method == "POST" ? 400 : 405;
      co_await ex.Respond(std::move(res));
      co_return;
    }
    if (req.Path() == "/messages") {
      std::shared_ptr<transport::SseStream> stream;
      {
        std::lock_guard lock(mu_);
        const size_t index = std::stoul(req.QueryParam("sessionId").value_or("0"));
        if (index < streams_.size()) stream = streams_[index];
      }
      if (stream && m.contains("id")) {
        transport::SseEvent event;
        for (const std::string& data : junk_) {
          event.data = data;
          stream->Send(event);
        }
        event.data = Answer(m).dump();
        stream->Send(std::move(event));
      }
      res.status = stream ? 202 : 404;
      co_await ex.Respond(std::move(res));
      co_return;
    }
    if (!m.contains("id")) {
      res.status = 202;
    } else if (m.value("method", "") == "tools/call" && m["params"].value("name", "") == "broken") {
      res.status = 500;
      res.body = "boom \xff\xfe";  // not UTF-8
    } else {
      res.status = 200;
      res.headers.Set("Content-Type", "application/json");
      res.headers.Set("Mcp-Session-Id", "s1");
      res.body = Answer(m).dump();
    }
    co_await ex.Respond(std::move(res));
  }

  const Json init_result_;
  const std::vector<std::string> junk_;
  std::mutex mu_;
  std::vector<std::shared_ptr<transport::SseStream>> streams_;
  transport::HttpServer server_;
  uint16_t port_ = 0;
};

// A backend whose initialize result has a field of the wrong type fails on its own, with an error naming
// the field; the client's initialize is answered, the other backend serves.
TEST_F(GatewayE2E, ABackendWithAMalformedInitializeResultFailsAloneNamingTheField) {
  MisbehavingBackend weird(Json{{"protocolVersion", 5}, {"capabilities", {{"tools", Json::object()}}}}, {});
  uint16_t port = 0;
  auto gw = StartGateway(Config(Backend("conf", backend_port_) + Backend("weird", weird.port()), kPrefix), port);
  ASSERT_NE(gw, nullptr);
  RawMcp mcp(io_, client_, port);
  const Json init = mcp.Initialize();
  ASSERT_TRUE(init.contains("result")) << init.dump();
  const Json listed = mcp.Request("tools/list", Json::object());
  ASSERT_TRUE(listed.contains("error")) << listed.dump();
  const std::string message = listed["error"].value("message", "");
  EXPECT_NE(message.find("backend weird unavailable"), std::string::npos) << message;
  EXPECT_NE(message.find("protocolVersion must be a string, not number"), std::string::npos) << message;
  const Json call = mcp.Request("tools/call", {{"name", "conf_test_simple_text"}, {"arguments", Json::object()}});
  ASSERT_TRUE(call.contains("result")) << call.dump();
  EXPECT_NE(call["result"].value("isError", false), true) << call.dump();
  gw->Stop(std::chrono::seconds(2));
}

// A backend's error text that is not UTF-8 reaches the client with U+FFFD in place of the bad bytes, as
// the call's error result (never an HTTP 500 or an unanswered call).
TEST_F(GatewayE2E, ABackendErrorThatIsNotUtf8ReachesTheClientAsText) {
  MisbehavingBackend weird(Json{{"protocolVersion", "2025-11-25"}, {"capabilities", {{"tools", Json::object()}}}}, {});
  uint16_t port = 0;
  auto gw = StartGateway(Config(Backend("weird", weird.port()), kPrefix), port);
  ASSERT_NE(gw, nullptr);
  RawMcp mcp(io_, client_, port);
  ASSERT_TRUE(mcp.Initialize().contains("result"));
  for (int i = 0; i < 2; ++i) {  // (twice: the second goes through the circuit breaker's count as well)
    const Json call = mcp.Request("tools/call", {{"name", "weird_broken"}, {"arguments", Json::object()}});
    EXPECT_EQ(mcp.last.status, 200);
    ASSERT_TRUE(call.contains("result")) << call.dump();
    EXPECT_EQ(call["result"].value("isError", false), true) << call.dump();
    const std::string text = call["result"]["content"][0].value("text", "");
    EXPECT_NE(text.find("HTTP 500: boom \xEF\xBF\xBD\xEF\xBF\xBD"), std::string::npos) << text;
  }
  gw->Stop(std::chrono::seconds(2));
}

// A legacy SSE backend's stream carrying events that are not JSON-RPC messages (or are, with the wrong
// shapes) before each answer: they are skipped, and every answer still reaches its call.
TEST_F(GatewayE2E, JunkOnALegacyBackendStreamIsSkippedAndAnswersStillArrive) {
  MisbehavingBackend junky(Json{{"protocolVersion", "2024-11-05"}, {"capabilities", {{"tools", Json::object()}}},
                                {"serverInfo", {{"name", "junky"}, {"version", "1"}}}},
                           {"5", "\"text\"", "[1]", "null", R"({"jsonrpc":"2.0","method":"notifications/progress","params":[1]})",
                            R"({"jsonrpc":"2.0","id":"nobody","result":{}})", R"({"jsonrpc":"2.0","id":[1],"result":{}})"});
  uint16_t port = 0;
  auto gw = StartGateway(Config(BackendEntry("junky", junky.port(), "/sse", "sse"), kPrefix), port);
  ASSERT_NE(gw, nullptr);
  RawMcp mcp(io_, client_, port);
  const Json init = mcp.Initialize();
  ASSERT_TRUE(init.contains("result")) << init.dump();
  EXPECT_EQ(mcp.ToolNames(), (std::set<std::string>{"junky_broken", "junky_ok"}));
  const Json call = mcp.Request("tools/call", {{"name", "junky_ok"}, {"arguments", Json::object()}});
  ASSERT_TRUE(call.contains("result")) << call.dump();
  EXPECT_EQ(call["result"]["content"][0].value("text", ""), "fine") << call.dump();
  gw->Stop(std::chrono::seconds(2));
}

}  // namespace vmcp

namespace vmcp {
namespace {

using testing::NodeBinary;

// --- resilience: health, circuit breaking, restarts under load, stream resumption ------------------------

std::string FailureHandling(const std::string& body) {
  return "operational:\n  failureHandling:\n" + body;
}

// The official SDK client calls a tool in a loop while its backend is killed and restarted on the same
// port: the gateway retries calls whose connection could not open, re-initializes the lost backend
// session, and the client's session never changes. At most the one call in flight at the kill may fail,
// with an error naming the backend.
TEST_F(ClashBackendE2E, SdkClientKeepsCallingThroughABackendRestart) {
  uint16_t port = 0;
  auto gw = StartGateway(Config(Backend("clash", clash_port_), kPrefix), port, CapturingLogs());
  ASSERT_NE(gw, nullptr);
  ChildProcess client({NodeBinary(), PeersDir() + "/sdk-client.mjs", "--url", "http://127.0.0.1:" + std::to_string(port) + "/mcp",
                       "--script", "loop", "--tool", "clash_echo", "--args", R"({"message":"loop"})", "--count", "400"});
  ASSERT_NE(client.WaitForLineContaining("CALLED 40 "), "") << client.output();
  RestartClash();
  ASSERT_EQ(client.ReadAllAndWait(), 0) << client.output();
  const std::string& out = client.output();
  const Json result = Json::parse(out.substr(out.rfind('{', out.rfind("\"ok\""))), nullptr, false);
  ASSERT_TRUE(result.is_object()) << out.substr(out.size() > 2000 ? out.size() - 2000 : 0);
  EXPECT_TRUE(result["checks"].value("sameSession", false)) << result.dump();
  EXPECT_GE(result.value("loopOk", 0), 399) << result["loopErrors"].dump();
  for (const Json& e : result["loopErrors"]) EXPECT_NE(e.dump().find("backend clash"), std::string::npos) << e.dump();
  EXPECT_EQ(result.value("loopLastText", ""), "clash: echo: loop");
  EXPECT_NE(out.find("CALLED 400 ok"), std::string::npos);
  GatewayMetrics m = gw->Metrics();
  ASSERT_EQ(m.backends.size(), 1u);
  EXPECT_GE(m.backends[0].reinitializations, 1u) << "the restart happened during the loop";
  gw->Stop(std::chrono::seconds(2));
}

// The monitor takes a backend that stops answering out of the aggregate after unhealthyThreshold probes
// (clients told list_changed), reports it, and brings it back when it answers again.
TEST_F(ClashBackendE2E, HealthChecksTakeADownBackendOutAndBringItBack) {
  int conf_port = 0;
  auto conf = StartPeer("conformance-backend.mjs", {"--port", "0"}, conf_port);
  ASSERT_GT(conf_port, 0) << conf->output();
  uint16_t port = 0;
  const std::string yaml = Config(Backend("clash", clash_port_) + Backend("conf", conf_port), kPrefix) +
                           FailureHandling("    healthCheckInterval: 200ms\n    unhealthyThreshold: 2\n"
                                           "    partialFailureMode: best_effort\n");
  auto gw = StartGateway(yaml, port, CapturingLogs());
  ASSERT_NE(gw, nullptr);
  RawMcp mcp(io_, client_, port);
  mcp.Initialize();
  auto opened = mcp.OpenStream();
  ASSERT_TRUE(opened.ok() && (*opened)->status() == 200);
  auto tool_names = [&] { return mcp.ToolNames(); };
  ASSERT_TRUE(tool_names().count("clash_echo"));
  auto is_list_changed = [](const Json& m) { return m.value("method", "") == "notifications/tools/list_changed"; };

  const size_t mark = LogCount();
  clash_.reset();
  ASSERT_GT(WaitForLog("backend left the aggregate", "clash", mark), 0u);
  auto events = ReadEvents(io_, **opened, is_list_changed);
  EXPECT_TRUE(std::any_of(events.begin(), events.end(), is_list_changed)) << Json(events).dump();
  std::set<std::string> names = tool_names();
  EXPECT_FALSE(names.count("clash_echo"));
  EXPECT_TRUE(names.count("conf_test_simple_text"));

  const Json health = Get(port, "/api/backends/health");
  EXPECT_EQ(health["monitoring_enabled"], true);
  EXPECT_EQ(health["summary"]["Total"], 2);
  EXPECT_EQ(health["summary"]["Unhealthy"], 1);
  EXPECT_EQ(health["summary"]["Healthy"], 1);
  const Json& clash = health["backends"]["clash"];
  EXPECT_EQ(clash["Status"], "unhealthy") << health.dump();
  EXPECT_GE(clash["ConsecutiveFailures"].get<int>(), 2);
  EXPECT_EQ(clash["LastErrorCategory"], "connection_failed") << health.dump();
  EXPECT_EQ(clash["CircuitState"], "disabled");
  EXPECT_TRUE(clash["LastCheckTime"].is_string());
  EXPECT_EQ(health["backends"]["conf"]["Status"], "healthy");
  const Json status = Get(port, "/status");
  for (const Json& b : status["backends"]) {
    if (b["name"] == "clash") EXPECT_EQ(b["health"], "unhealthy") << status.dump();
  }
  auto metrics = testing::ParsePromText(gw->PrometheusText());
  ASSERT_TRUE(metrics.ok()) << metrics.status();
  EXPECT_EQ(metrics->Get("vmcp_backend_health{backend=\"clash\",state=\"unhealthy\"}"), 1);

  const size_t mark2 = LogCount();
  RestartClash();
  ASSERT_GT(WaitForLog("backend back in the aggregate", "clash", mark2), 0u);
  events = ReadEvents(io_, **opened, is_list_changed);
  EXPECT_TRUE(std::any_of(events.begin(), events.end(), is_list_changed)) << Json(events).dump();
  names = tool_names();
  EXPECT_TRUE(names.count("clash_echo")) << mcp.last.body;
  Json call = mcp.Request("tools/call", {{"name", "clash_echo"}, {"arguments", {{"message", "back"}}}});
  EXPECT_EQ(call["result"]["content"][0]["text"], "clash: echo: back") << call.dump();
  (*opened)->Close();
  gw->Stop(std::chrono::seconds(2));
}

// The circuit breaker gates calls: after failureThreshold failed calls it fails the next ones fast with
// a clear error; after its timeout one call goes through as the probe, and its success closes it.
TEST_F(ClashBackendE2E, CircuitBreakerFailsCallsFastAndClosesAfterAProbe) {
  uint16_t port = 0;
  const std::string yaml = Config(Backend("clash", clash_port_), kPrefix) +
                           "  timeouts:\n    default: 1s\n" +
                           "  failureHandling:\n    healthCheckInterval: 10m\n"
                           "    circuitBreaker:\n      enabled: true\n      failureThreshold: 2\n      timeout: 1s\n";
  auto gw = StartGateway(std::string(yaml).replace(yaml.find("  timeouts:"), 0, "operational:\n"), port, CapturingLogs());
  ASSERT_NE(gw, nullptr);
  RawMcp mcp(io_, client_, port);
  mcp.Initialize();
  auto call = [&](const std::string& message) {
    return mcp.Request("tools/call", {{"name", "clash_echo"}, {"arguments", {{"message", message}}}});
  };
  ASSERT_EQ(call("up")["result"]["content"][0]["text"], "clash: echo: up");
  clash_.reset();
  for (int i = 0; i < 2; ++i) {
    Json failed = call("down");
    EXPECT_TRUE(failed["result"].value("isError", false)) << failed.dump();
  }
  const auto before = std::chrono::steady_clock::now();
  Json fast = call("fast");
  const auto took = std::chrono::steady_clock::now() - before;
  ASSERT_TRUE(fast["result"].value("isError", false)) << fast.dump();
  const std::string text = fast["result"]["content"][0]["text"];
  EXPECT_NE(text.find("backend clash: circuit breaker open after 2 consecutive failures"), std::string::npos) << text;
  EXPECT_LT(took, std::chrono::milliseconds(500)) << "an open breaker answers without trying the backend";
  Json health = Get(port, "/api/backends/health");
  EXPECT_EQ(health["backends"]["clash"]["CircuitState"], "open") << health.dump();
  auto metrics = testing::ParsePromText(gw->PrometheusText());
  ASSERT_TRUE(metrics.ok());
  EXPECT_EQ(metrics->Get("vmcp_backend_circuit_state{backend=\"clash\",state=\"open\"}"), 1);
  EXPECT_EQ(metrics->Get("vmcp_backend_circuit_rejections_total{backend=\"clash\"}"), 1);

  RestartClash();
  // Calls keep failing fast until the breaker's timeout passes; then one is the probe and succeeds.
  Json ok;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(15);
  while (std::chrono::steady_clock::now() < deadline) {
    ok = call("again");
    if (ok.contains("result") && !ok["result"].value("isError", false)) break;
    // Pacing between attempts (the breaker's timeout is a time, not an event to wait on).
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_EQ(ok["result"]["content"][0]["text"], "clash: echo: again") << ok.dump();
  health = Get(port, "/api/backends/health");
  EXPECT_EQ(health["backends"]["clash"]["CircuitState"], "closed") << health.dump();
  metrics = testing::ParsePromText(gw->PrometheusText());
  ASSERT_TRUE(metrics.ok());
  EXPECT_EQ(metrics->Get("vmcp_backend_circuit_opens_total{backend=\"clash\"}"), 1);
  EXPECT_EQ(metrics->Get("vmcp_backend_circuit_state{backend=\"clash\",state=\"closed\"}"), 1);
  gw->Stop(std::chrono::seconds(2));
}

// A client that loses a tool call's stream comes back with GET + Last-Event-ID: while the call runs, the
// rest of it arrives on the new stream; after it ended, its kept answer is replayed. Exactly once.
TEST_F(ClashBackendE2E, AClientResumesACutCallStreamWithLastEventId) {
  uint16_t port = 0;
  auto gw = StartGateway(Config(Backend("clash", clash_port_), kPrefix), port, CapturingLogs());
  ASSERT_NE(gw, nullptr);
  RawMcp mcp(io_, client_, port);
  mcp.Initialize();
  const auto url = *transport::ParseUrl("http://127.0.0.1:" + std::to_string(port) + "/mcp");
  // Starts a slow call on an SSE stream, reads its priming event, and cuts the stream.
  auto start_and_cut = [&](int id, int ms) -> std::string {
    transport::Request post;
    post.method = "POST";
    post.headers.Set("Content-Type", "application/json");
    post.headers.Set("Accept", "application/json, text/event-stream");
    post.headers.Set("Mcp-Session-Id", mcp.session);
    post.body = Json{{"jsonrpc", "2.0"}, {"id", id}, {"method", "tools/call"},
                     {"params", {{"name", "clash_sleep"}, {"arguments", {{"ms", ms}}}}}}.dump();
    auto opened = io_.Run(client_.Open(url, std::move(post), {}, transport::StreamOptions{true}));
    EXPECT_TRUE(opened.ok() && (*opened)->status() == 200);
    if (!opened.ok()) return "";
    transport::SseParser parser;
    std::vector<transport::SseEvent> events;
    while (events.empty()) {
      auto chunk = io_.Run((*opened)->Read(std::chrono::seconds(10)));
      if (!chunk.ok() || chunk->empty()) break;
      EXPECT_TRUE(parser.Feed(*chunk, events).ok());
    }
    EXPECT_FALSE(events.empty());
    (*opened)->Close();
    return events.empty() ? "" : events[0].id;
  };
  auto resume = [&](const std::string& last_event_id) {
    transport::Request get;
    get.method = "GET";
    get.headers.Set("Accept", "text/event-stream");
    get.headers.Set("Mcp-Session-Id", mcp.session);
    get.headers.Set("Last-Event-ID", last_event_id);
    auto opened = io_.Run(client_.Open(url, std::move(get), {}, transport::StreamOptions{true}));
    EXPECT_TRUE(opened.ok() && (*opened)->status() == 200);
    std::vector<Json> got;
    if (opened.ok()) got = ReadEvents(io_, **opened, nullptr);  // to the end: the gateway closes it after the answer
    return got;
  };
  auto answers = [](const std::vector<Json>& events, int id) {
    int n = 0;
    for (const Json& e : events) n += e.value("id", -1) == id && e.contains("result");
    return n;
  };

  // Resumed while the call still runs: the answer comes on the new stream.
  const std::string primed = start_and_cut(41, 800);
  ASSERT_FALSE(primed.empty());
  std::vector<Json> events = resume(primed);
  EXPECT_EQ(answers(events, 41), 1) << Json(events).dump();
  for (const Json& e : events) {
    if (e.value("id", -1) == 41) EXPECT_EQ(e["result"]["content"][0]["text"], "clash: slept 800");
  }

  // Resumed after the call ended: the kept answer is replayed.
  const size_t mark = LogCount();
  const std::string primed2 = start_and_cut(42, 100);
  ASSERT_FALSE(primed2.empty());
  // (the gateway's per-request log line says the call was answered)
  {
    std::unique_lock lock(log_mu_);
    ASSERT_TRUE(log_cv_.wait_for(lock, std::chrono::seconds(10), [&] {
      for (size_t i = mark; i < log_lines_.size(); ++i) {
        Json line = Json::parse(log_lines_[i], nullptr, false);
        if (line.value("msg", "") == "mcp request" && line.value("request_id", "") == "42") return true;
      }
      return false;
    }));
  }
  events = resume(primed2);
  EXPECT_EQ(answers(events, 42), 1) << Json(events).dump();
  // Resuming the same id again replays it again (a client that lost the resumed stream too).
  events = resume(primed2);
  EXPECT_EQ(answers(events, 42), 1) << Json(events).dump();
  gw->Stop(std::chrono::seconds(2));
}

}  // namespace
}  // namespace vmcp
