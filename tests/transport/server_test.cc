// The HTTP/1.1 server on real loopback sockets: keep-alive, the limits (413, 431, 503, slow headers),
// SSE streams (events, heartbeats, prompt disconnect detection, the slow consumer cut with a bounded
// queue), graceful shutdown, and connections kept each on one of the server's threads.

#include "transport/server.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <ctime>
#include <functional>
#include <future>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "tests/transport/test_io.h"
#include "transport/sse.h"

namespace vmcp::transport {
namespace {

using namespace std::chrono_literals;
using testing::RawClient;
namespace asio = boost::asio;

asio::awaitable<void> Echo(Exchange& ex) {
  Response r;
  r.headers.Set("Content-Type", "text/plain");
  r.body = ex.request().method + " " + ex.request().target + " " + std::to_string(ex.request().body.size());
  co_await ex.Respond(std::move(r));
}

asio::awaitable<void> Call(std::function<void()> fn) {
  fn();
  co_return;
}

std::unique_ptr<HttpServer> StartServer(ServerOptions opt, Handler handler) {
  auto server = std::make_unique<HttpServer>(std::move(opt), std::move(handler));
  auto port = server->Start();
  EXPECT_TRUE(port.ok()) << port.status();
  return server;
}

TEST(Server, KeepAliveServesSeveralRequestsOnOneConnection) {
  auto server = StartServer({}, Echo);
  RawClient c(server->port());
  for (int i = 0; i < 3; ++i) {
    c.buffer().clear();
    c.Write("POST /mcp?x=" + std::to_string(i) + " HTTP/1.1\r\nHost: localhost\r\nContent-Length: 5\r\n\r\nhello");
    const std::string got = c.ReadUntil(" 5");
    EXPECT_NE(got.find("HTTP/1.1 200 OK"), std::string::npos) << got;
    EXPECT_NE(got.find("POST /mcp?x=" + std::to_string(i) + " 5"), std::string::npos) << got;
  }
  EXPECT_EQ(server->stats().connections_accepted, 1u);
  EXPECT_EQ(server->stats().requests, 3u);
}

// What is already buffered is parsed at once; what is not is read. A body sent only after the server's
// 100 Continue is read after its header; two requests that came in one segment are answered in order.
TEST(Server, RequestsAreReadWholeWhetherBufferedOrStillToCome) {
  auto server = StartServer({}, Echo);
  RawClient c(server->port());
  c.Write("POST /later HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n");
  EXPECT_NE(c.ReadUntil("\r\n\r\n").find("HTTP/1.1 100 Continue"), std::string::npos);
  c.buffer().clear();
  c.Write("hello");
  EXPECT_NE(c.ReadUntil("POST /later 5").find("HTTP/1.1 200 OK"), std::string::npos);
  c.buffer().clear();
  c.Write("POST /one HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc"
          "POST /two HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nde\r\n0\r\n\r\n");
  const std::string got = c.ReadUntil("POST /two 2");
  const size_t one = got.find("POST /one 3");
  EXPECT_NE(one, std::string::npos) << got;
  EXPECT_LT(one, got.find("POST /two 2")) << got;
  EXPECT_EQ(server->stats().connections_accepted, 1u);
  EXPECT_EQ(server->stats().requests, 3u);
}

// Whether a connection is kept follows the request: HTTP/1.1 keeps it unless the client asks to close,
// HTTP/1.0 closes it unless the client asks to keep it. The request's fields reach the handler in
// their order, with their names as sent.
TEST(Server, KeepAliveFollowsTheRequestsVersionAndConnectionField) {
  auto server = StartServer({}, [](Exchange& ex) -> asio::awaitable<void> {
    Response r;
    for (const auto& f : ex.request().headers.fields()) r.body += std::string(f.name) + "=" + std::string(f.value) + ";";
    co_await ex.Respond(std::move(r));
  });
  for (const auto& [request, kept] : std::vector<std::pair<std::string, bool>>{
           {"GET / HTTP/1.1\r\nHost: x\r\nX-Two: 2\r\nx-one: 1\r\n\r\n", true},
           {"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", false},
           {"GET / HTTP/1.0\r\nHost: x\r\n\r\n", false},
           {"GET / HTTP/1.0\r\nHost: x\r\nConnection: keep-alive\r\n\r\n", true}}) {
    RawClient c(server->port());
    c.Write(request);
    const std::string got = kept ? c.ReadUntil("\r\n\r\nHost=x;") : c.ReadToEof();
    EXPECT_EQ(got.find("Connection: close") == std::string::npos, kept) << got;
    if (request.find("X-Two") != std::string::npos) {
      EXPECT_NE(c.ReadUntil("x-one=1;").find("Host=x;X-Two=2;x-one=1;"), std::string::npos) << c.buffer();
    }
  }
}

// A response is offered to the socket whole at once; what the socket cannot take then (more than its
// send buffer, while the peer is not reading) is written as the peer reads, and arrives intact.
TEST(Server, ResponseLargerThanTheSocketTakesAtOnceArrivesWhole) {
  const std::string big = std::string(12 * 1024 * 1024, 'x') + "END";
  auto server = StartServer({}, [&](Exchange& ex) -> asio::awaitable<void> {
    Response r;
    r.body = big;
    co_await ex.Respond(std::move(r));
  });
  RawClient c(server->port());
  c.Write("GET /big HTTP/1.1\r\nHost: x\r\n\r\n");
  const std::string got = c.ReadUntil("END");
  const size_t body = got.find("\r\n\r\n");
  ASSERT_NE(body, std::string::npos);
  EXPECT_NE(got.find("Content-Length: " + std::to_string(big.size())), std::string::npos);
  EXPECT_EQ(got.substr(body + 4), big);
}

// One io_context per server thread: connections are spread over the threads at accept, and everything
// a connection's requests run (what they spawn on their executor included) stays on its thread.
TEST(Server, ConnectionsAreSpreadOverItsThreadsAndEachStaysOnOne) {
  std::mutex mu;
  std::map<std::string, std::set<std::thread::id>> threads_of;  // by connection (the x query value)
  ServerOptions opt;
  opt.threads = 2;
  auto server = StartServer(opt, [&](Exchange& ex) -> asio::awaitable<void> {
    const std::string conn = std::string(ex.request().QueryParam("x").value_or(""));
    std::function<void()> record = [&, conn] {
      std::lock_guard lock(mu);
      threads_of[conn].insert(std::this_thread::get_id());
    };
    record();
    // Work the request starts on its own executor runs on the same thread.
    co_await asio::co_spawn(co_await asio::this_coro::executor, Call(record), asio::use_awaitable);
    co_await Echo(ex);
  });
  std::vector<std::unique_ptr<RawClient>> clients;
  for (int c = 0; c < 4; ++c) clients.push_back(std::make_unique<RawClient>(server->port()));
  for (int round = 0; round < 5; ++round) {
    for (int c = 0; c < 4; ++c) {
      clients[c]->buffer().clear();
      clients[c]->Write("POST /mcp?x=" + std::to_string(c) + " HTTP/1.1\r\nHost: localhost\r\nContent-Length: 5\r\n\r\nhello");
      const std::string got = clients[c]->ReadUntil(" 5");
      ASSERT_NE(got.find("HTTP/1.1 200 OK"), std::string::npos) << got;
    }
  }
  std::set<std::thread::id> all;
  std::lock_guard lock(mu);
  ASSERT_EQ(threads_of.size(), 4u);
  for (const auto& [conn, ids] : threads_of) {
    EXPECT_EQ(ids.size(), 1u) << "connection " << conn << " ran on " << ids.size() << " threads";
    all.insert(ids.begin(), ids.end());
  }
  EXPECT_EQ(all.size(), 2u) << "4 connections over 2 threads should use both";
}

// Busy polling: requests are served as usual, a thread that has nothing to do still goes to sleep (the
// process uses next to no CPU while idle), and Stop() ends the polling threads.
TEST(Server, BusyPollingServesAndSleepsWhenIdle) {
  ServerOptions opt;
  opt.threads = 2;
  opt.busy_poll = std::chrono::milliseconds(2);
  auto server = StartServer(opt, Echo);
  RawClient c(server->port());
  for (int i = 0; i < 20; ++i) {
    c.buffer().clear();
    c.Write("POST /mcp HTTP/1.1\r\nHost: localhost\r\nContent-Length: 5\r\n\r\nhello");
    const std::string got = c.ReadUntil(" 5");
    ASSERT_NE(got.find("HTTP/1.1 200 OK"), std::string::npos) << got;
  }
  // Idle for a while: spinning threads would use about all of it (two threads: twice), sleeping ones
  // next to nothing. (Measured in CPU time, generously: the machine may be busy with other tests.)
  const auto cpu = [] {
    timespec t{};
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    return std::chrono::seconds(t.tv_sec) + std::chrono::nanoseconds(t.tv_nsec);
  };
  const auto cpu_before = cpu();
  const auto wall_before = std::chrono::steady_clock::now();
  std::this_thread::sleep_for(300ms);  // (a measurement window, not synchronization)
  const auto used = cpu() - cpu_before;
  const auto wall = std::chrono::steady_clock::now() - wall_before;
  EXPECT_LT(used, wall / 4) << "CPU used while idle: " << std::chrono::duration<double, std::milli>(used).count() << " ms";
  const auto stop_started = std::chrono::steady_clock::now();
  server->Stop(std::chrono::seconds(1));
  server.reset();  // joins the threads
  EXPECT_LT(std::chrono::steady_clock::now() - stop_started, std::chrono::seconds(5));
}

TEST(Server, ChunkedRequestBodyIsRead) {
  auto server = StartServer({}, Echo);
  RawClient c(server->port());
  c.Write("POST /c HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n");
  EXPECT_NE(c.ReadUntil(" 11").find("POST /c 11"), std::string::npos);
}

TEST(Server, OversizeBodyByContentLengthIs413BeforeTheBodyIsRead) {
  ServerOptions opt;
  opt.max_body_bytes = 1024;
  auto server = StartServer(opt, Echo);
  RawClient c(server->port());
  c.Write("POST /mcp HTTP/1.1\r\nHost: x\r\nContent-Length: 9437184\r\n\r\n");  // 9 MiB announced, none sent
  const std::string got = c.ReadToEof();
  EXPECT_EQ(got.rfind("HTTP/1.1 413 Payload Too Large", 0), 0u) << got;
  EXPECT_NE(got.find("request body exceeds 1024 bytes"), std::string::npos);
}

TEST(Server, OversizeChunkedBodyIs413) {
  ServerOptions opt;
  opt.max_body_bytes = 1024;
  auto server = StartServer(opt, Echo);
  RawClient c(server->port());
  std::string req = "POST /mcp HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n";
  for (int i = 0; i < 4; ++i) req += "200\r\n" + std::string(512, 'a') + "\r\n";
  c.Write(req);
  EXPECT_EQ(c.ReadToEof().rfind("HTTP/1.1 413", 0), 0u);
}

TEST(Server, DefaultBodyLimitIsEightMiB) {
  auto server = StartServer({}, Echo);
  RawClient c(server->port());
  c.Write("POST /mcp HTTP/1.1\r\nHost: x\r\nContent-Length: " + std::to_string(8 * 1024 * 1024 + 1) + "\r\n\r\n");
  EXPECT_EQ(c.ReadToEof().rfind("HTTP/1.1 413", 0), 0u);
}

TEST(Server, OversizeHeaderIs431) {
  ServerOptions opt;
  opt.max_header_bytes = 2048;
  auto server = StartServer(opt, Echo);
  RawClient c(server->port());
  c.Write("GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + std::string(4096, 'b') + "\r\n\r\n");
  EXPECT_EQ(c.ReadToEof().rfind("HTTP/1.1 431", 0), 0u);
}

TEST(Server, MalformedRequestIs400) {
  auto server = StartServer({}, Echo);
  RawClient c(server->port());
  c.Write("THIS IS NOT HTTP\r\n\r\n");
  EXPECT_EQ(c.ReadToEof().rfind("HTTP/1.1 400", 0), 0u);
}

TEST(Server, SlowHeadersAreCutAtTheTimeoutWithoutBlockingOthers) {
  ServerOptions opt;
  opt.threads = 1;  // one thread: a slow client must not hold it
  opt.header_timeout = 400ms;
  auto server = StartServer(opt, Echo);

  RawClient slow(server->port());
  slow.Write("GET / HTTP/1.1\r\n");
  std::atomic<bool> cut{false};
  const auto start = std::chrono::steady_clock::now();
  std::thread trickler([&] {
    // One header byte every 50 ms: it would take 10 s to finish.
    for (int i = 0; i < 200 && !cut; ++i) {
      boost::system::error_code ec;
      boost::asio::write(slow.socket(), boost::asio::buffer("X", 1), ec);
      if (ec) break;
      std::this_thread::sleep_for(50ms);
    }
  });
  // Meanwhile a normal client is served at once.
  RawClient normal(server->port());
  normal.Write("GET /fast HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n");
  EXPECT_NE(normal.ReadUntil("GET /fast 0").find("200 OK"), std::string::npos);

  slow.ReadToEof();  // returns when the server closes the connection
  const auto elapsed = std::chrono::steady_clock::now() - start;
  cut = true;
  trickler.join();
  EXPECT_GE(elapsed, 350ms);
  EXPECT_LT(elapsed, 5s) << "the slow client was not cut at the header timeout";
  EXPECT_GE(server->stats().timeouts, 1u);
}

TEST(Server, IdleKeepAliveConnectionIsClosedAfterTheIdleTimeout) {
  ServerOptions opt;
  opt.idle_timeout = 300ms;
  auto server = StartServer(opt, Echo);
  RawClient c(server->port());
  c.Write("GET / HTTP/1.1\r\nHost: x\r\n\r\n");
  c.ReadUntil("GET / 0");
  const auto start = std::chrono::steady_clock::now();
  c.ReadToEof();
  EXPECT_LT(std::chrono::steady_clock::now() - start, 5s);
}

TEST(Server, ConnectionsPastTheLimitGet503) {
  ServerOptions opt;
  opt.max_connections = 2;
  auto server = StartServer(opt, Echo);
  RawClient a(server->port()), b(server->port());
  for (RawClient* c : {&a, &b}) {
    c->Write("GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    c->ReadUntil("GET / 0");  // accepted and served; the connection stays open
  }
  RawClient third(server->port());
  const std::string got = third.ReadToEof();
  EXPECT_EQ(got.rfind("HTTP/1.1 503", 0), 0u) << got;
  EXPECT_EQ(server->stats().connections_refused, 1u);
  // The first two still work.
  a.buffer().clear();
  a.Write("GET /again HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_NE(a.ReadUntil("GET /again 0").find("200 OK"), std::string::npos);
}

TEST(Server, HandlerThatThrowsGets500AndTheServerKeepsServing) {
  auto server = StartServer({}, [](Exchange& ex) -> asio::awaitable<void> {
    if (ex.request().Path() == "/boom") throw std::runtime_error("boom");
    co_await Echo(ex);
  });
  RawClient c(server->port());
  c.Write("GET /boom HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_EQ(c.ReadToEof().rfind("HTTP/1.1 500", 0), 0u);
  RawClient d(server->port());
  d.Write("GET /ok HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_NE(d.ReadUntil("GET /ok 0").find("200 OK"), std::string::npos);
}

// The response head is written from the handler's Response: its fields as given, framing the server's
// own (a Content-Length the handler set is replaced by the body's; none for 204), and a field that could
// break the head (a CR or LF in its value) turns the answer into a plain 500, the connection closed.
TEST(Server, ResponseHeadIsFramedByTheServerAndBadFieldsAreRefused) {
  auto server = StartServer({}, [](Exchange& ex) -> asio::awaitable<void> {
    Response r;
    const std::string_view path = ex.request().Path();
    if (path == "/none") {
      r.status = 204;
    } else if (path == "/bad") {
      r.headers.Set("X-Split", "a\r\nInjected: yes");
      r.body = "never sent";
    } else {
      r.headers.Set("X-Custom", "kept\tas is");
      r.headers.Set("Content-Length", "999");
      r.headers.Set("Transfer-Encoding", "chunked");
      r.body = "four";
    }
    co_await ex.Respond(std::move(r));
  });
  RawClient c(server->port());
  c.Write("GET /ok HTTP/1.1\r\nHost: x\r\n\r\n");
  const std::string ok = c.ReadUntil("four");
  EXPECT_EQ(ok.rfind("HTTP/1.1 200 OK\r\n", 0), 0u) << ok;
  EXPECT_NE(ok.find("\r\nX-Custom: kept\tas is\r\n"), std::string::npos) << ok;
  EXPECT_NE(ok.find("\r\nContent-Length: 4\r\n"), std::string::npos) << ok;
  EXPECT_EQ(ok.find("999"), std::string::npos) << ok;
  EXPECT_EQ(ok.find("chunked"), std::string::npos) << ok;

  c.buffer().clear();
  c.Write("GET /none HTTP/1.1\r\nHost: x\r\n\r\n");
  const std::string none = c.ReadUntil("\r\n\r\n");
  EXPECT_EQ(none.rfind("HTTP/1.1 204 No Content\r\n", 0), 0u) << none;
  EXPECT_EQ(none.find("Content-Length"), std::string::npos) << none;

  c.buffer().clear();
  c.Write("GET /bad HTTP/1.1\r\nHost: x\r\n\r\n");
  const std::string bad = c.ReadToEof();
  EXPECT_EQ(bad.rfind("HTTP/1.1 500 Internal Server Error\r\n", 0), 0u) << bad;
  EXPECT_NE(bad.find("\r\nConnection: close\r\n"), std::string::npos) << bad;
  EXPECT_EQ(bad.find("Injected"), std::string::npos) << bad;
  EXPECT_EQ(bad.find("never sent"), std::string::npos) << bad;
}

// Hands the test the SSE stream a handler opened.
struct StreamSlot {
  std::promise<std::shared_ptr<SseStream>> opened;
  std::promise<void> closed;
};

Handler SseHandler(StreamSlot* slot) {
  return [slot](Exchange& ex) -> asio::awaitable<void> {
    auto stream = co_await ex.StartSse();
    if (!stream.ok()) co_return;
    (*stream)->OnClosed([slot] { slot->closed.set_value(); });
    slot->opened.set_value(*stream);
  };
}

// Reads the chunked SSE body of a raw connection through the SSE parser.
struct SseReader {
  explicit SseReader(RawClient& c) : client(c) {}
  // Reads until `n` events (and `comments` comment lines) have been parsed.
  void ReadEvents(size_t n, uint64_t comments = 0) {
    while (events.size() < n || parser.comment_count() < comments) {
      ASSERT_TRUE(client.ReadMore()) << "stream ended early";
      Parse();
    }
  }
  void Parse() {
    std::string& buf = client.buffer();
    if (!header_done) {
      const size_t end = buf.find("\r\n\r\n");
      if (end == std::string::npos) return;
      header = buf.substr(0, end);
      buf.erase(0, end + 4);
      header_done = true;
    }
    // Chunked framing: size CRLF data CRLF.
    for (;;) {
      const size_t line_end = buf.find("\r\n");
      if (line_end == std::string::npos) return;
      const size_t size = std::stoul(buf.substr(0, line_end), nullptr, 16);
      if (buf.size() < line_end + 2 + size + 2) return;
      if (size == 0) {
        finished = true;
        buf.erase(0, line_end + 4);
        return;
      }
      ASSERT_TRUE(parser.Feed(buf.substr(line_end + 2, size), events).ok());
      buf.erase(0, line_end + 2 + size + 2);
    }
  }
  RawClient& client;
  SseParser parser;
  std::vector<SseEvent> events;
  std::string header;
  bool header_done = false;
  bool finished = false;
};

TEST(Server, SseStreamDeliversEventsWithIdsAndHeartbeats) {
  StreamSlot slot;
  ServerOptions opt;
  opt.sse_heartbeat = 50ms;
  auto server = StartServer(opt, SseHandler(&slot));
  RawClient c(server->port());
  c.Write("GET /mcp HTTP/1.1\r\nHost: x\r\nAccept: text/event-stream\r\n\r\n");
  auto stream = slot.opened.get_future().get();
  ASSERT_TRUE(stream->Send({.id = "1", .event = "message", .data = "{\"jsonrpc\":\"2.0\"}", .has_id = true}));
  ASSERT_TRUE(stream->Send({.id = "2", .data = "line1\nline2", .has_id = true}));
  SseReader reader(c);
  reader.ReadEvents(2, /*comments=*/1);  // and at least one heartbeat comment
  EXPECT_NE(reader.header.find("Content-Type: text/event-stream"), std::string::npos) << reader.header;
  EXPECT_NE(reader.header.find("Transfer-Encoding: chunked"), std::string::npos) << reader.header;
  EXPECT_EQ(reader.events[0].id, "1");
  EXPECT_EQ(reader.events[0].data, "{\"jsonrpc\":\"2.0\"}");
  EXPECT_EQ(reader.events[1].id, "2");
  EXPECT_EQ(reader.events[1].data, "line1\nline2");
  // Close: the chunked body ends and the connection serves the next request.
  stream->Close();
  while (!reader.finished) {
    ASSERT_TRUE(c.ReadMore());
    reader.Parse();
  }
  slot.closed.get_future().get();
  EXPECT_FALSE(stream->Send({.data = "late"}));
}

TEST(Server, ClientDisconnectIsSeenPromptlyOnAnIdleStream) {
  StreamSlot slot;
  ServerOptions opt;
  opt.sse_heartbeat = Duration::zero();  // nothing is written: only the socket can tell
  auto server = StartServer(opt, SseHandler(&slot));
  auto closed = slot.closed.get_future();
  RawClient c(server->port());
  c.Write("GET /mcp HTTP/1.1\r\nHost: x\r\nAccept: text/event-stream\r\n\r\n");
  auto stream = slot.opened.get_future().get();
  c.ReadUntil("\r\n\r\n");
  c.Close();
  ASSERT_EQ(closed.wait_for(5s), std::future_status::ready) << "the disconnect was not noticed";
  EXPECT_TRUE(stream->closed());
  EXPECT_FALSE(stream->Send({.data = "x"}));
}

TEST(Server, SlowSseConsumerIsDisconnectedWithBoundedMemory) {
  StreamSlot slot;
  ServerOptions opt;
  opt.sse_queue_max_events = 64;
  opt.sse_queue_max_bytes = 256 * 1024;
  auto server = StartServer(opt, SseHandler(&slot));
  auto closed = slot.closed.get_future();
  RawClient c(server->port());  // never reads after the request
  c.Write("GET /mcp HTTP/1.1\r\nHost: x\r\nAccept: text/event-stream\r\n\r\n");
  auto stream = slot.opened.get_future().get();
  const std::string payload(16 * 1024, 'x');
  size_t sent_bytes = 0;
  bool refused = false;
  for (int i = 0; i < 100000; ++i) {
    if (!stream->Send({.data = payload})) {
      refused = true;
      break;
    }
    sent_bytes += payload.size();
  }
  ASSERT_TRUE(refused) << "the queue never filled";
  // What was accepted is what the socket buffers took plus at most one full queue.
  EXPECT_LT(sent_bytes, 64u * 1024 * 1024);
  ASSERT_EQ(closed.wait_for(5s), std::future_status::ready);
  EXPECT_EQ(server->stats().sse_overflows, 1u);
  EXPECT_EQ(server->stats().sse_streams_active, 0u);
}

TEST(Server, GracefulStopCompletesInFlightRequestsAndEndsStreams) {
  std::mutex mu;
  std::condition_variable cv;
  int arrived = 0;
  StreamSlot slot;
  auto server = StartServer({}, [&](Exchange& ex) -> asio::awaitable<void> {
    if (ex.request().Path() == "/stream") {
      co_await SseHandler(&slot)(ex);
      co_return;
    }
    {
      std::lock_guard lock(mu);
      ++arrived;
    }
    cv.notify_all();
    asio::steady_timer t(co_await asio::this_coro::executor);
    t.expires_after(300ms);
    co_await t.async_wait(asio::use_awaitable);
    Response done{200, {}, "done"};
    co_await ex.Respond(std::move(done));
  });
  const uint16_t port = server->port();
  RawClient streaming(port);
  streaming.Write("GET /stream HTTP/1.1\r\nHost: x\r\n\r\n");
  auto stream = slot.opened.get_future().get();
  auto stream_closed = slot.closed.get_future();

  std::vector<std::future<std::string>> results;
  for (int i = 0; i < 5; ++i) {
    results.push_back(std::async(std::launch::async, [port] {
      RawClient c(port);
      c.Write("GET /slow HTTP/1.1\r\nHost: x\r\n\r\n");
      return c.ReadToEof();
    }));
  }
  {
    std::unique_lock lock(mu);
    cv.wait(lock, [&] { return arrived == 5; });
  }
  server->Stop(10s);  // returns once they are done
  for (auto& r : results) {
    const std::string got = r.get();
    EXPECT_EQ(got.rfind("HTTP/1.1 200 OK", 0), 0u) << got;
    EXPECT_NE(got.find("Connection: close"), std::string::npos) << got;
    EXPECT_NE(got.find("done"), std::string::npos);
  }
  EXPECT_EQ(stream_closed.wait_for(0s), std::future_status::ready);
  EXPECT_EQ(streaming.ReadToEof().find("0\r\n\r\n") != std::string::npos, true);  // the stream's last chunk
  // Nothing listens any more.
  EXPECT_THROW(RawClient late(port), boost::system::system_error);
}

TEST(Server, StopPastTheGracePeriodClosesWhatIsLeft) {
  auto server = StartServer({}, [](Exchange& ex) -> asio::awaitable<void> {
    asio::steady_timer t(co_await asio::this_coro::executor);
    t.expires_after(30s);
    co_await t.async_wait(asio::as_tuple(asio::use_awaitable));
    Response late{200, {}, "too late"};
    co_await ex.Respond(std::move(late));
  });
  RawClient c(server->port());
  c.Write("GET /hang HTTP/1.1\r\nHost: x\r\n\r\n");
  c.Write("");  // make sure the request is out
  const auto start = std::chrono::steady_clock::now();
  server->Stop(200ms);
  EXPECT_LT(std::chrono::steady_clock::now() - start, 10s);
  EXPECT_EQ(c.ReadToEof().find("too late"), std::string::npos);
}

// On a host's executor: the server creates no thread, serves on the host's, and stops without stopping
// the host's io_context.
TEST(Server, RunsOnTheHostsExecutor) {
  testing::IoThread host(2);
  std::atomic<int> handled_on_host{0};
  HttpServer server({}, [&](Exchange& ex) -> asio::awaitable<void> {
    if (host.context().get_executor().running_in_this_thread()) ++handled_on_host;
    co_await Echo(ex);
  }, host.executor());
  ASSERT_TRUE(server.Start().ok());
  RawClient c(server.port());
  c.Write("GET /a HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_NE(c.ReadUntil("GET /a 0").find("200 OK"), std::string::npos);
  EXPECT_EQ(handled_on_host.load(), 1);
  server.Stop(1s);
  c.buffer().clear();
  EXPECT_EQ(c.ReadToEof(), "");  // the idle keep-alive connection was closed
  // The host's io_context still runs.
  std::promise<void> ran;
  asio::post(host.context(), [&] { ran.set_value(); });
  EXPECT_EQ(ran.get_future().wait_for(5s), std::future_status::ready);
}

// A handler still waiting when Stop() gives up on it finishes later on the host's executor, after the
// HttpServer object is gone: what it touches stays alive (ASan would see a use after free).
TEST(Server, HandlerOutlivingStopOnTheHostsExecutorIsSafe) {
  testing::IoThread host(1);
  std::promise<void> started, finished;
  auto started_future = started.get_future();
  auto finished_future = finished.get_future();
  {
    auto server = std::make_unique<HttpServer>(ServerOptions{}, [&](Exchange& ex) -> asio::awaitable<void> {
      started.set_value();
      asio::steady_timer t(co_await asio::this_coro::executor);
      t.expires_after(1500ms);
      co_await t.async_wait(asio::as_tuple(asio::use_awaitable));
      Response late{200, {}, "late"};
      auto st = co_await ex.Respond(std::move(late));  // the socket is closed: an error, not a crash
      EXPECT_FALSE(st.ok());
      finished.set_value();
    }, host.executor());
    ASSERT_TRUE(server->Start().ok());
    RawClient c(server->port());
    c.Write("GET /slow HTTP/1.1\r\nHost: x\r\n\r\n");
    c.Write("");
    // Once the request is being handled (busy), stop with no grace.
    ASSERT_EQ(started_future.wait_for(10s), std::future_status::ready);
    server->Stop(0ms);
    server.reset();
    EXPECT_EQ(c.ReadToEof(), "");
  }
  EXPECT_EQ(finished_future.wait_for(10s), std::future_status::ready);
}

}  // namespace
}  // namespace vmcp::transport
