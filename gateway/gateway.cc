// The virtual MCP server: client sessions over streamable HTTP, each holding one backend session per
// backend, the aggregated catalogue, and the relay of everything backends send during and between
// calls.

#include "gateway/gateway.h"
#include "gateway/gateway_asio.h"

#include <openssl/evp.h>
#include <openssl/rand.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <condition_variable>
#include <deque>
#include <future>
#include <map>
#include <optional>
#include <set>
#include <unordered_map>
#include <mutex>
#include <utility>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/experimental/concurrent_channel.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "auth/audit.h"
#include "auth/identity.h"
#include "auth/incoming.h"
#include "auth/outgoing.h"
#include "auth/token_exchange.h"
#include "config/summary.h"
#include "gateway/aggregator.h"
#include "gateway/backend_session.h"
#include "gateway/delay_queue.h"
#include "gateway/health.h"
#include "gateway/health_monitor.h"
#include "gateway/jsonrpc.h"
#include "gateway/log.h"
#include "gateway/metrics.h"
#include "gateway/trace.h"
#include "transport/client.h"
#include "transport/server.h"

namespace vmcp {
namespace {

namespace asio = boost::asio;
using gateway::BackendEvents;
using gateway::BackendSession;
using gateway::BackendTarget;
using gateway::Json;
using gateway::OutgoingRequest;
using transport::Exchange;
using transport::Response;
using transport::SseStream;
using Clock = std::chrono::steady_clock;
using Channel = asio::experimental::concurrent_channel<void(boost::system::error_code, Json)>;
constexpr auto kTuple = asio::as_tuple(asio::use_awaitable);

constexpr size_t kMaxBufferedForClient = 1024;         // messages waiting for the client's GET stream
// Events kept per session for clients that resume a stream with Last-Event-ID: the newest ones, up to
// this many, this many bytes, and this old.
constexpr size_t kReplayEvents = 128;
constexpr size_t kReplayBytes = 512 * 1024;
constexpr auto kReplayAge = std::chrono::minutes(5);
// A call whose answer was handed to its open stream keeps its events this much longer only: enough for a
// client whose connection broke as the answer was written to come back (it is told to retry after 1 s).
constexpr auto kReplayAfterAnswer = std::chrono::seconds(30);
constexpr auto kClientAnswerTimeout = std::chrono::minutes(5);  // sampling / elicitation answers
constexpr int64_t kClientRetryMs = 1000;                       // the `retry:` advised on call streams
constexpr auto kLazySse = std::chrono::milliseconds(50);       // a quiet tool call's answer waits this long as JSON
// Wakes a tool call's exchange to open its SSE stream (distinct from any JSON-RPC answer).
const Json& OpenStreamMarker() {
  static const Json marker = Json{{"vmcp.open_stream", true}};
  return marker;
}

std::string RandomSessionId() {
  unsigned char bytes[16];
  RAND_bytes(bytes, sizeof(bytes));
  return absl::BytesToHexString(absl::string_view(reinterpret_cast<const char*>(bytes), sizeof(bytes)));
}

// A JSON body already written as text.
Response JsonTextResponse(int status, std::string body) {
  Response r;
  r.status = status;
  r.headers.Set("Content-Type", "application/json");
  r.body = std::move(body);
  return r;
}

Response JsonResponse(int status, const Json& body) { return JsonTextResponse(status, gateway::Dump(body)); }

// One config generation: the config and the resolved targets of its backends.
struct Snapshot {
  uint64_t generation = 0;  // unique per snapshot made in this process
  config::Config cfg;
  std::vector<BackendTarget> targets;
  // The outgoing auth of this generation (null until the gateway runs: it needs the HTTP client).
  std::shared_ptr<auth::OutgoingAuth> outgoing;
};

// The health monitor's credentials for a token-exchange backend (client_credentials, when configured).
class ProbeHeaders final : public gateway::HeaderSource {
 public:
  ProbeHeaders(std::shared_ptr<auth::OutgoingAuth> outgoing, std::string backend)
      : outgoing_(std::move(outgoing)), backend_(std::move(backend)) {}
  asio::awaitable<absl::StatusOr<auth::HeaderList>> Headers(const BackendEvents*) override {
    co_return co_await outgoing_->HealthCheckHeaders(backend_);
  }

 private:
  std::shared_ptr<auth::OutgoingAuth> outgoing_;
  std::string backend_;
};

// What identifies a backend's outgoing auth strategy, so that a reload that changes it (a token URL, an
// audience, a client secret) reconnects the backend. Internal only: never logged or shown.
std::string AuthFingerprint(const config::BackendAuthStrategy* s) {
  if (!s) return "";
  std::string f = s->type;
  if (s->token_exchange) {
    const config::TokenExchangeConfig& t = *s->token_exchange;
    f += "\n" + t.token_url + "\n" + t.client_id + "\n" + t.audience + "\n" + absl::StrJoin(t.scopes, " ") + "\n" +
         t.subject_token_type + "\n" + t.client_secret_env + "\n" + t.client_secret.Reveal();  // (never printed)
  }
  return f;
}

bool SameTarget(const BackendTarget& a, const BackendTarget& b) {
  return a.url.ToString() == b.url.ToString() && a.transport == b.transport && a.headers == b.headers &&
         a.auth_fingerprint == b.auth_fingerprint &&
         a.timeout == b.timeout && a.endpoint.ca_bundle_path == b.endpoint.ca_bundle_path;
}

bool SamePolicy(const gateway::HealthPolicy& a, const gateway::HealthPolicy& b) {
  return a.interval == b.interval && a.unhealthy_threshold == b.unhealthy_threshold && a.timeout == b.timeout &&
         a.breaker_enabled == b.breaker_enabled && a.breaker_threshold == b.breaker_threshold &&
         a.breaker_timeout == b.breaker_timeout;
}

// `previous`: the generation it replaces, whose backends' health carries over where the backend and the
// health policy did not change.
// `exchanger`: the gateway's token exchanger once it runs (null before: the outgoing auth is then only
// checked). `audit`: where audit records of direct backends go (null: none).
absl::StatusOr<std::shared_ptr<const Snapshot>> MakeSnapshot(config::Config cfg, gateway::Metrics& metrics,
                                                             const Snapshot* previous = nullptr,
                                                             std::shared_ptr<auth::TokenExchanger> exchanger = nullptr,
                                                             std::shared_ptr<gateway::Logger> audit = nullptr) {
  auto snap = std::make_shared<Snapshot>();
  static std::atomic<uint64_t> generations{0};
  snap->generation = ++generations;
  const gateway::HealthPolicy policy = gateway::HealthPolicy::FromConfig(cfg);
  if (exchanger) {
    auto outgoing = auth::OutgoingAuth::Create(cfg, exchanger);
    if (!outgoing.ok()) return absl::InvalidArgumentError(absl::StrCat("outgoingAuth: ", outgoing.status().message()));
    snap->outgoing = *outgoing;
  } else if (absl::Status s = auth::OutgoingAuth::Check(cfg); !s.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("outgoingAuth: ", s.message()));
  }
  for (const config::StaticBackend& b : cfg.backends) {
    BackendTarget t;
    t.name = b.name;
    t.metrics = metrics.ForBackend(b.name);
    auto url = transport::ParseUrl(b.endpoint);
    if (!url.ok()) return absl::InvalidArgumentError(absl::StrCat("backend ", b.name, ": ", url.status().message()));
    t.url = *url;
    t.endpoint.ca_bundle_path = b.ca_bundle_path;
    t.transport = b.transport_kind;
    t.timeout = cfg.BackendTimeout(b.name);
    for (const config::BackendHeader& h : b.headers) t.headers.emplace_back(h.name, h.value.Reveal());
    bool authenticates = false;
    if (cfg.outgoing_auth) {
      if (const config::BackendAuthStrategy* s = cfg.outgoing_auth->ResolveForBackend(b.name)) {
        if (s->type == config::kStrategyHeaderInjection && s->header_injection) {
          t.headers.emplace_back(s->header_injection->header_name, s->header_injection->header_value.Reveal());
        }
        authenticates = s->type != config::kStrategyUnauthenticated;
        t.auth_fingerprint = AuthFingerprint(s);
        if (snap->outgoing && s->type == config::kStrategyTokenExchange) {
          t.probe_header_source = std::make_shared<ProbeHeaders>(snap->outgoing, t.name);
        }
      }
    }
    if (audit && b.mode == config::BackendMode::kDirect) {
      // The MCPRemoteEndpoint RFC's audit record: every request to a remote backend, its auth method and
      // the remote status. Never a token or a header value.
      // (What is the same for every request is worked out once, here: a record only points at it.)
      std::string method = snap->outgoing ? snap->outgoing->StrategyFor(b.name) : std::string();
      if (method.empty()) method = "unauthenticated";
      const bool sends_credentials = method != config::kStrategyUnauthenticated;
      t.audit = [audit, method = std::move(method), url = t.url.ToString(),
                 sends_credentials](const gateway::BackendExchange& e) {
        auth::AuditRecord r;  // (its time is the log line's)
        r.backend = *e.backend;
        r.url = url;
        r.auth_method = method;
        r.auth_outcome = e.auth_failed ? "failed" : sends_credentials ? "ok" : "none";
        r.http_status = e.http_status;
        r.outcome = e.http_status == 0 ? "error" : auth::OutcomeForHttpStatus(e.http_status);
        r.error = e.error;
        r.duration_ms = e.duration_ms;
        auto line = audit->Start(gateway::LogLevel::kInfo, "backend call audit");
        for (const auth::AuditField& f : auth::AuditFields(r)) {
          if (f.is_number) {
            line.Num(f.name, f.number);
          } else {
            line.Str(f.name, f.text);
          }
        }
        line.Write();
      };
    }
    if (previous) {
      for (const BackendTarget& p : previous->targets) {
        if (p.name == t.name && SameTarget(p, t) && SamePolicy(p.health->policy(), policy)) t.health = p.health;
        if (p.name == t.name && SameTarget(p, t)) t.no_standalone_stream = p.no_standalone_stream;
      }
    }
    if (!t.health) t.health = std::make_shared<gateway::BackendHealth>(t.name, policy, authenticates);
    if (!t.no_standalone_stream) t.no_standalone_stream = std::make_shared<std::atomic<bool>>(false);
    snap->targets.push_back(std::move(t));
  }
  snap->cfg = std::move(cfg);
  return std::shared_ptr<const Snapshot>(std::move(snap));
}

// Runs tasks concurrently and waits for all of them. A task that throws is done too (never a wait
// that no signal ends); once all are done, the first exception is rethrown to the caller.
asio::awaitable<void> WhenAll(std::vector<asio::awaitable<void>> tasks) {
  using Done = asio::experimental::concurrent_channel<void(boost::system::error_code, std::exception_ptr)>;
  auto ex = co_await asio::this_coro::executor;
  const size_t n = tasks.size();
  auto done = std::make_shared<Done>(ex, n + 1);
  for (auto& t : tasks) {
    asio::co_spawn(ex, std::move(t), [done](std::exception_ptr e) { done->try_send(boost::system::error_code{}, e); });
  }
  std::exception_ptr first;
  for (size_t i = 0; i < n; ++i) {
    auto [ec, e] = co_await done->async_receive(kTuple);
    if (e && !first) first = e;
  }
  if (first) std::rethrow_exception(first);
}

// Keeps `owner` alive while `task` (a coroutine of the owner's, which holds only `this`) runs detached.
template <typename Owner>
asio::awaitable<void> Holding(std::shared_ptr<Owner> owner, asio::awaitable<void> task) {
  co_await std::move(task);
}

// A call's SSE stream toward the client. A client that lost it comes back with GET + Last-Event-ID and
// gets a new stream in its place: what it missed is replayed there, and the rest of the call follows.
// While its exchange waits for the answer it also waits in the core's lazy-SSE queue (OnDue).
struct CallStream final : gateway::DelayQueue::Entry {
  explicit CallStream(uint64_t k, std::shared_ptr<SseStream> s) : key(k), stream(std::move(s)) {}
  // The exchange waited kLazySse without an answer or an event: it is woken to open the stream (which is
  // resumable from then on).
  void OnDue() override {
    {
      std::lock_guard lock(mu);
      if (started) return;
      started = true;
    }
    wake->try_send(boost::system::error_code{}, OpenStreamMarker());
  }
  const uint64_t key;                 // the session's number for this stream (0 is the standalone stream)
  std::mutex mu;                      // held while an event is numbered, kept and sent, and while resuming
  std::shared_ptr<SseStream> stream;  // guarded by mu
  bool finished = false;              // guarded by mu: the call's answer went out
  // Lazily opened: a call answered quickly and quietly is answered as plain JSON (one write); the stream
  // opens when the call sends its first event or has run for kLazySse.
  bool started = false;               // guarded by mu: the exchange was told to open the stream
  uint64_t prime_id = 0;              // the id its priming event carries (taken before any of its events)
  bool kept = false;                  // guarded by mu: its priming or an event of it is in the replay buffer
  bool listed = false;                // guarded by mu: in the session's live_calls_ (from AttachCall on)
  std::shared_ptr<asio::experimental::concurrent_channel<void(boost::system::error_code, Json)>> wake;
};

// SHA-256 over a walk of the values (a type tag, then the contents; strings and containers length
// first, so that no two different inputs give the same stream): cheaper than serializing them.
class ValueHasher {
 public:
  ValueHasher() : ctx_(EVP_MD_CTX_new()) { EVP_DigestInit_ex(ctx_, EVP_sha256(), nullptr); }
  ~ValueHasher() { EVP_MD_CTX_free(ctx_); }
  ValueHasher(const ValueHasher&) = delete;
  ValueHasher& operator=(const ValueHasher&) = delete;

  void AddNumber(uint64_t n) { Bytes(&n, sizeof(n)); }
  void AddText(std::string_view s) {
    AddNumber(uint64_t{s.size()});
    Bytes(s.data(), s.size());
  }
  void AddValue(const Json& v) {
    const auto type = static_cast<uint8_t>(v.type());
    Bytes(&type, 1);
    switch (v.type()) {
      case Json::value_t::object:
        AddNumber(uint64_t{v.size()});
        for (const auto& [key, member] : v.items()) {
          AddText(std::string_view(key));
          AddValue(member);
        }
        break;
      case Json::value_t::array:
        AddNumber(uint64_t{v.size()});
        for (const Json& e : v) AddValue(e);
        break;
      case Json::value_t::string:
        AddText(std::string_view(v.get_ref<const std::string&>()));
        break;
      case Json::value_t::boolean:
        AddNumber(uint64_t{v.get<bool>()});
        break;
      case Json::value_t::number_integer:
        AddNumber(static_cast<uint64_t>(v.get<int64_t>()));
        break;
      case Json::value_t::number_unsigned:
        AddNumber(v.get<uint64_t>());
        break;
      case Json::value_t::number_float: {
        const double d = v.get<double>();
        Bytes(&d, sizeof(d));
        break;
      }
      case Json::value_t::binary:
        AddText(std::string_view(reinterpret_cast<const char*>(v.get_binary().data()), v.get_binary().size()));
        break;
      default:  // null, discarded: the tag says it all
        break;
    }
  }
  std::string Finish() {
    Flush();
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    EVP_DigestFinal_ex(ctx_, digest, &len);
    return std::string(reinterpret_cast<const char*>(digest), len);
  }

 private:
  void Bytes(const void* data, size_t n) {
    buffer_.append(static_cast<const char*>(data), n);
    if (buffer_.size() >= 64 * 1024) Flush();
  }
  void Flush() {
    EVP_DigestUpdate(ctx_, buffer_.data(), buffer_.size());
    buffer_.clear();
  }
  EVP_MD_CTX* ctx_;
  std::string buffer_;  // digested in large pieces: one call per value would cost more than the hashing
};

// Catalogues shared by the sessions whose backends listed exactly the same things under the same config
// generation: one copy of every tool's JSON for all of them, instead of one per session (most sessions
// see the same catalogue). Keyed by SHA-256 of the aggregation's input; entries live as long as a
// session holds them, and the most recent one also while none does: clients that open a session, list
// and close (one after the other) then reuse it instead of building and freeing a catalogue each time.
class CatalogueCache {
 public:
  static std::string Key(uint64_t generation, const std::vector<gateway::BackendCapabilities>& caps) {
    ValueHasher h;
    h.AddNumber(generation);
    for (const gateway::BackendCapabilities& c : caps) {
      h.AddText(c.backend);
      h.AddNumber(uint64_t{c.ok});
      for (const std::vector<Json>* list : {&c.tools, &c.resources, &c.resource_templates, &c.prompts}) {
        h.AddNumber(uint64_t{list->size()});
        for (const Json& item : *list) h.AddValue(item);
      }
    }
    return h.Finish();
  }

  std::shared_ptr<const gateway::Catalogue> Find(const std::string& key) {
    std::lock_guard lock(mu_);
    auto it = entries_.find(key);
    if (it == entries_.end()) return nullptr;
    auto found = it->second.lock();
    if (found) recent_ = found;
    return found;
  }

  // Keeps `catalogue` for others; returns the one to use (another session's, when it got there first).
  std::shared_ptr<const gateway::Catalogue> Insert(const std::string& key, std::shared_ptr<const gateway::Catalogue> catalogue) {
    std::lock_guard lock(mu_);
    auto& slot = entries_[key];
    if (auto existing = slot.lock()) {
      recent_ = existing;
      return existing;
    }
    slot = catalogue;
    recent_ = catalogue;
    if (entries_.size() > 2 * swept_at_ + 64) {  // now and then, forget what no session holds any more
      std::erase_if(entries_, [](const auto& e) { return e.second.expired(); });
      swept_at_ = entries_.size();
    }
    return catalogue;
  }

 private:
  std::mutex mu_;
  std::unordered_map<std::string, std::weak_ptr<const gateway::Catalogue>> entries_;
  std::shared_ptr<const gateway::Catalogue> recent_;  // the last one found or inserted, kept alive
  size_t swept_at_ = 0;
};

// One client request as it travels: its trace (the gateway's server span) and, once routed, the backend.
struct RequestScope {
  gateway::TraceContext trace;
  // The client request's headers, kept for `passthroughHeaders` (null when none are configured).
  std::shared_ptr<const transport::Headers> client_headers;
  // What the client's HTTP exchange waits on: the answer, a cancel (null), or a call's first event.
  std::shared_ptr<Channel> wake;
  // The request's place in the count a graceful stop waits on (see Core::InFlight).
  std::shared_ptr<std::atomic<bool>> in_flight;
  std::chrono::system_clock::time_point started = std::chrono::system_clock::now();
  std::string backend;
  // Set by an exchange that writes the answer itself (a streamable HTTP POST): the answer may then be
  // text, in `raw` (a list page made from the catalogue's wire form, or a backend's result as the
  // backend wrote it), with TextAnswerStandIn() returned in its place and `raw_error` saying whether it
  // is a tool's error, for the request's log and metrics. (A call whose answer goes on an SSE stream
  // instead parses it there.)
  bool raw_ok = false;
  std::string raw;
  bool raw_error = false;
};

// What Route returns when the answer is text in RequestScope::raw: not null (null is a cancelled call)
// and not an object (so nothing reads an id, a result or an error in it), and built without an
// allocation, as nearly every tool call's answer is one.
inline Json TextAnswerStandIn() { return Json(true); }

// One client request, as Dispatch and Route take it: its id, method and params, parsed (Of); or a
// tools/call read as text (OfText, see ScanToolCall), whose own text goes to the backend with the id
// and the tool's name changed, and whose params are never parsed.
struct ClientRequest {
  Json id;
  std::string id_text;  // Dump(id): what the request is known by (cancels, the log)
  std::string method;
  Json params;  // (parsed requests)
  std::string text;  // (a tools/call read as text)
  gateway::ToolCallShape shape;  // where its parts are in `text`

  // A request message (one Classify calls a request).
  static ClientRequest Of(Json message) {
    ClientRequest r;
    r.id = std::move(message["id"]);
    r.id_text = gateway::Dump(r.id);
    r.method = message["method"].get<std::string>();
    r.params = message.contains("params") ? std::move(message["params"]) : Json::object();
    return r;
  }
  static ClientRequest OfText(std::string text, gateway::ToolCallShape shape) {
    ClientRequest r;
    r.id = shape.id;
    r.id_text = text.substr(shape.id_at, shape.id_size);
    r.method = "tools/call";
    r.text = std::move(text);
    r.shape = std::move(shape);
    return r;
  }
  bool is_text() const { return !text.empty(); }
  const std::string& tool_name() const { return shape.name; }  // (a text request's)

  // A text request on its way to the backend that knows the tool as `name`.
  OutgoingRequest ToBackend(std::string_view name) && {
    std::string quoted;
    gateway::AppendQuoted(quoted, name);
    OutgoingRequest out;
    out.method = std::move(method);
    out.id_at = shape.id_at;
    out.id_size = shape.id_size;
    if (shape.name_at < shape.id_at) out.id_at = out.id_at - shape.name_size + quoted.size();
    text.replace(shape.name_at, shape.name_size, quoted);
    out.text = std::move(text);
    return out;
  }
};

// ---------------------------------------------------------------------------------------------------------
// A client session.

class ClientSession final : public BackendEvents, public std::enable_shared_from_this<ClientSession> {
 public:
  ClientSession(std::string id, std::shared_ptr<const Snapshot> snapshot) : id_(std::move(id)), snapshot_(std::move(snapshot)) {
    Touch();
  }

  const std::string& id() const { return id_; }
  // The config generation the session runs on (a reload moves it to the next one).
  std::shared_ptr<const Snapshot> snapshot() const {
    std::lock_guard lock(mu_);
    return snapshot_;
  }
  void Touch() { last_active_ = Clock::now().time_since_epoch().count(); }
  Clock::duration Idle() const { return Clock::now().time_since_epoch() - Clock::duration(last_active_.load()); }

  std::string protocol_version;
  Json client_capabilities = Json::object();
  bool legacy = false;  // an HTTP+SSE (2024-11-05) session: lives as long as its GET /sse stream
  // Who the session belongs to (issuer + subject): another identity presenting its id is refused.
  std::string binding;
  std::shared_ptr<CatalogueCache> catalogue_cache;  // the gateway's (null: every catalogue its own)

  // The caller's latest identity (a refreshed token replaces the one the session began with): what
  // token exchange exchanges.
  void SetIdentity(std::shared_ptr<const auth::Identity> who) {
    std::lock_guard lock(mu_);
    identity_ = std::move(who);
  }
  std::shared_ptr<const auth::Identity> identity() const {
    std::lock_guard lock(mu_);
    return identity_;
  }
  // The headers of the request that created the session: forwarded on the session's own backend
  // requests (initialize, GET stream).
  std::shared_ptr<const transport::Headers> initial_headers;

  // The target as this session dials it: with per-request headers when the backend's auth or the
  // config's passthroughHeaders need them.
  BackendTarget Bind(const BackendTarget& t);

  // Calls in flight, by the client's request id (JSON text): the backend and the id it knows the call by,
  // so a client's notifications/cancelled reaches the right backend under the right id, and the channel
  // the client's HTTP exchange waits on (a cancel ends that wait at once; null for the legacy transport).
  struct CallInFlight {
    std::string backend;
    int64_t backend_id = -1;
    std::shared_ptr<Channel> wake;
    std::weak_ptr<CallStream> stream;  // a tool call's SSE stream (ended at once by a cancel)
    std::shared_ptr<std::atomic<bool>> in_flight;  // released by a cancel
    bool cancelled = false;
  };
  void BeginCall(const std::string& client_id, std::shared_ptr<Channel> wake, std::weak_ptr<CallStream> stream,
                 std::shared_ptr<std::atomic<bool>> in_flight) {
    std::lock_guard lock(mu_);
    calls_[client_id] = CallInFlight{"", -1, std::move(wake), std::move(stream), std::move(in_flight)};
  }
  // Marks the call cancelled and wakes whoever waits for its answer (an open call stream ends without
  // one). Nothing when no such call runs.
  std::optional<CallInFlight> CancelCall(const std::string& client_id) {
    CallInFlight found;
    {
      std::lock_guard lock(mu_);
      auto it = calls_.find(client_id);
      if (it == calls_.end()) return std::nullopt;
      it->second.cancelled = true;
      found = it->second;
    }
    if (found.wake) found.wake->try_send(boost::system::error_code{}, Json());
    if (auto call = found.stream.lock()) {
      std::lock_guard lock(call->mu);
      call->started = true;  // (so no answer goes out as JSON either)
      call->finished = true;
      if (call->stream) call->stream->Close();
    }
    return found;
  }
  // The call is over; true when the client cancelled it (its answer is then dropped).
  bool EndCall(const std::string& client_id) {
    std::lock_guard lock(mu_);
    auto it = calls_.find(client_id);
    if (it == calls_.end()) return false;
    const bool cancelled = it->second.cancelled;
    calls_.erase(it);
    return cancelled;
  }
  void CallSent(const std::string& client_id, const std::string& backend, int64_t backend_id) {
    std::lock_guard lock(mu_);
    auto it = calls_.find(client_id);
    if (it == calls_.end()) return;
    it->second.backend = backend;
    it->second.backend_id = backend_id;
  }

  // What a connected backend declared in its initialize result (empty when not connected).
  Json BackendCapabilities(const std::string& name) {
    auto b = Backend(name);
    return b ? b->capabilities() : Json::object();
  }

  bool HasOpenStream() {
    std::lock_guard lock(mu_);
    return standalone_ && !standalone_->closed();
  }

  // --- backends and the catalogue ---

  // Connects every backend and lists it as soon as it is connected (no barrier between the two
  // phases: the slowest backend's connect + list is the session's wait), then aggregates once.
  asio::awaitable<void> Connect(std::shared_ptr<transport::HttpClient> client) {
    const Json caps = BackendCaps();
    std::vector<std::shared_ptr<BackendSession>> sessions;
    for (const BackendTarget& t : snapshot()->targets) {
      if (t.health && !t.health->Advertised()) continue;  // connected when the monitor sees it back
      if (!StartConnecting(t.name)) continue;
      sessions.push_back(gateway::MakeBackendSession(client, Bind(t), shared_from_this()));
    }
    uint64_t generation = 0;
    {
      std::lock_guard lock(mu_);
      generation = ++refresh_started_;
    }
    auto listed = std::make_shared<std::vector<gateway::BackendCapabilities>>(sessions.size());
    std::vector<asio::awaitable<void>> tasks;
    for (size_t i = 0; i < sessions.size(); ++i) tasks.push_back(ConnectAndList(sessions[i], caps, listed, i));
    co_await WhenAll(std::move(tasks));
    connected_ = true;  // list_changed from here on refreshes; before, this listing covers it
    // (a backend that did not connect has an empty slot)
    std::erase_if(*listed, [](const gateway::BackendCapabilities& c) { return c.backend.empty(); });
    Install(generation, std::move(*listed));
  }

  asio::awaitable<void> ConnectAndList(std::shared_ptr<BackendSession> session, Json caps,
                                       std::shared_ptr<std::vector<gateway::BackendCapabilities>> out, size_t index) {
    co_await ConnectOne(session, std::move(caps));
    if (Backend(session->name()) != session) co_return;
    auto h = Health(session->name());
    if (h && !h->Advertised()) co_return;
    co_await ListBackend(session, out, index);
  }

  asio::awaitable<void> ConnectOne(std::shared_ptr<BackendSession> session, Json caps) {
    absl::Status s = absl::UnknownError("not connected");
    try {
      s = co_await session->Initialize(std::move(caps));
    } catch (const std::exception& e) {  // a defect, not the backend's doing: this backend fails, the others go on
      s = absl::InternalError(absl::StrCat("connecting failed: ", e.what()));
    }
    std::lock_guard lock(mu_);
    connecting_.erase(session->name());
    if (s.ok()) {
      backends_[session->name()] = session;
      failures_.erase(session->name());
    } else {
      failures_[session->name()] = std::string(s.message());
    }
  }

  // Marks a backend as being connected; false when it already is connected or being connected (so
  // that a session never opens two sessions with one backend).
  bool StartConnecting(const std::string& name) {
    std::lock_guard lock(mu_);
    if (backends_.count(name) || connecting_.count(name)) return false;
    connecting_.insert(name);
    return true;
  }

  // Not connected to this backend (nor connecting).
  bool Lacks(const std::string& name) {
    std::lock_guard lock(mu_);
    return !backends_.count(name) && !connecting_.count(name);
  }

  // The backend's health (shared by all sessions); null when it is not in this session's config.
  std::shared_ptr<gateway::BackendHealth> Health(const std::string& name) {
    for (const BackendTarget& t : snapshot()->targets) {
      if (t.name == name) return t.health;
    }
    return nullptr;
  }

  // The health monitor's news about one backend: one that answers again is connected if this session
  // could not connect to it; one that entered or left the aggregate changes the catalogue, and the
  // client is told its lists changed.
  asio::awaitable<void> HealthChanged(std::string name, bool advertised, bool changed, std::shared_ptr<transport::HttpClient> client) {
    if (!connected_) co_return;  // the session's first refresh, still to come, sees the news
    const BackendTarget* target = nullptr;
    auto snap = snapshot();
    for (const BackendTarget& t : snap->targets) {
      if (t.name == name) target = &t;
    }
    if (!target) co_return;
    if (advertised && StartConnecting(name)) {
      auto session = gateway::MakeBackendSession(client, Bind(*target), shared_from_this());
      co_await ConnectOne(session, BackendCaps());
      changed = changed || Backend(name) != nullptr;
    }
    if (!changed) co_return;
    co_await Refresh();
    for (const char* n : {"notifications/tools/list_changed", "notifications/resources/list_changed",
                          "notifications/prompts/list_changed"}) {
      SendToClient(gateway::MakeNotification(n, nullptr), nullptr);
    }
  }

  // What the gateway declares to backends: what its client can do, so they only ask what can be answered.
  Json BackendCaps() const {
    Json caps = Json::object();
    for (const char* c : {"sampling", "elicitation", "roots"}) {
      if (client_capabilities.contains(c)) caps[c] = client_capabilities[c];
    }
    return caps;
  }

  std::shared_ptr<BackendSession> Backend(const std::string& name) {
    std::lock_guard lock(mu_);
    auto it = backends_.find(name);
    return it == backends_.end() ? nullptr : it->second;
  }

  std::map<std::string, std::string> Failures() {
    std::lock_guard lock(mu_);
    return failures_;
  }

  // Backends of the config this session cannot use now, and why: those it could not connect to, and
  // those the health monitor found down.
  std::map<std::string, std::string> Unavailable() {
    std::map<std::string, std::string> out = Failures();
    for (const BackendTarget& t : snapshot()->targets) {
      if (!t.health || t.health->Advertised()) continue;
      const gateway::HealthSnapshot h = t.health->Snapshot();
      out[t.name] = absl::StrCat(gateway::HealthStatusName(h.status), " (health check: ", h.last_error, ")");
    }
    return out;
  }

  std::shared_ptr<const gateway::Catalogue> catalogue() {
    std::lock_guard lock(mu_);
    return catalogue_;
  }

  // Lists every backend's capabilities (following pagination) and re-aggregates. Refreshes may overlap
  // (list_changed from several backends): only a result newer than the one applied replaces it.
  asio::awaitable<void> Refresh() {
    std::vector<std::shared_ptr<BackendSession>> sessions;
    uint64_t generation = 0;
    {
      std::lock_guard lock(mu_);
      generation = ++refresh_started_;
      for (auto& [name, s] : backends_) sessions.push_back(s);
    }
    // Unhealthy and unauthenticated backends are not in the aggregate.
    std::erase_if(sessions, [&](const std::shared_ptr<BackendSession>& b) {
      auto h = Health(b->name());
      return h && !h->Advertised();
    });
    auto caps = std::make_shared<std::vector<gateway::BackendCapabilities>>(sessions.size());
    std::vector<asio::awaitable<void>> tasks;
    for (size_t i = 0; i < sessions.size(); ++i) tasks.push_back(ListBackend(sessions[i], caps, i));
    co_await WhenAll(std::move(tasks));
    Install(generation, std::move(*caps));
  }

  // Aggregates a listing of generation `generation` (or takes the identical catalogue another session
  // already made) and installs it, unless a newer listing got there first.
  void Install(uint64_t generation, std::vector<gateway::BackendCapabilities> listed) {
    // (in one order whatever the listing's, so that equal listings share their catalogue)
    std::sort(listed.begin(), listed.end(), [](const auto& a, const auto& b) { return a.backend < b.backend; });
    const auto snap = snapshot();
    const std::string key = catalogue_cache ? CatalogueCache::Key(snap->generation, listed) : std::string();
    std::shared_ptr<const gateway::Catalogue> shared = catalogue_cache ? catalogue_cache->Find(key) : nullptr;
    absl::StatusOr<gateway::Catalogue> catalogue = absl::UnknownError("not aggregated");
    if (!shared) {
      const config::AggregationConfig agg = snap->cfg.aggregation ? *snap->cfg.aggregation : config::AggregationConfig{};
      catalogue = gateway::Aggregate(agg, std::move(listed));
      if (catalogue.ok()) {
        shared = std::make_shared<const gateway::Catalogue>(std::move(*catalogue));
        if (catalogue_cache) shared = catalogue_cache->Insert(key, shared);
      }
    }
    std::lock_guard lock(mu_);
    if (generation < refresh_applied_) return;  // a newer refresh already answered
    refresh_applied_ = generation;
    if (shared) {
      catalogue_ = std::move(shared);
      aggregation_error_.clear();
    } else {
      aggregation_error_ = std::string(catalogue.status().message());
      if (!catalogue_) catalogue_ = std::make_shared<const gateway::Catalogue>();
    }
  }

  asio::awaitable<void> ListBackend(std::shared_ptr<BackendSession> session,
                                    std::shared_ptr<std::vector<gateway::BackendCapabilities>> out, size_t index) {
    gateway::BackendCapabilities& c = (*out)[index];
    c.backend = session->name();
    const Json caps = session->capabilities();
    if (caps.contains("tools")) c.tools = co_await ListAll(session, "tools/list", "tools");
    if (caps.contains("resources")) {
      c.resources = co_await ListAll(session, "resources/list", "resources");
      c.resource_templates = co_await ListAll(session, "resources/templates/list", "resourceTemplates");
    }
    if (caps.contains("prompts")) c.prompts = co_await ListAll(session, "prompts/list", "prompts");
  }

  static asio::awaitable<std::vector<Json>> ListAll(std::shared_ptr<BackendSession> session, std::string method,
                                                    std::string key) {
    std::vector<Json> items;
    Json cursor;
    for (int page = 0; page < 10000; ++page) {
      Json params = Json::object();
      if (!cursor.is_null()) params["cursor"] = cursor;
      std::string m = method;
      std::shared_ptr<BackendEvents> none;
      auto r = co_await session->Call(std::move(m), std::move(params), none);
      if (!r.ok() || !r->contains("result")) break;
      const Json& result = (*r)["result"];
      if (result.contains(key) && result[key].is_array()) {
        for (const Json& item : result[key]) items.push_back(item);
      }
      if (!result.contains("nextCursor") || !result["nextCursor"].is_string() || result["nextCursor"] == cursor) break;
      cursor = result["nextCursor"];
    }
    co_return items;
  }

  // --- messages to the client ---

  // Opens (or replaces) the client's standalone GET stream and flushes what waited for it.
  void AttachStandalone(std::shared_ptr<SseStream> stream) {
    std::deque<Json> waiting;
    {
      std::lock_guard lock(mu_);
      standalone_ = stream;
      waiting.swap(waiting_);
    }
    for (Json& m : waiting) Deliver(m, 0, stream.get());
  }

  // Sends a message to the client. A call's messages go on that call's stream only (kept for a client
  // that resumes it, never moved to another stream); the others on the standalone stream, or they wait
  // (bounded) for the client to open one. True when it was handed to an open stream.
  bool SendToClient(const Json& message, const std::shared_ptr<CallStream>& call) {
    if (call) {
      std::lock_guard lock(call->mu);
      const bool open_now = !call->started && !call->finished;  // the call's first event: open its stream
      if (open_now) call->started = true;
      const bool sent = Deliver(message, call->key, call->stream.get());
      call->kept = true;
      if (open_now && call->wake) call->wake->try_send(boost::system::error_code{}, OpenStreamMarker());
      return sent;
    }
    std::shared_ptr<SseStream> standalone;
    {
      std::lock_guard lock(mu_);
      standalone = standalone_;
      if (!standalone || standalone->closed()) {
        if (waiting_.size() < kMaxBufferedForClient) waiting_.push_back(message);
        return false;
      }
    }
    return Deliver(message, 0, standalone.get());
  }

  // A tool call whose answer may come as an SSE stream: numbered now (its priming event's id comes before
  // any event of the call), opened by AttachCall when the exchange is woken to open it. (A call answered
  // as plain JSON leaves nothing in the replay buffer, and is never listed for resumption: a client can
  // only resume from an event id it was sent, and the priming event is the stream's first.)
  std::shared_ptr<CallStream> PrepareCall(std::shared_ptr<Channel> wake) {
    auto call = std::make_shared<CallStream>(++stream_counter_, nullptr);
    call->wake = std::move(wake);
    call->prime_id = ++event_counter_;
    return call;
  }

  // Opens the call's stream: the priming event (SEP-1699: an id and empty data, so a client that loses
  // the stream can come back with Last-Event-ID, and how long to wait before doing so), then what the
  // call sent so far; the rest follows as it comes. A call already over ends the stream at once.
  void AttachCall(const std::shared_ptr<CallStream>& call, std::shared_ptr<SseStream> stream) {
    std::lock_guard lock(call->mu);
    if (!call->finished) {
      std::lock_guard sessions_lock(mu_);
      live_calls_[call->key] = call;
      call->listed = true;
    }
    Keep(call->prime_id, call->key, std::string());  // (only to know, on a resume, which stream it began)
    call->kept = true;
    transport::SseEvent prime;
    prime.id = std::to_string(call->prime_id);
    prime.has_id = true;
    prime.retry_ms = kClientRetryMs;
    stream->Send(std::move(prime));
    for (transport::SseEvent& ev : Replay(call->key, call->prime_id)) stream->Send(std::move(ev));
    if (call->finished) {
      stream->Close();
    } else {
      call->stream = std::move(stream);
    }
  }

  // True when the call never opened its stream: its answer goes out as plain JSON (and the call is over).
  bool AnswerAsJson(const std::shared_ptr<CallStream>& call) {
    std::lock_guard lock(call->mu);
    if (call->started) return false;
    call->started = true;
    call->finished = true;
    return true;
  }

  // The call's answer went out: its stream ends. When the answer was handed to an open stream, the
  // call's kept events expire soon (the client most likely has them); otherwise they stay for a client
  // that resumes.
  void FinishCall(const std::shared_ptr<CallStream>& call, bool delivered) {
    bool kept = false;
    {
      std::lock_guard lock(call->mu);
      call->finished = true;
      kept = call->kept;
      if (call->stream) call->stream->Close();
      if (!call->listed && !kept) return;  // (answered as JSON: nothing of it is kept or listed)
    }
    std::lock_guard lock(mu_);
    live_calls_.erase(call->key);
    if (delivered && kept && replay_) {
      const auto soon = Clock::now() + kReplayAfterAnswer;
      for (Kept& k : *replay_) {
        if (k.stream == call->key) k.expires = std::min(k.expires, soon);
      }
    }
  }

  // A client resuming a stream (GET + Last-Event-ID): the kept events of the stream that id belongs to,
  // after it, are sent on `stream`; a call still running goes on there, a standalone stream is replaced.
  // An id the session no longer knows resumes the standalone stream with what is kept of it.
  void Resume(const std::string& last_event_id, std::shared_ptr<SseStream> stream) {
    uint64_t last = 0;
    (void)absl::SimpleAtoi(last_event_id, &last);
    uint64_t key = 0;
    std::shared_ptr<CallStream> call;
    {
      std::lock_guard lock(mu_);
      if (replay_) {
        const auto now = Clock::now();
        for (const Kept& k : *replay_) {
          if (k.id == last && k.expires > now) key = k.stream;
        }
      }
      if (key != 0) {
        auto it = live_calls_.find(key);
        if (it != live_calls_.end()) call = it->second.lock();
      }
    }
    if (key != 0 && call) {
      // Under the call's lock no event of the call can slip between the replay and the switch.
      std::lock_guard lock(call->mu);
      for (transport::SseEvent& ev : Replay(key, last)) stream->Send(std::move(ev));
      if (call->finished) {
        stream->Close();
      } else {
        if (call->stream) call->stream->Close();
        call->stream = stream;
      }
      return;
    }
    for (transport::SseEvent& ev : Replay(key, last)) stream->Send(std::move(ev));
    if (key != 0) {
      stream->Close();  // the call is over: what it sent was replayed
      return;
    }
    AttachStandalone(std::move(stream));
  }

  // Numbers a message, keeps it for resumption and sends it on `stream` (if any). False when it did not
  // reach an open stream.
  bool Deliver(const Json& message, uint64_t key, SseStream* stream) {
    transport::SseEvent ev;
    const uint64_t id = ++event_counter_;
    ev.id = std::to_string(id);
    ev.has_id = true;
    ev.event = "message";
    ev.data = gateway::Dump(message);
    Keep(id, key, ev.data);
    return stream && !stream->closed() && stream->Send(std::move(ev));
  }

  void Keep(uint64_t id, uint64_t key, const std::string& data) {
    const auto now = Clock::now();
    std::lock_guard lock(mu_);
    if (!replay_) replay_ = std::make_unique<std::deque<Kept>>();
    // Expired events leave from the front (events kept later expire later, but for those whose call was
    // answered, which expire sooner: they are skipped by Resume and Replay until they reach the front or
    // the buffer's limits push them out).
    while (!replay_->empty() && replay_->front().expires <= now) {
      replay_bytes_ -= replay_->front().data.size();
      replay_->pop_front();
    }
    replay_->push_back(Kept{id, key, now + kReplayAge, data});
    replay_bytes_ += data.size();
    while (!replay_->empty() && (replay_->size() > kReplayEvents || replay_bytes_ > kReplayBytes)) {
      replay_bytes_ -= replay_->front().data.size();
      replay_->pop_front();
    }
  }

  std::vector<transport::SseEvent> Replay(uint64_t key, uint64_t after) {
    std::vector<transport::SseEvent> out;
    std::lock_guard lock(mu_);
    if (!replay_) return out;
    for (const Kept& k : *replay_) {
      if (k.stream != key || k.id <= after || k.data.empty() || k.expires <= Clock::now()) continue;
      transport::SseEvent ev;
      ev.id = std::to_string(k.id);
      ev.has_id = true;
      ev.event = "message";
      ev.data = k.data;
      out.push_back(std::move(ev));
    }
    return out;
  }

  // A server-to-client request relayed from a backend: sent with a gateway id, answered by the client's
  // POST of a response, which `TakeAnswer` routes back here.
  asio::awaitable<Answer> AskClient(Json request, std::shared_ptr<CallStream> preferred) {
    const std::string gid = absl::StrCat("vmcp-", ++request_counter_);
    auto channel = std::make_shared<Channel>(co_await asio::this_coro::executor, 1);
    {
      std::lock_guard lock(mu_);
      awaiting_[gid] = channel;
    }
    request["id"] = gid;
    SendToClient(request, preferred);
    asio::steady_timer timer(co_await asio::this_coro::executor);
    timer.expires_after(kClientAnswerTimeout);
    using namespace asio::experimental::awaitable_operators;
    auto got = co_await (channel->async_receive(kTuple) || timer.async_wait(kTuple));
    {
      std::lock_guard lock(mu_);
      awaiting_.erase(gid);
    }
    Answer answer;
    if (got.index() == 1) {
      answer.error = Json{{"code", gateway::kInternalError}, {"message", "the client did not answer in time"}};
      co_return answer;
    }
    auto [ec, response] = std::get<0>(std::move(got));
    if (response.contains("error")) {
      answer.error = response["error"];
    } else {
      answer.result = response.value("result", Json::object());
    }
    co_return answer;
  }

  // The client's answer to one of our requests. False when nothing waits for it.
  bool TakeAnswer(const Json& response) {
    if (!response["id"].is_string()) return false;
    std::shared_ptr<Channel> channel;
    {
      std::lock_guard lock(mu_);
      auto it = awaiting_.find(response["id"].get<std::string>());
      if (it == awaiting_.end()) return false;
      channel = it->second;
    }
    channel->try_send(boost::system::error_code{}, response);
    return true;
  }

  // --- BackendEvents: what backends send outside a call ---

  void OnNotification(const std::string& backend, Json n) override {
    const std::string method = n.value("method", std::string());
    for (const auto& [kind, cap] : {std::pair{"tools", "notifications/tools/list_changed"},
                                    {"resources", "notifications/resources/list_changed"},
                                    {"prompts", "notifications/prompts/list_changed"}}) {
      if (method != cap) continue;
      auto b = Backend(backend);
      // Acted on only when the backend advertised listChanged for that list.
      if (!b || !b->capabilities().value(kind, Json::object()).value("listChanged", false)) return;
      if (!connected_) return;  // the session's first refresh, still to come, will see the change
      asio::co_spawn(executor_, RefreshAndAnnounce(shared_from_this(), cap), asio::detached);
      return;
    }
    SendToClient(n, nullptr);
  }

  asio::awaitable<Answer> OnRequest(const std::string& backend, Json request) override {
    co_return co_await AskClient(std::move(request), nullptr);
  }

  asio::awaitable<void> RefreshAndAnnounce(std::shared_ptr<ClientSession> self, std::string notification) {
    co_await Refresh();
    SendToClient(gateway::MakeNotification(notification, nullptr), nullptr);
  }

  // Moves the session to a new config generation: backends that are new are connected, removed ones
  // leave routing at once and are closed once their calls in flight are done (bounded by their
  // timeout), changed ones (URL, transport, headers, CA bundle, timeout) are both; untouched backends
  // keep their sessions. The catalogue is rebuilt and the client told its lists changed.
  asio::awaitable<void> Apply(std::shared_ptr<const Snapshot> next, std::shared_ptr<transport::HttpClient> client) {
    auto previous = snapshot();
    std::map<std::string, const BackendTarget*> before, after;
    for (const BackendTarget& t : previous->targets) before[t.name] = &t;
    for (const BackendTarget& t : next->targets) after[t.name] = &t;
    std::vector<std::string> drop;
    std::vector<const BackendTarget*> connect;
    for (const auto& [name, t] : before) {
      auto it = after.find(name);
      if (it == after.end() || !SameTarget(*t, *it->second)) drop.push_back(name);
    }
    for (const auto& [name, t] : after) {
      auto it = before.find(name);
      if (it == before.end() || !SameTarget(*it->second, *t)) connect.push_back(t);
    }
    std::vector<std::shared_ptr<BackendSession>> leaving;
    {
      std::lock_guard lock(mu_);
      snapshot_ = next;
      for (const std::string& name : drop) {
        failures_.erase(name);
        auto it = backends_.find(name);
        if (it == backends_.end()) continue;
        leaving.push_back(it->second);
        backends_.erase(it);
      }
    }
    for (auto& b : leaving) asio::co_spawn(executor_, DrainAndClose(b), asio::detached);
    if (drop.empty() && connect.empty()) co_return;
    const Json caps = BackendCaps();
    std::vector<asio::awaitable<void>> tasks;
    for (const BackendTarget* t : connect) {
      if (!StartConnecting(t->name)) continue;
      auto session = gateway::MakeBackendSession(client, Bind(*t), shared_from_this());
      tasks.push_back(ConnectOne(session, caps));
    }
    co_await WhenAll(std::move(tasks));
    co_await Refresh();
    for (const char* n : {"notifications/tools/list_changed", "notifications/resources/list_changed",
                          "notifications/prompts/list_changed"}) {
      SendToClient(gateway::MakeNotification(n, nullptr), nullptr);
    }
  }

  // A backend leaving the config: its calls in flight finish (up to its timeout), then it is closed.
  static asio::awaitable<void> DrainAndClose(std::shared_ptr<BackendSession> backend) {
    asio::steady_timer timer(co_await asio::this_coro::executor);
    const auto deadline = Clock::now() + backend->timeout();
    while (backend->in_flight() > 0 && Clock::now() < deadline) {
      timer.expires_after(std::chrono::milliseconds(50));
      co_await timer.async_wait(kTuple);
    }
    co_await backend->Close();
  }

  // Ends the session: the client's stream, its backend sessions, and every wait on it (a question to
  // the client gets an error, a call in flight is let go), so nothing of it lingers.
  asio::awaitable<void> Close() {
    std::map<std::string, std::shared_ptr<BackendSession>> backends;
    std::shared_ptr<SseStream> standalone;
    std::map<std::string, std::shared_ptr<Channel>> awaiting;
    std::map<std::string, CallInFlight> calls;
    {
      std::lock_guard lock(mu_);
      backends.swap(backends_);
      standalone = standalone_;
      awaiting.swap(awaiting_);
      calls.swap(calls_);
    }
    if (standalone) standalone->Close();
    for (auto& [gid, channel] : awaiting) {
      Json closed{{"jsonrpc", "2.0"}, {"id", gid},
                  {"error", {{"code", gateway::kInternalError}, {"message", "the client session ended"}}}};
      channel->try_send(boost::system::error_code{}, std::move(closed));
    }
    for (auto& [id, call] : calls) {
      if (call.wake) call.wake->try_send(boost::system::error_code{}, Json());
    }
    for (auto& [name, b] : backends) co_await b->Close();
  }

  asio::any_io_executor executor_;

 private:
  const std::string id_;
  std::shared_ptr<const Snapshot> snapshot_;
  std::atomic<int64_t> last_active_{0};
  mutable std::mutex mu_;
  std::map<std::string, std::shared_ptr<BackendSession>> backends_;
  std::shared_ptr<const auth::Identity> identity_;
  std::map<std::string, std::string> failures_;
  std::set<std::string> connecting_;  // backends being connected after the monitor saw them answer
  std::shared_ptr<const gateway::Catalogue> catalogue_;
  std::string aggregation_error_;
  std::shared_ptr<SseStream> standalone_;
  std::deque<Json> waiting_;
  std::map<std::string, std::shared_ptr<Channel>> awaiting_;
  std::map<std::string, CallInFlight> calls_;
  std::atomic<bool> connected_{false};
  uint64_t refresh_started_ = 0;  // guarded by mu_
  uint64_t refresh_applied_ = 0;  // guarded by mu_
  std::atomic<uint64_t> event_counter_{0};
  std::atomic<uint64_t> stream_counter_{0};
  struct Kept {
    uint64_t id;
    uint64_t stream;  // 0: the standalone stream
    Clock::time_point expires;
    std::string data;  // "" for a priming event (kept only to know its stream)
  };
  std::unique_ptr<std::deque<Kept>> replay_;  // guarded by mu_; made with the first event
  size_t replay_bytes_ = 0;                   // guarded by mu_
  std::map<uint64_t, std::weak_ptr<CallStream>> live_calls_;  // guarded by mu_
  std::atomic<uint64_t> request_counter_{0};
};

// What a backend sends during one call: to the call's own client stream when it has one.
class CallEvents final : public BackendEvents {
 public:
  CallEvents(std::shared_ptr<ClientSession> session, std::shared_ptr<CallStream> stream, std::string client_id,
             gateway::TraceContext trace)
      : session_(std::move(session)), stream_(std::move(stream)), client_id_(std::move(client_id)), trace_(std::move(trace)) {}
  const gateway::TraceContext* Trace() const override { return &trace_; }
  const transport::Headers* ClientHeaders() const override { return client_headers_.get(); }
  std::shared_ptr<const transport::Headers> client_headers_;
  void OnCallSent(const std::string& backend, int64_t backend_id) override {
    session_->CallSent(client_id_, backend, backend_id);
  }
  void OnNotification(const std::string&, Json n) override { session_->SendToClient(n, stream_); }
  asio::awaitable<Answer> OnRequest(const std::string&, Json request) override {
    co_return co_await session_->AskClient(std::move(request), stream_);
  }

 private:
  std::shared_ptr<ClientSession> session_;
  std::shared_ptr<CallStream> stream_;
  std::string client_id_;
  gateway::TraceContext trace_;  // the gateway's client span toward the backend
};

// A session's per-request headers toward one backend: the outgoing auth strategy applied to the caller's
// identity (token exchange), and the client's forwarded headers.
class SessionHeaders final : public gateway::HeaderSource {
 public:
  SessionHeaders(std::weak_ptr<ClientSession> session, std::shared_ptr<auth::OutgoingAuth> outgoing, std::string backend)
      : session_(std::move(session)), outgoing_(std::move(outgoing)), backend_(std::move(backend)) {}

  asio::awaitable<absl::StatusOr<auth::HeaderList>> Headers(const BackendEvents* call) override {
    auto session = session_.lock();
    if (!session) co_return absl::CancelledError("the client session ended");
    const std::shared_ptr<const auth::Identity> who = session->identity();
    std::shared_ptr<const transport::Headers> keep = session->initial_headers;
    const transport::Headers* headers = call ? call->ClientHeaders() : nullptr;
    static const transport::Headers kNone;
    if (!headers) headers = keep ? keep.get() : &kNone;
    co_return co_await outgoing_->HeadersFor(backend_, who.get(), *headers);
  }

 private:
  std::weak_ptr<ClientSession> session_;
  std::shared_ptr<auth::OutgoingAuth> outgoing_;
  std::string backend_;
};

BackendTarget ClientSession::Bind(const BackendTarget& t) {
  BackendTarget bound = t;
  auto snap = snapshot();
  if (snap->outgoing &&
      (snap->outgoing->StrategyFor(t.name) == config::kStrategyTokenExchange || !snap->cfg.passthrough_headers.empty())) {
    bound.header_source = std::make_shared<SessionHeaders>(weak_from_this(), snap->outgoing, t.name);
  }
  return bound;
}

// ---------------------------------------------------------------------------------------------------------
// The gateway.

// Everything the gateway's coroutines touch, shared with them: a call still finishing on a host's
// executor after Stop() keeps it alive. The public object (GatewayImpl, below) owns the HTTP server.
class Core final : public std::enable_shared_from_this<Core> {
 public:
  Core(std::shared_ptr<const Snapshot> snapshot, GatewayOptions options, std::shared_ptr<gateway::Metrics> metrics)
      : options_(std::move(options)),
        log_(std::make_shared<gateway::Logger>(options_.debug ? gateway::LogLevel::kDebug : gateway::LogLevel::kInfo,
                                               options_.log_sink)),
        snapshot_(std::move(snapshot)),
        metrics_(std::move(metrics)) {
    exporter_ = gateway::SpanExporter::FromConfig(snapshot_->cfg, sample_ratio_);
  }

  // Called once the server listens: from here on the gateway's work runs on `executor`.
  void Begin(asio::any_io_executor executor, uint16_t port, std::function<transport::ServerStats()> server_stats) {
    executor_ = executor;
    port_ = port;
    server_stats_ = std::move(server_stats);
    client_ = std::make_shared<transport::HttpClient>(executor);
    exchanger_ = std::make_shared<auth::TokenExchanger>(client_);
    {
      // The config generation again, now with its outgoing auth (it needs the client).
      auto current = snapshot();
      auto snap = MakeSnapshot(current->cfg, *metrics_, current.get(), exchanger_, log_);
      auto incoming = MakeIncoming(current->cfg);
      std::lock_guard lock(mu_);
      if (snap.ok()) snapshot_ = *snap;
      if (incoming.ok()) incoming_ = *incoming;
      if (!snap.ok()) log_->Error("outgoing auth", {{"error", std::string(snap.status().message())}});
      if (!incoming.ok()) log_->Error("incoming auth", {{"error", std::string(incoming.status().message())}});
    }
    if (auto incoming = Incoming()) incoming->Start(executor);
    if (exporter_) exporter_->Start(executor, client_);
    expire_strand_ = asio::make_strand(executor);
    expire_timer_ = std::make_shared<asio::steady_timer>(expire_strand_);
    monitor_ = std::make_shared<gateway::HealthMonitor>(
        executor, client_, [weak = weak_from_this()](const std::string& backend, bool advertised, bool changed) {
          if (auto self = weak.lock()) self->HealthChanged(backend, advertised, changed);
        });
    monitor_->Sync(snapshot()->targets);
    asio::co_spawn(expire_strand_, Holding(shared_from_this(), ExpireSessions()), asio::detached);
    serving_ = true;
    auto snap = snapshot();
    log_->Info("serving", {{"name", snap->cfg.name}, {"port", port}, {"backends", snap->targets.size()},
                          {"tracing", exporter_ != nullptr}});
  }

  absl::Status Reload(config::Config cfg) {
    // A changed incomingAuth gets a new authenticator (its key cache starts over); an unchanged one is kept.
    std::shared_ptr<auth::IncomingAuthenticator> incoming;
    if (serving_ && IncomingFingerprint(cfg) != IncomingFingerprint(snapshot()->cfg)) {
      auto made = MakeIncoming(cfg);
      if (!made.ok()) {
        ConfigRefused({absl::StrCat("incomingAuth: ", made.status().message())});
        return made.status();
      }
      incoming = *made;
    }
    auto snap = MakeSnapshot(std::move(cfg), *metrics_, snapshot().get(), exchanger_, log_);
    if (!snap.ok()) {
      ConfigRefused({std::string(snap.status().message())});
      return snap.status();
    }
    std::shared_ptr<auth::IncomingAuthenticator> replaced;
    {
      std::lock_guard lock(mu_);
      snapshot_ = *snap;
      ++reloads_;
      config_error_.clear();
      if (incoming) {
        replaced = incoming_;
        incoming_ = incoming;
      }
    }
    if (incoming) {
      incoming->Start(executor_);
      if (replaced) replaced->Stop();
    }
    metrics_->reloads_applied.fetch_add(1, std::memory_order_relaxed);
    if (monitor_) monitor_->Sync((*snap)->targets);
    // Sessions open now move to it too; Reload returns once they have (bounded by the backend timeouts).
    std::vector<std::shared_ptr<ClientSession>> sessions;
    {
      std::lock_guard lock(mu_);
      for (auto& [id, session] : sessions_) sessions.push_back(session);
    }
    if (!sessions.empty() && serving_) {
      Clock::duration bound = std::chrono::seconds(5);
      for (const BackendTarget& t : (*snap)->targets) bound = std::max<Clock::duration>(bound, t.timeout + std::chrono::seconds(5));
      auto applied = std::make_shared<std::promise<void>>();
      auto done = applied->get_future();
      std::vector<asio::awaitable<void>> tasks;
      for (auto& session : sessions) tasks.push_back(Holding(session, session->Apply(*snap, client_)));
      asio::co_spawn(executor_, Holding(shared_from_this(), SignalAll(std::move(tasks), applied)), asio::detached);
      done.wait_for(bound);
    }
    log_->Info("config reloaded", {{"backends", (*snap)->targets.size()}, {"sessions_moved", sessions.size()}});
    return absl::OkStatus();
  }

  absl::StatusOr<std::shared_ptr<auth::IncomingAuthenticator>> MakeIncoming(const config::Config& cfg) const {
    auth::IncomingOptions o;
    o.public_url = absl::StrCat("http://", options_.host, ":", port_);
    return auth::IncomingAuthenticator::Create(cfg.incoming_auth, client_, o);
  }

  static std::string IncomingFingerprint(const config::Config& cfg) {
    if (!cfg.incoming_auth) return "";
    std::string f = cfg.incoming_auth->type;
    if (const auto& o = cfg.incoming_auth->oidc) {
      f += absl::StrCat("\n", o->issuer, "\n", o->client_id, "\n", o->audience, "\n", o->resource, "\n", o->jwks_url, "\n",
                        o->introspection_url, "\n", absl::StrJoin(o->scopes, " "), "\n", o->ca_bundle_path, "\n",
                        o->insecure_allow_http, "\n", o->client_secret.Reveal());
    }
    return f;
  }

  std::shared_ptr<auth::IncomingAuthenticator> Incoming() const {
    std::lock_guard lock(mu_);
    return incoming_;
  }

  // Runs the tasks concurrently on the executor and fulfils `done` when all are over (for the blocking
  // Reload and Stop, which wait on it from the host's thread).
  static asio::awaitable<void> SignalAll(std::vector<asio::awaitable<void>> tasks, std::shared_ptr<std::promise<void>> done) {
    co_await WhenAll(std::move(tasks));
    done->set_value();
  }

  void ConfigRefused(const std::vector<std::string>& errors) {
    metrics_->reloads_refused.fetch_add(1, std::memory_order_relaxed);
    std::string joined;
    for (const std::string& e : errors) joined += (joined.empty() ? "" : "; ") + e;
    {
      std::lock_guard lock(mu_);
      config_error_ = joined;
    }
    log_->Error("config refused, keeping the last good one", {{"errors", errors}});
  }

  // The first part of a stop: no new work, every session ends its backend sessions (DELETE, streams
  // closed) within `grace`. False when not serving.
  bool CloseSessions(std::chrono::milliseconds grace) {
    if (!serving_.exchange(false)) return false;
    stopping_ = true;
    if (monitor_) monitor_->Stop();
    if (auto incoming = Incoming()) incoming->Stop();
    if (expire_timer_) asio::post(expire_strand_, [t = expire_timer_] { t->cancel(); });
    lazy_sse_.Stop();  // (a call still waiting is answered as JSON, or ends with its session)
    decltype(sessions_) sessions;
    {
      std::lock_guard lock(mu_);
      sessions.swap(sessions_);
    }
    metrics_->client_sessions_active.fetch_sub(static_cast<int64_t>(sessions.size()), std::memory_order_relaxed);
    log_->Info("stopping", {{"sessions", sessions.size()}, {"grace_ms", grace.count()}});
    if (!sessions.empty() && grace.count() > 0) {
      auto closed = std::make_shared<std::promise<void>>();
      auto done = closed->get_future();
      std::vector<asio::awaitable<void>> tasks;
      for (auto& [id, session] : sessions) tasks.push_back(Holding(session, session->Close()));
      asio::co_spawn(executor_, SignalAll(std::move(tasks), closed), asio::detached);
      done.wait_for(grace);
    }
    // What is traced so far goes out while the executor still runs.
    if (exporter_) exporter_->Stop();
    return true;
  }

  // A request's way in: holds the core for as long as the request takes.
  static asio::awaitable<void> Serve(std::shared_ptr<Core> self, Exchange& ex) {
    if (!self) {
      Response gone = JsonResponse(503, Json{{"error", "the gateway is stopping"}});
      co_await ex.Respond(std::move(gone));
      co_return;
    }
    co_await self->Handle(ex);
  }

  GatewayStatus Status() const {
    GatewayStatus s;
    auto snap = snapshot();
    s.name = snap->cfg.name;
    s.group = snap->cfg.group_ref;
    s.serving = serving_;
    s.port = port_;
    s.requests = requests_;
    s.reloads_applied = reloads_;
    s.reloads_refused = metrics_->reloads_refused.load();
    std::map<std::string, std::string> health;
    {
      std::lock_guard lock(mu_);
      s.config_error = config_error_;
      s.active_sessions = sessions_.size();
      health = last_health_;
    }
    for (const config::StaticBackend& b : snap->cfg.backends) {
      BackendStatus bs;
      bs.name = b.name;
      bs.mode = config::BackendModeName(b.mode);
      bs.transport = config::TransportKindName(b.transport_kind);
      bs.url = config::RedactUrl(b.endpoint);
      // The monitor's view; before its first probe, what sessions found when they connected.
      const BackendTarget* target = nullptr;
      for (const BackendTarget& t : snap->targets) {
        if (t.name == b.name) target = &t;
      }
      const gateway::HealthSnapshot h = target && target->health ? target->health->Snapshot() : gateway::HealthSnapshot{};
      if (h.checked) {
        bs.health = gateway::HealthStatusName(h.status);
        if (h.consecutive_failures > 0 || h.status == gateway::HealthStatus::kUnhealthy) bs.last_error = h.last_error;
        bs.consecutive_failures = h.consecutive_failures;
      } else {
        auto it = health.find(b.name);
        bs.health = it == health.end() ? "unknown" : (it->second.empty() ? "healthy" : "unhealthy");
        if (it != health.end()) bs.last_error = it->second;
      }
      if (target && target->health && target->health->policy().breaker_enabled) bs.circuit = gateway::CircuitStateName(h.circuit);
      s.backends.push_back(std::move(bs));
    }
    return s;
  }

  gateway::MetricsContext MetricsNow() const {
    gateway::MetricsContext c;
    if (server_stats_) {
      const transport::ServerStats st = server_stats_();
      c.connections_active = st.connections_active;
      c.connections_accepted = st.connections_accepted;
      c.sse_streams_active = st.sse_streams_active;
    }
    c.backends_configured = snapshot()->targets.size();
    for (const BackendStatus& b : Status().backends) c.backend_health[b.name] = b.health;
    for (const BackendTarget& t : snapshot()->targets) {
      if (!t.health || !t.health->policy().breaker_enabled) continue;
      const gateway::HealthSnapshot h = t.health->Snapshot();
      c.backend_circuit[t.name] = {gateway::CircuitStateName(h.circuit), h.circuit_opens, h.calls_rejected};
    }
    if (exchanger_) {
      c.token_exchanges = exchanger_->exchanges();
      c.token_exchange_cache_hits = exchanger_->cache_hits();
      c.token_exchange_coalesced = exchanger_->coalesced();
      c.token_exchange_failures = exchanger_->failures();
      c.client_credentials_grants = exchanger_->client_credentials_grants();
    }
    if (auto incoming = Incoming()) {
      c.incoming_accepted = incoming->accepted();
      c.incoming_rejected = incoming->rejected();
    }
    return c;
  }
  GatewayMetrics Metrics() const { return metrics_->Snapshot(MetricsNow()); }
  void StartLogWriter() { log_->StartWriter(); }
  std::string PrometheusText() const { return metrics_->Prometheus(MetricsNow()); }

 private:
  std::shared_ptr<const Snapshot> snapshot() const {
    std::lock_guard lock(mu_);
    return snapshot_;
  }

  // --- HTTP routing ---

  // (Not a coroutine itself: the hot path, /mcp, costs no frame here.)
  asio::awaitable<void> Handle(Exchange& ex) {
    ++requests_;
    if (ex.request().Path() == "/mcp") return HandleMcp(ex);
    return HandleOther(ex);
  }

  asio::awaitable<void> HandleOther(Exchange& ex) {
    const std::string_view path = ex.request().Path();
    if (path == "/health" || path == "/ping") {
      Response r = JsonResponse(200, Json{{"status", "ok"}});
      co_await ex.Respond(std::move(r));
      co_return;
    }
    if (path == "/readyz") {
      // Not ready while draining: Kubernetes takes the pod out of its Service first.
      Response r = draining_ ? JsonResponse(503, Json{{"status", "stopping"}, {"mode", "static"}})
                             : JsonResponse(200, Json{{"status", "ready"}, {"mode", "static"}});
      co_await ex.Respond(std::move(r));
      co_return;
    }
    if (path == "/status") {
      Response r = StatusResponse(ex.request().method);
      co_await ex.Respond(std::move(r));
      co_return;
    }
    if (path.starts_with(auth::kProtectedResourcePath)) {
      // RFC 9728: where clients learn which authorization server issues tokens for this gateway.
      auto incoming = Incoming();
      Response r = incoming && !incoming->anonymous() && path == incoming->MetadataPath()
                       ? JsonResponse(200, Json::parse(incoming->ProtectedResourceMetadata(), nullptr, false))
                       : JsonResponse(404, Json{{"error", "not_found"}});
      co_await ex.Respond(std::move(r));
      co_return;
    }
    if (path == "/api/backends/health") {
      Response r = BackendsHealthResponse(ex.request().method);
      co_await ex.Respond(std::move(r));
      co_return;
    }
    if (path == "/metrics") {
      Response r;
      r.status = 200;
      r.headers.Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8");
      r.body = PrometheusText();
      co_await ex.Respond(std::move(r));
      co_return;
    }
    if (path == "/" || path == "/sse" || path == "/messages" || path == "/message") {
      co_await HandleMcp(ex);
      co_return;
    }
    Response r = JsonResponse(404, Json{{"error", "not_found"}});
    co_await ex.Respond(std::move(r));
  }

  Response StatusResponse(const std::string& method) const {
    if (method != "GET" && method != "HEAD") return JsonResponse(405, Json{{"error", "method not allowed"}});
    const GatewayStatus s = Status();
    Json backends = Json::array();
    bool healthy = false;
    for (const BackendStatus& b : s.backends) {
      backends.push_back({{"name", b.name}, {"health", b.health}, {"transport", b.transport}, {"mode", b.mode},
                          {"url", b.url}});
      healthy = healthy || b.health == "healthy";
    }
    return JsonResponse(200, Json{{"backends", backends},
                                  {"healthy", healthy},
                                  {"version", "0.1.0"},
                                  {"group_ref", s.group},
                                  {"sessions", s.active_sessions},
                                  {"config", {{"reloads_applied", s.reloads_applied},
                                              {"reloads_refused", s.reloads_refused},
                                              {"last_error", s.config_error}}}});
  }

  // Every backend's health and circuit breaker. The keys follow ToolHive's endpoint (Go field names),
  // so its tooling reads ours; times are RFC 3339 UTC.
  Response BackendsHealthResponse(const std::string& method) const {
    if (method != "GET" && method != "HEAD") return JsonResponse(405, Json{{"error", "method not allowed"}});
    auto snap = snapshot();
    Json backends = Json::object();
    std::map<std::string, int> counts{{"Healthy", 0}, {"Degraded", 0}, {"Unhealthy", 0}, {"Unknown", 0}, {"Unauthenticated", 0}};
    auto time = [](std::chrono::system_clock::time_point t) -> Json {
      if (t.time_since_epoch().count() == 0) return Json();
      return absl::FormatTime(absl::RFC3339_sec, absl::FromChrono(t), absl::UTCTimeZone());
    };
    for (const BackendTarget& t : snap->targets) {
      if (!t.health) continue;
      const gateway::HealthSnapshot h = t.health->Snapshot();
      std::string status = gateway::HealthStatusName(h.status);
      std::string key = status == "unauthenticated" ? "Unauthenticated" : std::string(1, static_cast<char>(std::toupper(status[0]))) + status.substr(1);
      ++counts[key];
      backends[t.name] = Json{{"Status", status},
                              {"ConsecutiveFailures", h.consecutive_failures},
                              {"LastCheckTime", h.checked ? time(h.last_check) : Json()},
                              {"LastError", h.last_error},
                              {"LastErrorCategory", h.last_error_category},
                              {"LastTransitionTime", time(h.last_transition)},
                              {"CircuitState", t.health->policy().breaker_enabled ? gateway::CircuitStateName(h.circuit) : "disabled"},
                              {"CircuitLastChanged", time(h.circuit_last_changed)},
                              {"CircuitOpens", h.circuit_opens},
                              {"CallsRejected", h.calls_rejected}};
    }
    Json summary{{"Total", snap->targets.size()}};
    for (const auto& [k, v] : counts) summary[k] = v;
    return JsonResponse(200, Json{{"monitoring_enabled", monitor_ != nullptr}, {"summary", summary}, {"backends", backends}});
  }

  // The monitor's news about a backend, passed to every open session.
  void HealthChanged(const std::string& backend, bool advertised, bool changed) {
    if (changed) {
      log_->Warn(advertised ? "backend back in the aggregate" : "backend left the aggregate", {{"backend", backend}});
    }
    std::vector<std::shared_ptr<ClientSession>> sessions;
    {
      std::lock_guard lock(mu_);
      for (auto& [id, session] : sessions_) sessions.push_back(session);
    }
    for (auto& session : sessions) {
      if (!changed && !session->Lacks(backend)) continue;  // the common case: a healthy backend stayed so
      asio::co_spawn(executor_, Holding(session, session->HealthChanged(backend, advertised, changed, client_)), asio::detached);
    }
  }

  // DNS-rebinding protection: a server bound to loopback answers only local Host and Origin values.
  bool HostAllowed(const transport::Request& req) const {
    const std::string host = absl::AsciiStrToLower(std::string(req.headers.Get("Host").value_or("")));
    auto name_of = [](const std::string& authority) {
      if (!authority.empty() && authority[0] == '[') return authority.substr(0, authority.find(']') + 1);
      return authority.substr(0, authority.find(':'));
    };
    auto local = [](const std::string& name) {
      return name == "localhost" || name == "127.0.0.1" || name == "[::1]" || name == "::1";
    };
    for (const std::string& allowed : options_.allowed_hosts) {
      if (host == allowed || name_of(host) == allowed) goto origin;
    }
    if (IsLoopbackBind() || !options_.allowed_hosts.empty()) {
      if (!local(name_of(host))) return false;
    }
  origin:
    if (auto origin = req.headers.Get("Origin")) {
      const std::string o = absl::AsciiStrToLower(std::string(*origin));
      for (const std::string& allowed : options_.allowed_origins) {
        if (allowed == "*" || o == absl::AsciiStrToLower(allowed)) return true;
      }
      const size_t scheme = o.find("://");
      if (scheme == std::string::npos) return false;
      std::string authority = o.substr(scheme + 3);
      authority = authority.substr(0, authority.find('/'));
      if (!local(name_of(authority)) && IsLoopbackBind()) return false;
    }
    return true;
  }

  bool IsLoopbackBind() const {
    return options_.host == "127.0.0.1" || options_.host == "localhost" || options_.host == "::1";
  }

  std::shared_ptr<ClientSession> FindSession(std::string_view id) {
    std::lock_guard lock(mu_);
    auto it = sessions_.find(id);
    return it == sessions_.end() ? nullptr : it->second;
  }

  asio::awaitable<void> Reply(Exchange& ex, int status, Json body, const std::string& session_header = "") {
    Response r = JsonResponse(status, body);
    if (!session_header.empty()) r.headers.Set("Mcp-Session-Id", session_header);
    co_await ex.Respond(std::move(r));
  }

  asio::awaitable<void> HandleMcp(Exchange& ex) {
    const transport::Request& req = ex.request();
    if (!HostAllowed(req)) {
      Json e = gateway::MakeError(nullptr, gateway::kInvalidRequest, "Host or Origin not allowed (DNS rebinding protection)");
      co_await Reply(ex, 403, std::move(e));
      co_return;
    }
    // Who is calling (incomingAuth): a failure is answered here, 401 with the RFC 9728 challenge.
    Caller who = OpenCaller();
    if (!who) who = co_await Authenticate(ex);
    if (!who) co_return;
    const std::string_view path = req.Path();
    const std::string_view method = req.method;
    if (method == "POST" && (path == "/mcp" || path == "/")) {  // (the hot path first)
      co_await HandlePost(ex, who);
      co_return;
    }
    if (path == "/sse") {
      if (method == "GET") {
        co_await HandleLegacyStream(ex, who);
      } else {
        Json e = gateway::MakeError(nullptr, gateway::kInvalidRequest, "use GET on /sse");
        co_await Reply(ex, 405, std::move(e));
      }
      co_return;
    }
    if (path == "/messages" || path == "/message") {
      if (method == "POST") {
        co_await HandleLegacyPost(ex, who);
      } else {
        Json e = gateway::MakeError(nullptr, gateway::kInvalidRequest, "use POST on /messages");
        co_await Reply(ex, 405, std::move(e));
      }
      co_return;
    }
    if (method == "GET") {
      co_await HandleGet(ex, who);
      co_return;
    }
    if (method == "DELETE") {
      co_await HandleDelete(ex, who);
      co_return;
    }
    if (method != "POST") {
      Json e = gateway::MakeError(nullptr, gateway::kInvalidRequest, "use POST, GET or DELETE on /mcp");
      co_await Reply(ex, 405, std::move(e));
      co_return;
    }
    co_await HandlePost(ex, who);
  }

  using Caller = std::shared_ptr<const auth::Identity>;

  static const Caller& Anonymous() {
    static const Caller kAnonymous = [] {
      auto a = std::make_shared<auth::Identity>();
      a->anonymous = true;
      a->issuer = auth::kAnonymousIssuer;
      a->subject = auth::kAnonymousSubject;
      return a;
    }();
    return kAnonymous;
  }
  bool AnonymousConfig() const {
    return !snapshot()->cfg.incoming_auth || snapshot()->cfg.incoming_auth->type == "anonymous";
  }

  // The anonymous caller when incomingAuth checks nothing (decided without a coroutine); null when the
  // request goes through Authenticate.
  Caller OpenCaller() const {
    auto incoming = Incoming();
    return (incoming ? incoming->anonymous() : AnonymousConfig()) ? Anonymous() : nullptr;
  }

  // The caller's identity, or null after answering the failure (401/403/503 with the challenge).
  asio::awaitable<Caller> Authenticate(Exchange& ex) {
    if (Caller open = OpenCaller()) co_return open;
    auto incoming = Incoming();
    if (!incoming) {
      // Fail closed: a gateway whose authenticator could not be made lets in only an anonymous config's
      // callers (OpenCaller).
      Response r = JsonResponse(503, Json{{"error", "temporarily_unavailable"},
                                          {"error_description", "incoming authentication is not available"}});
      co_await ex.Respond(std::move(r));
      co_return nullptr;
    }
    const std::string authorization(ex.request().headers.Get("Authorization").value_or(""));
    auto who = co_await incoming->Authenticate(authorization);
    if (who.ok()) co_return std::make_shared<const auth::Identity>(std::move(*who));
    const auth::Challenge c = incoming->ChallengeFor(who.status());
    Response r;
    r.status = c.status;
    r.headers.Set("Content-Type", "application/json");
    if (!c.www_authenticate.empty()) r.headers.Set("WWW-Authenticate", c.www_authenticate);
    r.body = c.body;
    log_->Debug("request refused by incoming auth", {{"status", c.status}, {"why", std::string(who.status().message())}});
    co_await ex.Respond(std::move(r));
    co_return nullptr;
  }

  // During a graceful stop new requests are turned away (answers and notifications for calls still in
  // flight are taken): 503 with Retry-After, so a client retries against another replica.
  asio::awaitable<void> RefuseWhileDraining(Exchange& ex, const Json& id) {
    Response r = JsonResponse(503, gateway::MakeError(id, gateway::kInternalError, "the gateway is shutting down; retry"));
    r.headers.Set("Retry-After", "1");
    co_await ex.Respond(std::move(r));
  }

  asio::awaitable<void> HandleGet(Exchange& ex, Caller who) {
    const transport::Request& req = ex.request();
    if (draining_) {
      co_await RefuseWhileDraining(ex, Json());
      co_return;
    }
    if (req.headers.Get("Accept").value_or("").find("text/event-stream") == std::string_view::npos) {
      Json e = gateway::MakeError("server-error", gateway::kInvalidRequest, "Not Acceptable: Client must accept text/event-stream");
      co_await Reply(ex, 406, std::move(e));
      co_return;
    }
    auto session = co_await RequireSession(ex, nullptr, who);
    if (!session) co_return;
    const std::string last_event_id(req.headers.Get("Last-Event-ID").value_or(""));
    auto stream = co_await ex.StartSse();
    if (!stream.ok()) co_return;
    if (!last_event_id.empty()) {
      session->Resume(last_event_id, *stream);
    } else {
      session->AttachStandalone(*stream);
    }
  }

  asio::awaitable<void> HandleDelete(Exchange& ex, Caller who) {
    auto session = co_await RequireSession(ex, nullptr, who);
    if (!session) co_return;
    RemoveSession(session->id());
    co_await session->Close();
    Response r;
    r.status = 200;
    co_await ex.Respond(std::move(r));
  }

  // The session named by Mcp-Session-Id, or why there is none: the HTTP status (400 missing or an
  // unsupported protocol version, 404 unknown) and the JSON-RPC error to answer.
  struct SessionLookup {
    std::shared_ptr<ClientSession> session;
    int status = 0;
    Json error;
  };
  SessionLookup LookUpSession(const transport::Request& req, const Json& id, const Caller& who) {
    auto header = req.headers.Get("Mcp-Session-Id");
    if (!header || header->empty()) {
      return {nullptr, 400, gateway::MakeError(id, gateway::kInvalidRequest, "Bad Request: Mcp-Session-Id header is required")};
    }
    auto session = FindSession(*header);
    // A session presented by another identity than the one that created it is not found (its existence
    // is not revealed).
    if (session && !auth::BindingMatches(session->binding, *who)) session = nullptr;
    if (!session || session->legacy) return {nullptr, 404, gateway::MakeError(id, -32001, "Session not found")};
    if (auto v = req.headers.Get("MCP-Protocol-Version"); v && !gateway::IsSupportedProtocolVersion(*v)) {
      return {nullptr, 400,
              gateway::MakeError(id, gateway::kInvalidRequest,
                                 absl::StrCat("Bad Request: unsupported MCP-Protocol-Version ", std::string(*v)))};
    }
    session->Touch();
    if (!who->anonymous) session->SetIdentity(who);  // a refreshed token is what is exchanged from now on
    return {std::move(session), 0, Json()};
  }

  // The request's session, or null after answering why it has none.
  asio::awaitable<std::shared_ptr<ClientSession>> RequireSession(Exchange& ex, const Json& id, const Caller& who) {
    SessionLookup found = LookUpSession(ex.request(), id, who);
    if (!found.session) co_await Reply(ex, found.status, std::move(found.error));
    co_return found.session;
  }

  // Parses a POSTed JSON-RPC message. On failure answers 400 with the JSON-RPC error and returns null.
  asio::awaitable<std::optional<Json>> ParseMessage(Exchange& ex) {
    Json message = gateway::Parse(ex.request().body);
    if (message.is_discarded()) {
      Json e = gateway::MakeError(nullptr, gateway::kParseError, "Parse error: the body is not valid JSON");
      co_await Reply(ex, 400, std::move(e));
      co_return std::nullopt;
    }
    if (message.is_array()) {
      Json e = gateway::MakeError(nullptr, gateway::kInvalidRequest, "Invalid Request: batch requests are not supported");
      co_await Reply(ex, 400, std::move(e));
      co_return std::nullopt;
    }
    if (gateway::Classify(message) == gateway::MessageKind::kInvalid) {
      const Json id = message.is_object() && message.contains("id") ? message["id"] : Json();
      Json e = gateway::MakeError(id, gateway::kInvalidRequest, "Invalid Request: not a JSON-RPC 2.0 message");
      co_await Reply(ex, 400, std::move(e));
      co_return std::nullopt;
    }
    co_return message;
  }

  std::shared_ptr<ClientSession> NewSession(bool legacy, const Caller& who, const transport::Request& req) {
    auto snap = snapshot();
    auto session = std::make_shared<ClientSession>(RandomSessionId(), snap);
    session->executor_ = executor_;
    session->legacy = legacy;
    session->binding = who->SessionBindingKey();
    session->catalogue_cache = catalogue_cache_;
    session->SetIdentity(who);
    if (!snap->cfg.passthrough_headers.empty()) session->initial_headers = std::make_shared<const transport::Headers>(req.headers);
    return session;
  }

  // The request's trace: the client's traceparent continued, or a new one (sampled per telemetry).
  std::shared_ptr<RequestScope> Scope(const transport::Request& req) const {
    auto scope = std::make_shared<RequestScope>();
    auto header = [&](const char* name) -> std::optional<std::string> {
      auto v = req.headers.Get(name);
      return v ? std::optional<std::string>(std::string(*v)) : std::nullopt;
    };
    scope->trace = gateway::TraceContext::FromHeaders(header("traceparent"), header("tracestate"), sample_ratio_);
    if (!snapshot()->cfg.passthrough_headers.empty()) scope->client_headers = std::make_shared<const transport::Headers>(req.headers);
    return scope;
  }

  asio::awaitable<void> HandlePost(Exchange& ex, Caller who) {
    auto scope = Scope(ex.request());
    // A tool call is read as text (nearly every request is one); everything else is parsed.
    std::optional<gateway::ToolCallShape> tool_call = gateway::ScanToolCall(ex.request().body);
    Json message;
    gateway::MessageKind kind = gateway::MessageKind::kRequest;
    if (!tool_call) {
      auto parsed = co_await ParseMessage(ex);
      if (!parsed) co_return;
      message = std::move(*parsed);
      kind = gateway::Classify(message);
    }
    if (!tool_call && kind == gateway::MessageKind::kRequest && message["method"] == "initialize") {
      if (draining_) {
        co_await RefuseWhileDraining(ex, message["id"]);
        co_return;
      }
      auto session = NewSession(false, who, ex.request());
      Json body = co_await InitializeSession(session, std::move(message));
      std::string session_header;
      if (body.contains("result")) {
        session_header = session->id();
        AddSession(session);
      }
      co_await Reply(ex, 200, std::move(body), session_header);
      co_return;
    }
    const Json id = tool_call ? tool_call->id : kind == gateway::MessageKind::kRequest ? message["id"] : Json();
    if (kind == gateway::MessageKind::kRequest && draining_) {
      co_await RefuseWhileDraining(ex, id);
      co_return;
    }
    SessionLookup found = LookUpSession(ex.request(), id, who);  // (no coroutine of RequireSession's)
    if (!found.session) {
      co_await Reply(ex, found.status, std::move(found.error));
      co_return;
    }
    std::shared_ptr<ClientSession> session = std::move(found.session);
    if (kind != gateway::MessageKind::kRequest) {
      if (kind == gateway::MessageKind::kResponse) {
        session->TakeAnswer(message);
      } else {
        co_await ForwardNotification(session, message);
      }
      Response accepted;
      accepted.status = 202;
      co_await ex.Respond(std::move(accepted));
      co_return;
    }
    ClientRequest request = tool_call ? ClientRequest::OfText(ex.request().body, std::move(*tool_call))
                                      : ClientRequest::Of(std::move(message));
    // The request runs on its own; this exchange waits for its answer, or for the client's cancel (then
    // 202 at once). A tool call may relay progress, logs or requests to the client while it runs: when the
    // client takes SSE, the call's first event (or kLazySse without an answer) opens the stream and the
    // call continues after this handler has returned; a quick, quiet call is answered as plain JSON.
    const bool accepts_sse =
        ex.request().headers.Get("Accept").value_or("").find("text/event-stream") != std::string_view::npos;
    // On this connection's executor: the call is served on the thread its request came in on.
    const asio::any_io_executor here = co_await asio::this_coro::executor;
    auto wake = std::make_shared<Channel>(here, 2);
    scope->wake = wake;
    std::shared_ptr<CallStream> call;
    if (accepts_sse && request.method == "tools/call") call = session->PrepareCall(wake);
    scope->raw_ok = true;
    std::shared_ptr<Core> self = shared_from_this();
    asio::co_spawn(here, Answer(std::move(self), session, std::move(request), call, scope), asio::detached);
    // One receive, never raced against a timer: a race (`||`) drops a message that arrives as the
    // other side wins. The lazy-SSE wait sends its marker into the same channel instead.
    if (call) lazy_sse_.Start(*call, here);
    auto [ec, first] = co_await wake->async_receive(kTuple);
    if (call) lazy_sse_.Cancel(*call);  // (before `call` can go: once this returns, OnDue is not running)
    if (call && first == OpenStreamMarker()) {
      auto opened = co_await ex.StartSse();
      if (opened.ok()) session->AttachCall(call, *opened);
      co_return;  // (a client gone meanwhile can still resume the call: its events are kept)
    }
    if (first.is_null()) {  // the client cancelled the call: nothing to answer
      Response accepted;
      accepted.status = 202;
      co_await ex.Respond(std::move(accepted));
      co_return;
    }
    if (!scope->raw.empty()) {  // (set before the answer was sent: the channel orders the two)
      co_await ex.Respond(JsonTextResponse(200, std::move(scope->raw)));
      co_return;
    }
    co_await Reply(ex, 200, std::move(first));
  }

  // Runs one client request and hands its answer to the exchange waiting in HandlePost: through `wake`
  // as JSON, or on the call's SSE stream once that opened. Runs detached, holding the core (`hold`).
  asio::awaitable<void> Answer(std::shared_ptr<Core> hold, std::shared_ptr<ClientSession> session, ClientRequest request,
                               std::shared_ptr<CallStream> call, std::shared_ptr<RequestScope> scope) {
    const std::shared_ptr<Channel> wake = scope->wake;
    Json response = co_await Dispatch(session, std::move(request), call, scope);
    if (!call) {
      wake->try_send(boost::system::error_code{}, std::move(response));  // (null: cancelled; the exchange knows)
      co_return;
    }
    if (response.is_null()) {  // cancelled
      session->FinishCall(call, false);
      co_return;
    }
    if (session->AnswerAsJson(call)) {
      session->FinishCall(call, /*delivered=*/true);
      wake->try_send(boost::system::error_code{}, std::move(response));
      co_return;
    }
    // The call's stream opened: the answer goes on it (a text answer parsed for that). A stream the
    // client dropped keeps the answer for its resumption.
    if (!scope->raw.empty()) response = gateway::Parse(std::exchange(scope->raw, std::string()));
    const bool delivered = session->SendToClient(response, call);
    session->FinishCall(call, delivered);
  }

  // --- legacy HTTP+SSE (2024-11-05): GET /sse opens the session's stream, POST /messages?sessionId= ---

  asio::awaitable<void> HandleLegacyStream(Exchange& ex, Caller who) {
    if (ex.request().headers.Get("Accept").value_or("text/event-stream").find("text/event-stream") == std::string_view::npos &&
        ex.request().headers.Get("Accept").value_or("") != "*/*") {
      Json e = gateway::MakeError(nullptr, gateway::kInvalidRequest, "Not Acceptable: Client must accept text/event-stream");
      co_await Reply(ex, 406, std::move(e));
      co_return;
    }
    auto session = NewSession(true, who, ex.request());
    auto opened = co_await ex.StartSse();
    if (!opened.ok()) co_return;
    std::shared_ptr<SseStream> stream = *opened;
    transport::SseEvent endpoint;
    endpoint.event = "endpoint";
    endpoint.data = absl::StrCat("/messages?sessionId=", session->id());
    stream->Send(std::move(endpoint));
    session->AttachStandalone(stream);
    AddSession(session);
    // The session lives as long as its stream.
    std::weak_ptr<ClientSession> weak = session;
    stream->OnClosed([core = weak_from_this(), weak] {
      auto s = weak.lock();
      auto self = core.lock();
      if (!s || !self) return;
      self->RemoveSession(s->id());
      asio::co_spawn(s->executor_, s->Close(), asio::detached);
    });
  }

  asio::awaitable<void> HandleLegacyPost(Exchange& ex, Caller who) {
    const auto sid = ex.request().QueryParam("sessionId");
    if (!sid || sid->empty()) {
      Json e = gateway::MakeError(nullptr, gateway::kInvalidRequest, "Bad Request: sessionId query parameter is required");
      co_await Reply(ex, 400, std::move(e));
      co_return;
    }
    auto session = FindSession(*sid);
    if (session && !auth::BindingMatches(session->binding, *who)) session = nullptr;
    if (!session || !session->legacy) {
      Json e = gateway::MakeError(nullptr, -32001, "Session not found");
      co_await Reply(ex, 404, std::move(e));
      co_return;
    }
    session->Touch();
    auto parsed = co_await ParseMessage(ex);
    if (!parsed) co_return;
    Response accepted;
    accepted.status = 202;
    accepted.headers.Set("Content-Type", "text/plain");
    accepted.body = "Accepted";
    co_await ex.Respond(std::move(accepted));
    // Answers travel on the session's stream.
    auto scope = Scope(ex.request());
    const asio::any_io_executor here = co_await asio::this_coro::executor;
    asio::co_spawn(here, Holding(shared_from_this(), ProcessLegacy(session, std::move(*parsed), scope)), asio::detached);
  }

  asio::awaitable<void> ProcessLegacy(std::shared_ptr<ClientSession> session, Json message,
                                      std::shared_ptr<RequestScope> scope) {
    const gateway::MessageKind kind = gateway::Classify(message);
    if (kind == gateway::MessageKind::kResponse) {
      session->TakeAnswer(message);
      co_return;
    }
    if (kind == gateway::MessageKind::kNotification) {
      co_await ForwardNotification(session, message);
      co_return;
    }
    Json response;
    if (message["method"] == "initialize") {
      response = co_await InitializeSession(session, std::move(message));
    } else {
      std::shared_ptr<CallStream> no_stream;
      ClientRequest request = ClientRequest::Of(std::move(message));
      response = co_await Dispatch(session, std::move(request), no_stream, scope);
    }
    if (!response.is_null()) session->SendToClient(response, nullptr);
  }

  // --- the MCP methods ---

  asio::awaitable<Json> InitializeSession(std::shared_ptr<ClientSession> session, Json message) {
    const auto started = Clock::now();
    const Json id = message["id"];
    Json response;
    try {
      response = co_await Initialize(std::move(session), std::move(message));
    } catch (const std::exception& e) {  // a defect: the client still gets an answer, naming it
      response = InternalError(id, e);
    }
    RecordClient(gateway::MethodIndex("initialize"), started, IsErrorAnswer(response));
    co_return response;
  }

  asio::awaitable<Json> Initialize(std::shared_ptr<ClientSession> session, Json message) {
    const Json id = message["id"];
    const Json params = message.contains("params") ? message["params"] : Json::object();
    if (!params.is_object() || (params.contains("protocolVersion") && !params["protocolVersion"].is_string()) ||
        (params.contains("capabilities") && !params["capabilities"].is_object())) {
      co_return gateway::MakeError(id, gateway::kInvalidParams,
                                   "Invalid params: initialize needs {protocolVersion: string, capabilities: object}");
    }
    session->protocol_version = gateway::NegotiateProtocolVersion(params.value("protocolVersion", std::string()));
    session->client_capabilities = params.value("capabilities", Json::object());
    co_await session->Connect(client_);
    {
      std::lock_guard lock(mu_);
      for (const BackendTarget& t : session->snapshot()->targets) last_health_[t.name] = "";
      for (const auto& [name, error] : session->Failures()) last_health_[name] = error;
    }
    for (const auto& [name, error] : session->Failures()) {
      log_->Warn("backend unavailable", {{"backend", name}, {"error", error}, {"session", gateway::SessionTag(session->id())}});
    }
    log_->Debug("session initialized", {{"session", gateway::SessionTag(session->id())},
                                       {"protocol_version", session->protocol_version},
                                       {"legacy", session->legacy}});
    Json result{{"protocolVersion", session->protocol_version},
                {"capabilities",
                 {{"tools", {{"listChanged", true}}},
                  {"resources", {{"subscribe", true}, {"listChanged", true}}},
                  {"prompts", {{"listChanged", true}}},
                  {"logging", Json::object()},
                  {"completions", Json::object()}}},
                {"serverInfo", {{"name", session->snapshot()->cfg.name}, {"version", "0.1.0"}}}};
    co_return gateway::MakeResult(id, std::move(result));
  }

  asio::awaitable<void> ForwardNotification(std::shared_ptr<ClientSession> session, const Json& message) {
    const std::string method = message["method"];
    const Json params = message.value("params", Json());
    if (method == "notifications/roots/list_changed") {
      for (const BackendTarget& t : session->snapshot()->targets) {
        if (auto b = session->Backend(t.name)) {
          std::string m = method;
          Json p = params;
          co_await b->Notify(std::move(m), std::move(p));
        }
      }
    } else if (method == "notifications/cancelled" && params.is_object() && params.contains("requestId")) {
      // To the backend that holds the request, under the id that backend knows it by.
      if (auto call = session->CancelCall(gateway::Dump(params["requestId"]))) {
        Release(call->in_flight);  // a graceful stop does not wait for it
        if (call->backend_id >= 0) {
          if (auto b = session->Backend(call->backend)) {
            Json p = params;
            p["requestId"] = call->backend_id;
            std::string m = method;
            co_await b->Notify(std::move(m), std::move(p));
          }
        }
      }
    }
    // notifications/initialized needs nothing: backends were initialized with the session.
    co_return;
  }

  // Answers one client request. What backends send while it runs goes to `stream` when there is one.
  // Malformed params (a name that is not a string, ...) are -32602 errors, never an exception out.
  asio::awaitable<Json> Dispatch(std::shared_ptr<ClientSession> session, ClientRequest request,
                                 std::shared_ptr<CallStream> stream, std::shared_ptr<RequestScope> scope) {
    const Json id = request.id;
    const std::string id_text = request.id_text;
    const std::string method_name = request.method;
    const size_t method = gateway::MethodIndex(method_name);
    const auto started = Clock::now();
    InFlight in_flight(this);
    scope->in_flight = in_flight.token();
    std::string problem;
    Json response;
    try {
      response = co_await Route(session, std::move(request), std::move(stream), scope);
    } catch (const Json::exception& e) {
      problem = e.what();
      response = gateway::MakeError(id, gateway::kInvalidParams, absl::StrCat("Invalid params: ", problem));
      scope->raw.clear();  // (no text answer half written)
    } catch (const std::exception& e) {
      // A defect, not the client's doing: the client still gets an answer (its exchange waits for one),
      // naming what failed, and the request is logged as the error it is.
      response = InternalError(id, e);
      scope->raw.clear();
    }
    // (a text answer, in scope->raw, is an error only as a tool's: ScanResult reads results only)
    const bool error = scope->raw.empty() ? IsErrorAnswer(response) : scope->raw_error;
    RecordClient(method, started, error);
    Finished(*session, *scope, id_text, method_name, started, response, error);
    co_return response;
  }

  static Json InternalError(const Json& id, const std::exception& e) {
    return gateway::MakeError(id, gateway::kInternalError, absl::StrCat("Internal error: ", e.what()));
  }

  // Counts a client request from Dispatch to its answer; a stop waits for the count to reach zero.
  // A cancelled call stops counting at once (its backend may never answer it).
  class InFlight {
   public:
    explicit InFlight(Core* core) : core_(core), token_(std::make_shared<std::atomic<bool>>(true)) {
      core_->in_flight_.fetch_add(1);
    }
    ~InFlight() { core_->Release(token_); }
    const std::shared_ptr<std::atomic<bool>>& token() const { return token_; }
    InFlight(const InFlight&) = delete;
    InFlight& operator=(const InFlight&) = delete;

   private:
    Core* core_;
    std::shared_ptr<std::atomic<bool>> token_;  // true while counted
  };
  void Release(const std::shared_ptr<std::atomic<bool>>& token) {
    if (!token || !token->exchange(false)) return;
    if (in_flight_.fetch_sub(1) == 1) {
      std::lock_guard lock(idle_mu_);
      idle_cv_.notify_all();
    }
  }

 public:
  // A graceful stop's first step: new requests get 503, /readyz says stopping; then wait (up to
  // `deadline`) for the requests in flight to be answered.
  void Drain(Clock::time_point deadline) {
    draining_ = true;
    std::unique_lock lock(idle_mu_);
    idle_cv_.wait_until(lock, deadline, [this] { return in_flight_.load() == 0; });
    log_->Info("drained", {{"requests_in_flight", in_flight_.load()}});
  }

 private:
  // One log line and one server span per answered client request.
  void Finished(const ClientSession& session, const RequestScope& scope, const std::string& id_text,
                const std::string& method, Clock::time_point started, const Json& response, bool error) {
    const auto took = Clock::now() - started;
    std::string message;
    if (response.is_object() && response.contains("error") && response["error"].is_object()) {
      message = response["error"].value("message", std::string());
    }
    if (log_->enabled(gateway::LogLevel::kInfo)) {
      auto line = log_->Start(gateway::LogLevel::kInfo, "mcp request");
      line.Str("request_id", id_text)
          .Str("session", gateway::SessionTag(session.id()))
          .Str("method", method)
          .Millis("duration_ms", took)
          .Str("trace_id", scope.trace.trace_id)
          .Str("outcome", response.is_null() ? "cancelled" : (error ? "error" : "ok"));
      if (!scope.backend.empty()) line.Str("backend", scope.backend);
      if (!message.empty()) line.Str("error", message);
      line.Write();
    }
    if (exporter_ && scope.trace.sampled) {
      gateway::Span span;
      span.trace_id = scope.trace.trace_id.str();
      span.span_id = scope.trace.span_id.str();
      span.parent_id = scope.trace.parent_id.str();
      span.name = method;
      span.kind = 2;
      span.start = scope.started;
      span.end = std::chrono::system_clock::now();
      span.error = error;
      span.error_message = message;
      span.attributes = {{"mcp.method.name", method}, {"mcp.session.tag", gateway::SessionTag(session.id())}};
      if (!scope.backend.empty()) span.attributes.emplace_back("vmcp.backend", scope.backend);
      exporter_->Export(std::move(span));
    }
  }

  // A failure is a JSON-RPC error or a tool result with isError true (a backend's non-boolean isError is
  // no error; a cancelled call, answered by nothing, counts as neither).
  static bool IsErrorAnswer(const Json& response) {
    return response.is_object() &&
           (response.contains("error") || (response.contains("result") && response["result"].is_object() &&
                                           response["result"].value("isError", Json()) == true));
  }

  void RecordClient(size_t method, Clock::time_point started, bool error) {
    metrics_->client(method).Record(Clock::now() - started, error);
  }

  asio::awaitable<Json> Route(std::shared_ptr<ClientSession> session, ClientRequest request,
                              std::shared_ptr<CallStream> stream, std::shared_ptr<RequestScope> scope) {
    const std::string method = request.method;
    const auto is = [m = std::string_view(method)](std::string_view name) { return m == name; };  // (sizes first)
    const Json& id = request.id;
    // (the request is this call's own: its params are taken, not copied, and become what is forwarded)
    Json params = std::move(request.params);
    if (!request.is_text() && !params.is_object()) co_return gateway::MakeError(id, gateway::kInvalidParams, "Invalid params: params must be an object");
    if (is("ping")) co_return gateway::MakeResult(id, Json::object());
    if (is("tools/call")) metrics_->tool_calls.fetch_add(1, std::memory_order_relaxed);
    if (is("initialize")) {
      co_return gateway::MakeError(id, gateway::kInvalidRequest, "Invalid Request: the session is already initialized");
    }
    auto catalogue = session->catalogue();
    auto list = [&](gateway::ListKind kind, const std::vector<Json>& items, const char* key) -> Json {
      // partialFailureMode `fail` (the default): a list is an error while a backend is unavailable;
      // `best_effort`: what the available backends offer.
      if (!BestEffort(session->snapshot()->cfg)) {
        for (const auto& [name, why] : session->Unavailable()) {
          return gateway::MakeError(id, gateway::kInternalError,
                                    absl::StrCat("backend ", name, " unavailable: ", why,
                                                 " (operational.failureHandling.partialFailureMode is fail)"));
        }
      }
      const Json cursor = params.contains("cursor") ? params["cursor"] : Json("");
      if (!cursor.is_string()) return gateway::MakeError(id, gateway::kInvalidParams, "Invalid params: cursor must be a string");
      auto page = gateway::PageOf(kind, items, cursor.get<std::string>(), options_.page_size, &catalogue->keys(kind));
      if (!page.ok()) return gateway::MakeError(id, gateway::kInvalidParams, "Invalid params: invalid cursor");
      const std::vector<std::string>& wire = catalogue->wire(kind);
      if (scope->raw_ok) {
        // The page as text: the items' wire form copied, nothing serialized but the envelope.
        std::string& out = scope->raw;
        size_t bytes = 64 + page->next_cursor.size();
        for (size_t i : page->indices) bytes += wire[i].size() + 1;
        out.reserve(bytes);
        absl::StrAppend(&out, R"({"jsonrpc":"2.0","id":)", gateway::Dump(id), R"(,"result":{")", key, R"(":[)");
        for (size_t n = 0; n < page->indices.size(); ++n) {
          if (n > 0) out += ',';
          out += wire[page->indices[n]];
        }
        out += ']';
        if (!page->next_cursor.empty()) absl::StrAppend(&out, R"(,"nextCursor":)", gateway::Dump(page->next_cursor));
        out += "}}";
        return TextAnswerStandIn();
      }
      Json listed = Json::array();
      for (size_t i : page->indices) listed.push_back(items[i]);
      Json result = Json::object();
      result[key] = std::move(listed);
      if (!page->next_cursor.empty()) result["nextCursor"] = page->next_cursor;
      return gateway::MakeResult(id, std::move(result));
    };
    if (is("tools/list")) co_return list(gateway::ListKind::kTools, catalogue->tools(), "tools");
    if (is("resources/list")) co_return list(gateway::ListKind::kResources, catalogue->resources(), "resources");
    if (is("resources/templates/list")) {
      co_return list(gateway::ListKind::kResourceTemplates, catalogue->resource_templates(), "resourceTemplates");
    }
    if (is("prompts/list")) co_return list(gateway::ListKind::kPrompts, catalogue->prompts(), "prompts");
    if (is("logging/setLevel")) {
      if (!params.contains("level") || !params["level"].is_string()) {
        co_return gateway::MakeError(id, gateway::kInvalidParams, "Invalid params: level must be a string");
      }
      // Applied to every backend that logs.
      for (const BackendTarget& t : session->snapshot()->targets) {
        auto b = session->Backend(t.name);
        if (!b || !b->capabilities().contains("logging")) continue;
        std::string m = method;
        Json p = params;
        std::shared_ptr<BackendEvents> none;
        co_await b->Call(std::move(m), std::move(p), none);
      }
      co_return gateway::MakeResult(id, Json::object());
    }

    // Routed requests: find the backend and the backend's own name.
    auto text = [&](const char* key) -> std::string {
      return params.contains(key) && params[key].is_string() ? params[key].get<std::string>() : std::string();
    };
    std::string backend;
    std::string tool_name;  // as the client called it
    std::optional<OutgoingRequest> outgoing;
    if (is("tools/call")) {
      tool_name = request.is_text() ? request.tool_name() : text("name");
      const gateway::ToolRoute* route = catalogue->ResolveTool(tool_name);
      if (route == nullptr || !route->advertised) {
        co_return gateway::MakeError(id, gateway::kInvalidParams, absl::StrCat("Unknown tool: ", tool_name));
      }
      // (a text request's arguments are an object: ScanToolCall took no other)
      if (!request.is_text() && params.contains("arguments") && !params["arguments"].is_object()) {
        co_return gateway::MakeError(id, gateway::kInvalidParams, "Invalid params: arguments must be an object");
      }
      backend = route->backend;
      if (request.is_text()) {
        outgoing = std::move(request).ToBackend(route->original_name);
      } else {
        params["name"] = route->original_name;
      }
    } else if (is("prompts/get")) {
      const gateway::PromptRoute* route = catalogue->ResolvePrompt(text("name"));
      if (route == nullptr) {
        co_return gateway::MakeError(id, gateway::kInvalidParams, absl::StrCat("Unknown prompt: ", text("name")));
      }
      backend = route->backend;
      params["name"] = route->original_name;
    } else if (is("resources/read") || is("resources/subscribe") || is("resources/unsubscribe")) {
      auto route = catalogue->ResolveResource(text("uri"));
      if (!route) {
        co_return gateway::MakeError(id, gateway::kResourceNotFound, absl::StrCat("Resource not found: ", text("uri")),
                                     Json{{"uri", text("uri")}});
      }
      backend = route->backend;
      if ((method != "resources/read") &&
          !session->BackendCapabilities(backend).value("resources", Json::object()).value("subscribe", false)) {
        // The backend cannot notify about this resource; nothing to relay.
        co_return gateway::MakeError(id, gateway::kMethodNotFound,
                                     absl::StrCat("backend ", backend, " does not support resource subscriptions"));
      }
    } else if (is("completion/complete")) {
      const Json ref = params.value("ref", Json::object());
      const std::string type = ref.value("type", std::string());
      if (type == "ref/prompt") {
        if (const gateway::PromptRoute* p = catalogue->ResolvePrompt(ref.value("name", std::string()))) {
          backend = p->backend;
          params["ref"]["name"] = p->original_name;
        }
      } else if (type == "ref/resource") {
        const std::string uri = ref.value("uri", std::string());
        if (auto r = catalogue->ResolveResource(uri)) backend = r->backend;
      }
      if (backend.empty() || !session->BackendCapabilities(backend).contains("completions")) {
        co_return gateway::MakeResult(id, Json{{"completion", {{"values", Json::array()}, {"hasMore", false}}}});
      }
    } else {
      co_return gateway::MakeError(id, gateway::kMethodNotFound, absl::StrCat("Method not found: ", method));
    }

    scope->backend = backend;
    auto target = session->Backend(backend);
    if (!target) co_return Unavailable(method, id, backend, "not connected");
    // The client's notifications/cancelled wakes the HTTP exchange waiting for this answer at once (see
    // HandlePost); the backend, told too, may still answer: that answer is dropped.
    const std::string& call_key = request.id_text;
    session->BeginCall(call_key, scope->wake, stream, scope->in_flight);
    gateway::TraceContext client_span = scope->trace.Child();
    const auto call_started = std::chrono::system_clock::now();
    auto events = std::make_shared<CallEvents>(session, stream, call_key, client_span);
    events->client_headers_ = scope->client_headers;
    if (!outgoing) outgoing = OutgoingRequest::Of(method, params);
    auto answer = co_await target->Forward(std::move(*outgoing), events, scope->raw_ok);
    if (session->EndCall(call_key)) co_return Json();  // cancelled: no answer
    if (exporter_ && client_span.sampled) {
      gateway::Span span;
      span.trace_id = client_span.trace_id.str();
      span.span_id = client_span.span_id.str();
      span.parent_id = client_span.parent_id.str();
      span.name = absl::StrCat(method, " ", backend);
      span.kind = 3;
      span.start = call_started;
      span.end = std::chrono::system_clock::now();
      span.error = !answer.ok() || answer->is_error();
      if (!answer.ok()) span.error_message = std::string(answer.status().message());
      span.attributes = {{"mcp.method.name", method}, {"vmcp.backend", backend}};
      if (is("tools/call")) span.attributes.emplace_back("gen_ai.tool.name", tool_name);
      exporter_->Export(std::move(span));
    }
    if (!answer.ok()) co_return Unavailable(method, id, backend, std::string(answer.status().message()));
    if (answer->is_text()) {
      // A result passed on as the backend wrote it, with the client's id; raw_error says what the log
      // and the metrics need (a tool's error).
      scope->raw = gateway::WithId(std::move(answer->text), answer->shape, request.id_text);
      scope->raw_error = answer->shape.tool_error;
      co_return TextAnswerStandIn();
    }
    Json response = std::move(answer->message);
    response["id"] = id;  // back to the client's id
    co_return response;
  }


  static bool BestEffort(const config::Config& cfg) {
    return cfg.operational && cfg.operational->failure_handling &&
           cfg.operational->failure_handling->partial_failure_mode == "best_effort";
  }

  // A call whose backend failed: tools get an isError result naming the backend (a model can read it);
  // other methods a JSON-RPC error.
  static Json Unavailable(const std::string& method, const Json& id, const std::string& backend, const std::string& why) {
    const std::string text = absl::StrCat("backend ", backend, " unavailable: ", why);
    if (method == "tools/call") {
      return gateway::MakeResult(id, Json{{"content", Json::array({{{"type", "text"}, {"text", text}}})}, {"isError", true}});
    }
    return gateway::MakeError(id, gateway::kInternalError, text);
  }

  // Idle sessions end after the TTL: real clients never send DELETE.
  // (runs on expire_strand_, where Stop cancels its timer)
  asio::awaitable<void> ExpireSessions() {
    auto timer = expire_timer_;
    const auto tick = std::min<Clock::duration>(options_.session_ttl / 4 + std::chrono::seconds(1), std::chrono::minutes(1));
    while (!stopping_) {
      timer->expires_after(tick);
      auto [ec] = co_await timer->async_wait(kTuple);
      if (ec || stopping_) break;
      std::vector<std::shared_ptr<ClientSession>> expired;
      {
        std::lock_guard lock(mu_);
        for (auto it = sessions_.begin(); it != sessions_.end();) {
          // (a legacy session lives as long as its stream is open)
          if (it->second->Idle() > options_.session_ttl && !(it->second->legacy && it->second->HasOpenStream())) {
            expired.push_back(it->second);
            it = sessions_.erase(it);
          } else {
            ++it;
          }
        }
      }
      metrics_->client_sessions_active.fetch_sub(static_cast<int64_t>(expired.size()), std::memory_order_relaxed);
      metrics_->client_sessions_expired.fetch_add(expired.size(), std::memory_order_relaxed);
      for (auto& s : expired) co_await s->Close();
    }
  }

  void AddSession(const std::shared_ptr<ClientSession>& session) {
    {
      std::lock_guard lock(mu_);
      sessions_[session->id()] = session;
    }
    metrics_->client_sessions_active.fetch_add(1, std::memory_order_relaxed);
    metrics_->client_sessions_created.fetch_add(1, std::memory_order_relaxed);
  }

  void RemoveSession(const std::string& id) {
    bool removed = false;
    {
      std::lock_guard lock(mu_);
      removed = sessions_.erase(id) > 0;
    }
    if (removed) metrics_->client_sessions_active.fetch_sub(1, std::memory_order_relaxed);
  }

  GatewayOptions options_;
  std::shared_ptr<gateway::Logger> log_;
  std::shared_ptr<auth::TokenExchanger> exchanger_;
  std::shared_ptr<auth::IncomingAuthenticator> incoming_;  // guarded by mu_ (replaced by a reload)
  std::shared_ptr<gateway::SpanExporter> exporter_;
  double sample_ratio_ = 1.0;
  mutable std::mutex mu_;
  std::shared_ptr<const Snapshot> snapshot_;
  std::map<std::string, std::shared_ptr<ClientSession>, std::less<>> sessions_;  // (found by a header's view)
  std::map<std::string, std::string> last_health_;  // backend -> last connect error ("" = fine)
  std::string config_error_;                         // the last refused config's errors
  std::shared_ptr<gateway::Metrics> metrics_;
  asio::any_io_executor executor_;
  std::function<transport::ServerStats()> server_stats_;
  std::shared_ptr<transport::HttpClient> client_;
  std::shared_ptr<gateway::HealthMonitor> monitor_;
  std::shared_ptr<CatalogueCache> catalogue_cache_ = std::make_shared<CatalogueCache>();
  asio::any_io_executor expire_strand_;  // a strand of executor_
  std::shared_ptr<asio::steady_timer> expire_timer_;
  gateway::DelayQueue lazy_sse_{kLazySse};  // tool calls waiting kLazySse to open their SSE stream
  uint16_t port_ = 0;
  std::atomic<bool> serving_{false};
  std::atomic<bool> stopping_{false};
  std::atomic<bool> draining_{false};
  std::atomic<int64_t> in_flight_{0};
  std::mutex idle_mu_;
  std::condition_variable idle_cv_;
  std::atomic<uint64_t> requests_{0};
  std::atomic<uint64_t> reloads_{0};
};


// ---------------------------------------------------------------------------------------------------------
// The public object: the HTTP server and the core it serves.

class GatewayImpl final : public Gateway {
 public:
  explicit GatewayImpl(std::shared_ptr<Core> core, GatewayOptions options)
      : options_(std::move(options)), core_(std::move(core)) {}

  ~GatewayImpl() override {
    Stop(std::chrono::milliseconds(0));
    // The core before the server: coroutines queued in the server's own io_context may still hold the
    // core; destroying that io_context (with the server) releases them while its services still exist.
    core_.reset();
    server_.reset();
  }

  absl::StatusOr<uint16_t> Start() override { return Serve(nullptr); }
  absl::StatusOr<uint16_t> Start(const HostExecutor& host) override {
    if (!host.executor) return absl::InvalidArgumentError("Start(HostExecutor): the executor is empty");
    return Serve(&host.executor);
  }

  absl::Status Reload(config::Config config) override { return core_->Reload(std::move(config)); }
  void ConfigRefused(const std::vector<std::string>& errors) override { core_->ConfigRefused(errors); }

  // Graceful: the requests in flight are answered (new ones get 503) within `grace`; then every session
  // ends its backend sessions; then the server stops accepting and closes its connections.
  void Stop(std::chrono::milliseconds grace) override {
    if (!server_ || stopped_.exchange(true)) return;
    const auto deadline = Clock::now() + grace;
    core_->Drain(deadline);
    auto left = [&] {
      return std::chrono::duration_cast<std::chrono::milliseconds>(
          std::max<Clock::duration>(deadline - Clock::now(), Clock::duration::zero()));
    };
    if (!core_->CloseSessions(left())) return;
    server_->Stop(left());
  }

  GatewayStatus Status() const override { return core_->Status(); }
  GatewayMetrics Metrics() const override { return core_->Metrics(); }
  std::string PrometheusText() const override { return core_->PrometheusText(); }

 private:
  absl::StatusOr<uint16_t> Serve(const asio::any_io_executor* host) {
    if (server_) return absl::FailedPreconditionError("the gateway was already started");
    transport::ServerOptions so;
    so.host = options_.host;
    so.port = options_.port;
    so.threads = options_.threads;
    so.busy_poll = options_.busy_poll;
    so.max_body_bytes = options_.max_body_bytes;
    // The server holds the core weakly (the core does not hold the server): no cycle, and a request that
    // arrives while the gateway is being torn down gets a 503.
    transport::Handler handler = [weak = std::weak_ptr<Core>(core_)](Exchange& ex) {
      return Core::Serve(weak.lock(), ex);
    };
    server_ = host ? std::make_unique<transport::HttpServer>(so, std::move(handler), *host)
                   : std::make_unique<transport::HttpServer>(so, std::move(handler));
    if (!host) core_->StartLogWriter();  // (on a host's executor the gateway makes no thread)
    auto port = server_->Start();
    if (!port.ok()) {
      server_.reset();
      return port.status();
    }
    core_->Begin(server_->executor(), *port, server_->StatsReader());
    return *port;
  }

  GatewayOptions options_;
  std::shared_ptr<Core> core_;
  std::unique_ptr<transport::HttpServer> server_;
  std::atomic<bool> stopped_{false};
};

}  // namespace

absl::StatusOr<std::unique_ptr<Gateway>> Gateway::Create(config::Config config, GatewayOptions options) {
  {
    // incomingAuth is checked now (URLs, CA bundle, type), so that a bad one stops the start rather than
    // leaving the gateway without its authenticator. Nothing is fetched: a throwaway client suffices.
    asio::io_context io;
    auto client = std::make_shared<transport::HttpClient>(io.get_executor());
    auto incoming = auth::IncomingAuthenticator::Create(config.incoming_auth, client);
    if (!incoming.ok()) return absl::InvalidArgumentError(absl::StrCat("incomingAuth: ", incoming.status().message()));
  }
  auto metrics = std::make_shared<gateway::Metrics>();
  auto snap = MakeSnapshot(std::move(config), *metrics);
  if (!snap.ok()) return snap.status();
  auto core = std::make_shared<Core>(*snap, options, std::move(metrics));
  return std::unique_ptr<Gateway>(std::make_unique<GatewayImpl>(std::move(core), std::move(options)));
}

}  // namespace vmcp
