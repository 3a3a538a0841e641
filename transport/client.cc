// The HTTP/1.1 client: per-origin pools of keep-alive connections, each connection on its own strand
// (its I/O runs there, so its timers and reads never race), TLS contexts built once per CA bundle.

#include "transport/client.h"

#include <algorithm>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <deque>
#include <map>
#include <mutex>
#include <optional>
#include <string_view>
#include <tuple>
#include <variant>
#include <vector>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/experimental/concurrent_channel.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>

#include "absl/status/status.h"
#include "absl/strings/cord.h"
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
using Clock = std::chrono::steady_clock;
constexpr auto kTuple = asio::as_tuple(asio::use_awaitable);

std::string OpenSslError() {
  const unsigned long e = ERR_get_error();
  if (e == 0) return "unknown error";
  char buf[256];
  ERR_error_string_n(e, buf, sizeof(buf));
  ERR_clear_error();
  return buf;
}

// Adds every certificate of a PEM file to the store. Returns how many.
absl::StatusOr<int> AddCaBundle(X509_STORE* store, const std::string& path) {
  BIO* bio = BIO_new_file(path.c_str(), "r");
  if (bio == nullptr) {
    ERR_clear_error();
    return absl::FailedPreconditionError(absl::StrCat("cannot read CA bundle ", path, ": ", std::strerror(errno)));
  }
  int count = 0;
  while (X509* cert = PEM_read_bio_X509(bio, nullptr, nullptr, nullptr)) {
    if (store != nullptr && X509_STORE_add_cert(store, cert) != 1) {
      // A duplicate of a system root is harmless; anything else is not.
      const unsigned long e = ERR_peek_last_error();
      if (ERR_GET_REASON(e) != X509_R_CERT_ALREADY_IN_HASH_TABLE) {
        X509_free(cert);
        BIO_free(bio);
        return absl::FailedPreconditionError(absl::StrCat("CA bundle ", path, ": ", OpenSslError()));
      }
      ERR_clear_error();
    }
    X509_free(cert);
    ++count;
  }
  // The loop ends at end of file (PEM_R_NO_START_LINE) or at a malformed block.
  const unsigned long last = ERR_peek_last_error();
  const bool clean_end = last == 0 || (ERR_GET_LIB(last) == ERR_LIB_PEM && ERR_GET_REASON(last) == PEM_R_NO_START_LINE);
  ERR_clear_error();
  BIO_free(bio);
  if (!clean_end) {
    return absl::FailedPreconditionError(absl::StrCat("CA bundle ", path, " holds a malformed PEM certificate"));
  }
  if (count == 0) return absl::FailedPreconditionError(absl::StrCat("CA bundle ", path, " holds no PEM certificate"));
  return count;
}

absl::StatusOr<std::shared_ptr<asio::ssl::context>> MakeTlsContext(const std::string& ca_bundle_path) {
  auto ctx = std::make_shared<asio::ssl::context>(asio::ssl::context::tls_client);
  SSL_CTX_set_min_proto_version(ctx->native_handle(), TLS1_2_VERSION);
  beast::error_code ec;
  ctx->set_default_verify_paths(ec);  // the system roots
  ctx->set_verify_mode(asio::ssl::verify_peer);
  if (!ca_bundle_path.empty()) {
    auto added = AddCaBundle(SSL_CTX_get_cert_store(ctx->native_handle()), ca_bundle_path);
    if (!added.ok()) return added.status();
  }
  return ctx;
}

constexpr char kNotSentPayload[] = "type.vmcp/transport.NotSent";

// Response bodies up to this size, with a Content-Length and not an event stream, are read with the header.
constexpr uint64_t kPrefetchLimit = 1024 * 1024;

bool IsStaleConnectionError(const beast::error_code& ec) {
  return ec == asio::error::eof || ec == http::error::end_of_stream || ec == asio::error::connection_reset ||
         ec == asio::error::broken_pipe || ec == asio::ssl::error::stream_truncated;
}

// Beast's response parser (its grammar, limits and keep-alive rules), writing the status and fields
// straight into the transport's own types and the body into the string a BodyTo names: a Beast
// message built only to be copied field by field cost an allocation, a name lookup and an ordered
// insert per field. While no string is named, body bytes stay unparsed (need_buffer, as Beast's
// buffer_body does).
class ResponseParser final : public http::basic_parser<false> {
 public:
  int status() const { return status_; }
  const Headers& headers() const { return headers_; }
  Headers TakeHeaders() { return std::move(headers_); }

  // While one lives, the body parsed goes to the end of `sink`.
  class BodyTo {
   public:
    BodyTo(ResponseParser& parser, std::string* sink) : parser_(parser) { parser_.sink_ = sink; }
    ~BodyTo() { parser_.sink_ = nullptr; }
    BodyTo(const BodyTo&) = delete;
    BodyTo& operator=(const BodyTo&) = delete;

   private:
    ResponseParser& parser_;
  };

 private:
  void on_request_impl(http::verb, beast::string_view, beast::string_view, int, beast::error_code& ec) override {
    ec = http::error::bad_status;  // (never called: this parser reads responses)
  }
  void on_response_impl(int code, beast::string_view, int, beast::error_code&) override { status_ = code; }
  void on_field_impl(http::field, beast::string_view name, beast::string_view value, beast::error_code&) override {
    headers_.Add(std::string(name), std::string(value));
  }
  void on_header_impl(beast::error_code&) override {}
  void on_body_init_impl(const boost::optional<std::uint64_t>&, beast::error_code&) override {}
  size_t on_body_impl(beast::string_view body, beast::error_code& ec) override { return Take(body, ec); }
  void on_chunk_header_impl(std::uint64_t, beast::string_view, beast::error_code&) override {}
  size_t on_chunk_body_impl(std::uint64_t, beast::string_view body, beast::error_code& ec) override {
    return Take(body, ec);
  }
  void on_finish_impl(beast::error_code&) override {}

  size_t Take(beast::string_view body, beast::error_code& ec) {
    if (sink_ == nullptr) {
      ec = http::error::need_buffer;
      return 0;
    }
    sink_->append(body.data(), body.size());
    return body.size();
  }

  int status_ = 0;
  Headers headers_;
  std::string* sink_ = nullptr;
};

// One connection, plain or TLS, with its own strand.
struct Conn {
  explicit Conn(Strand s)
      : strand(std::move(s)), home(&asio::query(strand, asio::execution::context)),
        single_threaded(internal::IsSingleThreaded(strand)) {}
  Strand strand;
  asio::execution_context* home;  // where its I/O runs: a request from there keeps to one thread
  const bool single_threaded;     // no strand: `home` is an io_context that one thread runs
  std::unique_ptr<beast::tcp_stream> plain;
  std::unique_ptr<beast::ssl_stream<beast::tcp_stream>> tls;
  beast::flat_buffer buffer;
  Clock::time_point idle_since;
  bool reused = false;

  // Whether a coroutine on `here` may drive this connection's I/O itself: it runs on the one thread that
  // runs the connection's io_context. Otherwise the I/O goes to the connection's strand by co_spawn.
  bool RunsOn(const asio::any_io_executor& here) const {
    return single_threaded && &asio::query(here, asio::execution::context) == home;
  }

  beast::tcp_stream& lowest() { return tls ? beast::get_lowest_layer(*tls) : *plain; }
  void Close() {
    beast::error_code ec;
    lowest().socket().close(ec);
  }
};

struct Waiter {
  explicit Waiter(asio::any_io_executor ex) : channel(std::move(ex), 1) {}
  asio::experimental::concurrent_channel<void(beast::error_code)> channel;
  // Guarded by the pool's mutex: what a releaser handed over.
  std::unique_ptr<Conn> conn;
  bool slot = false;
};

}  // namespace

// The connections to one origin with one trust configuration.
struct Pool {
  Url origin;
  std::string host_header;  // the Host its requests carry: the host, with the port unless it is the default
  std::string ca_bundle_path;
  std::shared_ptr<asio::ssl::context> tls;
  absl::Status tls_error;  // a bad CA bundle fails this backend only

  std::mutex mu;
  std::vector<std::unique_ptr<Conn>> idle;  // LIFO: the most recently used first
  size_t open = 0;                           // pooled connections, idle or busy
  std::deque<std::shared_ptr<Waiter>> waiters;
  PoolStats stats;
};

class internal::ClientImpl : public std::enable_shared_from_this<internal::ClientImpl> {
 public:
  ClientImpl(asio::any_io_executor executor, ClientOptions options) : executor_(std::move(executor)), opt_(options) {}

  // Pools are found by origin and CA bundle, compared in place (no key built for every request).
  using PoolKey = std::tuple<bool, std::string, uint16_t, std::string>;
  static std::tuple<bool, std::string_view, uint16_t, std::string_view> KeyOf(const Url& url, const Endpoint& endpoint) {
    return {url.tls, url.host, url.port, endpoint.ca_bundle_path};
  }

  std::shared_ptr<Pool> PoolFor(const Url& url, const Endpoint& endpoint) {
    std::lock_guard lock(mu_);
    auto it = pools_.find(KeyOf(url, endpoint));
    if (it == pools_.end()) {
      it = pools_.emplace(PoolKey{url.tls, url.host, url.port, endpoint.ca_bundle_path}, nullptr).first;
    }
    auto& pool = it->second;
    if (!pool) {
      pool = std::make_shared<Pool>();
      pool->origin = url;
      pool->origin.target = "/";
      const bool default_port = url.port == (url.tls ? 443 : 80);
      const bool v6 = url.host.find(':') != std::string::npos;
      pool->host_header = default_port ? (v6 ? "[" + url.host + "]" : url.host) : url.Authority();
      pool->ca_bundle_path = endpoint.ca_bundle_path;
      if (url.tls) {
        auto ctx = MakeTlsContext(endpoint.ca_bundle_path);
        if (ctx.ok()) {
          pool->tls = *ctx;
        } else {
          pool->tls_error = ctx.status();
        }
      }
    }
    return pool;
  }

  std::shared_ptr<Pool> FindPool(const Url& url, const Endpoint& endpoint) const {
    std::lock_guard lock(mu_);
    auto it = pools_.find(KeyOf(url, endpoint));
    return it == pools_.end() ? nullptr : it->second;
  }

  // Opens a new connection (DNS, TCP, TLS), on a new strand of the caller's io_context when it runs on
  // one (a server thread's: its requests then never leave that thread), else of the client's executor.
  asio::awaitable<absl::StatusOr<std::unique_ptr<Conn>>> Connect(std::shared_ptr<Pool> pool) {
    const asio::any_io_executor caller = co_await asio::this_coro::executor;
    const auto io = internal::IoContextExecutorOf(caller);
    Strand strand = internal::MakeStrand(io ? asio::any_io_executor(*io) : executor_);
    auto conn = std::make_unique<Conn>(strand);
    co_return co_await asio::co_spawn(strand, ConnectOn(std::move(pool), std::move(conn)), asio::use_awaitable);
  }

  // Asio's reactor keeps a socket's write interest (EPOLLOUT) once one write has waited, and a connect
  // waits as a write. A pooled backend connection then mostly waits to read: each response that
  // arrives also makes the socket writable again, which queues an event for the reactor to take up and
  // find nothing to do (one per call, seen with strace). Registering the connected socket anew, as
  // an accepted one is, drops that interest: two system calls once per connection. The new
  // registration reports no readiness missed in between (nothing is sent yet).
  static absl::Status DropWriteInterest(tcp::socket& socket) {
    beast::error_code ec;
    const tcp protocol = socket.local_endpoint(ec).protocol();
    if (ec) return absl::UnavailableError(absl::StrCat("local endpoint: ", ec.message()));
    const tcp::socket::native_handle_type fd = socket.release(ec);
    if (ec) return absl::UnavailableError(absl::StrCat("re-registering the socket: ", ec.message()));
    socket.assign(protocol, fd, ec);
    if (ec) {
      ::close(fd);
      return absl::UnavailableError(absl::StrCat("re-registering the socket: ", ec.message()));
    }
    return absl::OkStatus();
  }

  asio::awaitable<absl::StatusOr<std::unique_ptr<Conn>>> ConnectOn(std::shared_ptr<Pool> pool, std::unique_ptr<Conn> conn) {
    const Url& url = pool->origin;
    if (url.tls && !pool->tls_error.ok()) co_return pool->tls_error;
    asio::steady_timer deadline(conn->strand);
    deadline.expires_after(opt_.connect_timeout);
    // An IP literal needs no resolver (Asio's resolver runs getaddrinfo on a thread of its own).
    std::vector<tcp::endpoint> endpoints;
    beast::error_code aec;
    const std::string literal = url.host.size() > 1 && url.host.front() == '[' ? url.host.substr(1, url.host.size() - 2) : url.host;
    const auto address = asio::ip::make_address(literal, aec);
    if (!aec) {
      endpoints.emplace_back(address, url.port);
    } else {
      tcp::resolver resolver(conn->strand);
      using namespace asio::experimental::awaitable_operators;
      auto resolved = co_await (resolver.async_resolve(url.host, std::to_string(url.port), kTuple) ||
                                deadline.async_wait(kTuple));
      if (resolved.index() == 1) {
        co_return absl::DeadlineExceededError(absl::StrCat("resolving ", url.host, " timed out"));
      }
      auto [rec, results] = std::get<0>(resolved);
      if (rec) co_return absl::UnavailableError(absl::StrCat("cannot resolve ", url.host, ": ", rec.message()));
      for (const auto& r : results) endpoints.push_back(r.endpoint());
    }

    conn->plain = std::make_unique<beast::tcp_stream>(conn->strand);
    conn->plain->expires_at(deadline.expiry());
    auto [cec, ep] = co_await conn->plain->async_connect(endpoints, kTuple);
    if (cec == beast::error::timeout) {
      co_return absl::DeadlineExceededError(absl::StrCat("connecting to ", url.Authority(), " timed out"));
    }
    if (cec) co_return absl::UnavailableError(absl::StrCat("cannot connect to ", url.Authority(), ": ", cec.message()));
    beast::error_code nec;
    conn->plain->socket().set_option(tcp::no_delay(true), nec);
    if (absl::Status s = DropWriteInterest(conn->plain->socket()); !s.ok()) {
      co_return absl::UnavailableError(absl::StrCat("connection to ", url.Authority(), ": ", s.message()));
    }
    if (!url.tls) co_return std::move(conn);

    conn->tls = std::make_unique<beast::ssl_stream<beast::tcp_stream>>(std::move(*conn->plain), *pool->tls);
    conn->plain.reset();
    SSL* ssl = conn->tls->native_handle();
    if (url.IsIpLiteral()) {
      X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), url.host.c_str());
    } else {
      SSL_set_tlsext_host_name(ssl, url.host.c_str());  // SNI
      SSL_set1_host(ssl, url.host.c_str());             // hostname verification
    }
    beast::get_lowest_layer(*conn->tls).expires_after(opt_.tls_handshake_timeout);
    auto [hec] = co_await conn->tls->async_handshake(asio::ssl::stream_base::client, kTuple);
    if (hec) {
      const long verify = SSL_get_verify_result(ssl);
      std::string reason = hec == beast::error::timeout ? std::string("timed out") : hec.message();
      if (verify != X509_V_OK) reason = absl::StrCat("certificate verify failed: ", X509_verify_cert_error_string(verify));
      ERR_clear_error();
      co_return absl::UnavailableError(absl::StrCat("TLS handshake with ", url.Authority(), " failed: ", reason));
    }
    beast::get_lowest_layer(*conn->tls).expires_never();
    co_return std::move(conn);
  }

  // An idle connection for a caller on `home`, or null. The caller's thread's most recent one; another
  // thread's only when no new one may be opened (it works the same, with a hop to that thread and back).
  std::unique_ptr<Conn> TakeIdleLocked(Pool& pool, const asio::execution_context* home) {
    EvictIdleLocked(pool);
    if (pool.idle.empty()) return nullptr;
    auto it = std::find_if(pool.idle.rbegin(), pool.idle.rend(), [home](const auto& c) { return c->home == home; });
    if (it == pool.idle.rend() && pool.open >= opt_.max_connections_per_origin) it = pool.idle.rbegin();
    if (it == pool.idle.rend()) return nullptr;
    auto conn = std::move(*it);
    pool.idle.erase(std::next(it).base());
    conn->reused = true;
    ++pool.stats.connections_reused;
    return conn;
  }
  std::unique_ptr<Conn> TakeIdle(Pool& pool, const asio::any_io_executor& here) {
    std::lock_guard lock(pool.mu);
    return TakeIdleLocked(pool, &asio::query(here, asio::execution::context));
  }

  // A connection: an idle one (see TakeIdleLocked), else a new one, else (at the cap) the next one
  // released, waiting up to pool_wait_timeout. `fresh`: a new one only.
  asio::awaitable<absl::StatusOr<std::unique_ptr<Conn>>> Acquire(std::shared_ptr<Pool> pool, bool fresh) {
    asio::execution_context* const home = &asio::query(co_await asio::this_coro::executor, asio::execution::context);
    std::shared_ptr<Waiter> waiter;
    {
      std::lock_guard lock(pool->mu);
      if (!fresh) {
        if (auto conn = TakeIdleLocked(*pool, home)) co_return std::move(conn);
      } else {
        EvictIdleLocked(*pool);
      }
      if (pool->open < opt_.max_connections_per_origin) {
        ++pool->open;
        pool->stats.max_connections_seen = std::max<uint64_t>(pool->stats.max_connections_seen, pool->open);
      } else {
        ++pool->stats.waits;
        waiter = std::make_shared<Waiter>(co_await asio::this_coro::executor);
        pool->waiters.push_back(waiter);
      }
    }
    if (waiter) {
      asio::steady_timer timer(co_await asio::this_coro::executor);
      timer.expires_after(opt_.pool_wait_timeout);
      using namespace asio::experimental::awaitable_operators;
      co_await (waiter->channel.async_receive(kTuple) || timer.async_wait(kTuple));
      std::lock_guard lock(pool->mu);
      if (waiter->conn) {
        waiter->conn->reused = true;
        ++pool->stats.connections_reused;
        co_return std::move(waiter->conn);
      }
      if (!waiter->slot) {
        pool->waiters.erase(std::find(pool->waiters.begin(), pool->waiters.end(), waiter));
        co_return MarkNotSent(absl::ResourceExhaustedError(absl::StrCat(
            "timed out waiting for a free connection to ", pool->origin.Authority(), " (", pool->open, " in use)")));
      }
      // A slot was handed over: open a new connection in it.
    }
    auto conn = co_await Connect(pool);
    if (!conn.ok()) {
      ReleaseSlot(*pool);
      co_return MarkNotSent(conn.status());
    }
    {
      std::lock_guard lock(pool->mu);
      ++pool->stats.connections_opened;
    }
    co_return conn;
  }

  // Returns a connection: to a waiter, to the idle list, or closes it (and frees its slot).
  void Release(Pool& pool, std::unique_ptr<Conn> conn, bool reusable) {
    if (!reusable) {
      conn->Close();
      ReleaseSlot(pool);
      return;
    }
    std::shared_ptr<Waiter> waiter;
    {
      std::lock_guard lock(pool.mu);
      if (!pool.waiters.empty()) {
        waiter = pool.waiters.front();
        pool.waiters.pop_front();
        waiter->conn = std::move(conn);
      } else {
        conn->idle_since = Clock::now();
        pool.idle.push_back(std::move(conn));
      }
    }
    if (waiter) waiter->channel.try_send(beast::error_code{});
  }

  void ReleaseSlot(Pool& pool) {
    std::shared_ptr<Waiter> waiter;
    {
      std::lock_guard lock(pool.mu);
      if (!pool.waiters.empty()) {
        waiter = pool.waiters.front();
        pool.waiters.pop_front();
        waiter->slot = true;  // the slot passes to the waiter; `open` is unchanged
      } else {
        --pool.open;
      }
    }
    if (waiter) waiter->channel.try_send(beast::error_code{});
  }

  // The idle list is in the order connections became idle (each is appended as it is released, and
  // taking one keeps the order of the rest), so the expired ones are a prefix: the scan stops at the
  // first that is not, and an acquire does not walk every idle connection.
  void EvictIdleLocked(Pool& pool) {
    const auto now = Clock::now();
    size_t expired = 0;
    while (expired < pool.idle.size() && now - pool.idle[expired]->idle_since > opt_.idle_timeout) {
      pool.idle[expired]->Close();
      ++expired;
    }
    if (expired == 0) return;
    pool.idle.erase(pool.idle.begin(), pool.idle.begin() + static_cast<std::ptrdiff_t>(expired));
    pool.open -= expired;
  }

  // --- requests ---

  // A request as it goes on the wire (kept for a second attempt on a fresh connection). The body stays
  // the caller's: it is written from where it is.
  struct WireRequest {
    std::string head;
    const std::string* body = nullptr;
    bool head_only = false;  // a HEAD request: its response has no body
  };

  static absl::StatusOr<WireRequest> BuildRequest(const Url& url, const Pool& pool, const Request& request) {
    auto head = internal::RequestHead(request, url.target, pool.host_header);
    if (!head.ok()) return MarkNotSent(absl::InvalidArgumentError(absl::StrCat("request to ", url.Authority(), ": ", head.status().message())));
    return WireRequest{std::move(*head), &request.body, request.method == "HEAD"};
  }

  struct Attempt {
    absl::StatusOr<Response> response = absl::UnknownError("not sent");
    bool reusable = false;
    bool retry_on_fresh = false;  // a reused connection was found closed before the request was read
  };

  template <typename S>
  asio::awaitable<Attempt> Exchange(S& stream, Conn& conn, const WireRequest& req, Duration timeout, const Url& url) {
    Attempt a;
    conn.lowest().expires_after(timeout);
    internal::WriteProgress w = internal::WriteNow(stream, req.head, *req.body);
    if (!w.done) {
      auto [ec, n] = co_await internal::WriteRest(stream, req.head, *req.body, w.written);
      w.ec = ec;
    }
    const beast::error_code wec = w.ec;
    ResponseParser parser;
    parser.header_limit(static_cast<uint32_t>(opt_.max_response_header_bytes));
    parser.body_limit(opt_.max_response_body_bytes);
    if (req.head_only) parser.skip(true);
    std::string body;
    const ResponseParser::BodyTo into_body(parser, &body);
    if (wec) {
      // The server may have answered before taking the whole body (413): read that answer if it is there.
      conn.lowest().expires_after(std::chrono::seconds(2));
      auto [eec, en] = co_await http::async_read(stream, conn.buffer, parser, kTuple);
      if (eec) {
        a.retry_on_fresh = conn.reused && IsStaleConnectionError(wec);
        a.response = Failure(wec, url, "sending the request");
        co_return a;
      }
      Response early;
      early.status = parser.status();
      early.headers = parser.TakeHeaders();
      early.body = std::move(body);
      a.response = std::move(early);
      co_return a;  // not reusable: the request was cut short
    }
    auto [rec, rn] = co_await http::async_read(stream, conn.buffer, parser, kTuple);
    if (rec) {
      a.retry_on_fresh = conn.reused && rn == 0 && IsStaleConnectionError(rec);
      a.response = Failure(rec, url, "reading the response");
      co_return a;
    }
    conn.lowest().expires_never();
    Response out;
    out.status = parser.status();
    out.headers = parser.TakeHeaders();
    out.body = std::move(body);
    a.reusable = parser.keep_alive();
    a.response = std::move(out);
    co_return a;
  }

  absl::Status Failure(const beast::error_code& ec, const Url& url, std::string_view what) {
    const std::string where = absl::StrCat(std::string(what), " to ", url.Authority());
    if (ec == beast::error::timeout) return absl::DeadlineExceededError(absl::StrCat(where, " timed out"));
    if (ec == http::error::body_limit) {
      return absl::ResourceExhaustedError(absl::StrCat(where, ": response body exceeds ", opt_.max_response_body_bytes, " bytes"));
    }
    if (ec == http::error::header_limit) return absl::ResourceExhaustedError(absl::StrCat(where, ": response header too large"));
    return absl::UnavailableError(absl::StrCat(where, " failed: ", ec.message()));
  }

  asio::awaitable<Attempt> ExchangeOn(Conn* conn, const WireRequest* req, Duration timeout, Url url) {
    if (conn->tls) co_return co_await Exchange(*conn->tls, *conn, *req, timeout, url);
    co_return co_await Exchange(*conn->plain, *conn, *req, timeout, url);
  }

  asio::awaitable<absl::StatusOr<Response>> Send(Url url, Request request, Endpoint endpoint, Duration timeout) {
    auto pool = PoolFor(url, endpoint);
    if (timeout == Duration::zero()) timeout = opt_.response_timeout;
    auto req = BuildRequest(url, *pool, request);
    if (!req.ok()) co_return req.status();
    bool fresh = false;
    for (int attempt = 0; attempt < 2; ++attempt) {
      auto acquired = co_await Acquire(pool, fresh);
      if (!acquired.ok()) co_return acquired.status();
      std::unique_ptr<Conn> conn = std::move(*acquired);
      Attempt a;
      if (conn->RunsOn(co_await asio::this_coro::executor)) {
        a = co_await ExchangeOn(conn.get(), &*req, timeout, url);
      } else {
        a = co_await asio::co_spawn(conn->strand, ExchangeOn(conn.get(), &*req, timeout, url), asio::use_awaitable);
      }
      Release(*pool, std::move(conn), a.reusable);
      if (a.retry_on_fresh && attempt == 0) {
        fresh = true;  // the server had closed the idle connection; the request never reached it
        continue;
      }
      co_return std::move(a.response);
    }
    co_return absl::UnavailableError("unreachable");
  }

  asio::awaitable<absl::StatusOr<std::unique_ptr<ResponseStream>>> Open(const Url& url, const Request& request,
                                                                       const Endpoint& endpoint, StreamOptions options);

  PoolStats Stats(const Url& url, const Endpoint& endpoint) const {
    auto pool = FindPool(url, endpoint);
    if (!pool) return {};
    std::lock_guard lock(pool->mu);
    PoolStats s = pool->stats;
    s.connections_open = pool->open;
    s.connections_idle = pool->idle.size();
    return s;
  }

  asio::any_io_executor executor_;
  const ClientOptions opt_;
  mutable std::mutex mu_;
  std::map<PoolKey, std::shared_ptr<Pool>, std::less<>> pools_;
};

// --- streamed responses -----------------------------------------------------------------------------

namespace {

class ResponseStreamImpl final : public ResponseStream {
 public:
  ResponseStreamImpl(std::shared_ptr<internal::ClientImpl> client, std::shared_ptr<Pool> pool, std::unique_ptr<Conn> conn,
                     std::unique_ptr<ResponseParser> parser, bool pooled, Url url)
      : client_(std::move(client)), pool_(std::move(pool)), conn_(std::move(conn)), parser_(std::move(parser)),
        pooled_(pooled), url_(std::move(url)), status_(parser_->status()), headers_(parser_->TakeHeaders()) {}

  ~ResponseStreamImpl() override { Finish(false); }

  int status() const override { return status_; }
  const Headers& headers() const override { return headers_; }

  // The body, already read with the header (see Open).
  void Prefetched(std::string body) { prefetched_ = std::move(body); }

  asio::awaitable<absl::StatusOr<std::string>> Read(Duration timeout) override {
    if (prefetched_) {
      std::string body = std::move(*prefetched_);
      prefetched_.reset();
      if (parser_->is_done()) Finish(parser_->keep_alive());
      if (!body.empty()) co_return body;
    }
    if (!conn_) co_return std::string();
    if (parser_->is_done()) {
      Finish(parser_->keep_alive());
      co_return std::string();
    }
    if (conn_->RunsOn(co_await asio::this_coro::executor)) co_return co_await ReadOn(timeout);
    co_return co_await asio::co_spawn(conn_->strand, ReadOn(timeout), asio::use_awaitable);
  }

  std::optional<std::string> TakeBody() override {
    if (!prefetched_ || !parser_->is_done()) return std::nullopt;
    std::string body = std::move(*prefetched_);
    prefetched_.reset();
    Finish(parser_->keep_alive());
    return body;
  }

  void Close() override { Finish(false); }

 private:
  template <typename S>
  asio::awaitable<absl::StatusOr<std::string>> ReadFrom(S& stream, Duration timeout) {
    // A chunk is what one read brings (a read takes at most 64 KiB), with what was already buffered.
    std::string chunk;
    const ResponseParser::BodyTo into_chunk(*parser_, &chunk);
    for (;;) {
      if (timeout > Duration::zero()) {
        conn_->lowest().expires_after(timeout);
      } else {
        conn_->lowest().expires_never();
      }
      auto [ec, n] = co_await http::async_read_some(stream, conn_->buffer, *parser_, kTuple);
      if (ec == http::error::need_buffer) ec = {};
      if (ec) {
        if (ec == beast::error::timeout) co_return absl::DeadlineExceededError("reading the stream timed out");
        co_return absl::UnavailableError(absl::StrCat("the stream from ", url_.Authority(), " broke: ", ec.message()));
      }
      if (!chunk.empty()) co_return chunk;
      if (parser_->is_done()) co_return std::string();
    }
  }

  asio::awaitable<absl::StatusOr<std::string>> ReadOn(Duration timeout) {
    // (if/else, not `?:` around co_await: GCC 12 destroys such temporaries twice.)
    absl::StatusOr<std::string> r = absl::UnknownError("unread");
    if (conn_->tls) {
      r = co_await ReadFrom(*conn_->tls, timeout);
    } else {
      r = co_await ReadFrom(*conn_->plain, timeout);
    }
    if (!r.ok()) {
      Finish(false);
    } else if (r->empty()) {
      Finish(parser_->keep_alive());
    }
    co_return r;
  }

  void Finish(bool reusable) {
    if (!conn_) return;
    if (pooled_) {
      client_->Release(*pool_, std::move(conn_), reusable && parser_->is_done());
    } else {
      conn_->Close();
      conn_.reset();
    }
  }

  std::shared_ptr<internal::ClientImpl> client_;
  std::shared_ptr<Pool> pool_;
  std::unique_ptr<Conn> conn_;
  std::unique_ptr<ResponseParser> parser_;
  bool pooled_;
  Url url_;
  int status_ = 0;
  Headers headers_;
  std::optional<std::string> prefetched_;
};

}  // namespace

asio::awaitable<absl::StatusOr<std::unique_ptr<ResponseStream>>> internal::ClientImpl::Open(const Url& url,
                                                                                      const Request& request,
                                                                                      const Endpoint& endpoint,
                                                                                      StreamOptions options) {
  auto pool = PoolFor(url, endpoint);
  auto req = BuildRequest(url, *pool, request);
  if (!req.ok()) co_return req.status();
  bool fresh = false;
  for (int attempt = 0; attempt < 2; ++attempt) {
    std::unique_ptr<Conn> conn;
    if (options.long_lived) {
      auto c = co_await Connect(pool);
      if (!c.ok()) co_return MarkNotSent(c.status());
      conn = std::move(*c);
    } else {
      if (!fresh) conn = TakeIdle(*pool, co_await asio::this_coro::executor);  // (most often: no wait)
      if (!conn) {
        auto c = co_await Acquire(pool, fresh);
        if (!c.ok()) co_return c.status();
        conn = std::move(*c);
      }
    }
    auto parser = std::make_unique<ResponseParser>();
    parser->header_limit(static_cast<uint32_t>(opt_.max_response_header_bytes));
    parser->body_limit(boost::none);  // streams are bounded by their reader, chunk by chunk
    struct HeaderResult {
      absl::Status status;
      bool retry_on_fresh = false;
      std::optional<std::string> body;  // the whole body, when it was small, sized and not a stream
    };
    auto read_header = [&](auto& stream) -> asio::awaitable<HeaderResult> {
      conn->lowest().expires_after(opt_.response_timeout);
      internal::WriteProgress w = internal::WriteNow(stream, req->head, *req->body);
      if (!w.done) {
        auto [ec, n] = co_await internal::WriteRest(stream, req->head, *req->body, w.written);
        w.ec = ec;
      }
      const beast::error_code wec = w.ec;
      if (wec) {
        co_return HeaderResult{Failure(wec, url, "sending the request"), conn->reused && IsStaleConnectionError(wec),
                               std::nullopt};
      }
      auto [rec, rn] = co_await http::async_read_header(stream, conn->buffer, *parser, kTuple);
      if (rec) {
        conn->lowest().expires_never();
        co_return HeaderResult{Failure(rec, url, "reading the response"),
                               conn->reused && rn == 0 && IsStaleConnectionError(rec), std::nullopt};
      }
      // A small body of known length that is not an event stream is read here, in the same trip to the
      // connection's strand (an answer to a POST, most of the time), not by a second one from Read().
      HeaderResult ok{absl::OkStatus(), false, std::nullopt};
      const auto length = parser->content_length();
      const std::string_view type = parser->headers().Get("Content-Type").value_or("");
      if (!options.long_lived && length && *length <= kPrefetchLimit &&
          type.find("text/event-stream") == std::string_view::npos) {
        std::string body;
        body.reserve(static_cast<size_t>(*length));
        const ResponseParser::BodyTo into_body(*parser, &body);
        // What came in with the header is parsed here and now (most often the whole body); only the
        // rest is read, which saves an asynchronous step that would complete at once.
        if (const auto ec = internal::ParseBuffered(*parser, conn->buffer, /*header_only=*/false)) {
          conn->lowest().expires_never();
          co_return HeaderResult{Failure(ec, url, "reading the response"), false, std::nullopt};
        }
        while (!parser->is_done()) {
          auto [ec, n] = co_await http::async_read_some(stream, conn->buffer, *parser, kTuple);
          if (ec == http::error::need_buffer) ec = {};
          if (ec) {
            conn->lowest().expires_never();
            co_return HeaderResult{Failure(ec, url, "reading the response"), false, std::nullopt};
          }
        }
        ok.body = std::move(body);
      }
      conn->lowest().expires_never();
      co_return ok;
    };
    HeaderResult hr;
    if (!conn->RunsOn(co_await asio::this_coro::executor)) {
      auto on_conn = [&]() -> asio::awaitable<HeaderResult> {
        if (conn->tls) co_return co_await read_header(*conn->tls);
        co_return co_await read_header(*conn->plain);
      };
      hr = co_await asio::co_spawn(conn->strand, on_conn, asio::use_awaitable);
    } else if (conn->tls) {
      hr = co_await read_header(*conn->tls);
    } else {
      hr = co_await read_header(*conn->plain);
    }
    if (!hr.status.ok()) {
      if (options.long_lived) {
        conn->Close();
      } else {
        Release(*pool, std::move(conn), false);
      }
      if (hr.retry_on_fresh && attempt == 0) {
        fresh = true;
        continue;
      }
      co_return hr.status;
    }
    auto stream = std::make_unique<ResponseStreamImpl>(shared_from_this(), pool, std::move(conn), std::move(parser),
                                                       !options.long_lived, url);
    if (hr.body) stream->Prefetched(std::move(*hr.body));
    co_return std::unique_ptr<ResponseStream>(std::move(stream));
  }
  co_return absl::UnavailableError("unreachable");
}

// --- public wrapper -------------------------------------------------------------------------------------

HttpClient::HttpClient(asio::any_io_executor executor, ClientOptions options)
    : impl_(std::make_shared<internal::ClientImpl>(std::move(executor), options)) {}

HttpClient::~HttpClient() = default;

asio::awaitable<absl::StatusOr<Response>> HttpClient::Send(const Url& url, Request request, const Endpoint& endpoint,
                                                           Duration timeout) {
  return impl_->Send(url, std::move(request), endpoint, timeout);
}

asio::awaitable<absl::StatusOr<std::unique_ptr<ResponseStream>>> HttpClient::Open(const Url& url, const Request& request,
                                                                                 const Endpoint& endpoint,
                                                                                 StreamOptions options) {
  return impl_->Open(url, request, endpoint, options);
}

absl::Status MarkNotSent(absl::Status status) {
  if (!status.ok()) status.SetPayload(kNotSentPayload, absl::Cord("1"));
  return status;
}

bool WasNotSent(const absl::Status& status) { return status.GetPayload(kNotSentPayload).has_value(); }

absl::Status CopyNotSentMark(const absl::Status& from, absl::Status to) {
  return WasNotSent(from) ? MarkNotSent(std::move(to)) : to;
}

absl::Status HttpClient::CheckCaBundle(const std::string& path) {
  auto count = AddCaBundle(nullptr, path);
  return count.ok() ? absl::OkStatus() : count.status();
}

PoolStats HttpClient::Stats(const Url& url, const Endpoint& endpoint) const { return impl_->Stats(url, endpoint); }

}  // namespace vmcp::transport
