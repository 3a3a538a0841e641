// File: gateway/backend_session.h
//
// One MCP session with one backend, held for the life of a client session and reused for every call
// (never an initialize per call). It speaks the backend's transport:
//
//   streamable HTTP  each request is a POST answered with JSON or an SSE stream; a standalone GET
//                    stream, opened right after initialize, carries what the backend sends on its own;
//   legacy SSE       a GET stream whose first `endpoint` event names (relatively) where to POST;
//                    every answer arrives on that stream and is matched to its request by id.
//
// Requests get ids of the session's own, so concurrent calls from many clients never collide on a
// backend; `MCP-Protocol-Version` (the negotiated one) and `Mcp-Session-Id` go on every request after
// initialize, POST and GET. What the backend sends during a call (progress, log messages, sampling or
// elicitation requests) goes to that call's `BackendEvents`; everything else to the session's.
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <boost/asio/awaitable.hpp>

#include "absl/status/statusor.h"
#include "config/config.h"
#include "gateway/health.h"
#include "gateway/jsonrpc.h"
#include "gateway/metrics.h"
#include "gateway/trace.h"
#include "transport/client.h"

namespace vmcp::gateway {

// Receives what a backend sends that is not the answer to a request.
class BackendEvents {
 public:
  virtual ~BackendEvents() = default;
  // A notification (progress, message, list_changed, resources/updated, ...).
  virtual void OnNotification(const std::string& backend, Json notification) = 0;
  // A request from the backend (sampling/createMessage, elicitation/create, roots/list). Returns the
  // `result` to send back, or a JSON-RPC error object ({code, message}) in `error`.
  struct Answer {
    Json result;
    Json error;  // null when `result` is the answer
  };
  virtual boost::asio::awaitable<Answer> OnRequest(const std::string& backend, Json request) = 0;
  // The id a call was sent with (so a client's notifications/cancelled can name it to the backend).
  virtual void OnCallSent(const std::string& backend, int64_t backend_id) {}
  // The trace the call's requests carry on (`traceparent` / `tracestate`); null for none.
  virtual const TraceContext* Trace() const { return nullptr; }
  // The headers of the client request the call serves (for `passthroughHeaders`); null for none.
  virtual const transport::Headers* ClientHeaders() const { return nullptr; }
};

// Headers computed for each request to a backend: the outgoing auth strategy's (a token-exchanged
// bearer token) and the client's forwarded ones. A failure fails the request (the error names the
// backend and what went wrong, never a token).
class HeaderSource {
 public:
  virtual ~HeaderSource() = default;
  // For a request made for `call` (null: the session's own requests: initialize, its GET stream, DELETE).
  virtual boost::asio::awaitable<absl::StatusOr<std::vector<std::pair<std::string, std::string>>>> Headers(
      const BackendEvents* call) = 0;
};

// One request to a backend as an audit record sees it (direct backends): its HTTP status (0 when no
// answer came), the failure if any, how long it took.
struct BackendExchange {
  const std::string* backend;
  const transport::Url* url;
  int http_status = 0;
  std::string_view error;
  double duration_ms = 0;
  bool auth_failed = false;  // the outgoing auth strategy could not produce its credentials
};

// Where and how to reach one backend.
struct BackendTarget {
  std::string name;
  transport::Url url;  // the MCP endpoint (streamable HTTP) or the SSE stream URL (legacy)
  transport::Endpoint endpoint;
  config::TransportKind transport = config::TransportKind::kStreamableHttp;
  // Sent on every request: the backend's static headers, then the auth strategy's (which win).
  std::vector<std::pair<std::string, std::string>> headers;
  transport::Duration timeout = std::chrono::seconds(30);
  std::shared_ptr<BackendMetrics> metrics;  // where requests, sessions and resumptions are counted (may be null)
  // The backend's health, shared by all sessions: its circuit breaker gates calls and learns from their
  // outcomes (null: no gate, as for the health monitor's own probes).
  std::shared_ptr<BackendHealth> health;
  // A request whose connection could not even be opened (so it never reached the backend: a restart in
  // progress) is tried again with backoff for up to this long, within its timeout, while the backend
  // looks up. Zero: fail at once.
  transport::Duration connect_retry_window = std::chrono::seconds(5);
  // Per-request headers (null: `headers` is all); applied after `headers`, so they win.
  std::shared_ptr<HeaderSource> header_source;
  // The header source for the health monitor's probes of this backend (client_credentials for token
  // exchange); null: none.
  std::shared_ptr<HeaderSource> probe_header_source;
  // Set once the backend answered a standalone GET with 405 (it offers none): later sessions with it do
  // not ask again. Shared by all sessions of one config generation's backend (null: always ask).
  std::shared_ptr<std::atomic<bool>> no_standalone_stream;
  // What the outgoing auth strategy is, for comparing config generations ("" = unauthenticated).
  std::string auth_fingerprint;
  // Called after each POST to the backend (direct backends are audited); null: not audited.
  std::function<void(const BackendExchange&)> audit;
};

// A request on its way to a backend: its JSON text, with a slot where the session writes the id it
// gives the request. Made from a method and params (Of), or a client's request passed on as the text it
// came as (its tool's name changed, see ScanToolCall).
struct OutgoingRequest {
  std::string method;
  std::string text;  // the whole request; its id's text is text.substr(id_at, id_size)
  size_t id_at = 0;
  size_t id_size = 0;

  static OutgoingRequest Of(std::string method, const Json& params);  // (null params: none sent)
  void SetId(int64_t id);
};

// A backend's answer to a request. A result the caller passes on without looking into it can stay the
// text the backend wrote (checked by ScanResult, every value read): `text`, with its `shape`. Otherwise
// the response message, parsed: `message`.
struct BackendAnswer {
  Json message;  // (null when the answer is `text`)
  std::string text;
  ResponseShape shape;
  bool is_text() const { return !text.empty(); }
  // A JSON-RPC error response (a text answer is always a result).
  bool is_error() const { return !is_text() && message.is_object() && message.contains("error"); }
};

class BackendSession {
 public:
  virtual ~BackendSession() = default;

  // initialize + notifications/initialized (+ the standalone GET stream for streamable HTTP).
  // `client_capabilities` are the capabilities the gateway declares (mirroring its client's).
  virtual boost::asio::awaitable<absl::Status> Initialize(Json client_capabilities) = 0;

  // Sends a request and returns the backend's whole response message (with `result` or `error`; its
  // `id` is the backend-side id). Transport failures and timeouts are a Status naming the backend.
  virtual boost::asio::awaitable<absl::StatusOr<Json>> Call(std::string method, Json params,
                                                            std::shared_ptr<BackendEvents> call_events) = 0;
  // The same for a request already written, with a result passed on as text when `text_ok` (see
  // BackendAnswer).
  virtual boost::asio::awaitable<absl::StatusOr<BackendAnswer>> Forward(OutgoingRequest request,
                                                                        std::shared_ptr<BackendEvents> call_events,
                                                                        bool text_ok) = 0;

  virtual boost::asio::awaitable<absl::Status> Notify(std::string method, Json params) = 0;

  // Ends the session (DELETE for streamable HTTP) and stops its streams.
  virtual boost::asio::awaitable<void> Close() = 0;

  virtual const std::string& name() const = 0;
  // From the initialize result.
  virtual Json capabilities() const = 0;
  virtual Json server_info() const = 0;
  virtual std::string protocol_version() const = 0;
  // Calls sent and not yet answered (a backend leaving the config is closed once this is 0).
  virtual int in_flight() const = 0;
  virtual transport::Duration timeout() const = 0;
};

// A session over the target's transport. `session_events` receives what arrives outside calls. The
// session shares the client: its streams may outlive whoever made it.
std::shared_ptr<BackendSession> MakeBackendSession(std::shared_ptr<transport::HttpClient> client, BackendTarget target,
                                                   std::shared_ptr<BackendEvents> session_events);

}  // namespace vmcp::gateway
