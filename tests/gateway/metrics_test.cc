// The gateway's metrics: method labels bounded, histogram buckets, exact counts under concurrent
// recording, and Prometheus text that a strict parser accepts (and the parser's own refusals).

#include "gateway/metrics.h"

#include <gtest/gtest.h>

#include <thread>
#include <vector>

#include "tests/gateway/prom_text.h"

namespace vmcp::gateway {
namespace {

using namespace std::chrono_literals;
using vmcp::testing::ParsePromText;

TEST(Metrics, MethodLabelsAreBounded) {
  EXPECT_EQ(kMetricMethods[MethodIndex("tools/call")], "tools/call");
  EXPECT_EQ(kMetricMethods[MethodIndex("notifications/cancelled")], "notifications");
  EXPECT_EQ(kMetricMethods[MethodIndex("sampling/createMessage")], "sampling");
  EXPECT_EQ(kMetricMethods[MethodIndex("anything/else")], "other");
  EXPECT_EQ(kMetricMethods[MethodIndex("")], "other");
}

TEST(Metrics, HistogramPutsEachObservationInItsBucket) {
  Histogram h;
  h.Observe(50us);    // <= 100 us: bucket 0
  h.Observe(100us);   // on the bound: bucket 0 (le is inclusive)
  h.Observe(3ms);     // <= 5 ms
  h.Observe(2min);    // past 30 s: the +Inf bucket
  EXPECT_EQ(h.count(), 4u);
  EXPECT_EQ(h.bucket(0), 2u);
  EXPECT_EQ(h.bucket(5), 1u);  // kLatencyBuckets[5] == 0.005
  EXPECT_EQ(h.bucket(kLatencyBuckets.size()), 1u);
  EXPECT_NEAR(h.sum_seconds(), 0.00005 + 0.0001 + 0.003 + 120, 1e-9);
}

TEST(Metrics, ConcurrentRecordingLosesNothing) {
  Metrics m;
  auto backend = m.ForBackend("b");
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 10000; ++i) {
        m.client(MethodIndex("tools/call")).Record(1ms, i % 10 == 0);
        backend->method(MethodIndex("tools/call")).Record(1ms, false);
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(m.client(MethodIndex("tools/call")).requests.load(), 40000u);
  EXPECT_EQ(m.client(MethodIndex("tools/call")).errors.load(), 4000u);
  EXPECT_EQ(backend->method(MethodIndex("tools/call")).duration.count(), 40000u);
  EXPECT_EQ(m.ForBackend("b"), backend);  // one per name
}

TEST(Metrics, PrometheusTextParsesStrictlyWithExactValues) {
  Metrics m;
  m.client(MethodIndex("initialize")).Record(2ms, false);
  m.client(MethodIndex("tools/call")).Record(1ms, false);
  m.client(MethodIndex("tools/call")).Record(40ms, true);
  m.tool_calls = 2;
  m.client_sessions_active = 1;
  m.reloads_refused = 1;
  auto b = m.ForBackend("we\"ird\\name");
  b->method(MethodIndex("tools/call")).Record(1ms, false);
  b->sessions_active = 1;
  MetricsContext ctx;
  ctx.connections_active = 3;
  ctx.backends_configured = 1;
  const std::string text = m.Prometheus(ctx);
  auto parsed = ParsePromText(text);
  ASSERT_TRUE(parsed.ok()) << parsed.status() << "\n" << text;
  EXPECT_EQ(parsed->types.at("toolhive_mcp_requests_total"), "counter");
  EXPECT_EQ(parsed->types.at("toolhive_mcp_request_duration_seconds"), "histogram");
  EXPECT_EQ(parsed->Get(R"(toolhive_mcp_requests_total{method="tools/call",status="success"})"), 1);
  EXPECT_EQ(parsed->Get(R"(toolhive_mcp_requests_total{method="tools/call",status="error"})"), 1);
  EXPECT_EQ(parsed->Get(R"(toolhive_mcp_requests_total{method="initialize",status="success"})"), 1);
  EXPECT_EQ(parsed->Get(R"(toolhive_mcp_request_duration_seconds_count{method="tools/call"})"), 2);
  EXPECT_EQ(parsed->Get(R"(toolhive_mcp_request_duration_seconds_bucket{method="tools/call",le="0.001"})"), 1);
  EXPECT_EQ(parsed->Get(R"(toolhive_mcp_request_duration_seconds_bucket{method="tools/call",le="0.05"})"), 2);
  EXPECT_EQ(parsed->Get("toolhive_mcp_tool_calls_total"), 2);
  EXPECT_EQ(parsed->Get("toolhive_mcp_active_connections"), 3);
  EXPECT_EQ(parsed->Get("vmcp_client_sessions_active"), 1);
  EXPECT_EQ(parsed->Get(R"(vmcp_config_reloads_total{result="refused"})"), 1);
  // The label value comes back unescaped: the escaping was right.
  EXPECT_EQ(parsed->Get("toolhive_vmcp_backend_requests_total{backend=\"we\"ird\\name\",method=\"tools/call\"}"), 1);
  EXPECT_EQ(parsed->Get("vmcp_backend_sessions_active{backend=\"we\"ird\\name\"}"), 1);
  // Methods never called have no series (bounded output).
  EXPECT_EQ(parsed->Get(R"(toolhive_mcp_requests_total{method="prompts/get",status="success"})"), -1);

  GatewayMetrics snapshot = m.Snapshot(ctx);
  ASSERT_EQ(snapshot.client_requests.size(), 2u);
  EXPECT_EQ(snapshot.tool_calls, 2u);
  ASSERT_EQ(snapshot.backends.size(), 1u);
  EXPECT_EQ(snapshot.backends[0].sessions_active, 1u);
}

TEST(PromText, TheStrictParserRefusesBadText) {
  EXPECT_FALSE(ParsePromText("x 1").ok());                                         // no newline at the end
  EXPECT_FALSE(ParsePromText("x 1\n").ok());                                       // no TYPE
  EXPECT_FALSE(ParsePromText("# TYPE x counter\nx -1\n").ok());                    // negative counter
  EXPECT_FALSE(ParsePromText("# TYPE x counter\nx{a=\"1\"} 1\nx{a=\"1\"} 2\n").ok());  // series twice
  EXPECT_FALSE(ParsePromText("# TYPE x counter\nx{a=1} 1\n").ok());                // unquoted label value
  EXPECT_FALSE(ParsePromText("# TYPE x counter\nx{a=\"\\q\"} 1\n").ok());          // bad escape
  EXPECT_FALSE(ParsePromText("# TYPE x gauge\nx abc\n").ok());                     // not a number
  EXPECT_FALSE(ParsePromText("# TYPE h histogram\nh_bucket{le=\"1\"} 2\nh_bucket{le=\"+Inf\"} 1\n"
                             "h_sum 1\nh_count 1\n").ok());                        // decreasing buckets
  EXPECT_FALSE(ParsePromText("# TYPE h histogram\nh_bucket{le=\"1\"} 1\nh_sum 1\nh_count 1\n").ok());  // no +Inf
  EXPECT_FALSE(ParsePromText("# TYPE h histogram\nh_bucket{le=\"+Inf\"} 2\nh_sum 1\nh_count 1\n").ok());  // count
  EXPECT_TRUE(ParsePromText("# HELP x ok\n# TYPE x gauge\nx{a=\"q\\\"\"} 1.5e3\n").ok());
}

}  // namespace
}  // namespace vmcp::gateway
