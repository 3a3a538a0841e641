// Backend sessions over streamable HTTP and legacy HTTP+SSE.

#include "gateway/backend_session.h"

#include <atomic>
#include <charconv>
#include <map>
#include <set>
#include <mutex>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/experimental/concurrent_channel.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "gateway/backoff.h"
#include "transport/sse.h"

namespace vmcp::gateway {
namespace {

namespace asio = boost::asio;
using transport::Duration;
using Clock = std::chrono::steady_clock;
constexpr auto kTuple = asio::as_tuple(asio::use_awaitable);
constexpr size_t kMaxJsonBody = 100 * 1024 * 1024;

bool IsEventStream(const transport::Headers& h) {
  auto ct = h.Get("Content-Type");
  return ct && ct->find("text/event-stream") != std::string_view::npos;
}

// Feeds one chunk of a stream to `parser` and passes each event that carries a JSON message to `fn`
// (events without one, like a priming event, are skipped). False when the stream is malformed.
template <typename Fn>
bool FeedMessages(transport::SseParser& parser, const std::string& chunk, std::vector<transport::SseEvent>& events, Fn&& fn) {
  events.clear();
  if (!parser.Feed(chunk, events).ok()) return false;
  for (transport::SseEvent& ev : events) {
    Json m = Parse(ev.data);
    if (!m.is_discarded()) fn(m);
  }
  return true;
}

// Shared by both transports: identity, negotiated state, ids.
class BackendBase : public BackendSession {
 public:
  BackendBase(std::shared_ptr<transport::HttpClient> client, BackendTarget target, std::shared_ptr<BackendEvents> events)
      : client_(std::move(client)), target_(std::move(target)), events_(std::move(events)) {}
  ~BackendBase() override { CountClosed(); }

  // Both counted toward the backend's metrics; the transports implement Open and Send.
  asio::awaitable<absl::Status> Initialize(Json client_capabilities) override {
    const auto started = Clock::now();
    absl::Status s = co_await Open(std::move(client_capabilities));
    if (target_.metrics) {
      target_.metrics->method(MethodIndex("initialize")).Record(Clock::now() - started, !s.ok());
      if (s.ok() && !counted_open_.exchange(true)) {
        target_.metrics->sessions_opened.fetch_add(1, std::memory_order_relaxed);
        target_.metrics->sessions_active.fetch_add(1, std::memory_order_relaxed);
      } else if (!s.ok()) {
        target_.metrics->connect_failures.fetch_add(1, std::memory_order_relaxed);
      }
    }
    co_return s;
  }
  asio::awaitable<absl::StatusOr<Json>> Call(std::string method, Json params,
                                             std::shared_ptr<BackendEvents> call_events) override {
    OutgoingRequest request = OutgoingRequest::Of(std::move(method), params);
    auto answer = co_await Forward(std::move(request), std::move(call_events), /*text_ok=*/false);
    if (!answer.ok()) co_return answer.status();
    co_return std::move(answer->message);
  }
  asio::awaitable<absl::StatusOr<BackendAnswer>> Forward(OutgoingRequest request, std::shared_ptr<BackendEvents> call_events,
                                                         bool text_ok) override {
    const size_t index = MethodIndex(request.method);
    const auto started = Clock::now();
    if (target_.health && target_.health->Admit(started) == BackendHealth::Admission::kReject) {
      if (target_.metrics) target_.metrics->method(index).Record(Duration::zero(), true);
      co_return target_.health->Rejected(started);
    }
    in_flight_.fetch_add(1);
    auto response = co_await Send(std::move(request), std::move(call_events), text_ok);
    in_flight_.fetch_sub(1);
    // The breaker learns from transport outcomes; an answer (even a JSON-RPC error) means the backend is up.
    if (target_.health) target_.health->RecordCall(response.status(), Clock::now());
    if (target_.metrics) {
      const bool error = !response.ok() || response->is_error();
      target_.metrics->method(index).Record(Clock::now() - started, error);
    }
    co_return response;
  }

  const std::string& name() const override { return target_.name; }
  int in_flight() const override { return in_flight_.load(); }
  transport::Duration timeout() const override { return target_.timeout; }
  Json capabilities() const override {
    std::lock_guard lock(mu_);
    return capabilities_;
  }
  Json server_info() const override {
    std::lock_guard lock(mu_);
    return server_info_;
  }
  std::string protocol_version() const override {
    std::lock_guard lock(mu_);
    return protocol_version_;
  }

 protected:
  int64_t NextId() { return next_id_++; }

  transport::Request BaseRequest(std::string method) const {
    transport::Request r;
    r.method = std::move(method);
    for (const auto& [k, v] : target_.headers) r.headers.Set(k, v);
    std::lock_guard lock(mu_);
    if (!protocol_version_.empty()) r.headers.Set("MCP-Protocol-Version", protocol_version_);
    if (!session_id_.empty()) r.headers.Set("Mcp-Session-Id", session_id_);
    return r;
  }

  // Adds the per-request headers (auth strategy, forwarded client headers) to `req`.
  asio::awaitable<absl::Status> Decorate(transport::Request& req, const BackendEvents* call) {
    if (!target_.header_source) co_return absl::OkStatus();
    auto headers = co_await target_.header_source->Headers(call);
    if (!headers.ok()) co_return Failure(headers.status());
    for (const auto& [name, value] : *headers) req.headers.Set(name, value);
    co_return absl::OkStatus();
  }

  // A duration in milliseconds, to the microsecond (as log lines write durations).
  static double Millis(Clock::duration d) {
    return static_cast<double>(std::chrono::round<std::chrono::microseconds>(d).count()) / 1000.0;
  }

  void Audit(int http_status, const absl::Status& failure, Clock::time_point started, bool auth_failed = false) const {
    if (!target_.audit) return;
    const absl::string_view why = failure.message();
    BackendExchange e{&target_.name, &target_.url, http_status, std::string_view(why.data(), why.size()),
                      Millis(Clock::now() - started), auth_failed};
    target_.audit(e);
  }

  // W3C trace context of the call this request belongs to (its span is the gateway's client span).
  static void AddTrace(transport::Request& req, const TraceContext* trace) {
    if (trace == nullptr) return;
    req.headers.Set("traceparent", trace->Traceparent());
    if (!trace->tracestate.empty()) req.headers.Set("tracestate", trace->tracestate);
  }

  absl::Status Failure(std::string_view what) const {
    return absl::UnavailableError(absl::StrCat("backend ", target_.name, ": ", std::string(what)));
  }
  absl::Status Failure(const absl::Status& s) const {
    return transport::CopyNotSentMark(s, absl::Status(s.code(), absl::StrCat("backend ", target_.name, ": ", s.message())));
  }
  // A non-2xx answer: 401 and 403 keep their meaning (the backend is up but refuses the credentials).
  absl::Status HttpFailure(int status, std::string_view what) const {
    const std::string text = absl::StrCat("backend ", target_.name, ": ", std::string(what));
    if (status == 401) return absl::UnauthenticatedError(text);
    if (status == 403) return absl::PermissionDeniedError(text);
    return absl::UnavailableError(text);
  }

  // A request whose connection did not open (the backend restarting) is opened again: a failure that
  // never sent the request is retried with backoff while the backend looks up, within
  // connect_retry_window and the request's own deadline. `opened` is the first attempt's outcome (made
  // by the caller: most requests need no more, and then no coroutine of this).
  bool MayRetryOpen(const absl::Status& failure) const {
    return transport::WasNotSent(failure) && failure.code() == absl::StatusCode::kUnavailable && !closed_ &&
           (!target_.health || target_.health->LooksUp());
  }
  asio::awaitable<absl::StatusOr<std::unique_ptr<transport::ResponseStream>>> RetryOpen(
      const transport::Request& req, Clock::time_point deadline,
      absl::StatusOr<std::unique_ptr<transport::ResponseStream>> opened) {
    const auto window_end = std::min(deadline, Clock::now() + target_.connect_retry_window);
    Backoff backoff(std::chrono::milliseconds(100), std::chrono::seconds(2));
    while (!opened.ok() && MayRetryOpen(opened.status())) {
      const auto wait = backoff.Next();
      if (Clock::now() + wait >= window_end) break;
      asio::steady_timer timer(co_await asio::this_coro::executor);
      timer.expires_after(wait);
      co_await timer.async_wait(kTuple);
      opened = co_await client_->Open(target_.url, req, target_.endpoint);
    }
    co_return opened;
  }

  // Takes the initialize result; one of the wrong shape fails the session, naming the field.
  absl::Status Adopt(const Json& response) {
    if (!response.is_object()) return Failure("initialize answered with a message that is not a JSON object");
    if (auto error = response.find("error"); error != response.end()) {
      const auto message = error->is_object() ? error->find("message") : error->end();
      const bool text = error->is_object() && message != error->end() && message->is_string();
      return Failure(absl::StrCat("initialize failed: ", text ? message->get<std::string>() : Dump(*error)));
    }
    const auto result = response.find("result");
    if (result == response.end() || !result->is_object()) return Failure("initialize result is not a JSON object");
    const auto field = [&](const char* key) { return result->contains(key) ? &(*result)[key] : nullptr; };
    const Json* capabilities = field("capabilities");
    const Json* server_info = field("serverInfo");
    const Json* version = field("protocolVersion");
    const auto wrong = [&](const char* key, const char* want, const Json& value) {
      return Failure(absl::StrCat("initialize result: ", key, " must be ", want, ", not ", value.type_name()));
    };
    if (capabilities && !capabilities->is_object()) return wrong("capabilities", "an object", *capabilities);
    if (server_info && !server_info->is_object()) return wrong("serverInfo", "an object", *server_info);
    if (version && !version->is_string()) return wrong("protocolVersion", "a string", *version);
    std::lock_guard lock(mu_);
    capabilities_ = capabilities ? *capabilities : Json::object();
    server_info_ = server_info ? *server_info : Json::object();
    protocol_version_ = version ? version->get<std::string>() : std::string(kLatestProtocolVersion);
    return absl::OkStatus();
  }

  static Json InitializeParams(const Json& client_capabilities) {
    return Json{{"protocolVersion", kLatestProtocolVersion},
                {"capabilities", client_capabilities.is_object() ? client_capabilities : Json::object()},
                {"clientInfo", {{"name", "vmcp"}, {"version", "0.1.0"}}}};
  }

  // Routes a message the backend sent that is not an answer we wait for.
  void Dispatch(const Json& message, const std::shared_ptr<BackendEvents>& call_events,
                const std::shared_ptr<BackendSession>& self) {
    auto sink = call_events ? call_events : events_;
    switch (Classify(message)) {
      case MessageKind::kNotification:
        if (sink) sink->OnNotification(target_.name, message);
        break;
      case MessageKind::kRequest:
        if (sink) {
          asio::co_spawn(client_executor_, AnswerRequest(self, sink, message), asio::detached);
        } else {
          Json id = message["id"];
          Json error = MethodNotFound(message);
          asio::co_spawn(client_executor_, Reply(self, std::move(id), Json(), std::move(error)), asio::detached);
        }
        break;
      default:
        break;
    }
  }

  static Json MethodNotFound(const Json& request) {
    return Json{{"code", kMethodNotFound},
                {"message", absl::StrCat("the gateway's client cannot answer ", request.value("method", std::string()))}};
  }

  asio::awaitable<void> AnswerRequest(std::shared_ptr<BackendSession> self, std::shared_ptr<BackendEvents> sink,
                                      Json request) {
    const Json id = request["id"];
    BackendEvents::Answer answer = co_await sink->OnRequest(target_.name, std::move(request));
    co_await Reply(self, id, std::move(answer.result), std::move(answer.error));
  }

  // Sends our answer to a backend's request.
  virtual asio::awaitable<void> Reply(std::shared_ptr<BackendSession> self, Json id, Json result, Json error) = 0;
  // initialize + notifications/initialized (+ the transport's streams).
  virtual asio::awaitable<absl::Status> Open(Json client_capabilities) = 0;
  // One request; the whole response message (a result as text, when `text_ok` and the transport can).
  virtual asio::awaitable<absl::StatusOr<BackendAnswer>> Send(OutgoingRequest request,
                                                              std::shared_ptr<BackendEvents> call_events, bool text_ok) = 0;

  void CountClosed() {
    if (target_.metrics && counted_open_.exchange(false)) {
      target_.metrics->sessions_active.fetch_sub(1, std::memory_order_relaxed);
    }
  }
  void CountResumption() {
    if (target_.metrics) target_.metrics->stream_resumptions.fetch_add(1, std::memory_order_relaxed);
  }

  std::shared_ptr<transport::HttpClient> client_;
  BackendTarget target_;
  std::shared_ptr<BackendEvents> events_;
  asio::any_io_executor client_executor_;
  mutable std::mutex mu_;
  std::string session_id_;
  std::string protocol_version_;
  Json capabilities_ = Json::object();
  Json server_info_ = Json::object();
  std::atomic<int64_t> next_id_{1};
  std::atomic<bool> closed_{false};
  std::atomic<bool> counted_open_{false};  // counted in sessions_active
  std::atomic<int> in_flight_{0};
};

// --- streamable HTTP ---------------------------------------------------------------------------------

class StreamableBackend final : public BackendBase, public std::enable_shared_from_this<StreamableBackend> {
 public:
  using BackendBase::BackendBase;

  asio::awaitable<absl::Status> Open(Json client_capabilities) override {
    client_executor_ = co_await asio::this_coro::executor;
    {
      std::lock_guard lock(mu_);
      client_capabilities_ = client_capabilities;
    }
    co_return co_await Handshake();
  }

  // A request the backend rejects because it no longer knows the session (404, or 400 "Session not
  // found") never ran: the session is re-initialized (once for all the calls that saw it lost) and the
  // request sent again, once.
  asio::awaitable<absl::StatusOr<BackendAnswer>> Send(OutgoingRequest request, std::shared_ptr<BackendEvents> call_events,
                                                      bool text_ok) override {
    if (closed_) co_return Failure("session closed");
    const std::string_view method = request.method;  // (compared by size first)
    // What a re-initialized session must be told again is kept (small).
    const bool remembered = method == "logging/setLevel" || method == "resources/subscribe" || method == "resources/unsubscribe";
    for (int attempt = 0;; ++attempt) {
      const uint64_t generation = generation_.load();
      const int64_t id = NextId();
      request.SetId(id);
      if (call_events) call_events->OnCallSent(name(), id);
      std::string body = request.text;  // (kept for a second attempt)
      Json id_value = id;
      auto response = co_await Post(std::move(body), std::move(id_value), call_events,
                                    text_ok ? PostKind::kTextOk : PostKind::kMessage);
      if (response.ok() || response.status().code() != absl::StatusCode::kNotFound || attempt > 0 || closed_) {
        if (remembered && response.ok() && !response->is_error()) Remember(request.method, Parse(request.text).value("params", Json()));
        co_return response;
      }
      absl::Status reinit = co_await Reinitialize(generation);
      if (!reinit.ok()) {
        co_return Failure(absl::StrCat("the backend lost the session and re-initializing it failed: ", reinit.message()));
      }
    }
  }

  asio::awaitable<absl::Status> Notify(std::string method, Json params) override {
    std::string notification = Dump(MakeNotification(std::move(method), std::move(params)));
    Json no_id;
    std::shared_ptr<BackendEvents> none;
    auto r = co_await Post(std::move(notification), std::move(no_id), none, PostKind::kMessage);
    co_return r.status();
  }

  // initialize + notifications/initialized + the standalone GET stream, for a new session id.
  asio::awaitable<absl::Status> Handshake() {
    Json caps;
    {
      // (the old session id stays until the new one arrives: calls sent meanwhile carry the old one,
      // are refused as lost, and wait for this handshake rather than going out with none)
      std::lock_guard lock(mu_);
      caps = client_capabilities_;
    }
    // Arguments of coroutine calls are named, never temporaries: GCC 12 destroys a temporary passed to a
    // coroutine's by-value parameter twice.
    Json id = NextId();
    std::string request = Dump(MakeRequest(id, "initialize", InitializeParams(caps)));
    std::shared_ptr<BackendEvents> none;
    auto response = co_await Post(std::move(request), std::move(id), none, PostKind::kInitialize);
    if (!response.ok()) co_return response.status();
    if (absl::Status s = Adopt(response->message); !s.ok()) co_return s;
    std::string initialized = "notifications/initialized";
    Json no_params;
    if (absl::Status s = co_await Notify(std::move(initialized), std::move(no_params)); !s.ok()) co_return s;
    const uint64_t generation = ++generation_;
    if (!target_.no_standalone_stream || !target_.no_standalone_stream->load(std::memory_order_relaxed)) {
      asio::co_spawn(client_executor_, StandaloneStream(shared_from_this(), generation), asio::detached);
    }
    co_return absl::OkStatus();
  }

  // Single flight: the first call that saw generation `seen` lost re-initializes; the others wait for it.
  asio::awaitable<absl::Status> Reinitialize(uint64_t seen) {
    std::shared_ptr<ReinitChannel> wait;
    {
      std::lock_guard lock(mu_);
      if (generation_.load() != seen) co_return absl::OkStatus();  // already done by another call
      if (reinitializing_) {
        wait = std::make_shared<ReinitChannel>(client_executor_, 1);
        reinit_waiters_.push_back(wait);
      } else {
        reinitializing_ = true;
      }
    }
    if (wait) {
      auto [ec, status] = co_await wait->async_receive(kTuple);
      co_return ec ? absl::CancelledError("session closed") : status;
    }
    absl::Status s = co_await Handshake();
    if (s.ok()) {
      if (target_.metrics) target_.metrics->reinitializations.fetch_add(1, std::memory_order_relaxed);
      co_await Restore();
    }
    std::vector<std::shared_ptr<ReinitChannel>> waiters;
    {
      std::lock_guard lock(mu_);
      reinitializing_ = false;
      waiters.swap(reinit_waiters_);
    }
    for (auto& w : waiters) w->try_send(boost::system::error_code{}, s);
    co_return s;
  }

  // What the lost session had been told, told again: the log level and the resource subscriptions.
  asio::awaitable<void> Restore() {
    std::string level;
    std::set<std::string> subscriptions;
    {
      std::lock_guard lock(mu_);
      level = log_level_;
      subscriptions = subscriptions_;
    }
    std::shared_ptr<BackendEvents> none;
    if (!level.empty()) {
      Json id = NextId();
      std::string request = Dump(MakeRequest(id, "logging/setLevel", Json{{"level", level}}));
      co_await Post(std::move(request), std::move(id), none, PostKind::kMessage);
    }
    for (const std::string& uri : subscriptions) {
      Json id = NextId();
      std::string request = Dump(MakeRequest(id, "resources/subscribe", Json{{"uri", uri}}));
      co_await Post(std::move(request), std::move(id), none, PostKind::kMessage);
    }
  }

  // Keeps what Restore() needs from requests the backend accepted.
  void Remember(const std::string& method, const Json& params) {
    if (method != "logging/setLevel" && method != "resources/subscribe" && method != "resources/unsubscribe") return;
    std::lock_guard lock(mu_);
    if (method == "logging/setLevel" && params.contains("level") && params["level"].is_string()) {
      log_level_ = params["level"].get<std::string>();
    } else if (params.contains("uri") && params["uri"].is_string()) {
      if (method == "resources/subscribe") {
        subscriptions_.insert(params["uri"].get<std::string>());
      } else {
        subscriptions_.erase(params["uri"].get<std::string>());
      }
    }
  }

  asio::awaitable<void> Close() override {
    if (closed_.exchange(true)) co_return;
    CountClosed();
    std::string session;
    {
      std::lock_guard lock(mu_);
      session = session_id_;
    }
    if (session.empty()) co_return;
    transport::Request del = BaseRequest("DELETE");
    if (!(co_await Decorate(del, nullptr)).ok()) co_return;
    co_await client_->Send(target_.url, std::move(del), target_.endpoint, std::chrono::seconds(5));
  }

 private:
  asio::awaitable<void> Reply(std::shared_ptr<BackendSession>, Json id, Json result, Json error) override {
    Json message{{"jsonrpc", "2.0"}, {"id", id}};
    if (error.is_null()) {
      message["result"] = std::move(result);
    } else {
      message["error"] = std::move(error);
    }
    std::string answer = Dump(message);
    Json no_id;
    std::shared_ptr<BackendEvents> none;
    co_await Post(std::move(answer), std::move(no_id), none, PostKind::kMessage);
  }

  // What a POST is: a message whose answer is parsed, a request whose result may stay text, the
  // session's initialize.
  enum class PostKind { kMessage, kTextOk, kInitialize };

  // POSTs one message (`body`). For a request (`id` not null: the request's), returns the response (read
  // from a JSON body or from the SSE stream, relaying whatever else the stream carries); for a
  // notification or response, nothing.
  asio::awaitable<absl::StatusOr<BackendAnswer>> Post(std::string body, Json id, std::shared_ptr<BackendEvents> call_events,
                                                      PostKind kind) {
    const bool initialize = kind == PostKind::kInitialize;
    const bool is_request = !id.is_null();
    transport::Request req = BaseRequest("POST");
    if (initialize) req.headers.Remove("Mcp-Session-Id");  // a new session
    AddTrace(req, call_events ? call_events->Trace() : nullptr);
    if (target_.header_source) {  // (checked here too: no coroutine when there is nothing to add)
      if (absl::Status s = co_await Decorate(req, call_events.get()); !s.ok()) {
        Audit(0, s, Clock::now(), /*auth_failed=*/true);
        co_return s;
      }
    }
    const auto sent_at = Clock::now();
    req.headers.Set("Content-Type", "application/json");
    req.headers.Set("Accept", "application/json, text/event-stream");
    req.body = std::move(body);
    const auto deadline = Clock::now() + target_.timeout;

    // (only on a session that was up: a backend down at the first handshake is reported at once)
    const bool may_retry = !initialize && generation_.load() > 0;
    auto opened = co_await client_->Open(target_.url, req, target_.endpoint);
    if (!opened.ok() && may_retry && MayRetryOpen(opened.status())) {
      opened = co_await RetryOpen(req, deadline, std::move(opened));
    }
    if (!opened.ok()) {
      Audit(0, opened.status(), sent_at);
      co_return Failure(opened.status());
    }
    std::unique_ptr<transport::ResponseStream> stream = std::move(*opened);
    const int status = stream->status();
    Audit(status, absl::OkStatus(), sent_at);
    if (initialize && status >= 200 && status < 300) {
      auto sid = stream->headers().Get("Mcp-Session-Id");
      std::lock_guard lock(mu_);
      session_id_ = sid ? std::string(*sid) : std::string();  // none: a stateless server
    }
    if (status == 202 || (!is_request && status >= 200 && status < 300)) {
      co_await Drain(*stream);
      co_return BackendAnswer{};
    }
    if (status == 404 || (status == 400 && !initialize)) {
      std::string body = co_await ReadAll(*stream, deadline);
      // Real servers answer an unknown session with 404 (the spec) or 400 "Session not found".
      // (and the SDK servers' 400 "no valid session ID provided" to a request that had none)
      if (status == 404 || body.find("ession not found") != std::string::npos || body.find("-32001") != std::string::npos ||
          body.find("valid session ID") != std::string::npos) {
        co_return absl::NotFoundError(absl::StrCat("backend ", target_.name, ": session not found (HTTP ", status, ")"));
      }
      co_return Failure(absl::StrCat("HTTP ", status, ": ", body.substr(0, 200)));
    }
    if (status < 200 || status >= 300) {
      std::string body = co_await ReadAll(*stream, deadline);
      co_return HttpFailure(status, absl::StrCat("HTTP ", status, body.empty() ? "" : ": ", body.substr(0, 200)));
    }
    if (!IsEventStream(stream->headers())) {
      std::optional<std::string> whole = stream->TakeBody();  // (most often there, read with the header)
      std::string body;
      if (whole) {
        body = std::move(*whole);
      } else {
        body = co_await ReadAll(*stream, deadline);
      }
      if (is_request && kind == PostKind::kTextOk) {
        if (auto shape = ScanResult(body)) co_return BackendAnswer{Json(), std::move(body), *shape};
      }
      Json parsed = Parse(body);
      if (parsed.is_discarded()) co_return Failure("answered with a body that is not JSON");
      if (!is_request) co_return BackendAnswer{};
      co_return BackendAnswer{std::move(parsed)};
    }
    // An SSE stream: notifications and requests, then our response. A stream that ends early (the
    // server may close it to have the client poll) is resumed with GET + Last-Event-ID after the
    // server's `retry:` delay, as long as its events carried ids: the request itself is never re-sent.
    transport::SseParser parser;
    std::vector<transport::SseEvent> events;
    auto self = shared_from_this();
    int resumes_failed = 0;
    const std::string id_text = kind == PostKind::kTextOk ? Dump(id) : std::string();
    for (;;) {
      const auto left = deadline - Clock::now();
      if (left <= Duration::zero()) co_return absl::DeadlineExceededError(absl::StrCat("backend ", target_.name, ": timed out"));
      auto chunk = co_await stream->Read(left);
      if (!chunk.ok() && chunk.status().code() == absl::StatusCode::kDeadlineExceeded) {
        co_return absl::DeadlineExceededError(absl::StrCat("backend ", target_.name, ": timed out"));
      }
      if (!chunk.ok() || chunk->empty()) {
        stream->Close();
        const std::string why = chunk.ok() ? "the response stream ended without an answer"
                                           : std::string(chunk.status().message());
        if (parser.last_event_id().empty()) co_return Failure(why);
        (void)parser.Finish();
        auto resumed = co_await Resume(parser, deadline, resumes_failed);
        if (!resumed.ok()) co_return Failure(absl::StrCat(why, "; resuming it failed: ", resumed.status().message()));
        stream = std::move(*resumed);
        continue;
      }
      resumes_failed = 0;
      events.clear();
      if (absl::Status s = parser.Feed(*chunk, events); !s.ok()) co_return Failure(s);
      for (transport::SseEvent& ev : events) {
        if (!id_text.empty()) {
          const auto shape = ScanResult(ev.data);
          if (shape && ev.data.compare(shape->id_at, shape->id_size, id_text) == 0) {
            co_await Drain(*stream);
            co_return BackendAnswer{Json(), std::move(ev.data), *shape};
          }
        }
        Json m = Parse(ev.data);
        if (m.is_discarded()) continue;
        if (Classify(m) == MessageKind::kResponse && m["id"] == id) {
          co_await Drain(*stream);
          co_return BackendAnswer{std::move(m)};
        }
        Dispatch(m, call_events, self);
      }
    }
  }

  // Reopens a broken response stream with GET + Last-Event-ID, waiting the server's `retry:` (else 1 s,
  // doubling) first; at most kMaxResumeAttempts failures in a row, never past the call's deadline.
  static constexpr int kMaxResumeAttempts = 5;
  asio::awaitable<absl::StatusOr<std::unique_ptr<transport::ResponseStream>>> Resume(const transport::SseParser& parser,
                                                                                       Clock::time_point deadline,
                                                                                       int& failures) {
    Backoff backoff;
    while (failures < kMaxResumeAttempts) {
      const Duration wait = backoff.Next(parser.retry_ms());
      if (Clock::now() + wait >= deadline) co_return absl::DeadlineExceededError("the call's timeout would pass first");
      asio::steady_timer timer(co_await asio::this_coro::executor);
      timer.expires_after(wait);
      co_await timer.async_wait(kTuple);
      if (closed_) co_return absl::CancelledError("session closed");
      transport::Request get = BaseRequest("GET");
      get.headers.Set("Accept", "text/event-stream");
      get.headers.Set("Last-Event-ID", parser.last_event_id());
      if (absl::Status s = co_await Decorate(get, nullptr); !s.ok()) co_return s;
      auto opened = co_await client_->Open(target_.url, get, target_.endpoint);
      ++failures;
      if (opened.ok() && (*opened)->status() == 200 && IsEventStream((*opened)->headers())) {
        CountResumption();
        co_return std::move(*opened);
      }
      if (opened.ok() && ((*opened)->status() == 404 || (*opened)->status() == 405)) {
        co_return absl::UnavailableError(absl::StrCat("GET answered HTTP ", (*opened)->status()));
      }
    }
    co_return absl::UnavailableError(absl::StrCat(kMaxResumeAttempts, " attempts in a row failed"));
  }

  // Reads what is left of a body briefly, so the connection can be reused; gives up (closing it) when
  // the server keeps the stream open.
  asio::awaitable<void> Drain(transport::ResponseStream& stream) {
    for (int i = 0; i < 64; ++i) {
      auto chunk = co_await stream.Read(std::chrono::milliseconds(500));
      if (!chunk.ok() || chunk->empty()) break;
    }
    stream.Close();
  }

  asio::awaitable<std::string> ReadAll(transport::ResponseStream& stream, Clock::time_point deadline) {
    std::string body;
    for (;;) {
      const auto left = deadline - Clock::now();
      if (left <= Duration::zero()) break;
      auto chunk = co_await stream.Read(left);
      if (!chunk.ok() || chunk->empty()) break;
      body += *chunk;
      if (body.size() > kMaxJsonBody) break;
    }
    co_return body;
  }

  // The standalone GET stream: what the backend sends on its own. Reopened with Last-Event-ID when it
  // breaks, with a bounded backoff; a 405 means the backend offers none.
  asio::awaitable<void> StandaloneStream(std::shared_ptr<StreamableBackend> self, uint64_t generation) {
    transport::SseParser parser;
    std::vector<transport::SseEvent> events;
    Backoff backoff;
    bool established = false;
    while (!closed_ && generation_.load() == generation) {  // a re-initialized session has a stream of its own
      transport::Request get = BaseRequest("GET");
      get.headers.Set("Accept", "text/event-stream");
      const bool resuming = !parser.last_event_id().empty();
      const bool decorated = (co_await Decorate(get, nullptr)).ok();
      if (resuming) get.headers.Set("Last-Event-ID", parser.last_event_id());
      absl::StatusOr<std::unique_ptr<transport::ResponseStream>> opened = absl::UnavailableError("no credentials");
      if (decorated) opened = co_await client_->Open(target_.url, get, target_.endpoint, {.long_lived = true});
      if (opened.ok() && (*opened)->status() == 200 && IsEventStream((*opened)->headers())) {
        if (resuming) CountResumption();
        backoff.Reset();
        established = true;
        auto& stream = **opened;
        while (!closed_) {
          // A bounded read, so that a closed session's stream is let go of within a minute.
          auto chunk = co_await stream.Read(std::chrono::seconds(60));
          if (!chunk.ok() && chunk.status().code() == absl::StatusCode::kDeadlineExceeded) continue;
          if (!chunk.ok() || chunk->empty()) break;
          if (!FeedMessages(parser, *chunk, events, [&](Json& m) { Dispatch(m, nullptr, self); })) break;
        }
        stream.Close();
        (void)parser.Finish();
      } else if (opened.ok() && (*opened)->status() == 405) {
        if (target_.no_standalone_stream) target_.no_standalone_stream->store(true, std::memory_order_relaxed);
        co_return;  // the backend offers no standalone stream
      } else if (opened.ok() && (*opened)->status() == 404) {
        // A stream that was open and now finds its session unknown: the backend restarted. Re-initialize
        // now rather than at the next call, so that what it sends on its own (list_changed, ...) reaches
        // the client again; the new session opens a stream of its own, and a failed attempt is retried
        // here after the backoff. (A 404 to the first GET only says there is no such stream.)
        if (!established) co_return;
        if (absl::Status s = co_await Reinitialize(generation); s.ok()) co_return;
      }
      if (closed_) break;
      asio::steady_timer wait(co_await asio::this_coro::executor);
      wait.expires_after(backoff.Next(parser.retry_ms()));
      co_await wait.async_wait(kTuple);
    }
  }

  using ReinitChannel = asio::experimental::concurrent_channel<void(boost::system::error_code, absl::Status)>;
  Json client_capabilities_ = Json::object();  // guarded by mu_, for re-initialization
  std::atomic<uint64_t> generation_{0};        // bumped by each successful handshake
  bool reinitializing_ = false;                 // guarded by mu_
  std::vector<std::shared_ptr<ReinitChannel>> reinit_waiters_;  // guarded by mu_
  std::string log_level_;                       // guarded by mu_: the last level the backend accepted
  std::set<std::string> subscriptions_;         // guarded by mu_: resources subscribed to
};

// --- legacy HTTP+SSE -----------------------------------------------------------------------------------

class SseBackend final : public BackendBase, public std::enable_shared_from_this<SseBackend> {
 public:
  using BackendBase::BackendBase;
  using Channel = asio::experimental::concurrent_channel<void(boost::system::error_code, Json)>;

  asio::awaitable<absl::Status> Open(Json client_capabilities) override {
    client_executor_ = co_await asio::this_coro::executor;
    transport::Request get = BaseRequest("GET");
    get.headers.Set("Accept", "text/event-stream");
    if (absl::Status s = co_await Decorate(get, nullptr); !s.ok()) co_return s;
    auto opened = co_await client_->Open(target_.url, get, target_.endpoint, {.long_lived = true});
    if (!opened.ok()) co_return Failure(opened.status());
    if ((*opened)->status() != 200) {
      co_return HttpFailure((*opened)->status(), absl::StrCat("SSE stream answered HTTP ", (*opened)->status()));
    }
    std::shared_ptr<transport::ResponseStream> stream = std::move(*opened);
    // The first event names the endpoint to POST to.
    const auto deadline = Clock::now() + target_.timeout;
    while (post_url_.target.empty()) {
      const auto left = deadline - Clock::now();
      if (left <= Duration::zero()) co_return Failure("no endpoint event on the SSE stream");
      auto chunk = co_await stream->Read(left);
      if (!chunk.ok()) co_return Failure(chunk.status());
      if (chunk->empty()) co_return Failure("the SSE stream ended before its endpoint event");
      std::vector<transport::SseEvent> events;
      if (absl::Status s = parser_.Feed(*chunk, events); !s.ok()) co_return Failure(s);
      for (size_t i = 0; i < events.size(); ++i) {
        if (events[i].event == "endpoint" && post_url_.target.empty()) {
          auto resolved = transport::ResolveUrl(target_.url, events[i].data);
          if (!resolved.ok() || resolved->Origin() != target_.url.Origin()) {
            co_return Failure("the endpoint event names another origin");
          }
          post_url_ = *resolved;
        } else {
          early_.push_back(std::move(events[i]));
        }
      }
    }
    asio::co_spawn(client_executor_, ReadStream(shared_from_this(), stream), asio::detached);
    OutgoingRequest initialize = OutgoingRequest::Of("initialize", InitializeParams(client_capabilities));
    std::shared_ptr<BackendEvents> none;
    auto response = co_await Send(std::move(initialize), none, /*text_ok=*/false);
    if (!response.ok()) co_return response.status();
    if (absl::Status s = Adopt(response->message); !s.ok()) co_return s;
    std::string initialized = "notifications/initialized";
    Json no_params;
    co_return co_await Notify(std::move(initialized), std::move(no_params));
  }

  // (answers come parsed: they are matched to their requests on the stream)
  asio::awaitable<absl::StatusOr<BackendAnswer>> Send(OutgoingRequest request, std::shared_ptr<BackendEvents> call_events,
                                                      bool) override {
    if (closed_) co_return Failure("session closed");
    const int64_t id = NextId();
    if (call_events) call_events->OnCallSent(name(), id);
    auto channel = std::make_shared<Channel>(co_await asio::this_coro::executor, 1);
    {
      std::lock_guard lock(pending_mu_);
      pending_[id] = {channel, call_events};
    }
    request.SetId(id);
    absl::Status sent = co_await Send(std::move(request.text), call_events.get());
    if (!sent.ok()) {
      Forget(id);
      co_return sent;
    }
    asio::steady_timer timer(co_await asio::this_coro::executor);
    timer.expires_after(target_.timeout);
    using namespace asio::experimental::awaitable_operators;
    auto result = co_await (channel->async_receive(kTuple) || timer.async_wait(kTuple));
    Forget(id);
    if (result.index() == 1) co_return absl::DeadlineExceededError(absl::StrCat("backend ", target_.name, ": timed out"));
    auto [ec, message] = std::get<0>(std::move(result));
    if (ec) co_return Failure("the SSE stream closed before the answer");
    co_return BackendAnswer{std::move(message)};
  }

  asio::awaitable<absl::Status> Notify(std::string method, Json params) override {
    std::string notification = Dump(MakeNotification(std::move(method), std::move(params)));
    co_return co_await Send(std::move(notification));
  }

  asio::awaitable<void> Close() override {
    closed_ = true;
    CountClosed();
    FailAll();
    co_return;
  }

 private:
  asio::awaitable<void> Reply(std::shared_ptr<BackendSession>, Json id, Json result, Json error) override {
    Json message{{"jsonrpc", "2.0"}, {"id", id}};
    if (error.is_null()) {
      message["result"] = std::move(result);
    } else {
      message["error"] = std::move(error);
    }
    std::string answer = Dump(message);
    co_await Send(std::move(answer));
  }

  asio::awaitable<absl::Status> Send(std::string body, const BackendEvents* call = nullptr) {
    transport::Request post = BaseRequest("POST");
    AddTrace(post, call ? call->Trace() : nullptr);
    if (absl::Status s = co_await Decorate(post, call); !s.ok()) co_return s;
    post.headers.Set("Content-Type", "application/json");
    post.body = std::move(body);
    const auto sent_at = Clock::now();
    auto r = co_await client_->Send(post_url_, std::move(post), target_.endpoint, target_.timeout);
    Audit(r.ok() ? r->status : 0, r.status(), sent_at);
    if (!r.ok()) co_return Failure(r.status());
    if (r->status < 200 || r->status >= 300) {
      co_return HttpFailure(r->status, absl::StrCat("POST answered HTTP ", r->status, r->body.empty() ? "" : ": ", r->body.substr(0, 200)));
    }
    co_return absl::OkStatus();
  }

  void Forget(int64_t id) {
    std::lock_guard lock(pending_mu_);
    pending_.erase(id);
  }

  void FailAll() {
    std::map<int64_t, Pending> all;
    {
      std::lock_guard lock(pending_mu_);
      all.swap(pending_);
    }
    for (auto& [id, p] : all) p.channel->try_send(asio::error::operation_aborted, Json());
  }

  void Handle(const Json& m, const std::shared_ptr<BackendSession>& self) {
    const MessageKind kind = Classify(m);
    if (kind == MessageKind::kInvalid) return;  // (not JSON-RPC: nothing to route it by)
    if (kind == MessageKind::kResponse && m["id"].is_number_integer()) {
      std::shared_ptr<Channel> channel;
      {
        std::lock_guard lock(pending_mu_);
        auto it = pending_.find(m["id"].get<int64_t>());
        if (it != pending_.end()) channel = it->second.channel;
      }
      if (channel) channel->try_send(boost::system::error_code{}, m);
      return;
    }
    // Progress belongs to the call that asked for it; the rest to the session.
    std::shared_ptr<BackendEvents> call_events;
    if (m.value("method", std::string()) == "notifications/progress") {  // (an object: Classify said so)
      const Json token = m.contains("params") && m["params"].is_object() ? m["params"].value("progressToken", Json()) : Json();
      std::lock_guard lock(pending_mu_);
      for (auto& [id, p] : pending_) {
        if (p.events && !token.is_null()) {
          call_events = p.events;
          break;
        }
      }
    }
    Dispatch(m, call_events, self);
  }

  asio::awaitable<void> ReadStream(std::shared_ptr<SseBackend> self, std::shared_ptr<transport::ResponseStream> stream) {
    for (transport::SseEvent& ev : early_) {
      Json m = Parse(ev.data);
      if (!m.is_discarded()) Handle(m, self);
    }
    early_.clear();
    std::vector<transport::SseEvent> events;
    while (!closed_) {
      auto chunk = co_await stream->Read(std::chrono::seconds(60));
      if (!chunk.ok() && chunk.status().code() == absl::StatusCode::kDeadlineExceeded) continue;
      if (!chunk.ok() || chunk->empty()) break;
      if (!FeedMessages(parser_, *chunk, events, [&](Json& m) { Handle(m, self); })) break;
    }
    stream->Close();
    closed_ = true;  // a legacy session cannot outlive its stream
    FailAll();
  }

  struct Pending {
    std::shared_ptr<Channel> channel;
    std::shared_ptr<BackendEvents> events;
  };
  transport::Url post_url_;
  transport::SseParser parser_;
  std::vector<transport::SseEvent> early_;
  std::mutex pending_mu_;
  std::map<int64_t, Pending> pending_;
};

}  // namespace

OutgoingRequest OutgoingRequest::Of(std::string method, const Json& params) {
  OutgoingRequest r;
  r.text = R"({"jsonrpc":"2.0","id":)";
  r.id_at = r.text.size();
  r.text += '0';
  r.id_size = 1;
  r.text += R"(,"method":)";
  AppendQuoted(r.text, method);
  if (!params.is_null()) {
    r.text += R"(,"params":)";
    AppendDump(r.text, params);
  }
  r.text += '}';
  r.method = std::move(method);
  return r;
}

void OutgoingRequest::SetId(int64_t id) {
  char digits[24];
  const char* end = std::to_chars(digits, digits + sizeof digits, id).ptr;
  const size_t size = static_cast<size_t>(end - digits);
  text.replace(id_at, id_size, digits, size);
  id_size = size;
}

std::shared_ptr<BackendSession> MakeBackendSession(std::shared_ptr<transport::HttpClient> client, BackendTarget target,
                                                   std::shared_ptr<BackendEvents> session_events) {
  if (target.transport == config::TransportKind::kSse) {
    return std::make_shared<SseBackend>(client, std::move(target), std::move(session_events));
  }
  return std::make_shared<StreamableBackend>(client, std::move(target), std::move(session_events));
}

}  // namespace vmcp::gateway
