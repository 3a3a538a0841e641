// A native MCP load generator on the project's own HTTP client. Every mode prints one JSON object on
// stdout (the idle mode prints it once the sessions are open, then waits).
//
//   loadgen --url=http://127.0.0.1:4483/mcp --mode=call --concurrency=32 --duration=10 [--warmup=2]
//   loadgen --url=... --mode=call --concurrency=64 --rate=5000 --duration=5     (open loop)
//   loadgen --url=... --mode=list --iterations=5 --expect_tools=5000
//   loadgen --url=... --mode=idle --sessions=10000                              (then a line on stdin)
//   loadgen --url=... --bearer=TOKEN ...           (every request carries Authorization: Bearer TOKEN)
//
// call: S sessions (each: initialize, notifications/initialized, then tools/call in a loop with unique
//   ids and unique echo texts) over the client's keep-alive pool. Closed loop: each session sends its
//   next call when the last one is answered, until --duration seconds or --requests calls in total.
//   Open loop (--rate): calls are scheduled at a fixed rate over all sessions; a call's latency runs
//   from its scheduled send time, so a stalled server is charged for the calls it delayed (no
//   coordinated omission). Latencies go into an HDR-style log-linear histogram.
// list: the time from initialize to a complete tools/list (every page, following nextCursor), per
//   fresh session.
// idle: opens N sessions (initialize + notifications/initialized) and keeps them, so the harness can
//   read the server's memory; exits on a line (or end of input) on stdin, or SIGINT/SIGTERM.
//
// An error is any transport failure, any non-2xx answer, a JSON-RPC error, a result with isError, or an
// answer that is not the one asked for (wrong id, echo text not returned).

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <future>
#include <iostream>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/use_future.hpp>
#include <nlohmann/json.hpp>

#include "absl/strings/str_cat.h"
#include "bench/flags.h"
#include "bench/histogram.h"
#include "transport/client.h"
#include "transport/sse.h"

namespace vmcp::bench {
namespace {

namespace asio = boost::asio;
using Json = nlohmann::json;
using Clock = std::chrono::steady_clock;
using transport::Duration;

enum class ErrorKind { kNone, kTransport, kHttp, kJsonRpc, kTool, kProtocol };

const char* KindName(ErrorKind k) {
  switch (k) {
    case ErrorKind::kTransport: return "transport";
    case ErrorKind::kHttp: return "http";
    case ErrorKind::kJsonRpc: return "jsonrpc";
    case ErrorKind::kTool: return "tool";
    case ErrorKind::kProtocol: return "protocol";
    default: return "none";
  }
}

struct Options {
  transport::Url url;
  transport::Endpoint endpoint;
  std::string accept = "application/json, text/event-stream";
  std::string protocol = "2025-06-18";
  std::string tool = "tool_0";
  std::string authorization;  // "Bearer <token>" on every request when set (--bearer)
  size_t text_bytes = 16;
  Duration timeout = std::chrono::seconds(30);
};

// What one exchange came to.
struct Outcome {
  ErrorKind kind = ErrorKind::kNone;
  std::string error;
  Json result;
  std::string session;  // Mcp-Session-Id of the answer
  bool ok() const { return kind == ErrorKind::kNone; }
};

Outcome Fail(ErrorKind kind, std::string why) {
  Outcome o;
  o.kind = kind;
  o.error = std::move(why);
  return o;
}

// Error counts by kind, and the first message of each kind seen (to say what went wrong).
struct Errors {
  uint64_t transport = 0, http = 0, jsonrpc = 0, tool = 0, protocol = 0;
  std::string first;

  void Add(const Outcome& o) {
    switch (o.kind) {
      case ErrorKind::kTransport: ++transport; break;
      case ErrorKind::kHttp: ++http; break;
      case ErrorKind::kJsonRpc: ++jsonrpc; break;
      case ErrorKind::kTool: ++tool; break;
      case ErrorKind::kProtocol: ++protocol; break;
      default: return;
    }
    if (first.empty()) first = absl::StrCat(KindName(o.kind), ": ", o.error.substr(0, 300));
  }
  void Merge(const Errors& e) {
    transport += e.transport;
    http += e.http;
    jsonrpc += e.jsonrpc;
    tool += e.tool;
    protocol += e.protocol;
    if (first.empty()) first = e.first;
  }
  uint64_t total() const { return transport + http + jsonrpc + tool + protocol; }
  Json ToJson() const {
    Json j{{"total", total()}, {"transport", transport}, {"http", http}, {"jsonrpc", jsonrpc}, {"tool", tool}, {"protocol", protocol}};
    if (!first.empty()) j["first"] = first;
    return j;
  }
};

// One MCP client session over the shared client's pool.
class Session {
 public:
  Session(transport::HttpClient& client, const Options& options, int index)
      : client_(client), options_(options), index_(index) {}

  // initialize, then notifications/initialized.
  asio::awaitable<Outcome> Open() {
    Json params{{"protocolVersion", options_.protocol},
                {"capabilities", Json::object()},
                {"clientInfo", {{"name", "vmcp-loadgen"}, {"version", "1.0.0"}}}};
    std::string body = Request(next_id_++, "initialize", params);
    Outcome init = co_await Post(std::move(body), next_id_ - 1);
    if (!init.ok()) co_return init;
    if (init.session.empty()) co_return Fail(ErrorKind::kProtocol, "initialize answered without Mcp-Session-Id");
    session_ = init.session;
    if (init.result.contains("protocolVersion") && init.result["protocolVersion"].is_string()) {
      protocol_ = init.result["protocolVersion"].get<std::string>();
    }
    std::string note = R"({"jsonrpc":"2.0","method":"notifications/initialized"})";
    Outcome n = co_await Post(std::move(note), std::nullopt);
    if (!n.ok()) co_return n;
    co_return init;
  }

  // One tools/call of the echo tool with a text unique to this call, checked on the way back.
  asio::awaitable<Outcome> CallEcho() {
    const int64_t id = next_id_++;
    std::string text = absl::StrCat("s", index_, "-c", id, "-");
    if (text.size() < options_.text_bytes) text.append(options_.text_bytes - text.size(), 'a');
    Json params{{"name", options_.tool}, {"arguments", {{"text", text}}}};
    std::string body = Request(id, "tools/call", params);
    Outcome o = co_await Post(std::move(body), id);
    if (!o.ok()) co_return o;
    if (o.result.value("isError", false)) co_return Fail(ErrorKind::kTool, o.result.dump().substr(0, 300));
    const Json& content = o.result.contains("content") ? o.result["content"] : Json();
    if (!content.is_array() || content.empty() || !content[0].contains("text") || !content[0]["text"].is_string() ||
        content[0]["text"].get_ref<const std::string&>().compare(0, text.size(), text) != 0) {
      co_return Fail(ErrorKind::kProtocol, "the echo did not return the text sent: " + o.result.dump().substr(0, 200));
    }
    co_return o;
  }

  // Every page of tools/list; the number of tools, or the failure.
  asio::awaitable<std::pair<Outcome, size_t>> ListTools() {
    size_t tools = 0;
    Json cursor;
    for (int page = 0; page < 100000; ++page) {
      Json params = Json::object();
      if (!cursor.is_null()) params["cursor"] = cursor;
      const int64_t id = next_id_++;
      std::string body = Request(id, "tools/list", params);
      Outcome o = co_await Post(std::move(body), id);
      if (!o.ok()) co_return std::pair{o, tools};
      if (!o.result.contains("tools") || !o.result["tools"].is_array()) {
        co_return std::pair{Fail(ErrorKind::kProtocol, "tools/list result without tools"), tools};
      }
      tools += o.result["tools"].size();
      if (!o.result.contains("nextCursor") || !o.result["nextCursor"].is_string()) co_return std::pair{o, tools};
      if (o.result["nextCursor"] == cursor) co_return std::pair{Fail(ErrorKind::kProtocol, "nextCursor repeats"), tools};
      cursor = o.result["nextCursor"];
    }
    co_return std::pair{Fail(ErrorKind::kProtocol, "too many pages"), tools};
  }

  asio::awaitable<Outcome> Close() {
    transport::Request req = BaseRequest("DELETE");
    auto r = co_await client_.Send(options_.url, std::move(req), options_.endpoint, options_.timeout);
    if (!r.ok()) co_return Fail(ErrorKind::kTransport, std::string(r.status().message()));
    if (r->status < 200 || r->status >= 300) co_return Fail(ErrorKind::kHttp, absl::StrCat("DELETE answered HTTP ", r->status));
    co_return Outcome();
  }

 private:
  static std::string Request(int64_t id, const char* method, const Json& params) {
    return Json{{"jsonrpc", "2.0"}, {"id", id}, {"method", method}, {"params", params}}.dump();
  }

  transport::Request BaseRequest(const char* method) const {
    transport::Request req;
    req.method = method;
    req.target = options_.url.target;
    if (!options_.authorization.empty()) req.headers.Set("Authorization", options_.authorization);
    if (!session_.empty()) {
      req.headers.Set("Mcp-Session-Id", session_);
      req.headers.Set("MCP-Protocol-Version", protocol_);
    }
    return req;
  }

  // POSTs one message; for a request (`id`), finds its answer in a JSON body or an SSE stream.
  asio::awaitable<Outcome> Post(std::string body, std::optional<int64_t> id) {
    transport::Request req = BaseRequest("POST");
    req.headers.Set("Content-Type", "application/json");
    req.headers.Set("Accept", options_.accept);
    req.body = std::move(body);
    auto r = co_await client_.Send(options_.url, std::move(req), options_.endpoint, options_.timeout);
    if (!r.ok()) co_return Fail(ErrorKind::kTransport, std::string(r.status().message()));
    if (r->status < 200 || r->status >= 300) {
      co_return Fail(ErrorKind::kHttp, absl::StrCat("HTTP ", r->status, ": ", r->body.substr(0, 200)));
    }
    if (!id) co_return Outcome();
    Json message;
    const std::string_view type = r->headers.Get("Content-Type").value_or("");
    if (type.find("text/event-stream") != std::string_view::npos) {
      transport::SseParser parser;
      std::vector<transport::SseEvent> events;
      if (!parser.Feed(r->body, events).ok()) co_return Fail(ErrorKind::kProtocol, "malformed SSE answer");
      for (const transport::SseEvent& ev : events) {
        if (ev.data.empty()) continue;  // a priming event
        Json m = Json::parse(ev.data, nullptr, false);
        if (m.is_object() && m.contains("id") && m["id"] == *id && !m.contains("method")) {
          message = std::move(m);
          break;
        }
      }
      if (message.is_null()) co_return Fail(ErrorKind::kProtocol, "the SSE answer holds no response to the request");
    } else {
      message = Json::parse(r->body, nullptr, false);
      if (message.is_discarded() || !message.is_object()) co_return Fail(ErrorKind::kProtocol, "the answer is not a JSON object");
      if (!message.contains("id") || message["id"] != *id) co_return Fail(ErrorKind::kProtocol, "the answer's id is not the request's");
    }
    if (message.contains("error")) co_return Fail(ErrorKind::kJsonRpc, message["error"].dump());
    if (!message.contains("result")) co_return Fail(ErrorKind::kProtocol, "response without result");
    Outcome o;
    o.result = std::move(message["result"]);
    if (auto sid = r->headers.Get("Mcp-Session-Id")) o.session = std::string(*sid);
    co_return o;
  }

  transport::HttpClient& client_;
  const Options& options_;
  const int index_;
  int64_t next_id_ = 1;
  std::string session_;
  std::string protocol_;
};

// The io threads and the client, torn down in the right order (client first, while io still runs).
class Runtime {
 public:
  Runtime(int threads, size_t max_connections) : work_(asio::make_work_guard(ioc_)) {
    transport::ClientOptions co;
    co.max_connections_per_origin = max_connections;
    co.pool_wait_timeout = std::chrono::seconds(60);
    for (int i = 0; i < threads; ++i) threads_.emplace_back([this] { ioc_.run(); });
    client_ = std::make_unique<transport::HttpClient>(ioc_.get_executor(), co);
  }
  ~Runtime() {
    client_.reset();
    work_.reset();
    ioc_.stop();
    for (auto& t : threads_) t.join();
  }
  asio::io_context& ioc() { return ioc_; }
  transport::HttpClient& client() { return *client_; }

 private:
  asio::io_context ioc_;
  asio::executor_work_guard<asio::io_context::executor_type> work_;
  std::vector<std::thread> threads_;
  std::unique_ptr<transport::HttpClient> client_;
};

// --- call mode ---------------------------------------------------------------------------------------

struct LoadPlan {
  Clock::time_point start;          // of the schedule (open loop) / of the measurement
  Clock::time_point measure_from;   // start + warmup: earlier calls are not recorded
  Clock::time_point deadline;       // no call is started (closed) or scheduled (open) at or after this
  uint64_t max_requests = 0;        // 0: by duration
  double rate = 0;                  // calls per second over all sessions; 0: closed loop
  std::atomic<uint64_t> tickets{0};
};

struct WorkerStats {
  Histogram latency;
  Errors errors;
  uint64_t ok = 0;
  uint64_t recorded_errors = 0;
  Clock::time_point last_done{};
};

asio::awaitable<void> ClosedLoop(Session& session, LoadPlan& plan, WorkerStats& stats) {
  for (;;) {
    const auto t0 = Clock::now();
    if (plan.max_requests ? plan.tickets.fetch_add(1) >= plan.max_requests : t0 >= plan.deadline) break;
    Outcome o = co_await session.CallEcho();
    const auto t1 = Clock::now();
    stats.last_done = t1;
    stats.errors.Add(o);
    if (t0 < plan.measure_from) continue;
    if (o.ok()) {
      ++stats.ok;
      stats.latency.Record(static_cast<uint64_t>((t1 - t0).count()));
    } else {
      ++stats.recorded_errors;
    }
  }
}

asio::awaitable<void> OpenLoop(Session& session, LoadPlan& plan, WorkerStats& stats) {
  asio::steady_timer timer(co_await asio::this_coro::executor);
  const double ns_per_call = 1e9 / plan.rate;
  for (;;) {
    const uint64_t k = plan.tickets.fetch_add(1);
    const auto scheduled = plan.start + std::chrono::nanoseconds(static_cast<int64_t>(std::llround(static_cast<double>(k) * ns_per_call)));
    if (plan.max_requests ? k >= plan.max_requests : scheduled >= plan.deadline) break;
    if (Clock::now() < scheduled) {
      timer.expires_at(scheduled);
      co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));
    }
    Outcome o = co_await session.CallEcho();
    const auto t1 = Clock::now();
    stats.last_done = t1;
    stats.errors.Add(o);
    if (scheduled < plan.measure_from) continue;
    if (o.ok()) {
      ++stats.ok;
      stats.latency.Record(static_cast<uint64_t>((t1 - scheduled).count()));
    } else {
      ++stats.recorded_errors;
    }
  }
}

asio::awaitable<Outcome> OpenSession(Session& session) { co_return co_await session.Open(); }

asio::awaitable<void> RunWorker(Session& session, LoadPlan& plan, WorkerStats& stats) {
  if (plan.rate > 0) {
    co_await OpenLoop(session, plan, stats);
  } else {
    co_await ClosedLoop(session, plan, stats);
  }
}

Json LatencyJson(const Histogram& h) {
  auto us = [](uint64_t ns) { return std::round(static_cast<double>(ns) / 10.0) / 100.0; };
  return Json{{"count", h.count()},  {"min", us(h.min())},         {"mean", us(static_cast<uint64_t>(h.mean()))},
              {"p50", us(h.Percentile(0.5))}, {"p90", us(h.Percentile(0.9))}, {"p99", us(h.Percentile(0.99))},
              {"p999", us(h.Percentile(0.999))}, {"max", us(h.max())}};
}

int RunCalls(const Flags& flags, const Options& options, Json& out) {
  const int concurrency = static_cast<int>(flags.Int("concurrency", 1));
  const double duration = flags.Double("duration", 10);
  const double warmup = flags.Double("warmup", 0);
  const int64_t requests = flags.Int("requests", 0);
  const double rate = flags.Double("rate", 0);
  if (concurrency < 1) Flags::Fail("--concurrency must be at least 1");
  if (requests < 0 || duration <= 0 || warmup < 0 || rate < 0) Flags::Fail("--requests, --duration, --warmup and --rate must be positive");

  Runtime rt(static_cast<int>(flags.Int("threads", 1)), static_cast<size_t>(concurrency) + 8);
  std::vector<std::unique_ptr<Session>> sessions;
  for (int i = 0; i < concurrency; ++i) sessions.push_back(std::make_unique<Session>(rt.client(), options, i));

  // Every session is opened before the clock starts.
  Errors setup_errors;
  std::vector<bool> usable(concurrency, false);
  {
    std::vector<std::future<Outcome>> opened;
    for (auto& s : sessions) opened.push_back(asio::co_spawn(rt.ioc(), OpenSession(*s), asio::use_future));
    for (int i = 0; i < concurrency; ++i) {
      Outcome o = opened[i].get();
      setup_errors.Add(o);
      usable[i] = o.ok();
    }
  }

  LoadPlan plan;
  plan.start = Clock::now();
  plan.measure_from = plan.start + std::chrono::nanoseconds(static_cast<int64_t>(warmup * 1e9));
  plan.deadline = plan.measure_from + std::chrono::nanoseconds(static_cast<int64_t>(duration * 1e9));
  plan.max_requests = static_cast<uint64_t>(requests);
  if (requests > 0) plan.measure_from = plan.start;
  plan.rate = rate;
  std::vector<WorkerStats> stats(concurrency);
  {
    std::vector<std::future<void>> running;
    for (int i = 0; i < concurrency; ++i) {
      if (usable[i]) running.push_back(asio::co_spawn(rt.ioc(), RunWorker(*sessions[i], plan, stats[i]), asio::use_future));
    }
    for (auto& f : running) f.get();
  }

  Histogram latency;
  Errors errors = setup_errors;
  uint64_t ok = 0, recorded_errors = 0;
  Clock::time_point last = plan.measure_from;
  for (const WorkerStats& s : stats) {
    latency.Merge(s.latency);
    errors.Merge(s.errors);
    ok += s.ok;
    recorded_errors += s.recorded_errors;
    last = std::max(last, s.last_done);
  }
  const double elapsed = std::chrono::duration<double>(last - plan.measure_from).count();
  out["mode"] = "call";
  out["loop"] = rate > 0 ? "open" : "closed";
  out["concurrency"] = concurrency;
  if (rate > 0) out["offered_rps"] = rate;
  out["warmup_s"] = requests > 0 ? 0.0 : warmup;
  out["elapsed_s"] = std::round(elapsed * 1000) / 1000;
  out["ok"] = ok;
  out["requests"] = ok + recorded_errors;
  out["throughput_rps"] = elapsed > 0 ? std::round(static_cast<double>(ok) / elapsed * 10) / 10 : 0.0;
  out["latency_us"] = LatencyJson(latency);
  out["errors"] = errors.ToJson();
  out["setup_errors"] = setup_errors.total();
  return errors.total() == 0 ? 0 : 3;
}

// --- list mode ----------------------------------------------------------------------------------------

asio::awaitable<void> ListOnce(Session& session, Errors& errors, double& init_ms, double& total_ms, size_t& tools) {
  const auto t0 = Clock::now();
  Outcome o = co_await session.Open();
  const auto t1 = Clock::now();
  errors.Add(o);
  if (!o.ok()) co_return;
  auto [listed, count] = co_await session.ListTools();
  const auto t2 = Clock::now();
  errors.Add(listed);
  tools = count;
  init_ms = std::chrono::duration<double, std::milli>(t1 - t0).count();
  total_ms = std::chrono::duration<double, std::milli>(t2 - t0).count();
  Outcome closed = co_await session.Close();
  errors.Add(closed);
}

int RunList(const Flags& flags, const Options& options, Json& out) {
  const int iterations = static_cast<int>(flags.Int("iterations", 5));
  const int64_t expect = flags.Int("expect_tools", -1);
  Runtime rt(1, 8);
  Errors errors;
  std::vector<double> totals, inits;
  size_t tools = 0;
  for (int i = 0; i < iterations; ++i) {
    Session session(rt.client(), options, i);
    double init_ms = 0, total_ms = 0;
    size_t count = 0;
    asio::co_spawn(rt.ioc(), ListOnce(session, errors, init_ms, total_ms, count), asio::use_future).get();
    if (expect >= 0 && count != static_cast<size_t>(expect)) {
      Outcome o = Fail(ErrorKind::kProtocol, absl::StrCat("listed ", count, " tools, expected ", expect));
      errors.Add(o);
    }
    tools = count;
    totals.push_back(total_ms);
    inits.push_back(init_ms);
  }
  auto summary = [](std::vector<double> v) {
    std::sort(v.begin(), v.end());
    auto r = [](double x) { return std::round(x * 100) / 100; };
    Json all = Json::array();
    for (double x : v) all.push_back(r(x));
    return Json{{"min", r(v.front())}, {"median", r(v[v.size() / 2])}, {"max", r(v.back())}, {"all", all}};
  };
  out["mode"] = "list";
  out["iterations"] = iterations;
  out["tools"] = tools;
  if (iterations > 0) {
    out["total_ms"] = summary(totals);
    out["initialize_ms"] = summary(inits);
  }
  out["errors"] = errors.ToJson();
  return errors.total() == 0 ? 0 : 3;
}

// --- idle mode ----------------------------------------------------------------------------------------

asio::awaitable<void> OpenMany(std::vector<std::unique_ptr<Session>>& sessions, std::atomic<size_t>& next, Errors& errors,
                               uint64_t& opened) {
  for (;;) {
    const size_t i = next.fetch_add(1);
    if (i >= sessions.size()) break;
    Outcome o = co_await sessions[i]->Open();
    errors.Add(o);
    if (o.ok()) ++opened;
  }
}

asio::awaitable<void> CloseMany(std::vector<std::unique_ptr<Session>>& sessions, std::atomic<size_t>& next, Errors& errors) {
  for (;;) {
    const size_t i = next.fetch_add(1);
    if (i >= sessions.size()) break;
    Outcome o = co_await sessions[i]->Close();
    errors.Add(o);
  }
}

int RunIdle(const Flags& flags, const Options& options, Json& out) {
  const int64_t n = flags.Int("sessions", 1000);
  const int parallel = static_cast<int>(flags.Int("concurrency", 32));
  if (n < 0 || parallel < 1) Flags::Fail("--sessions must not be negative, --concurrency at least 1");
  Runtime rt(1, static_cast<size_t>(parallel) + 8);
  std::vector<std::unique_ptr<Session>> sessions;
  for (int64_t i = 0; i < n; ++i) sessions.push_back(std::make_unique<Session>(rt.client(), options, static_cast<int>(i)));
  std::vector<Errors> errors(parallel);
  std::vector<uint64_t> opened(parallel, 0);
  std::atomic<size_t> next{0};
  const auto t0 = Clock::now();
  {
    std::vector<std::future<void>> workers;
    for (int w = 0; w < parallel; ++w) {
      workers.push_back(asio::co_spawn(rt.ioc(), OpenMany(sessions, next, errors[w], opened[w]), asio::use_future));
    }
    for (auto& f : workers) f.get();
  }
  const double seconds = std::chrono::duration<double>(Clock::now() - t0).count();
  Errors all;
  uint64_t total_opened = 0;
  for (int w = 0; w < parallel; ++w) {
    all.Merge(errors[w]);
    total_opened += opened[w];
  }
  Json ready{{"mode", "idle"}, {"state", "open"}, {"sessions", n}, {"opened", total_opened},
             {"open_s", std::round(seconds * 1000) / 1000}, {"errors", all.ToJson()}};
  std::cout << ready.dump() << std::endl;
  // Held until the harness has read the server's memory.
  std::string line;
  std::getline(std::cin, line);
  if (flags.Bool("close", false)) {
    std::vector<Errors> close_errors(parallel);
    next = 0;
    std::vector<std::future<void>> workers;
    for (int w = 0; w < parallel; ++w) {
      workers.push_back(asio::co_spawn(rt.ioc(), CloseMany(sessions, next, close_errors[w]), asio::use_future));
    }
    for (auto& f : workers) f.get();
    for (const Errors& e : close_errors) all.Merge(e);
  }
  for (auto& [key, value] : ready.items()) out[key] = value;
  out["state"] = "done";
  out["errors"] = all.ToJson();
  return all.total() == 0 ? 0 : 3;
}

int Main(int argc, char** argv) {
  Flags flags(argc, argv,
              {"url", "ca", "mode", "concurrency", "duration", "warmup", "requests", "rate", "threads", "timeout", "tool",
               "text_bytes", "accept", "protocol", "iterations", "expect_tools", "sessions", "close", "label", "bearer"});
  Options options;
  auto url = transport::ParseUrl(flags.Str("url", "http://127.0.0.1:4483/mcp"));
  if (!url.ok()) Flags::Fail(absl::StrCat("--url: ", url.status().message()));
  options.url = *url;
  options.endpoint.ca_bundle_path = flags.Str("ca");
  const std::string accept = flags.Str("accept", "both");
  if (accept == "json") {
    options.accept = "application/json";
  } else if (accept != "both") {
    Flags::Fail("--accept is both or json");
  }
  options.protocol = flags.Str("protocol", options.protocol);
  options.tool = flags.Str("tool", options.tool);
  if (flags.Has("bearer")) {
    if (flags.Str("bearer").empty()) Flags::Fail("--bearer needs a token");
    options.authorization = "Bearer " + flags.Str("bearer");
  }
  options.text_bytes = static_cast<size_t>(flags.Int("text_bytes", 16));
  options.timeout = std::chrono::milliseconds(static_cast<int64_t>(flags.Double("timeout", 30) * 1000));

  Json out;
  if (flags.Has("label")) out["label"] = flags.Str("label");
  out["url"] = options.url.ToString();
  const std::string mode = flags.Str("mode", "call");
  int rc = 0;
  if (mode == "call") {
    rc = RunCalls(flags, options, out);
  } else if (mode == "list") {
    rc = RunList(flags, options, out);
  } else if (mode == "idle") {
    rc = RunIdle(flags, options, out);
  } else {
    Flags::Fail("--mode is call, list or idle");
  }
  std::cout << out.dump() << std::endl;
  return rc;
}

}  // namespace
}  // namespace vmcp::bench

int main(int argc, char** argv) { return vmcp::bench::Main(argc, argv); }
