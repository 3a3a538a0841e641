// `vmcp serve` as the operator runs it: the real binary in a child process, its DNS-rebinding
// allow-lists from flags and from the environment, /metrics, and a graceful exit 0 on SIGTERM. Bad
// allow-list values are refused before anything starts.

#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <cstdio>
#include <climits>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <fstream>
#include <sstream>

#include <thread>
#include <vector>

#include "cli/commands.h"
#include "tests/gateway/child_process.h"
#include "tests/gateway/e2e_support.h"
#include "tests/host/raw_http.h"

namespace vmcp {
namespace {

using testing::ChildProcess;

std::string WriteConfig() {
  const std::string path = std::string(std::getenv("TEST_TMPDIR")) + "/serve-test.yaml";
  std::ofstream(path) << "name: serve-test\ngroupRef: g\nbackends:\n"
                         "  - name: offline\n    url: http://127.0.0.1:9/mcp\n    transport: streamable-http\n"
                         "incomingAuth:\n  type: anonymous\noutgoingAuth:\n  source: inline\n"
                         "aggregation:\n  conflictResolution: prefix\n  conflictResolutionConfig:\n    prefixFormat: '{workload}_'\n"
                         "operational:\n  failureHandling:\n    partialFailureMode: best_effort\n";
  return path;
}

struct HttpAnswer {
  int status = -1;
  std::string head;
  std::string body;
};

HttpAnswer Split(const std::string& response) {
  HttpAnswer answer;
  if (response.size() > 12) answer.status = std::atoi(response.c_str() + 9);
  const size_t split = response.find("\r\n\r\n");
  if (split != std::string::npos) {
    answer.head = response.substr(0, split);
    answer.body = response.substr(split + 4);
  }
  return answer;
}

std::string McpPost(const std::string& host, const std::string& extra_headers, const std::string& body) {
  return "POST /mcp HTTP/1.1\r\nHost: " + host + "\r\nConnection: close\r\nContent-Type: application/json\r\n" +
         extra_headers + "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
}

// One POST to /mcp (JSON answers only); the status, headers and body.
HttpAnswer PostMcp(int port, const std::string& body, const std::string& session = "") {
  std::string headers = "Accept: application/json\r\nMCP-Protocol-Version: 2025-11-25\r\n";
  if (!session.empty()) headers += "Mcp-Session-Id: " + session + "\r\n";
  return Split(testing::RawHttpExchange(port, McpPost("127.0.0.1", headers, body)));
}

std::string SessionOf(const HttpAnswer& a) {
  const size_t at = a.head.find("Mcp-Session-Id: ");
  if (at == std::string::npos) return "";
  return a.head.substr(at + 16, a.head.find("\r\n", at) - at - 16);
}

// An initialize POSTed to /mcp with the given Host and Origin; the status code.
int PostPing(int port, const std::string& host, const std::string& origin = "") {
  const std::string body = R"({"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"t","version":"1"}}})";
  std::string headers = "Accept: application/json, text/event-stream\r\n";
  if (!origin.empty()) headers += "Origin: " + origin + "\r\n";
  return Split(testing::RawHttpExchange(port, McpPost(host, headers, body))).status;
}

constexpr char kServing[] = "vmcp: serving \"serve-test\" at http://127.0.0.1:";

TEST(ServeCommand, AllowListsFromFlagsAndGracefulSigterm) {
  ChildProcess vmcp({"./vmcp", "serve", "--config=" + WriteConfig(), "--port=0",
                     "--allowed-hosts=gw.example.com", "--allowed-origins=https://app.example.com"});
  const int port = vmcp.WaitForListening(20000, kServing);
  ASSERT_GT(port, 0) << vmcp.output();
  // Bound to loopback: local names, plus the listed host; any other Host is a rebinding attempt.
  EXPECT_EQ(PostPing(port, "127.0.0.1"), 200);
  EXPECT_EQ(PostPing(port, "gw.example.com"), 200);
  EXPECT_EQ(PostPing(port, "gw.example.com:8443"), 200);
  EXPECT_EQ(PostPing(port, "evil.example.com"), 403);
  EXPECT_EQ(PostPing(port, "localhost", "https://app.example.com"), 200);
  EXPECT_EQ(PostPing(port, "localhost", "https://evil.example.com"), 403);
  // SIGTERM: a graceful stop and exit 0.
  ASSERT_EQ(kill(vmcp.pid(), SIGTERM), 0);
  EXPECT_EQ(vmcp.ReadAllAndWait(15000), 0) << vmcp.output();
}

TEST(ServeCommand, AllowListsFromTheEnvironment) {
  ChildProcess vmcp({"./vmcp", "serve", "--config=" + WriteConfig(), "--port=0"},
                    {{"VMCP_ALLOWED_HOSTS", "gw.example.com"}, {"VMCP_ALLOWED_ORIGINS", "*"}});
  const int port = vmcp.WaitForListening(20000, kServing);
  ASSERT_GT(port, 0) << vmcp.output();
  EXPECT_EQ(PostPing(port, "gw.example.com"), 200);
  EXPECT_EQ(PostPing(port, "evil.example.com"), 403);
  EXPECT_EQ(PostPing(port, "localhost", "https://any.example.org"), 200);  // "*"
  ASSERT_EQ(kill(vmcp.pid(), SIGTERM), 0);
  EXPECT_EQ(vmcp.ReadAllAndWait(15000), 0);
}

TEST(ServeCommand, WithoutAllowListsALoopbackBindRefusesForeignHostsAndOrigins) {
  ChildProcess vmcp({"./vmcp", "serve", "--config=" + WriteConfig(), "--port=0"});
  const int port = vmcp.WaitForListening(20000, kServing);
  ASSERT_GT(port, 0) << vmcp.output();
  EXPECT_EQ(PostPing(port, "localhost:" + std::to_string(port)), 200);
  EXPECT_EQ(PostPing(port, "gw.example.com"), 403);
  EXPECT_EQ(PostPing(port, "localhost", "https://app.example.com"), 403);
  EXPECT_EQ(PostPing(port, "localhost", "http://localhost:3000"), 200);
  ASSERT_EQ(kill(vmcp.pid(), SIGTERM), 0);
  EXPECT_EQ(vmcp.ReadAllAndWait(15000), 0);
}

// SIGTERM while calls are in flight: each call is answered, then the process exits 0.
TEST(ServeCommand, SigtermDuringCallsAnswersThemAllThenExitsZero) {
  ASSERT_FALSE(testing::PeersDir().empty()) << "VMCP_PEERS_DIR is not set: run the tests with scripts/test.sh";
  int backend_port = 0;
  auto backend = testing::StartPeer("clash-backend.mjs", {"--port", "0"}, backend_port);
  ASSERT_GT(backend_port, 0) << backend->output();
  const std::string path = std::string(std::getenv("TEST_TMPDIR")) + "/sigterm.yaml";
  std::ofstream(path) << testing::VmcpConfig(testing::BackendEntry("clash", backend_port), testing::PrefixAggregation());
  ChildProcess vmcp({"./vmcp", "serve", "--config=" + path, "--port=0"});
  const int port = vmcp.WaitForListening(20000, "vmcp: serving \"e2e-vmcp\" at http://127.0.0.1:");
  ASSERT_GT(port, 0) << vmcp.output();
  const HttpAnswer init = PostMcp(port, R"({"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"t","version":"1"}}})");
  ASSERT_EQ(init.status, 200) << init.body;
  const std::string session = SessionOf(init);
  ASSERT_FALSE(session.empty()) << init.head;

  constexpr int kCalls = 4;
  std::vector<HttpAnswer> answers(kCalls);
  std::vector<std::thread> callers;
  for (int i = 0; i < kCalls; ++i) {
    callers.emplace_back([&, i] {
      answers[i] = PostMcp(port,
                           R"({"jsonrpc":"2.0","id":)" + std::to_string(10 + i) +
                               R"(,"method":"tools/call","params":{"name":"clash_sleep","arguments":{"ms":1500}}})",
                           session);
    });
  }
  // Every call has reached the backend (it says so), so each is in flight when SIGTERM comes.
  for (int i = 0; i < kCalls; ++i) ASSERT_EQ(backend->WaitForListening(20000, "CALLED "), 1500) << backend->output();
  ASSERT_EQ(kill(vmcp.pid(), SIGTERM), 0);
  for (auto& t : callers) t.join();
  for (int i = 0; i < kCalls; ++i) {
    EXPECT_EQ(answers[i].status, 200) << answers[i].body;
    EXPECT_NE(answers[i].body.find("clash: slept 1500"), std::string::npos) << answers[i].body;
  }
  EXPECT_EQ(vmcp.ReadAllAndWait(15000), 0) << vmcp.output();
}

std::string GetText(int port, const std::string& path) {
  return Split(testing::RawHttpGet(port, path)).body;
}

// The config file is watched: a valid change is applied, an invalid one refused (reported in /status,
// counted in /metrics) while the last good config keeps serving; SIGHUP re-reads at once.
TEST(ServeCommand, ConfigFileChangesAreAppliedAndBadOnesRefused) {
  const std::string dir = std::string(std::getenv("TEST_TMPDIR")) + "/watched";
  mkdir(dir.c_str(), 0755);
  const std::string path = dir + "/config.yaml";
  auto write_config = [&](const std::string& backend_name, const std::string& extra = "") {
    const std::string tmp = dir + "/.config.tmp";
    std::ofstream(tmp) << "name: serve-test\ngroupRef: g\nbackends:\n  - name: " << backend_name
                       << "\n    url: http://127.0.0.1:9/mcp\n    transport: streamable-http\n" << extra
                       << "incomingAuth:\n  type: anonymous\noutgoingAuth:\n  source: inline\n"
                       << "aggregation:\n  conflictResolution: prefix\n  conflictResolutionConfig:\n    prefixFormat: '{workload}_'\n";
    ASSERT_EQ(rename(tmp.c_str(), path.c_str()), 0);
  };
  write_config("first");
  // stderr (the JSON log) joins stdout so the test can wait for the gateway's own words.
  ChildProcess vmcp({"/bin/sh", "-c", "exec ./vmcp serve --config=" + path + " --port=0 2>&1"});
  const int port = vmcp.WaitForListening(20000, kServing);
  ASSERT_GT(port, 0) << vmcp.output();
  EXPECT_NE(GetText(port, "/status").find("\"name\":\"first\""), std::string::npos);

  write_config("second");
  ASSERT_NE(vmcp.WaitForLineContaining("config file changed: applied"), "") << vmcp.output();
  std::string status = GetText(port, "/status");
  EXPECT_NE(status.find("\"name\":\"second\""), std::string::npos) << status;
  EXPECT_NE(status.find("\"reloads_applied\":1"), std::string::npos) << status;

  write_config("third", "    unknownKey: 1\n");  // a schema error
  const std::string refused = vmcp.WaitForLineContaining("config refused");
  ASSERT_NE(refused, "") << vmcp.output();
  EXPECT_NE(refused.find("unknownKey"), std::string::npos) << refused;
  status = GetText(port, "/status");
  EXPECT_NE(status.find("\"name\":\"second\""), std::string::npos) << "the last good config serves: " << status;
  EXPECT_NE(status.find("\"reloads_refused\":1"), std::string::npos) << status;
  EXPECT_NE(status.find("unknownKey"), std::string::npos) << status;
  EXPECT_NE(GetText(port, "/metrics").find("vmcp_config_reloads_total{result=\"refused\"} 1\n"), std::string::npos);

  // SIGHUP re-reads at once (the fixed file is applied; the error is cleared).
  write_config("fourth");
  ASSERT_EQ(kill(vmcp.pid(), SIGHUP), 0);
  ASSERT_NE(vmcp.WaitForLineContaining("config file changed: applied"), "") << vmcp.output();
  status = GetText(port, "/status");
  EXPECT_NE(status.find("\"name\":\"fourth\""), std::string::npos) << status;
  EXPECT_NE(status.find("\"last_error\":\"\""), std::string::npos) << status;

  ASSERT_EQ(kill(vmcp.pid(), SIGTERM), 0);
  EXPECT_EQ(vmcp.ReadAllAndWait(15000), 0);
}

// The ConfigMap as kubelet updates it (a timestamped directory, `..data` swapped to it by an atomic
// rename, `config.yaml` a symlink through `..data`), swapped four times (a backend added, changed,
// removed; then an invalid config) while the official SDK client calls an untouched backend in a loop:
// not one of its calls fails, and its session never changes.
TEST(ServeCommand, KubeletStyleSwapsUnderLoadNeverFailCallsOnUntouchedBackends) {
  ASSERT_FALSE(testing::PeersDir().empty()) << "VMCP_PEERS_DIR is not set: run the tests with scripts/test.sh";
  int clash_port = 0;
  auto clash = testing::StartPeer("clash-backend.mjs", {"--port", "0"}, clash_port);
  ASSERT_GT(clash_port, 0) << clash->output();
  int conf_port = 0;
  auto conf = testing::StartPeer("conformance-backend.mjs", {"--port", "0"}, conf_port);
  ASSERT_GT(conf_port, 0) << conf->output();

  const std::string dir = std::string(std::getenv("TEST_TMPDIR")) + "/configmap";
  mkdir(dir.c_str(), 0755);
  int generation = 0;
  std::string current;
  auto publish = [&](const std::string& yaml) {
    const std::string stamp = "..2026_11_23_00_00_00." + std::to_string(++generation);
    ASSERT_EQ(mkdir((dir + "/" + stamp).c_str(), 0755), 0);
    std::ofstream(dir + "/" + stamp + "/config.yaml") << yaml;
    const std::string tmp = dir + "/..data_tmp";
    ASSERT_EQ(symlink(stamp.c_str(), tmp.c_str()), 0);
    ASSERT_EQ(rename(tmp.c_str(), (dir + "/..data").c_str()), 0);
    if (generation == 1) ASSERT_EQ(symlink("..data/config.yaml", (dir + "/config.yaml").c_str()), 0);
    if (!current.empty()) {
      std::remove((dir + "/" + current + "/config.yaml").c_str());
      rmdir((dir + "/" + current).c_str());
    }
    current = stamp;
  };
  const std::string clash_entry = testing::BackendEntry("clash", clash_port);
  const std::string aggregation = testing::PrefixAggregation();
  publish(testing::VmcpConfig(clash_entry, aggregation));
  ChildProcess vmcp({"/bin/sh", "-c", "exec ./vmcp serve --config=" + dir + "/config.yaml --port=0 2>&1"});
  const int port = vmcp.WaitForListening(20000, "vmcp: serving \"e2e-vmcp\" at http://127.0.0.1:");
  ASSERT_GT(port, 0) << vmcp.output();

  ChildProcess client({testing::NodeBinary(), testing::PeersDir() + "/sdk-client.mjs", "--url",
                       "http://127.0.0.1:" + std::to_string(port) + "/mcp", "--script", "loop", "--tool", "clash_echo",
                       "--args", R"({"message":"steady"})", "--count", "2000", "--timeout-ms", "5000", "--deadline-ms", "60000"});
  ASSERT_NE(client.WaitForLineContaining("CALLED 50 "), "") << client.output();

  // Added, changed (another URL for the same server), removed: each applied.
  publish(testing::VmcpConfig(clash_entry + testing::BackendEntry("conf", conf_port), aggregation));
  ASSERT_NE(vmcp.WaitForLineContaining("config file changed: applied"), "") << vmcp.output();
  std::string changed = testing::BackendEntry("conf", conf_port);
  changed.replace(changed.find("127.0.0.1"), 9, "localhost");
  publish(testing::VmcpConfig(clash_entry + changed, aggregation));
  ASSERT_NE(vmcp.WaitForLineContaining("config file changed: applied"), "") << vmcp.output();
  publish(testing::VmcpConfig(clash_entry, aggregation));
  ASSERT_NE(vmcp.WaitForLineContaining("config file changed: applied"), "") << vmcp.output();
  // Invalid: refused, the last good config keeps serving.
  publish(testing::VmcpConfig(clash_entry, aggregation) + "unknownTopLevelKey: 1\n");
  ASSERT_NE(vmcp.WaitForLineContaining("config refused"), "") << vmcp.output();

  const int client_exit = client.ReadAllAndWait();
  if (client_exit != 0) vmcp.WaitForLineContaining("(the gateway's log so far)", 1000);
  ASSERT_EQ(client_exit, 0) << client.output() << "\n--- vmcp:\n" << vmcp.output();
  const std::string& out = client.output();
  const size_t json_at = out.rfind("\n{");
  ASSERT_NE(json_at, std::string::npos) << out;
  const std::string result = out.substr(json_at + 1);
  EXPECT_NE(result.find("\"loopOk\":2000"), std::string::npos) << result;
  EXPECT_NE(result.find("\"loopErrors\":[]"), std::string::npos) << result;
  EXPECT_NE(result.find("\"sameSession\":true"), std::string::npos) << result;
  const std::string status = GetText(port, "/status");
  EXPECT_NE(status.find("\"reloads_applied\":3"), std::string::npos) << status;
  EXPECT_NE(status.find("\"reloads_refused\":1"), std::string::npos) << status;
  ASSERT_EQ(kill(vmcp.pid(), SIGTERM), 0);
  EXPECT_EQ(vmcp.ReadAllAndWait(15000), 0);
}

// The conformance suite's client scenario `sse-retry` wrapped around the gateway (SEP-1699): its server
// closes the tool call's stream after a priming event with `retry: 500`; the gateway, as that server's
// client, must come back with GET + Last-Event-ID after 500 ms and deliver the answer to its own client.
TEST(ServeCommand, ConformanceSseRetryScenarioThroughTheGateway) {
  ASSERT_FALSE(testing::PeersDir().empty()) << "VMCP_PEERS_DIR is not set: run the tests with scripts/test.sh";
  const std::string script = testing::ConformanceScript();
  ASSERT_FALSE(script.empty()) << "the conformance package is not installed";
  char vmcp_path[PATH_MAX];
  ASSERT_NE(realpath("./vmcp", vmcp_path), nullptr);
  const std::string out_dir = std::string(std::getenv("TEST_TMPDIR")) + "/sse-retry";
  const std::string client_out = std::string(std::getenv("TEST_TMPDIR")) + "/sse-retry-client.json";
  const std::string command = testing::NodeBinary() + " " + testing::PeersDir() + "/gateway-client.mjs --vmcp " +
                              vmcp_path + " --tool test_reconnection --out " + client_out;
  const testing::PeerRun run =
      testing::RunPeer(script, {"client", "--command", command, "--scenario", "sse-retry", "-o", out_dir}, 120000);
  EXPECT_EQ(run.exit_code, 0) << run.output;
  // Its checks: the reconnection happened, on time, with Last-Event-ID.
  std::map<std::string, std::string> status;
  std::error_code ec;
  for (const auto& e : std::filesystem::recursive_directory_iterator(out_dir, ec)) {
    if (e.path().filename() != "checks.json") continue;
    std::ifstream in(e.path());
    std::stringstream text;
    text << in.rdbuf();
    const std::string body = text.str();
    for (const char* id : {"client-sse-graceful-reconnect", "client-sse-retry-timing", "client-sse-last-event-id"}) {
      const size_t at = body.find(std::string("\"id\": \"") + id + "\"");
      const size_t at2 = at == std::string::npos ? body.find(std::string("\"id\":\"") + id + "\"") : at;
      if (at2 == std::string::npos) continue;
      const size_t st = body.find("\"status\"", at2);
      if (st == std::string::npos) continue;
      const size_t q1 = body.find('"', body.find(':', st) + 1);
      status[id] = body.substr(q1 + 1, body.find('"', q1 + 1) - q1 - 1);
    }
  }
  EXPECT_EQ(status["client-sse-graceful-reconnect"], "SUCCESS") << run.output;
  EXPECT_EQ(status["client-sse-last-event-id"], "SUCCESS") << run.output;
  EXPECT_TRUE(status["client-sse-retry-timing"] == "SUCCESS" || status["client-sse-retry-timing"] == "WARNING")
      << status["client-sse-retry-timing"] << "\n" << run.output;
  // And the answer reached the gateway's own client.
  std::ifstream in(client_out);
  std::stringstream client;
  client << in.rdbuf();
  EXPECT_NE(client.str().find("\"ok\":true"), std::string::npos) << client.str();
  EXPECT_NE(client.str().find("Reconnection test completed successfully"), std::string::npos) << client.str();
}

TEST(ServeCommand, BadFlagValuesAreRefusedBeforeStarting) {
  const std::string config = WriteConfig();
  struct Case {
    std::string flag;
    std::string message;
  } cases[] = {
      {"--allowed-origins=app.example.com", "--allowed-origins: \"app.example.com\" is not an origin (scheme://host[:port]) or *"},
      {"--allowed-origins=https://", "--allowed-origins: \"https://\" is not an origin"},
      {"--allowed-origins=https://a.example.com/path", "is not an origin"},
      {"--allowed-hosts=gw.example.com/x", "--allowed-hosts: \"gw.example.com/x\" is not a host name or host:port"},
      {"--allowed-hosts", "--allowed-hosts needs a value"},
      {"--busy-poll-us=-1", "--busy-poll-us must be a number between 0 and 10000"},
      {"--busy-poll-us=fast", "--busy-poll-us must be a number between 0 and 10000"},
      {"--busy-poll-us=10001", "--busy-poll-us must be a number between 0 and 10000"},
  };
  for (const Case& c : cases) {
    std::ostringstream out, err;
    EXPECT_EQ(cli::Run({"vmcp", "serve", "--config=" + config, "--port=0", c.flag}, out, err), 2) << c.flag;
    EXPECT_NE(err.str().find(c.message), std::string::npos) << c.flag << ": " << err.str();
    EXPECT_EQ(out.str(), "") << "nothing started for " << c.flag;
  }
}

}  // namespace
}  // namespace vmcp
