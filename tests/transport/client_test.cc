// The HTTP client against real servers on loopback: connection reuse, the pool cap under load, TLS with
// a private CA (trusted through the backend's bundle; refused without it, with the wrong CA, for the
// wrong host name and when expired, each saying which), bad bundles failing one backend only,
// redirects not followed, fragments never sent, streamed responses, stale-connection retry, timeouts,
// connections kept per caller io_context, connections not watched for writing while they wait to read.

#include "transport/client.h"

#include <gtest/gtest.h>

#include <atomic>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <utility>
#include <vector>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "tests/transport/test_certs.h"
#include "tests/transport/test_io.h"
#include "transport/server.h"
#include "transport/sse.h"

namespace vmcp::transport {
namespace {

using namespace std::chrono_literals;
namespace asio = boost::asio;
using testing::IoThread;
using testing::ShutDownTogether;
using testing::TempDir;
using testing::TestCa;

asio::awaitable<void> Echo(Exchange& ex) {
  Response r;
  r.body = ex.request().method + " " + ex.request().target + " " + ex.request().body;
  co_await ex.Respond(std::move(r));
}

std::unique_ptr<HttpServer> StartServer(ServerOptions opt, Handler handler) {
  auto server = std::make_unique<HttpServer>(std::move(opt), std::move(handler));
  auto port = server->Start();
  EXPECT_TRUE(port.ok()) << port.status();
  return server;
}

Url UrlFor(const std::string& text) {
  auto url = ParseUrl(text);
  EXPECT_TRUE(url.ok()) << url.status();
  return *url;
}

// A server of this test on loopback.
Url LocalUrl(uint16_t port, const std::string& path = "/mcp") {
  return UrlFor("http://127.0.0.1:" + std::to_string(port) + path);
}

Request Post(std::string body) {
  Request r;
  r.method = "POST";
  r.headers.Set("Content-Type", "application/json");
  r.body = std::move(body);
  return r;
}

TEST(Url, ParsesWhatBackendsUse) {
  Url u = UrlFor("https://MCP.Example.com:8443/v1/mcp?x=1#frag");
  EXPECT_TRUE(u.tls);
  EXPECT_EQ(u.host, "mcp.example.com");
  EXPECT_EQ(u.port, 8443);
  EXPECT_EQ(u.target, "/v1/mcp?x=1");  // the fragment is dropped
  EXPECT_EQ(UrlFor("http://10.0.0.1").port, 80);
  EXPECT_EQ(UrlFor("http://10.0.0.1").target, "/");
  EXPECT_EQ(UrlFor("https://[::1]:9/x").host, "::1");
  EXPECT_EQ(UrlFor("https://[::1]:9/x").Authority(), "[::1]:9");
  EXPECT_EQ(UrlFor("http://user:pw@h:1/").host, "h");
  EXPECT_FALSE(ParseUrl("ftp://h/").ok());
  EXPECT_FALSE(ParseUrl("/relative").ok());
  EXPECT_FALSE(ParseUrl("http://h:0/").ok());
  EXPECT_FALSE(ParseUrl("http://h:99999/").ok());
  // The legacy SSE endpoint event carries a relative URL.
  const Url base = UrlFor("http://proxy.ns.svc:8080/sse#legacy");
  EXPECT_EQ(ResolveUrl(base, "/message?sessionId=abc")->ToString(), "http://proxy.ns.svc:8080/message?sessionId=abc");
  EXPECT_EQ(ResolveUrl(base, "message?sessionId=abc")->ToString(), "http://proxy.ns.svc:8080/message?sessionId=abc");
  EXPECT_EQ(ResolveUrl(UrlFor("http://h/a/b/sse"), "msg")->target, "/a/b/msg");
  EXPECT_EQ(ResolveUrl(base, "https://other:1/m")->ToString(), "https://other:1/m");
}

std::vector<std::string> Listed(const Headers& h) {
  std::vector<std::string> out;
  for (Headers::Field f : h.fields()) out.push_back(std::string(f.name) + ": " + std::string(f.value));
  return out;
}

// Header lists: order kept, names case-insensitive, repeats kept by Add and replaced by Set.
TEST(Headers, KeepOrderAndCompareNamesWithoutCase) {
  Headers h;
  EXPECT_TRUE(h.empty());
  h.Add("Accept", "application/json");
  h.Add("X-Trace", "a");
  h.Add("x-trace", "b");
  h.Set("Content-Type", "text/plain");
  EXPECT_EQ(h.Get("ACCEPT"), "application/json");
  EXPECT_EQ(h.Get("X-TRACE"), "a");  // the first
  EXPECT_FALSE(h.Get("X-Trac").has_value());
  EXPECT_FALSE(h.Get("X-Traces").has_value());
  EXPECT_EQ(Listed(h), (std::vector<std::string>{"Accept: application/json", "X-Trace: a", "x-trace: b", "Content-Type: text/plain"}));
  h.Set("X-Trace", "c");  // both replaced, by one at the end
  EXPECT_EQ(Listed(h), (std::vector<std::string>{"Accept: application/json", "Content-Type: text/plain", "X-Trace: c"}));
  h.Remove("accept");
  EXPECT_FALSE(h.Has("Accept"));
  EXPECT_EQ(h.size(), 2u);
  h.Add("Empty", "");
  EXPECT_EQ(h.Get("empty"), "");
  Headers copy = h;
  h.Set("X-Trace", "d");
  EXPECT_EQ(copy.Get("X-Trace"), "c");
  EXPECT_EQ(h.Get("X-Trace"), "d");
}

// A field set from the same list's own text (a value copied under another name, or a field set to
// itself) is copied before the list's text can move, and a list updated many times stays small.
TEST(Headers, FieldsSetFromTheirOwnTextAndManyUpdates) {
  Headers h;
  h.Add("Authorization", std::string(200, 'k'));
  for (int i = 0; i < 50; ++i) h.Add("X-" + std::to_string(i), std::string(40, static_cast<char>('a' + i % 26)));
  h.Add("X-Copy", *h.Get("Authorization"));  // the append outgrows the text it copies from
  EXPECT_EQ(h.Get("X-Copy"), std::string(200, 'k'));
  h.Set("X-7", *h.Get("X-7"));  // replaced by itself
  EXPECT_EQ(h.Get("X-7"), std::string(40, 'h'));
  const std::string_view name = (*h.fields().begin()).name;  // "Authorization", viewed in place
  h.Set(name, "replaced");
  EXPECT_EQ(h.Get("authorization"), "replaced");
  for (int i = 0; i < 100000; ++i) h.Set("X-Counter", std::to_string(i));
  EXPECT_EQ(h.Get("X-Counter"), "99999");
  EXPECT_EQ(h.Get("X-49"), std::string(40, 'x'));
  EXPECT_EQ(h.size(), 53u);
  EXPECT_LT(h.text_bytes(), 8192u) << "removed fields' text is dropped once it outweighs the rest";
}

// The field checks every head written goes through (and config and outgoing auth use): every byte at
// every position of values from 1 to 20 bytes (the eight-byte steps and the tail), and names.
TEST(HttpFields, ValuesAndNamesAreCheckedByteForByte) {
  for (size_t len = 1; len <= 20; ++len) {
    for (size_t at = 0; at < len; ++at) {
      for (int b = 0; b < 256; ++b) {
        std::string value(len, 'v');
        value[at] = static_cast<char>(b);
        const bool allowed = b == '\t' || (b >= 0x20 && b != 0x7f);
        ASSERT_EQ(IsFieldValue(value), allowed) << "byte " << b << " at " << at << " of " << len;
      }
    }
  }
  EXPECT_TRUE(IsFieldValue(""));
  EXPECT_TRUE(IsFieldName("X-Api_Key.v1!#$%&'*+^`|~"));
  EXPECT_FALSE(IsFieldName(""));
  for (const char* bad : {"Bad Name", "a:b", "x\r", "(x)", "\xc3\xa9", "a/b", "a\"b"}) EXPECT_FALSE(IsFieldName(bad)) << bad;
}

TEST(Client, SequentialRequestsReuseOneConnection) {
  auto server = StartServer({}, Echo);
  IoThread io;
  HttpClient client(io.executor());
  const Url url = LocalUrl(server->port());
  for (int i = 0; i < 100; ++i) {
    auto r = io.Run(client.Send(url, Post("n" + std::to_string(i)), {}));
    ASSERT_TRUE(r.ok()) << r.status();
    ASSERT_EQ(r->status, 200);
    ASSERT_EQ(r->body, "POST /mcp n" + std::to_string(i));
  }
  const PoolStats stats = client.Stats(url, {});
  EXPECT_EQ(stats.connections_opened, 1u);
  EXPECT_EQ(stats.connections_reused, 99u);
  EXPECT_EQ(server->stats().connections_accepted, 1u);
  EXPECT_EQ(server->stats().requests, 100u);
}

// Every socket registration of this process's epoll instances, as /proc reports it: the registered
// file descriptor and its event mask.
std::vector<std::pair<int, unsigned>> EpollRegistrations() {
  std::vector<std::pair<int, unsigned>> out;
  for (const auto& entry : std::filesystem::directory_iterator("/proc/self/fd")) {
    std::error_code ec;
    if (std::filesystem::read_symlink(entry.path(), ec).string() != "anon_inode:[eventpoll]") continue;
    std::ifstream info("/proc/self/fdinfo/" + entry.path().filename().string());
    for (std::string line; std::getline(info, line);) {
      int fd = -1;
      unsigned events = 0;
      if (std::sscanf(line.c_str(), "tfd: %d events: %x", &fd, &events) != 2) continue;
      if (std::filesystem::read_symlink("/proc/self/fd/" + std::to_string(fd), ec).string().rfind("socket:", 0) == 0) {
        out.emplace_back(fd, events);
      }
    }
  }
  return out;
}

// A pooled connection waits to read. Write interest left over from its connect would queue a wasted
// writable event in the reactor with every response that arrives.
TEST(Client, IdlePooledConnectionIsNotWatchedForWriting) {
  auto server = StartServer({}, Echo);
  IoThread io;
  HttpClient client(io.executor());
  const Url url = LocalUrl(server->port());
  for (int i = 0; i < 3; ++i) {
    auto r = io.Run(client.Send(url, Post("x"), {}));
    ASSERT_TRUE(r.ok()) << r.status();
  }
  ASSERT_EQ(client.Stats(url, {}).connections_opened, 1u);
  const auto registrations = EpollRegistrations();
  // The listener, the accepted connection and the client's connection at least.
  ASSERT_GE(registrations.size(), 3u);
  for (const auto& [fd, events] : registrations) {
    EXPECT_EQ(events & 0x4u, 0u) << "socket fd " << fd << " is registered for writing (events 0x" << std::hex << events << ")";
  }
}

// An idle connection past the idle timeout is closed when the next request looks for one, never
// reused; within it, connections are reused.
TEST(Client, IdleConnectionsPastTheIdleTimeoutAreNotReused) {
  auto server = StartServer({}, Echo);
  IoThread io;
  ClientOptions expiring;
  expiring.idle_timeout = std::chrono::nanoseconds(1);  // expired by the time the next request starts
  HttpClient client(io.executor(), expiring);
  HttpClient keeping(io.executor());
  const Url url = LocalUrl(server->port());
  for (int i = 0; i < 5; ++i) {
    auto r = io.Run(client.Send(url, Post("x"), {}));
    ASSERT_TRUE(r.ok()) << r.status();
    auto k = io.Run(keeping.Send(url, Post("y"), {}));
    ASSERT_TRUE(k.ok()) << k.status();
  }
  EXPECT_EQ(client.Stats(url, {}).connections_opened, 5u);
  EXPECT_EQ(client.Stats(url, {}).connections_reused, 0u);
  EXPECT_LE(client.Stats(url, {}).connections_open, 1u);  // the expired ones were closed
  EXPECT_EQ(keeping.Stats(url, {}).connections_opened, 1u);
  EXPECT_EQ(keeping.Stats(url, {}).connections_reused, 4u);
}

// A connection's I/O runs on the io_context it was opened from: a caller on another io_context (another
// server thread, in the gateway) gets a connection of its own, unless the cap allows no new one.
TEST(Client, EachCallersIoContextKeepsItsOwnConnections) {
  auto server = StartServer({}, Echo);
  IoThread a;
  IoThread b;
  // (each thread may finish work that holds the other's executor: neither is destroyed before both stop)
  ShutDownTogether together({&a, &b});
  const Url url = LocalUrl(server->port());
  HttpClient client(a.executor());
  for (int i = 0; i < 10; ++i) {
    ASSERT_TRUE(a.Run(client.Send(url, Post("a"), {})).ok());
    ASSERT_TRUE(b.Run(client.Send(url, Post("b"), {})).ok());
  }
  PoolStats stats = client.Stats(url, {});
  EXPECT_EQ(stats.connections_opened, 2u);  // one per io_context, each reused from then on
  EXPECT_EQ(stats.connections_reused, 18u);

  ClientOptions capped;
  capped.max_connections_per_origin = 1;
  HttpClient one(a.executor(), capped);
  for (int i = 0; i < 10; ++i) {
    ASSERT_TRUE(a.Run(one.Send(url, Post("a"), {})).ok());
    ASSERT_TRUE(b.Run(one.Send(url, Post("b"), {})).ok());
  }
  stats = one.Stats(url, {});
  EXPECT_EQ(stats.connections_opened, 1u);  // at the cap, the other io_context's idle one is shared
  EXPECT_EQ(stats.connections_reused, 19u);
}

// The gateway calls its backends from the server thread its client's request came in on; such a call
// drives its connection's I/O itself, with no hop to the connection's strand. A body that comes with the
// header, one that needs many reads after it, and an event stream all arrive whole, and the one
// connection that thread opened is kept between them.
TEST(Client, CallsFromAServerThreadDriveTheirConnectionThemselves) {
  const std::string big(900 * 1024, 'b');  // under the prefetch limit, but far more than one read
  auto backend = StartServer({}, [&](Exchange& ex) -> asio::awaitable<void> {
    const std::string what = ex.request().body;
    if (what == "stream") {
      auto s = co_await ex.StartSse();
      if (!s.ok()) co_return;
      for (const char* data : {"one", "two"}) {
        SseEvent event;
        event.data = data;
        (*s)->Send(event);
      }
      (*s)->Close();
      co_return;
    }
    Response r;
    r.body = what == "big" ? big : what;
    co_await ex.Respond(std::move(r));
  });
  const Url url = LocalUrl(backend->port());
  std::unique_ptr<HttpServer> front;  // (outlives the client: the connection it opened lives on its thread)
  IoThread io;
  HttpClient client(io.executor());
  ServerOptions one_thread;
  one_thread.threads = 1;
  front = StartServer(one_thread, [&](Exchange& ex) -> asio::awaitable<void> {
    std::string report;
    const Endpoint direct;
    for (const char* what : {"small", "big", "stream", "small"}) {
      // (named, not temporaries: GCC 12 mishandles class temporaries in a co_await's expression)
      Request open = Post(what);
      Request send = Post(what);
      std::string streamed;
      auto stream = co_await client.Open(url, std::move(open), direct);
      if (!stream.ok()) {
        streamed = std::string(stream.status().message());
      } else {
        for (;;) {
          auto chunk = co_await (*stream)->Read(5s);
          if (!chunk.ok()) {
            streamed = std::string(chunk.status().message());
            break;
          }
          if (chunk->empty()) break;
          streamed += *chunk;
        }
      }
      auto sent = co_await client.Send(url, std::move(send), direct);
      const std::string whole = sent.ok() ? sent->body : std::string(sent.status().message());
      report += std::string(what) + " " + (streamed == whole ? "same" : "differ") + " " +
                (what == std::string("big") ? std::to_string(whole.size()) : whole) + "|";
    }
    Response r;
    r.body = report;
    co_await ex.Respond(std::move(r));
  });
  auto r = io.Run(client.Send(LocalUrl(front->port(), "/"), Post(""), {}));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->body, "small same small|big same 921600|stream same data: one\n\ndata: two\n\n|small same small|");
  const PoolStats stats = client.Stats(url, {});
  EXPECT_EQ(stats.connections_opened, 1u);
  EXPECT_EQ(stats.connections_reused, 7u);
}

// A request body larger than the socket takes at once is sent whole, the rest as the server reads.
TEST(Client, RequestLargerThanTheSocketTakesAtOnceIsSentWhole) {
  std::string big;
  for (int i = 0; big.size() < 7 * 1024 * 1024; ++i) big += std::to_string(i) + ",";
  auto server = StartServer({}, [&](Exchange& ex) -> asio::awaitable<void> {
    Response r;
    r.body = ex.request().body == big ? "intact" : "damaged";
    co_await ex.Respond(std::move(r));
  });
  IoThread io;
  HttpClient client(io.executor());
  const Url url = LocalUrl(server->port());
  auto r = io.Run(client.Send(url, Post(big), {}));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->body, "intact");
}

TEST(Client, PoolCapHoldsUnderTwoHundredConcurrentRequests) {
  std::atomic<int> in_flight{0};
  std::atomic<int> max_in_flight{0};
  auto server = StartServer({}, [&](Exchange& ex) -> asio::awaitable<void> {
    const int now = ++in_flight;
    int seen = max_in_flight.load();
    while (now > seen && !max_in_flight.compare_exchange_weak(seen, now)) {
    }
    asio::steady_timer t(co_await asio::this_coro::executor);
    t.expires_after(5ms);
    co_await t.async_wait(asio::use_awaitable);
    --in_flight;
    co_await Echo(ex);
  });
  IoThread io(2);
  ClientOptions opt;
  opt.max_connections_per_origin = 8;
  HttpClient client(io.executor(), opt);
  const Url url = LocalUrl(server->port());
  std::vector<std::future<absl::StatusOr<Response>>> futures;
  for (int i = 0; i < 200; ++i) futures.push_back(io.Spawn(client.Send(url, Post(std::to_string(i)), {})));
  for (int i = 0; i < 200; ++i) {
    auto r = futures[i].get();
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_EQ(r->body, "POST /mcp " + std::to_string(i));  // each answer reaches its own caller
  }
  const PoolStats stats = client.Stats(url, {});
  EXPECT_LE(stats.max_connections_seen, 8u);
  EXPECT_GT(stats.waits, 0u);
  EXPECT_LE(server->stats().connections_accepted, 8u);
  EXPECT_LE(max_in_flight.load(), 8);
  EXPECT_EQ(server->stats().requests, 200u);
}

TEST(Client, RedirectsAreNotFollowed) {
  auto server = StartServer({}, [](Exchange& ex) -> asio::awaitable<void> {
    Response r;
    r.status = 302;
    r.headers.Set("Location", "http://evil.example.com/steal");
    co_await ex.Respond(std::move(r));
  });
  IoThread io;
  HttpClient client(io.executor());
  auto r = io.Run(client.Send(LocalUrl(server->port()), Post("{}"), {}));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->status, 302);
  EXPECT_EQ(server->stats().requests, 1u);
}

TEST(Client, FragmentIsNeverSentAndHostHeaderIsSet) {
  std::string seen_target, seen_host;
  auto server = StartServer({}, [&](Exchange& ex) -> asio::awaitable<void> {
    seen_target = ex.request().target;
    seen_host = std::string(ex.request().headers.Get("Host").value_or(""));
    co_await Echo(ex);
  });
  IoThread io;
  HttpClient client(io.executor());
  const std::string authority = "127.0.0.1:" + std::to_string(server->port());
  auto r = io.Run(client.Send(UrlFor("http://" + authority + "/sse?x=1#legacy-sse"), Request{}, {}));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(seen_target, "/sse?x=1");
  EXPECT_EQ(seen_host, authority);
}

// The request head is written from the Request: its fields as given, framing the client's own (the
// body's Content-Length, never the caller's, nor a Transfer-Encoding or Connection it set), a default
// User-Agent unless it has one. A field that could break the head is refused before anything is sent.
TEST(Client, RequestHeadIsFramedByTheClientAndBadFieldsAreNeverSent) {
  std::atomic<int> served{0};
  std::string seen_length, seen_agent, seen_te, seen_custom, seen_body;
  auto server = StartServer({}, [&](Exchange& ex) -> asio::awaitable<void> {
    ++served;
    const Headers& h = ex.request().headers;
    seen_length = std::string(h.Get("Content-Length").value_or(""));
    seen_agent = std::string(h.Get("User-Agent").value_or(""));
    seen_te = std::string(h.Get("Transfer-Encoding").value_or(""));
    seen_custom = std::string(h.Get("X-Custom").value_or(""));
    seen_body = ex.request().body;
    co_await Echo(ex);
  });
  IoThread io;
  HttpClient client(io.executor());
  const Url url = LocalUrl(server->port());

  Request framed = Post("{\"a\":1}");
  framed.headers.Set("Content-Length", "1");
  framed.headers.Set("Transfer-Encoding", "chunked");
  framed.headers.Set("Connection", "close");
  framed.headers.Set("X-Custom", "tab\tkept");
  auto r = io.Run(client.Send(url, std::move(framed), {}));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(seen_length, "7");
  EXPECT_EQ(seen_body, "{\"a\":1}");
  EXPECT_EQ(seen_te, "");
  EXPECT_EQ(seen_agent, "vmcp/0.1");
  EXPECT_EQ(seen_custom, "tab\tkept");

  Request named = Post("x");
  named.headers.Set("User-Agent", "mine/1");
  ASSERT_TRUE(io.Run(client.Send(url, std::move(named), {})).ok());
  EXPECT_EQ(seen_agent, "mine/1");
  EXPECT_EQ(served.load(), 2);

  for (const auto& [name, value] : std::vector<std::pair<std::string, std::string>>{
           {"X-Split", "a\r\nInjected: yes"}, {"X-Nul", std::string("a\0b", 3)}, {"Bad Name", "v"}, {"", "v"}}) {
    Request bad = Post("y");
    bad.headers.Add(name, value);
    auto refused = io.Run(client.Send(url, std::move(bad), {}));
    ASSERT_FALSE(refused.ok()) << name;
    EXPECT_EQ(refused.status().code(), absl::StatusCode::kInvalidArgument) << refused.status();
    EXPECT_TRUE(WasNotSent(refused.status())) << refused.status();
    auto opened = io.Run(client.Open(url, Post("z"), {}));  // (the connection is still good)
    ASSERT_TRUE(opened.ok()) << opened.status();
  }
  EXPECT_EQ(served.load(), 6);  // the good requests only
}

TEST(Client, StreamedResponseIsReadIncrementally) {
  std::promise<std::shared_ptr<SseStream>> opened;
  auto server = StartServer({}, [&](Exchange& ex) -> asio::awaitable<void> {
    auto s = co_await ex.StartSse();
    if (s.ok()) opened.set_value(*s);
  });
  IoThread io;
  HttpClient client(io.executor());
  const Url url = LocalUrl(server->port());
  Request get;
  get.headers.Set("Accept", "text/event-stream");
  auto stream = io.Run(client.Open(url, std::move(get), {}, {.long_lived = true}));
  ASSERT_TRUE(stream.ok()) << stream.status();
  EXPECT_EQ((*stream)->status(), 200);
  EXPECT_EQ((*stream)->headers().Get("Content-Type"), "text/event-stream");
  auto sse = opened.get_future().get();
  SseParser parser;
  std::vector<SseEvent> events;
  for (int i = 1; i <= 3; ++i) {
    ASSERT_TRUE(sse->Send({.id = std::to_string(i), .data = "event " + std::to_string(i), .has_id = true}));
    while (events.size() < static_cast<size_t>(i)) {
      auto chunk = io.Run((*stream)->Read(5s));
      ASSERT_TRUE(chunk.ok()) << chunk.status();
      ASSERT_FALSE(chunk->empty());
      ASSERT_TRUE(parser.Feed(*chunk, events).ok());
    }
    EXPECT_EQ(events.back().data, "event " + std::to_string(i));
  }
  sse->Close();
  for (;;) {  // the end of the body
    auto chunk = io.Run((*stream)->Read(5s));
    ASSERT_TRUE(chunk.ok()) << chunk.status();
    if (chunk->empty()) break;
  }
  EXPECT_EQ(parser.last_event_id(), "3");
  // A long-lived stream never took a pooled connection.
  EXPECT_EQ(client.Stats(url, {}).connections_opened, 0u);
}

TEST(Client, PooledStreamReturnsItsConnectionWhenTheBodyEnds) {
  auto server = StartServer({}, [](Exchange& ex) -> asio::awaitable<void> {
    if (ex.request().method == "POST") {
      auto s = co_await ex.StartSse();
      if (!s.ok()) co_return;
      (*s)->Send({.data = "{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{}}"});
      (*s)->Close();
      co_return;
    }
    co_await Echo(ex);
  });
  IoThread io;
  HttpClient client(io.executor());
  const Url url = LocalUrl(server->port());
  auto stream = io.Run(client.Open(url, Post("{}"), {}));
  ASSERT_TRUE(stream.ok()) << stream.status();
  std::string body;
  for (;;) {
    auto chunk = io.Run((*stream)->Read(5s));
    ASSERT_TRUE(chunk.ok()) << chunk.status();
    if (chunk->empty()) break;
    body += *chunk;
  }
  EXPECT_NE(body.find("\"result\""), std::string::npos);
  auto r = io.Run(client.Send(url, Request{}, {}));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(client.Stats(url, {}).connections_opened, 1u);
  EXPECT_EQ(server->stats().connections_accepted, 1u);
}

TEST(Client, ConnectionClosedByTheServerWhileIdleIsRetriedOnAFreshOne) {
  ServerOptions opt;
  auto server = StartServer(opt, Echo);
  const uint16_t port = server->port();
  IoThread io;
  HttpClient client(io.executor());
  const Url url = LocalUrl(port);
  ASSERT_TRUE(io.Run(client.Send(url, Post("a"), {})).ok());
  // The backend restarts: the pooled connection is now dead.
  server->Stop(1s);
  opt.port = port;
  server = StartServer(opt, Echo);
  auto r = io.Run(client.Send(url, Post("b"), {}));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->body, "POST /mcp b");
  EXPECT_EQ(client.Stats(url, {}).connections_opened, 2u);
}

TEST(Client, ResponseTimeoutSaysWhatTimedOut) {
  auto server = StartServer({}, [](Exchange& ex) -> asio::awaitable<void> {
    asio::steady_timer t(co_await asio::this_coro::executor);
    t.expires_after(3s);
    co_await t.async_wait(asio::as_tuple(asio::use_awaitable));
    co_await Echo(ex);
  });
  IoThread io;
  HttpClient client(io.executor());
  const std::string authority = "127.0.0.1:" + std::to_string(server->port());
  auto r = io.Run(client.Send(UrlFor("http://" + authority + "/slow"), Post("{}"), {}, 200ms));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_EQ(r.status().message(), "reading the response to " + authority + " timed out");
  server->Stop(0s);
}

TEST(Client, ConnectionRefusedIsAClearError) {
  uint16_t port;
  {
    auto server = StartServer({}, Echo);
    port = server->port();
  }
  IoThread io;
  HttpClient client(io.executor());
  auto r = io.Run(client.Send(LocalUrl(port, "/"), Request{}, {}));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message(), "cannot connect to 127.0.0.1:" + std::to_string(port) + ": Connection refused");
}

TEST(Client, OversizeResponseBodyIsRefused) {
  auto server = StartServer({}, [](Exchange& ex) -> asio::awaitable<void> {
    Response big{200, {}, std::string(64 * 1024, 'x')};
    co_await ex.Respond(std::move(big));
  });
  IoThread io;
  ClientOptions opt;
  opt.max_response_body_bytes = 1024;
  HttpClient client(io.executor(), opt);
  auto r = io.Run(client.Send(LocalUrl(server->port(), "/"), Request{}, {}));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kResourceExhausted);
}

// --- TLS with a private CA -------------------------------------------------------------------------

class ClientTls : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    ca_ = new TestCa(TempDir(), "corp");
    other_ca_ = new TestCa(TempDir(), "other");
    good_ = ca_->Issue("good", {"localhost"}, {"127.0.0.1"});
    wrong_host_ = ca_->Issue("wronghost", {"mcp.elsewhere.example"}, {});
    expired_ = ca_->Issue("expired", {"localhost"}, {"127.0.0.1"}, -2 * 86400, -86400);
  }
  static void TearDownTestSuite() {
    delete ca_;
    delete other_ca_;
  }

  std::unique_ptr<HttpServer> TlsServer(const testing::CertFiles& cert) {
    ServerOptions opt;
    opt.tls = ServerTlsOptions{cert.cert_path, cert.key_path};
    return StartServer(opt, Echo);
  }

  absl::StatusOr<Response> Get(HttpClient& client, const std::string& host, uint16_t port, const std::string& bundle) {
    return io_.Run(client.Send(UrlFor("https://" + host + ":" + std::to_string(port) + "/mcp"), Post("tls"),
                               Endpoint{bundle}));
  }

  static TestCa* ca_;
  static TestCa* other_ca_;
  static testing::CertFiles good_, wrong_host_, expired_;
  IoThread io_;
};

TestCa* ClientTls::ca_ = nullptr;
TestCa* ClientTls::other_ca_ = nullptr;
testing::CertFiles ClientTls::good_, ClientTls::wrong_host_, ClientTls::expired_;

TEST_F(ClientTls, PrivateCaBackendIsTrustedThroughItsBundle) {
  auto server = TlsServer(good_);
  HttpClient client(io_.executor());
  for (const std::string host : {"localhost", "127.0.0.1"}) {
    auto r = Get(client, host, server->port(), ca_->cert_path());
    ASSERT_TRUE(r.ok()) << host << ": " << r.status();
    EXPECT_EQ(r->body, "POST /mcp tls");
  }
}

TEST_F(ClientTls, BundleWithSeveralCertificatesIsAccepted) {
  const std::string bundle = TempDir() + "/multi.pem";
  {
    std::ofstream out(bundle);
    out << std::ifstream(other_ca_->cert_path()).rdbuf() << std::ifstream(ca_->cert_path()).rdbuf();
  }
  auto server = TlsServer(good_);
  HttpClient client(io_.executor());
  auto r = Get(client, "localhost", server->port(), bundle);
  ASSERT_TRUE(r.ok()) << r.status();
}

TEST_F(ClientTls, RejectedWithoutTheBundle) {
  auto server = TlsServer(good_);
  HttpClient client(io_.executor());
  auto r = Get(client, "localhost", server->port(), "");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message(), "TLS handshake with localhost:" + std::to_string(server->port()) +
                                      " failed: certificate verify failed: unable to get local issuer certificate");
}

TEST_F(ClientTls, RejectedWithTheWrongCa) {
  auto server = TlsServer(good_);
  HttpClient client(io_.executor());
  auto r = Get(client, "localhost", server->port(), other_ca_->cert_path());
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("certificate verify failed: unable to get local issuer certificate"),
            std::string::npos)
      << r.status();
}

TEST_F(ClientTls, RejectedForTheWrongHostName) {
  auto server = TlsServer(wrong_host_);
  HttpClient client(io_.executor());
  auto r = Get(client, "localhost", server->port(), ca_->cert_path());
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("certificate verify failed: hostname mismatch"), std::string::npos) << r.status();
  auto by_ip = Get(client, "127.0.0.1", server->port(), ca_->cert_path());
  ASSERT_FALSE(by_ip.ok());
  EXPECT_NE(by_ip.status().message().find("certificate verify failed: IP address mismatch"), std::string::npos)
      << by_ip.status();
}

TEST_F(ClientTls, RejectedWhenExpired) {
  auto server = TlsServer(expired_);
  HttpClient client(io_.executor());
  auto r = Get(client, "localhost", server->port(), ca_->cert_path());
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("certificate verify failed: certificate has expired"), std::string::npos)
      << r.status();
}

TEST_F(ClientTls, BadBundleFailsThatBackendOnly) {
  auto server = TlsServer(good_);
  auto plain = StartServer({}, Echo);
  HttpClient client(io_.executor());
  const std::string garbage = TempDir() + "/garbage.pem";
  std::ofstream(garbage) << "this is not a certificate\n";

  auto missing = Get(client, "localhost", server->port(), "/nonexistent/ca.crt");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().message(), "cannot read CA bundle /nonexistent/ca.crt: No such file or directory");
  auto bad = Get(client, "localhost", server->port(), garbage);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().message(), "CA bundle " + garbage + " holds no PEM certificate");
  EXPECT_FALSE(HttpClient::CheckCaBundle(garbage).ok());
  EXPECT_TRUE(HttpClient::CheckCaBundle(ca_->cert_path()).ok());

  // The same client still reaches other backends.
  auto ok = io_.Run(client.Send(LocalUrl(plain->port(), "/"), Request{}, {}));
  ASSERT_TRUE(ok.ok()) << ok.status();
  auto good = Get(client, "localhost", server->port(), ca_->cert_path());
  ASSERT_TRUE(good.ok()) << good.status();
}

TEST_F(ClientTls, TlsConnectionsAreReused) {
  auto server = TlsServer(good_);
  HttpClient client(io_.executor());
  for (int i = 0; i < 20; ++i) ASSERT_TRUE(Get(client, "localhost", server->port(), ca_->cert_path()).ok());
  EXPECT_EQ(server->stats().connections_accepted, 1u);
}

}  // namespace
}  // namespace vmcp::transport
