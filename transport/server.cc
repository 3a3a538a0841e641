// The HTTP/1.1 server: an accept loop, then one coroutine per connection on its own strand, serving
// keep-alive requests one after another; SSE responses are pumped from a bounded queue while a second
// coroutine watches the socket for the client going away. Plain TCP and TLS share one session template.

#include "transport/server.h"

#include <sched.h>

#include <condition_variable>
#include <deque>
#include <mutex>
#include <optional>
#include <thread>
#include <unordered_map>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "transport/strand.h"
#include "transport/wire.h"

namespace vmcp::transport {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
// A connection's strand (see strand.h).
using Strand = asio::any_io_executor;
constexpr auto kTuple = asio::as_tuple(asio::use_awaitable);

template <typename Stream>
beast::tcp_stream& Lowest(Stream& s) {
  return beast::get_lowest_layer(s);
}

}  // namespace

// --- SSE stream ---------------------------------------------------------------------------------

class SseStreamImpl final : public SseStream {
 public:
  SseStreamImpl(size_t max_events, size_t max_bytes) : max_events_(max_events), max_bytes_(max_bytes) {}

  bool Send(SseEvent event) override { return Enqueue(FormatSseEvent(event)); }

  bool Enqueue(std::string frame) {
    {
      std::lock_guard lock(mu_);
      if (closing_ || ended_ || overflowed_) return false;
      if (queue_.size() + 1 > max_events_ || queued_bytes_ + frame.size() > max_bytes_) {
        overflowed_ = true;
      } else {
        queued_bytes_ += frame.size();
        queue_.push_back(std::move(frame));
      }
    }
    Wake();
    return !overflowed();
  }

  void Close() override {
    {
      std::lock_guard lock(mu_);
      if (closing_ || ended_) return;
      closing_ = true;
    }
    Wake();
  }

  bool closed() const override {
    std::lock_guard lock(mu_);
    return closing_ || ended_ || overflowed_;
  }

  void OnClosed(std::function<void()> callback) override {
    {
      std::lock_guard lock(mu_);
      if (!ended_) {
        on_closed_.push_back(std::move(callback));
        return;
      }
    }
    callback();
  }

  // --- used by the connection's pump, on its strand ---
  void SetWake(std::function<void()> wake) {
    std::lock_guard lock(mu_);
    wake_ = std::move(wake);
  }
  // Takes everything queued, as one buffer.
  std::string TakeAll(bool& closing, bool& overflowed) {
    std::lock_guard lock(mu_);
    std::string out;
    for (std::string& f : queue_) out += f;
    queue_.clear();
    queued_bytes_ = 0;
    closing = closing_;
    overflowed = overflowed_;
    return out;
  }
  bool overflowed() const {
    std::lock_guard lock(mu_);
    return overflowed_;
  }
  void End() {
    std::vector<std::function<void()>> callbacks;
    {
      std::lock_guard lock(mu_);
      if (ended_) return;
      ended_ = true;
      wake_ = nullptr;
      queue_.clear();
      callbacks.swap(on_closed_);
    }
    for (auto& cb : callbacks) cb();
  }

 private:
  void Wake() {
    std::function<void()> wake;
    {
      std::lock_guard lock(mu_);
      wake = wake_;
    }
    if (wake) wake();
  }

  const size_t max_events_;
  const size_t max_bytes_;
  mutable std::mutex mu_;
  std::deque<std::string> queue_;
  size_t queued_bytes_ = 0;
  bool closing_ = false;
  bool overflowed_ = false;
  bool ended_ = false;
  std::function<void()> wake_;
  std::vector<std::function<void()>> on_closed_;
};

// --- server state -------------------------------------------------------------------------------

template <typename Stream>
class Session;

// What Stop() needs to reach a live connection: its strand and how to close it.
struct ConnHandle {
  enum class Phase { kIdle, kBusy, kStreaming };
  explicit ConnHandle(Strand s) : strand(std::move(s)) {}
  Strand strand;
  // Touched only on the strand.
  Phase phase = Phase::kIdle;
  std::function<void()> close_socket;
  std::shared_ptr<SseStreamImpl> stream;
};

// The io_contexts and threads of a server that runs on threads of its own: one io_context per thread.
// A connection lives on one of them (round robin at accept), with what its requests start there, so a
// request is served on one thread from its first byte to its answer: no hand-off to another thread, no
// wake-up of one, no lock contended by the scheduler. Held by HttpServer, not by ServerImpl: coroutine
// frames queued in an io_context hold the ServerImpl alive, so the ServerImpl must not own the
// io_contexts they live in.
struct internal::OwnedIo {
  // One thread's io_context. Its services can be shut down ahead of its destruction: shutting one down
  // destroys the coroutine frames still queued in it, and those may hold the last reference to a socket
  // of another of these io_contexts (a backend connection opened from another thread), which must still
  // exist then. So all are shut down first, then destroyed (shutting down twice is harmless).
  class Context : public asio::io_context {
   public:
    Context() : asio::io_context(1) { asio::make_service<internal::SingleThreaded>(*this); }
    void ShutDown() { shutdown(); }
  };

  OwnedIo(int n, Duration busy_poll) : busy_poll(busy_poll) {
    for (int i = 0; i < n; ++i) {
      contexts.push_back(std::make_unique<Context>());
      guards.push_back(asio::make_work_guard(*contexts.back()));
    }
  }
  ~OwnedIo() {
    for (auto& context : contexts) context->ShutDown();
  }
  std::vector<asio::any_io_executor> Executors() const {
    std::vector<asio::any_io_executor> all;
    for (const auto& c : contexts) all.push_back(c->get_executor());
    return all;
  }
  // One thread's loop: runs `io` until it is stopped, polling for busy_poll after each spell of work
  // before it blocks (see ServerOptions::busy_poll).
  void Run(Context& io) const {
    if (busy_poll <= Duration::zero()) {
      io.run();
      return;
    }
    while (!io.stopped()) {
      bool ran = false;
      for (const auto until = std::chrono::steady_clock::now() + busy_poll;
           !ran && !io.stopped() && std::chrono::steady_clock::now() < until;) {
        ran = io.poll() > 0;  // (a reactor poll that does not block)
        if (!ran) sched_yield();  // a thread that has work on this core runs first
      }
      if (!ran && io.run_one() == 0) return;  // sleeps until there is work; 0: stopped
    }
  }

  const Duration busy_poll;
  std::vector<std::unique_ptr<Context>> contexts;
  std::vector<asio::executor_work_guard<asio::io_context::executor_type>> guards;  // idle ones keep running
  std::vector<std::thread> threads;
};

// Shared by the public HttpServer and every coroutine of the server (accept loop, connections): a
// connection still finishing after Stop() on a host's executor keeps it alive, never a dangling pointer.
class internal::ServerImpl final : public std::enable_shared_from_this<internal::ServerImpl> {
 public:
  // `workers`: the executors connections are spread over (empty: all on `executor`).
  ServerImpl(ServerOptions options, Handler handler, asio::any_io_executor executor,
             std::vector<asio::any_io_executor> workers = {})
      : opt_(std::move(options)),
        handler_(std::move(handler)),
        executor_(std::move(executor)),
        workers_(std::move(workers)),
        acceptor_(internal::MakeStrand(executor_)) {}

  absl::StatusOr<uint16_t> Start() {
    if (opt_.tls) {
      ssl_ctx_.emplace(asio::ssl::context::tls_server);
      ssl_ctx_->set_options(asio::ssl::context::default_workarounds | asio::ssl::context::no_sslv2 |
                            asio::ssl::context::no_sslv3 | asio::ssl::context::no_tlsv1 | asio::ssl::context::no_tlsv1_1);
      beast::error_code ec;
      ssl_ctx_->use_certificate_chain_file(opt_.tls->cert_chain_path, ec);
      if (ec) return absl::InvalidArgumentError(absl::StrCat("TLS certificate ", opt_.tls->cert_chain_path, ": ", ec.message()));
      ssl_ctx_->use_private_key_file(opt_.tls->private_key_path, asio::ssl::context::pem, ec);
      if (ec) return absl::InvalidArgumentError(absl::StrCat("TLS private key ", opt_.tls->private_key_path, ": ", ec.message()));
    }
    beast::error_code ec;
    const auto address = asio::ip::make_address(opt_.host, ec);
    if (ec) return absl::InvalidArgumentError(absl::StrCat("invalid listen address \"", opt_.host, "\""));
    const tcp::endpoint endpoint(address, opt_.port);
    acceptor_.open(endpoint.protocol(), ec);
    if (!ec) acceptor_.set_option(asio::socket_base::reuse_address(true), ec);
    if (!ec) acceptor_.bind(endpoint, ec);
    if (!ec) acceptor_.listen(asio::socket_base::max_listen_connections, ec);
    if (ec) {
      return absl::UnavailableError(absl::StrCat("cannot listen on ", opt_.host, ":", opt_.port, ": ", ec.message()));
    }
    port_ = acceptor_.local_endpoint().port();
    {
      std::lock_guard lock(stop_mu_);
      running_ = true;
    }
    asio::co_spawn(acceptor_.get_executor(), AcceptLoop(shared_from_this()), asio::detached);
    return port_;
  }

  // The graceful part of a stop: stops accepting, closes idle connections, ends streams, waits up to
  // `grace` for busy connections to finish, then closes what is left. False when already stopped.
  bool Drain(Duration grace) {
    {
      std::lock_guard lock(stop_mu_);
      if (!running_ || stopping_) return false;
      stopping_ = true;
    }
    draining_ = true;
    asio::post(acceptor_.get_executor(), [self = shared_from_this()] {
      beast::error_code ec;
      self->acceptor_.close(ec);
    });
    // Idle connections close now; streams end; busy ones finish their request and then close.
    ForEachConn([](const std::shared_ptr<ConnHandle>& c) {
      asio::post(c->strand, [c] {
        if (c->phase == ConnHandle::Phase::kIdle && c->close_socket) c->close_socket();
        if (c->phase == ConnHandle::Phase::kStreaming && c->stream) c->stream->Close();
      });
    });
    const auto deadline = std::chrono::steady_clock::now() + grace;
    {
      std::unique_lock lock(conns_mu_);
      conns_cv_.wait_until(lock, deadline, [this] { return conns_.empty(); });
    }
    // Past the grace period: close whatever is left.
    ForEachConn([](const std::shared_ptr<ConnHandle>& c) {
      asio::post(c->strand, [c] {
        if (c->stream) c->stream->End();
        if (c->close_socket) c->close_socket();
      });
    });
    {
      std::unique_lock lock(conns_mu_);
      conns_cv_.wait_for(lock, std::chrono::milliseconds(500), [this] { return conns_.empty(); });
    }
    return true;
  }

  // Streams of connections that did not finish: ended so that their owners' Send() stops reaching into
  // this server. `on_strand`: the executor still runs (a host's), so each is ended on its strand.
  void EndStreams(bool on_strand) {
    ForEachConn([on_strand](const std::shared_ptr<ConnHandle>& c) {
      if (!on_strand) {
        if (c->stream) c->stream->End();
        return;
      }
      asio::post(c->strand, [c] {
        if (c->stream) c->stream->End();
      });
    });
    std::lock_guard lock(stop_mu_);
    running_ = false;
  }

  uint16_t port() const { return port_; }

  ServerStats stats() const {
    ServerStats s;
    s.connections_accepted = accepted_;
    s.connections_active = active_;
    s.connections_refused = refused_;
    s.requests = requests_;
    s.sse_streams_active = streams_active_;
    s.sse_overflows = overflows_;
    s.timeouts = timeouts_;
    return s;
  }

 // The rest is shared with the connection sessions below (this class is private to this file).


  void ForEachConn(const std::function<void(const std::shared_ptr<ConnHandle>&)>& fn) {
    std::vector<std::shared_ptr<ConnHandle>> all;
    {
      std::lock_guard lock(conns_mu_);
      for (auto& [ptr, c] : conns_) all.push_back(c);
    }
    for (auto& c : all) fn(c);
  }

  void Register(const std::shared_ptr<ConnHandle>& c) {
    std::lock_guard lock(conns_mu_);
    conns_[c.get()] = c;
  }
  void Unregister(const std::shared_ptr<ConnHandle>& c) {
    std::lock_guard lock(conns_mu_);
    conns_.erase(c.get());
    if (conns_.empty()) conns_cv_.notify_all();
  }

  static asio::awaitable<void> AcceptLoop(std::shared_ptr<ServerImpl> self);
  static asio::awaitable<void> Refuse(tcp::socket socket);

  ServerOptions opt_;
  Handler handler_;
  asio::any_io_executor executor_;
  const std::vector<asio::any_io_executor> workers_;
  size_t next_worker_ = 0;  // touched only by the accept loop
  tcp::acceptor acceptor_;
  std::optional<asio::ssl::context> ssl_ctx_;
  uint16_t port_ = 0;

  std::mutex stop_mu_;
  bool running_ = false;
  bool stopping_ = false;
  std::atomic<bool> draining_{false};

  std::mutex conns_mu_;
  std::condition_variable conns_cv_;
  std::unordered_map<ConnHandle*, std::shared_ptr<ConnHandle>> conns_;

  std::atomic<uint64_t> accepted_{0}, active_{0}, refused_{0}, requests_{0}, streams_active_{0}, overflows_{0},
      timeouts_{0};
};

// --- one connection -----------------------------------------------------------------------------

// Beast's request parser (its grammar, limits and keep-alive rules), writing the request straight into
// the transport's own Request: a Beast message built only to be copied field by field cost an
// allocation, a name lookup and an ordered insert per field.
class RequestParser final : public http::basic_parser<true> {
 public:
  bool expects_continue() const { return expects_continue_; }
  Request Take() { return std::move(request_); }

 private:
  void on_request_impl(http::verb, beast::string_view method, beast::string_view target, int,
                       beast::error_code&) override {
    request_.method.assign(method.data(), method.size());
    request_.target.assign(target.data(), target.size());
  }
  void on_response_impl(int, beast::string_view, int, beast::error_code& ec) override {
    ec = http::error::bad_method;  // (never called: this parser reads requests)
  }
  void on_field_impl(http::field name, beast::string_view name_text, beast::string_view value,
                     beast::error_code&) override {
    if (name == http::field::expect && beast::iequals(value, "100-continue")) expects_continue_ = true;
    request_.headers.Add(std::string_view(name_text.data(), name_text.size()), std::string_view(value.data(), value.size()));
  }
  void on_header_impl(beast::error_code&) override {}
  // (A length past the body limit was refused by the parser before this.)
  void on_body_init_impl(const boost::optional<std::uint64_t>& length, beast::error_code&) override {
    if (length) request_.body.reserve(static_cast<size_t>(*length));
  }
  size_t on_body_impl(beast::string_view body, beast::error_code&) override {
    request_.body.append(body.data(), body.size());
    return body.size();
  }
  void on_chunk_header_impl(std::uint64_t, beast::string_view, beast::error_code&) override {}
  size_t on_chunk_body_impl(std::uint64_t, beast::string_view body, beast::error_code&) override {
    request_.body.append(body.data(), body.size());
    return body.size();
  }
  void on_finish_impl(beast::error_code&) override {}

  Request request_;
  bool expects_continue_ = false;
};

template <typename Stream>
class Session {
 public:
  Session(internal::ServerImpl* server, std::shared_ptr<ConnHandle> conn, Stream& stream,
          std::string remote)
      : server_(server), opt_(server_->opt_), conn_(std::move(conn)), stream_(stream),
        remote_(std::move(remote)) {}

  asio::awaitable<void> Run();

  // For the exchange.
  asio::awaitable<absl::Status> WriteResponse(Response response, bool keep_alive);
  asio::awaitable<absl::StatusOr<std::shared_ptr<SseStream>>> BeginSse(Headers headers);

 private:
  asio::awaitable<bool> ReadRequest(RequestParser& parser, bool first);
  asio::awaitable<void> SendError(int status, std::string_view message);
  // Returns true when the connection may serve another request.
  asio::awaitable<bool> PumpSse(std::shared_ptr<SseStreamImpl> stream);
  asio::awaitable<void> WatchForDisconnect(std::shared_ptr<bool> peer_gone, std::shared_ptr<bool> done,
                                           std::shared_ptr<asio::steady_timer> wake, std::shared_ptr<asio::steady_timer> done_timer);

  internal::ServerImpl* server_;
  const ServerOptions& opt_;
  std::shared_ptr<ConnHandle> conn_;
  Stream& stream_;
  std::string remote_;
  beast::flat_buffer buffer_;
  bool keep_alive_ = false;
};

class ExchangeBase : public Exchange {
 public:
  bool responded = false;
  std::shared_ptr<SseStreamImpl> stream;
};

template <typename Stream>
class ExchangeImpl final : public ExchangeBase {
 public:
  ExchangeImpl(Session<Stream>& session, Request request, bool keep_alive)
      : session_(session), request_(std::move(request)), keep_alive_(keep_alive) {}

  const Request& request() const override { return request_; }
  Request& mutable_request() override { return request_; }

  // (Not a coroutine itself: the write is the session's, awaited by the caller.)
  asio::awaitable<absl::Status> Respond(Response response) override {
    if (responded) return AlreadyResponded();
    responded = true;
    return session_.WriteResponse(std::move(response), keep_alive_);
  }

  static asio::awaitable<absl::Status> AlreadyResponded() {
    co_return absl::FailedPreconditionError("a response was already sent");
  }

  asio::awaitable<absl::StatusOr<std::shared_ptr<SseStream>>> StartSse(Headers headers) override {
    if (responded) co_return absl::FailedPreconditionError("a response was already sent");
    responded = true;
    auto result = co_await session_.BeginSse(std::move(headers));
    if (result.ok()) stream = std::static_pointer_cast<SseStreamImpl>(*result);
    co_return result;
  }

 private:
  Session<Stream>& session_;
  Request request_;
  bool keep_alive_;
};

template <typename Stream>
asio::awaitable<bool> Session<Stream>::ReadRequest(RequestParser& parser, bool first) {
  // Wait for the first byte within the idle time (the header time for a new connection), then for the
  // whole header within the header time, so a slow sender is cut however it trickles.
  if (buffer_.size() == 0) {
    Lowest(stream_).expires_after(first ? opt_.header_timeout : opt_.idle_timeout);
    auto [ec, n] = co_await stream_.async_read_some(buffer_.prepare(4096), kTuple);
    if (ec) {
      if (ec == beast::error::timeout) ++server_->timeouts_;
      co_return false;
    }
    buffer_.commit(n);
  }
  conn_->phase = ConnHandle::Phase::kBusy;
  // The header (most often the whole request) is parsed from what is buffered, here and now; only what
  // has not arrived is read, within the header time.
  beast::error_code ec = internal::ParseBuffered(parser, buffer_, /*header_only=*/true);
  if (!ec && !parser.is_header_done()) {
    Lowest(stream_).expires_after(opt_.header_timeout);
    auto [rec, rn] = co_await http::async_read_header(stream_, buffer_, parser, kTuple);
    ec = rec;
  }
  if (ec == http::error::header_limit) {
    co_await SendError(431, "request header too large");
    co_return false;
  }
  if (ec == http::error::body_limit) {  // Content-Length past the limit: refused before the body is read
    const std::string message = absl::StrCat("request body exceeds ", opt_.max_body_bytes, " bytes");
    co_await SendError(413, message);
    co_return false;
  }
  if (ec == beast::error::timeout) {
    ++server_->timeouts_;
    co_return false;
  }
  if (ec) {
    if (ec != http::error::end_of_stream && ec != asio::error::eof) co_await SendError(400, "malformed HTTP request");
    co_return false;
  }
  if (parser.content_length() && *parser.content_length() > opt_.max_body_bytes) {
    const std::string message = absl::StrCat("request body exceeds ", opt_.max_body_bytes, " bytes");
    co_await SendError(413, message);
    co_return false;
  }
  if (parser.is_done()) co_return true;
  // The body likewise: what is buffered parsed now, the rest read within the body time.
  beast::error_code bec = internal::ParseBuffered(parser, buffer_, /*header_only=*/false);
  if (!bec && !parser.is_done()) {
    if (parser.expects_continue()) {
      http::response<http::empty_body> cont{http::status::continue_, 11};
      Lowest(stream_).expires_after(opt_.write_timeout);
      auto [wec, wn] = co_await http::async_write(stream_, cont, kTuple);
      if (wec) co_return false;
    }
    Lowest(stream_).expires_after(opt_.body_timeout);
    auto [rec, rn] = co_await http::async_read(stream_, buffer_, parser, kTuple);
    bec = rec;
  }
  if (bec == http::error::body_limit) {
    const std::string message = absl::StrCat("request body exceeds ", opt_.max_body_bytes, " bytes");
    co_await SendError(413, message);
    co_return false;
  }
  if (bec == beast::error::timeout) ++server_->timeouts_;
  co_return !bec;
}

template <typename Stream>
asio::awaitable<void> Session<Stream>::SendError(int status, std::string_view message) {
  http::response<http::string_body> res{static_cast<http::status>(status), 11};
  res.set(http::field::content_type, "text/plain; charset=utf-8");
  res.set(http::field::connection, "close");
  res.body() = std::string(message) + "\n";
  res.keep_alive(false);
  res.prepare_payload();
  Lowest(stream_).expires_after(opt_.write_timeout);
  auto [ec, n] = co_await http::async_write(stream_, res, kTuple);
  if (ec) co_return;
  // Lingering close: the client may still be sending the body we refused. Closing now, with its bytes
  // unread, would reset the connection and could destroy our answer before the client reads it; so stop
  // sending, and read and discard for a short, bounded while.
  beast::error_code sec;
  Lowest(stream_).socket().shutdown(tcp::socket::shutdown_send, sec);
  Lowest(stream_).expires_after(std::chrono::seconds(2));
  std::vector<char> sink(64 * 1024);
  for (size_t discarded = 0; discarded < opt_.max_body_bytes + opt_.max_header_bytes;) {
    auto [rec, rn] = co_await Lowest(stream_).socket().async_read_some(asio::buffer(sink), kTuple);
    if (rec) break;
    discarded += rn;
  }
}

template <typename Stream>
asio::awaitable<absl::Status> Session<Stream>::WriteResponse(Response response, bool keep_alive) {
  keep_alive_ = keep_alive && !server_->draining_;
  auto head = internal::ResponseHead(response, keep_alive_);
  const absl::Status refused = head.status();
  if (!refused.ok()) {
    // (a defect of whoever made the response: the client gets a plain 500, the caller the reason)
    Response failed;
    failed.status = 500;
    failed.headers.Set("Content-Type", "text/plain; charset=utf-8");
    failed.body = "the response could not be written\n";
    keep_alive_ = false;
    head = internal::ResponseHead(failed, false);
    response = std::move(failed);
  }
  if (internal::Bodiless(response.status)) response.body.clear();
  Lowest(stream_).expires_after(opt_.write_timeout);
  internal::WriteProgress w = internal::WriteNow(stream_, *head, response.body);
  if (!w.done) {
    auto [ec, n] = co_await internal::WriteRest(stream_, *head, response.body, w.written);
    w.ec = ec;
  }
  if (const beast::error_code ec = w.ec) {
    keep_alive_ = false;
    co_return absl::UnavailableError(absl::StrCat("writing the response failed: ", ec.message()));
  }
  co_return refused;
}

template <typename Stream>
asio::awaitable<absl::StatusOr<std::shared_ptr<SseStream>>> Session<Stream>::BeginSse(Headers headers) {
  http::response<http::empty_body> res{http::status::ok, 11};
  res.set(http::field::content_type, "text/event-stream");
  res.set(http::field::cache_control, "no-cache, no-transform");
  for (const auto& f : headers.fields()) res.set(f.name, f.value);
  res.chunked(true);
  res.keep_alive(keep_alive_);
  http::response_serializer<http::empty_body> sr{res};
  Lowest(stream_).expires_after(opt_.write_timeout);
  auto [ec, n] = co_await http::async_write_header(stream_, sr, kTuple);
  if (ec) {
    keep_alive_ = false;
    co_return absl::UnavailableError(absl::StrCat("writing the stream header failed: ", ec.message()));
  }
  auto stream = std::make_shared<SseStreamImpl>(opt_.sse_queue_max_events, opt_.sse_queue_max_bytes);
  co_return std::static_pointer_cast<SseStream>(stream);
}

template <typename Stream>
asio::awaitable<void> Session<Stream>::WatchForDisconnect(std::shared_ptr<bool> peer_gone, std::shared_ptr<bool> done,
                                                          std::shared_ptr<asio::steady_timer> wake,
                                                          std::shared_ptr<asio::steady_timer> done_timer) {
  for (;;) {
    if (buffer_.size() >= opt_.max_header_bytes) {
      // The client keeps sending while we stream: stop reading and let the stream finish.
      break;
    }
    auto [ec, n] = co_await stream_.async_read_some(buffer_.prepare(1024), kTuple);
    if (ec) {
      if (ec != asio::error::operation_aborted) {
        *peer_gone = true;
        wake->cancel();
      }
      break;
    }
    buffer_.commit(n);
  }
  *done = true;
  done_timer->cancel();
}

template <typename Stream>
asio::awaitable<bool> Session<Stream>::PumpSse(std::shared_ptr<SseStreamImpl> stream) {
  auto executor = co_await asio::this_coro::executor;
  auto wake = std::make_shared<asio::steady_timer>(executor);
  auto done_timer = std::make_shared<asio::steady_timer>(executor, asio::steady_timer::time_point::max());
  auto peer_gone = std::make_shared<bool>(false);
  auto watcher_done = std::make_shared<bool>(false);
  // A wake-up; on overflow also the end of a write stuck on a reader that stopped reading, which would
  // otherwise hold the connection until the write timeout. (The timer lives as long as this pump, and
  // the socket outlives the pump.)
  stream->SetWake([strand = conn_->strand, weak = std::weak_ptr<asio::steady_timer>(wake),
                   stream_weak = std::weak_ptr<SseStreamImpl>(stream), socket = &Lowest(stream_).socket()] {
    asio::post(strand, [weak, stream_weak, socket] {
      auto t = weak.lock();
      if (!t) return;
      t->cancel();
      if (auto s = stream_weak.lock(); s && s->overflowed()) {
        beast::error_code ec;
        socket->cancel(ec);
      }
    });
  });
  conn_->phase = ConnHandle::Phase::kStreaming;
  conn_->stream = stream;
  ++server_->streams_active_;
  Lowest(stream_).expires_never();
  asio::co_spawn(executor, WatchForDisconnect(peer_gone, watcher_done, wake, done_timer), asio::detached);

  bool graceful = false;
  for (;;) {
    bool closing = false;
    bool overflowed = false;
    std::string batch = stream->TakeAll(closing, overflowed);
    if (overflowed) break;
    if (*peer_gone) break;
    if (!batch.empty()) {
      Lowest(stream_).expires_after(opt_.write_timeout);
      auto [ec, n] = co_await asio::async_write(stream_, http::make_chunk(asio::buffer(batch)), kTuple);
      Lowest(stream_).expires_never();
      if (ec) break;
      continue;
    }
    if (closing) {
      graceful = true;
      break;
    }
    const bool heartbeat = opt_.sse_heartbeat > Duration::zero();
    wake->expires_after(heartbeat ? opt_.sse_heartbeat : std::chrono::hours(24 * 365));
    auto [wec] = co_await wake->async_wait(kTuple);
    if (!wec && heartbeat && !*peer_gone) {
      static const std::string kPing = ": ping\n\n";
      Lowest(stream_).expires_after(opt_.write_timeout);
      auto [ec, n] = co_await asio::async_write(stream_, http::make_chunk(asio::buffer(kPing)), kTuple);
      Lowest(stream_).expires_never();
      if (ec) break;
    }
  }
  // Counters first: End() runs the owner's OnClosed callbacks, which may look at them.
  if (stream->overflowed()) ++server_->overflows_;  // (found above, or ending a write it cut short)
  --server_->streams_active_;
  conn_->stream.reset();
  stream->End();

  // Stop the watcher before anything else reads from the socket.
  if (!*watcher_done) {
    beast::error_code ec;
    Lowest(stream_).socket().cancel(ec);
    co_await done_timer->async_wait(kTuple);
  }
  if (!graceful || *peer_gone) co_return false;
  Lowest(stream_).expires_after(opt_.write_timeout);
  auto [ec, n] = co_await asio::async_write(stream_, http::make_chunk_last(), kTuple);
  co_return !ec && keep_alive_ && !server_->draining_;
}

template <typename Stream>
asio::awaitable<void> Session<Stream>::Run() {
  bool first = true;
  for (;;) {
    conn_->phase = ConnHandle::Phase::kIdle;
    if (server_->draining_) break;
    RequestParser parser;
    parser.header_limit(static_cast<uint32_t>(opt_.max_header_bytes));
    parser.body_limit(opt_.max_body_bytes);
    const bool ok = co_await ReadRequest(parser, first);
    first = false;
    if (!ok) break;
    ++server_->requests_;

    keep_alive_ = parser.keep_alive() && !server_->draining_;
    Request request = parser.Take();
    request.remote_address = remote_;

    ExchangeImpl<Stream> exchange(*this, std::move(request), keep_alive_);
    bool threw = false;
    try {
      co_await server_->handler_(exchange);
    } catch (const std::exception&) {
      threw = true;  // answered below: no co_await inside a handler block
    }
    if (!exchange.responded) {
      exchange.responded = true;
      // (Named, not a temporary inside co_await: GCC 12 mishandles those.)
      Response error;
      error.status = 500;
      error.body = threw ? "internal error\n" : "the handler sent no response\n";
      co_await WriteResponse(std::move(error), false);
    }
    if (threw) break;
    if (exchange.stream) {
      if (!co_await PumpSse(exchange.stream)) break;
      continue;
    }
    if (!keep_alive_) break;
  }
}

// --- accept loop ----------------------------------------------------------------------------------

asio::awaitable<void> internal::ServerImpl::Refuse(tcp::socket socket) {
  beast::tcp_stream stream(std::move(socket));
  http::response<http::string_body> res{http::status::service_unavailable, 11};
  res.set(http::field::content_type, "text/plain; charset=utf-8");
  res.set(http::field::retry_after, "1");
  res.body() = "too many connections\n";
  res.keep_alive(false);
  res.prepare_payload();
  stream.expires_after(std::chrono::seconds(2));
  co_await http::async_write(stream, res, kTuple);
  beast::error_code ec;
  stream.socket().shutdown(tcp::socket::shutdown_both, ec);
}

template <typename Stream>
asio::awaitable<void> RunConnection(internal::ServerImpl* server, std::shared_ptr<ConnHandle> conn,
                                    Stream& stream, std::string remote) {
  Session<Stream> session(server, conn, stream, std::move(remote));
  co_await session.Run();
}

asio::awaitable<void> internal::ServerImpl::AcceptLoop(std::shared_ptr<ServerImpl> self) {
  for (;;) {
    const asio::any_io_executor& home =
        self->workers_.empty() ? self->executor_ : self->workers_[self->next_worker_++ % self->workers_.size()];
    Strand strand = internal::MakeStrand(home);
    auto [ec, socket] = co_await self->acceptor_.async_accept(strand, kTuple);
    if (ec) {
      if (ec == asio::error::operation_aborted || !self->acceptor_.is_open()) co_return;
      continue;  // e.g. EMFILE: keep serving the connections we have
    }
    ++self->accepted_;
    if (self->active_ >= self->opt_.max_connections) {
      ++self->refused_;
      asio::co_spawn(strand, Refuse(std::move(socket)), asio::detached);
      continue;
    }
    beast::error_code rec;
    const auto peer = socket.remote_endpoint(rec);
    std::string remote = rec ? std::string() : absl::StrCat(peer.address().to_string(), ":", peer.port());
    socket.set_option(tcp::no_delay(true), rec);
    auto conn = std::make_shared<ConnHandle>(strand);
    ++self->active_;
    self->Register(conn);
    auto finish = [self, conn] {
      --self->active_;
      self->Unregister(conn);
    };
    if (self->ssl_ctx_) {
      auto stream = std::make_shared<beast::ssl_stream<beast::tcp_stream>>(beast::tcp_stream(std::move(socket)), *self->ssl_ctx_);
      conn->close_socket = [stream] {
        beast::error_code e;
        beast::get_lowest_layer(*stream).socket().close(e);
      };
      asio::co_spawn(
          strand,
          [self, conn, stream, remote = std::move(remote)]() -> asio::awaitable<void> {
            beast::get_lowest_layer(*stream).expires_after(self->opt_.header_timeout);
            auto [hec] = co_await stream->async_handshake(asio::ssl::stream_base::server, kTuple);
            if (hec) co_return;
            co_await RunConnection(self.get(), conn, *stream, remote);
            beast::get_lowest_layer(*stream).expires_after(std::chrono::seconds(2));
            co_await stream->async_shutdown(kTuple);
          },
          [finish](std::exception_ptr) { finish(); });
    } else {
      auto stream = std::make_shared<beast::tcp_stream>(std::move(socket));
      conn->close_socket = [stream] {
        beast::error_code e;
        stream->socket().close(e);
      };
      asio::co_spawn(
          strand,
          [self, conn, stream, remote = std::move(remote)]() -> asio::awaitable<void> {
            co_await RunConnection(self.get(), conn, *stream, remote);
            beast::error_code e;
            stream->socket().shutdown(tcp::socket::shutdown_send, e);
          },
          [finish](std::exception_ptr) { finish(); });
    }
  }
}

// --- public wrapper -------------------------------------------------------------------------------

namespace {
int ThreadCount(const ServerOptions& o) {
  return o.threads > 0 ? o.threads : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
}
}  // namespace

HttpServer::HttpServer(ServerOptions options, Handler handler)
    : owned_(std::make_unique<internal::OwnedIo>(ThreadCount(options), options.busy_poll)) {
  impl_ = std::make_shared<internal::ServerImpl>(std::move(options), std::move(handler),
                                                 owned_->contexts.front()->get_executor(), owned_->Executors());
}

HttpServer::HttpServer(ServerOptions options, Handler handler, boost::asio::any_io_executor executor)
    : impl_(std::make_shared<internal::ServerImpl>(std::move(options), std::move(handler), std::move(executor))) {}

HttpServer::~HttpServer() {
  Stop(Duration::zero());
  // The server's state first (frames still queued keep it alive), then the io_context they are queued
  // in: destroying it destroys those frames, which release the rest.
  impl_.reset();
  owned_.reset();
}

absl::StatusOr<uint16_t> HttpServer::Start() {
  auto port = impl_->Start();
  if (!port.ok() || !owned_) return port;
  for (auto& context : owned_->contexts) {
    owned_->threads.emplace_back([owned = owned_.get(), io = context.get()] { owned->Run(*io); });
  }
  return port;
}

void HttpServer::Stop(Duration grace) {
  if (!impl_->Drain(grace)) return;
  if (!owned_) {
    impl_->EndStreams(/*on_strand=*/true);
    return;
  }
  for (auto& context : owned_->contexts) context->stop();
  bool joined_all = true;
  for (std::thread& t : owned_->threads) {
    if (t.get_id() == std::this_thread::get_id()) {
      t.detach();  // Stop() called from a handler: cannot join ourselves
      joined_all = false;
    } else {
      t.join();
    }
  }
  owned_->threads.clear();
  // Every socket is closed, so what is still queued completes at once: run it so that the coroutine
  // frames release what they hold.
  owned_->guards.clear();
  if (joined_all) {
    for (auto& context : owned_->contexts) {
      context->restart();
      context->run_for(std::chrono::milliseconds(200));
    }
  }
  impl_->EndStreams(/*on_strand=*/false);
}

uint16_t HttpServer::port() const { return impl_->port(); }
ServerStats HttpServer::stats() const { return impl_->stats(); }
std::function<ServerStats()> HttpServer::StatsReader() const {
  return [impl = impl_] { return impl->stats(); };
}
boost::asio::any_io_executor HttpServer::executor() const { return impl_->executor_; }

}  // namespace vmcp::transport
