// File: transport/client.h
//
// The HTTP/1.1 client the gateway talks to backends with: a connection pool per backend origin
// (keep-alive reuse, a cap on connections, idle eviction), async DNS, connect / TLS-handshake /
// response timeouts, and TLS that always verifies the hostname and trusts the system roots plus the
// backend's own CA bundle.
//
//   HttpClient client(executor, ClientOptions{});
//   Endpoint ep{.ca_bundle_path = "/etc/toolhive/ca-bundles/x/ca.crt"};
//   absl::StatusOr<Response> r = co_await client.Send(*ParseUrl("https://x:8443/mcp"), std::move(req), ep);
//   auto stream = co_await client.Open(url, get, ep);      // a long-lived SSE response
//   while (auto chunk = co_await (*stream)->Read()) { if (chunk->empty()) break; ... }
//
// Responses are returned whatever their status; redirects are never followed (a 3xx is returned as is,
// so a backend cannot send the gateway elsewhere). Errors say what failed and where, e.g.
// "TLS handshake with mcp.example.com:8443 failed: certificate has expired".
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>

#include "absl/status/statusor.h"
#include "transport/http.h"
#include "transport/url.h"

namespace vmcp::transport {

namespace internal {
class ClientImpl;
}  // namespace internal

struct ClientOptions {
  size_t max_connections_per_origin = 256;  // pooled request/response connections (more requests wait)
  Duration idle_timeout = std::chrono::seconds(90);
  Duration connect_timeout = std::chrono::seconds(10);  // DNS + TCP connect
  Duration tls_handshake_timeout = std::chrono::seconds(10);
  Duration response_timeout = std::chrono::seconds(30);  // request written + response headers and body
  Duration pool_wait_timeout = std::chrono::seconds(30);  // waiting for a free connection at the cap
  size_t max_response_header_bytes = 64 * 1024;
  size_t max_response_body_bytes = 100 * 1024 * 1024;
};

// How to reach one backend beyond its URL.
struct Endpoint {
  std::string ca_bundle_path;  // PEM, one or more certificates, added to the system roots; "" = system roots only
};

// A response whose body is read incrementally (an SSE stream).
class ResponseStream {
 public:
  virtual ~ResponseStream() = default;
  virtual int status() const = 0;
  virtual const Headers& headers() const = 0;
  // The next piece of the body; an empty string at the end of the body. `timeout` bounds this one
  // read (0 = no limit). Must be awaited from one coroutine at a time.
  virtual boost::asio::awaitable<absl::StatusOr<std::string>> Read(Duration timeout = Duration::zero()) = 0;
  // The whole body, when it was read with the header (a small body of known length that is not an event
  // stream): the stream is then at its end, its connection released. nullopt: read the body with Read().
  virtual std::optional<std::string> TakeBody() = 0;
  // Closes the connection (the body is abandoned). Call from the coroutine that reads, or after it.
  virtual void Close() = 0;
};

struct StreamOptions {
  // A long-lived stream (a standalone GET stream) takes a dedicated connection outside the pool's cap;
  // otherwise the connection comes from the pool and returns to it when the body ends.
  bool long_lived = false;
};

struct PoolStats {
  uint64_t connections_opened = 0;
  uint64_t connections_reused = 0;
  uint64_t connections_open = 0;   // currently open (idle + busy), pooled ones
  uint64_t connections_idle = 0;
  uint64_t max_connections_seen = 0;  // the highest number open at once
  uint64_t waits = 0;                 // requests that waited for a free connection at the cap
};

// True when a failed Send/Open never sent any of the request (DNS, connect or TLS handshake failed, or
// no connection came free): the peer cannot have acted on it, so retrying it is safe. The mark survives
// copies of the status, including a re-worded one made with CopyNotSentMark.
bool WasNotSent(const absl::Status& status);
absl::Status MarkNotSent(absl::Status status);
// `to` with the not-sent mark of `from` (if any).
absl::Status CopyNotSentMark(const absl::Status& from, absl::Status to);

class HttpClient {
 public:
  HttpClient(boost::asio::any_io_executor executor, ClientOptions options = {});
  ~HttpClient();
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;

  // Sends a request and reads the whole response (bounded by max_response_body_bytes). `timeout`
  // overrides options.response_timeout when non-zero. Host, Content-Length and keep-alive are set here.
  boost::asio::awaitable<absl::StatusOr<Response>> Send(const Url& url, Request request, const Endpoint& endpoint,
                                                        Duration timeout = Duration::zero());

  // Sends a request and returns once the response headers arrived; the body is read from the stream.
  // `url`, `request` and `endpoint` are read until the returned awaitable completes: await it at once
  // (a request kept for a retry is then sent as it is, without a copy).
  boost::asio::awaitable<absl::StatusOr<std::unique_ptr<ResponseStream>>> Open(const Url& url, const Request& request,
                                                                              const Endpoint& endpoint,
                                                                              StreamOptions options = {});

  // Checks that a CA bundle can be read and holds at least one certificate (the same check the pool
  // does before its first connection), so that a bad bundle is reported for its backend at load.
  static absl::Status CheckCaBundle(const std::string& path);

  PoolStats Stats(const Url& url, const Endpoint& endpoint) const;

 private:
  std::shared_ptr<internal::ClientImpl> impl_;
};

}  // namespace vmcp::transport
