// File: transport/server.h
//
// The HTTP/1.1 server the gateway serves MCP clients with (and the tests' backends run on): Beast over
// Asio with C++20 coroutines, one strand per connection, on io_contexts of its own (one per thread, each
// connection kept on one of them) or on an executor the host passes in.
//
//   HttpServer server(options, [](Exchange& ex) -> boost::asio::awaitable<void> {
//     if (ex.request().Path() == "/events") {
//       auto stream = co_await ex.StartSse();          // 200 text/event-stream, chunked
//       if (stream) (*stream)->Send({.data = "hello"});  // from any thread, bounded queue
//       co_return;                                     // the stream lives until Close() or disconnect
//     }
//     co_await ex.Respond({.status = 200, .body = "ok"});
//   });
//   absl::StatusOr<uint16_t> port = server.Start();
//   ...
//   server.Stop(std::chrono::seconds(10));  // graceful: in-flight requests finish, streams close
//
// Everything read from the network is bounded: header bytes (431), body bytes (413, refused before the
// body is read when Content-Length says so), the time to read a request's header (a slowloris is cut
// without holding a thread), the idle time between keep-alive requests, the number of connections
// (503 past it), and each SSE stream's queue (a consumer that cannot keep up is disconnected).
// Client disconnects are seen on the socket while a stream is open, not at the end of a body.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>

#include "absl/status/statusor.h"
#include "transport/http.h"
#include "transport/sse.h"

namespace vmcp::transport {

namespace internal {
class ServerImpl;
struct OwnedIo;
}  // namespace internal

struct ServerTlsOptions {
  std::string cert_chain_path;  // PEM: the server certificate, then intermediates
  std::string private_key_path;  // PEM
};

struct ServerOptions {
  std::string host = "127.0.0.1";
  uint16_t port = 0;  // 0: any free port (Start() returns it)
  int threads = 0;    // 0: one per core
  size_t max_header_bytes = 64 * 1024;
  size_t max_body_bytes = 8 * 1024 * 1024;
  Duration header_timeout = std::chrono::seconds(10);  // to read a request line and headers
  Duration body_timeout = std::chrono::seconds(30);    // to read a request body
  Duration idle_timeout = std::chrono::seconds(120);   // between keep-alive requests
  Duration write_timeout = std::chrono::seconds(30);   // for one write to make progress
  size_t max_connections = 10000;
  Duration sse_heartbeat = std::chrono::seconds(30);   // comment lines on idle streams; 0 = none
  size_t sse_queue_max_events = 1024;                  // per stream
  size_t sse_queue_max_bytes = 4 * 1024 * 1024;        // per stream
  std::optional<ServerTlsOptions> tls;                 // serve HTTPS
  // Busy polling (servers on threads of their own): a thread that ran out of ready work keeps polling
  // for new work this long before it sleeps. A request or backend answer arriving meanwhile is taken
  // without a sleeping thread's wake-up, which on a VM costs more than a proxied call's own work. It
  // spends CPU only within this window after work, never while idle. 0: sleep at once.
  Duration busy_poll = Duration::zero();
};

// A server-sent event stream opened by a handler. Thread-safe: any thread may Send() or Close().
class SseStream {
 public:
  virtual ~SseStream() = default;
  // Queues an event. False when the stream is closed, or when the queue is full: the consumer cannot
  // keep up, so the connection is cut and the stream closed.
  virtual bool Send(SseEvent event) = 0;
  // Ends the stream after the queued events are written (the connection then serves the next request).
  virtual void Close() = 0;
  virtual bool closed() const = 0;
  // Runs once when the stream ends for any reason (closed, client gone, overflow, server stop). Runs
  // immediately if it has already ended.
  virtual void OnClosed(std::function<void()> callback) = 0;
};

// One request being answered. Lives in the connection's coroutine: use it only inside the handler.
class Exchange {
 public:
  virtual ~Exchange() = default;
  virtual const Request& request() const = 0;
  virtual Request& mutable_request() = 0;
  // Sends a complete response (Content-Length framing).
  virtual boost::asio::awaitable<absl::Status> Respond(Response response) = 0;
  // Sends 200 with `Content-Type: text/event-stream` (plus `headers`) and returns the stream. Events
  // queued on it are written after the handler returns, until the stream closes.
  virtual boost::asio::awaitable<absl::StatusOr<std::shared_ptr<SseStream>>> StartSse(Headers headers = {}) = 0;
};

using Handler = std::function<boost::asio::awaitable<void>(Exchange&)>;

struct ServerStats {
  uint64_t connections_accepted = 0;
  uint64_t connections_active = 0;
  uint64_t connections_refused = 0;  // past max_connections
  uint64_t requests = 0;
  uint64_t sse_streams_active = 0;
  uint64_t sse_overflows = 0;  // streams cut because the consumer could not keep up
  uint64_t timeouts = 0;       // header, body, idle or write timeouts
};

class HttpServer {
 public:
  // Runs on `options.threads` threads of its own, each with its own io_context; connections are spread
  // over them at accept, and a handler runs on its connection's thread (so does what it starts on its
  // own executor: `co_await boost::asio::this_coro::executor`).
  HttpServer(ServerOptions options, Handler handler);
  // Runs on the host's executor; no thread is created. The host keeps the executor running until Stop()
  // has returned, and calls Stop() from a thread the executor can do without while it waits. A handler
  // still waiting on something after Stop() finishes there later: what it uses stays alive until then.
  HttpServer(ServerOptions options, Handler handler, boost::asio::any_io_executor executor);
  ~HttpServer();  // Stop(0) if still running
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Binds, listens and starts the threads (if it owns any). Returns the bound port.
  absl::StatusOr<uint16_t> Start();
  // Graceful stop: stops accepting, lets in-flight requests finish within `grace`, ends SSE streams,
  // closes idle connections, then closes whatever is left and joins its threads. Blocking; idempotent.
  void Stop(Duration grace);

  uint16_t port() const;
  ServerStats stats() const;
  // Reads stats() for as long as the caller holds it, even past this object (it shares the state).
  std::function<ServerStats()> StatsReader() const;
  // An executor of the server's (on threads of its own: the first thread's io_context): background work,
  // clients and timers of the host can share it.
  boost::asio::any_io_executor executor() const;

 private:
  std::unique_ptr<internal::OwnedIo> owned_;  // null on a host's executor
  std::shared_ptr<internal::ServerImpl> impl_;
};

}  // namespace vmcp::transport
