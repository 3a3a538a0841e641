// HTTP round trips on loopback through the project's own server and client: sequential (latency) and
// concurrent (throughput) keep-alive POSTs of an MCP-sized JSON body, plain and TLS. Results are
// reported, not asserted: run with `bazel run -c opt //tests/transport:http_benchmark`.

#include <benchmark/benchmark.h>

#include <future>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "tests/transport/test_certs.h"
#include "tests/transport/test_io.h"
#include "transport/client.h"
#include "transport/server.h"

namespace vmcp::transport {
namespace {

namespace asio = boost::asio;

const std::string kBody =
    R"({"jsonrpc":"2.0","id":42,"method":"tools/call","params":{"name":"echo","arguments":{"message":"hello world"}}})";

struct Fixture {
  explicit Fixture(bool tls) {
    ServerOptions opt;
    opt.threads = 1;
    if (tls) {
      ca = std::make_unique<testing::TestCa>(testing::TempDir(), "bench");
      auto cert = ca->Issue("server", {"localhost"}, {"127.0.0.1"});
      opt.tls = ServerTlsOptions{cert.cert_path, cert.key_path};
      endpoint.ca_bundle_path = ca->cert_path();
    }
    server = std::make_unique<HttpServer>(opt, [](Exchange& ex) -> asio::awaitable<void> {
      Response r;
      r.headers.Set("Content-Type", "application/json");
      r.body = ex.request().body;
      co_await ex.Respond(std::move(r));
    });
    const uint16_t port = *server->Start();
    url = *ParseUrl(std::string(tls ? "https" : "http") + "://127.0.0.1:" + std::to_string(port) + "/mcp");
    client = std::make_unique<HttpClient>(io.executor());
  }
  std::unique_ptr<testing::TestCa> ca;
  std::unique_ptr<HttpServer> server;
  testing::IoThread io;
  std::unique_ptr<HttpClient> client;
  Url url;
  Endpoint endpoint;
};

asio::awaitable<int> Batch(HttpClient& client, const Url& url, const Endpoint& ep, int n) {
  int ok = 0;
  for (int i = 0; i < n; ++i) {
    Request req;
    req.method = "POST";
    req.headers.Set("Content-Type", "application/json");
    req.body = kBody;
    auto r = co_await client.Send(url, std::move(req), ep);
    if (r.ok() && r->status == 200) ++ok;
  }
  co_return ok;
}

void RoundTrip(benchmark::State& state, bool tls) {
  Fixture f(tls);
  const int concurrency = static_cast<int>(state.range(0));
  constexpr int kPerWorker = 50;
  int64_t done = 0;
  for (auto _ : state) {
    std::vector<std::future<int>> workers;
    for (int w = 0; w < concurrency; ++w) workers.push_back(f.io.Spawn(Batch(*f.client, f.url, f.endpoint, kPerWorker)));
    for (auto& w : workers) done += w.get();
  }
  state.SetItemsProcessed(done);
  state.counters["errors"] = static_cast<double>(state.iterations() * concurrency * kPerWorker - done);
}

void BM_HttpRoundTrip(benchmark::State& state) { RoundTrip(state, false); }
void BM_HttpsRoundTrip(benchmark::State& state) { RoundTrip(state, true); }

BENCHMARK(BM_HttpRoundTrip)->Arg(1)->Arg(16)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_HttpsRoundTrip)->Arg(1)->Arg(16)->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace
}  // namespace vmcp::transport
