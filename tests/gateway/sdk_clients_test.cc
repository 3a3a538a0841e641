// The gateway end to end with REAL MCP peers on both sides: the official TypeScript SDK client
// (tests/peers/sdk-client.mjs) in front, and behind it the pinned reference server-everything (once over
// streamable HTTP, once over the legacy HTTP+SSE transport) plus clash-backend.mjs, whose tool and
// prompt names clash with server-everything's. One gateway per conflict-resolution strategy:
//
//   prefix   - the SDK client's full `everything` script (sampling, elicitation, progress, logs,
//              completion, prompts, resources) through each server-everything, by prefixed names;
//   priority - clash's `echo` wins the bare name, tools only server-everything has still route to it;
//   manual   - clash's clashing tools renamed by overrides, both sides reachable.
//
// The three backends start once for the suite; every peer is waited for on its LISTENING line or its
// exit, never by sleeping. Needs VMCP_PEERS_DIR (set by scripts/test.sh).

#include <gtest/gtest.h>

#include <algorithm>
#include <memory>
#include <string>
#include <vector>

#include "gateway/gateway.h"
#include "nlohmann/json.hpp"
#include "tests/gateway/child_process.h"
#include "tests/gateway/e2e_support.h"

namespace vmcp {
namespace {

using Json = nlohmann::json;
using testing::BackendEntry;
using testing::ChildProcess;
using testing::PeersDir;
using testing::PrefixAggregation;
using testing::PriorityAggregation;
using testing::RunPeer;
using testing::StartGateway;
using testing::StartPeer;
using testing::VmcpConfig;

// The checks of sdk-client.mjs's `everything` script that must hold (the rest are informational).
const std::vector<std::string> kEverythingChecks = {
    "toolsListed", "echo",     "getSum",            "resourceRead",     "templateRead",
    "promptGot",   "completion", "resourceCompletion", "progress",       "longRunningResult",
    "logNotifications", "sampling", "elicitation",
};

std::string McpUrl(uint16_t port) { return "http://127.0.0.1:" + std::to_string(port) + "/mcp"; }

// Runs sdk-client.mjs with `args` and returns its one JSON object (null after recording a failure).
Json RunSdkClient(const std::vector<std::string>& args) {
  testing::PeerRun run = RunPeer("sdk-client.mjs", args, 90000);
  std::string joined;
  for (const std::string& a : args) joined += " " + a;
  // The object is the last line of stdout.
  std::string line = run.output;
  while (!line.empty() && line.back() == '\n') line.pop_back();
  if (auto nl = line.rfind('\n'); nl != std::string::npos) line = line.substr(nl + 1);
  Json out = Json::parse(line, nullptr, false);
  if (run.exit_code != 0 || !out.is_object()) {
    ADD_FAILURE() << "sdk-client.mjs" << joined << "\nexited " << run.exit_code << " with:\n" << run.output;
    return Json();
  }
  return out;
}

// The text parts of a CallToolResult, joined by newlines.
std::string TextOf(const Json& result) {
  std::string text;
  if (!result.is_object() || !result.contains("content")) return text;
  for (const Json& c : result["content"]) {
    if (c.value("type", "") != "text") continue;
    if (!text.empty()) text += "\n";
    text += c.value("text", "");
  }
  return text;
}

// The result of the smoke script's --calls entry named `name` (null when it is missing or failed).
Json CallResult(const Json& out, const std::string& name) {
  for (const Json& c : out.value("calls", Json::array())) {
    if (c.value("name", "") == name) return c.value("result", Json());
  }
  return Json();
}

bool Listed(const Json& out, const std::string& list, const std::string& name) {
  const Json l = out["lists"].value(list, Json::array());
  return std::find(l.begin(), l.end(), Json(name)) != l.end();
}

// The PORT in server-everything's get-env answer: tells the two server-everything backends apart.
std::string EnvPort(const Json& result) {
  Json env = Json::parse(TextOf(result), nullptr, false);
  return env.is_object() ? env.value("PORT", "") : "";
}

void ExpectEverythingChecks(const Json& out) {
  ASSERT_TRUE(out.is_object());
  for (const std::string& check : kEverythingChecks) {
    EXPECT_EQ(out["checks"].value(check, Json()), Json(true))
        << "check " << check << " failed; errors: " << out["errors"].dump() << "\nchecks: " << out["checks"].dump();
  }
  // Transport-level reports (e.g. the SDK's "progress notification for an unknown token" when the last
  // progress and the result arrive together) are not failures of a step; sdk-client's `ok` ignores them.
  for (const Json& e : out["errors"]) {
    EXPECT_EQ(e.value("step", ""), "transport") << "step failed: " << e.dump();
  }
  EXPECT_EQ(out["ok"], true) << out.dump();
}

class SdkClientsTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    setup_error_ = new std::string;
    if (PeersDir().empty()) {
      *setup_error_ = "VMCP_PEERS_DIR is not set: run the tests with scripts/test.sh "
                      "(or bazel test --test_env=VMCP_PEERS_DIR=$PWD/tests/peers)";
      return;
    }
    everything_ = StartPeer("run-server-everything.mjs", {"--port", "0", "--mode", "streamableHttp"}, everything_port_)
                      .release();
    everything_sse_ = StartPeer("run-server-everything.mjs", {"--port", "0", "--mode", "sse"}, everything_sse_port_)
                          .release();
    clash_ = StartPeer("clash-backend.mjs", {"--port", "0"}, clash_port_).release();
    if (everything_port_ == 0) *setup_error_ += "server-everything (streamableHttp) did not start: " + everything_->output();
    if (everything_sse_port_ == 0) *setup_error_ += "server-everything (sse) did not start: " + everything_sse_->output();
    if (clash_port_ == 0) *setup_error_ += "clash-backend.mjs did not start: " + clash_->output();
  }
  static void TearDownTestSuite() {
    delete everything_;
    delete everything_sse_;
    delete clash_;
    delete setup_error_;
    everything_ = everything_sse_ = clash_ = nullptr;
    setup_error_ = nullptr;
  }

  void SetUp() override { ASSERT_TRUE(setup_error_->empty()) << *setup_error_; }

  static std::string AllBackends() {
    return BackendEntry("everything", everything_port_) +
           BackendEntry("everything-sse", everything_sse_port_, "/sse", "sse") + BackendEntry("clash", clash_port_);
  }

  static inline ChildProcess* everything_ = nullptr;
  static inline ChildProcess* everything_sse_ = nullptr;
  static inline ChildProcess* clash_ = nullptr;
  static inline int everything_port_ = 0;
  static inline int everything_sse_port_ = 0;
  static inline int clash_port_ = 0;
  static inline std::string* setup_error_ = nullptr;
};

// ---- prefix: '{workload}_' ----------------------------------------------------------------------------

TEST_F(SdkClientsTest, PrefixEverythingScriptThroughStreamableBackend) {
  uint16_t port = 0;
  auto gw = StartGateway(VmcpConfig(AllBackends(), PrefixAggregation("{workload}_")), port);
  ASSERT_NE(gw, nullptr);
  Json out = RunSdkClient({"--url", McpUrl(port), "--script", "everything", "--prefix", "everything_"});
  ExpectEverythingChecks(out);
  if (out.is_object()) {
    EXPECT_EQ(out["server"]["info"]["name"], "e2e-vmcp") << out["server"].dump();
  }
  gw->Stop(std::chrono::seconds(2));
}

TEST_F(SdkClientsTest, PrefixEverythingScriptThroughSseBackend) {
  uint16_t port = 0;
  auto gw = StartGateway(VmcpConfig(AllBackends(), PrefixAggregation("{workload}_")), port);
  ASSERT_NE(gw, nullptr);
  Json out = RunSdkClient({"--url", McpUrl(port), "--script", "everything", "--prefix", "everything-sse_"});
  ExpectEverythingChecks(out);
  gw->Stop(std::chrono::seconds(2));
}

TEST_F(SdkClientsTest, PrefixClashSmokeAndEachPrefixRoutesToItsBackend) {
  uint16_t port = 0;
  auto gw = StartGateway(VmcpConfig(AllBackends(), PrefixAggregation("{workload}_")), port);
  ASSERT_NE(gw, nullptr);
  Json calls = Json::array({
      {{"name", "clash_echo"}, {"arguments", {{"message", "hi"}}}},
      {{"name", "everything_get-env"}, {"arguments", Json::object()}},
      {{"name", "everything-sse_get-env"}, {"arguments", Json::object()}},
  });
  Json out = RunSdkClient({"--url", McpUrl(port), "--script", "smoke", "--calls", calls.dump(), "--prompt",
                           "clash_simple-prompt"});
  ASSERT_TRUE(out.is_object());
  for (const char* name : {"clash_echo", "clash_get-sum", "clash_clash-only", "everything_echo", "everything-sse_echo",
                           "everything_get-tiny-image", "everything-sse_get-tiny-image"}) {
    EXPECT_TRUE(Listed(out, "tools", name)) << name << " not in " << out["lists"]["tools"].dump();
  }
  EXPECT_FALSE(Listed(out, "tools", "echo")) << out["lists"]["tools"].dump();
  const std::string clash = TextOf(CallResult(out, "clash_echo"));
  EXPECT_EQ(clash.rfind("clash: ", 0), 0u) << out["calls"].dump();
  EXPECT_EQ(clash, "clash: echo: hi");
  EXPECT_EQ(EnvPort(CallResult(out, "everything_get-env")), std::to_string(everything_port_)) << out["calls"].dump();
  EXPECT_EQ(EnvPort(CallResult(out, "everything-sse_get-env")), std::to_string(everything_sse_port_))
      << out["calls"].dump();
  EXPECT_EQ(out["results"]["prompts/get"]["messages"][0]["content"]["text"], "clash: simple-prompt")
      << out["results"].dump();
  EXPECT_EQ(out["ok"], true) << out.dump();
  gw->Stop(std::chrono::seconds(2));
}

// ---- priority: [clash, everything, everything-sse] ---------------------------------------------------

TEST_F(SdkClientsTest, PriorityClashWinsSharedNamesAndUniqueToolsStillRoute) {
  uint16_t port = 0;
  auto gw = StartGateway(VmcpConfig(AllBackends(), PriorityAggregation({"clash", "everything", "everything-sse"})), port);
  ASSERT_NE(gw, nullptr);
  Json calls = Json::array({
      {{"name", "echo"}, {"arguments", {{"message", "hi"}}}},
      {{"name", "get-sum"}, {"arguments", {{"a", 2}, {"b", 3}}}},
      {{"name", "clash-only"}, {"arguments", Json::object()}},
      {{"name", "get-tiny-image"}, {"arguments", Json::object()}},
      {{"name", "get-env"}, {"arguments", Json::object()}},
  });
  Json out = RunSdkClient({"--url", McpUrl(port), "--script", "smoke", "--calls", calls.dump(), "--prompt", "simple-prompt"});
  ASSERT_TRUE(out.is_object());
  for (const char* name : {"echo", "get-sum", "clash-only", "get-tiny-image", "get-env", "trigger-sampling-request"}) {
    EXPECT_TRUE(Listed(out, "tools", name)) << name << " not in " << out["lists"]["tools"].dump();
  }
  for (const char* name : {"clash_echo", "everything_echo", "everything-sse_echo"}) {
    EXPECT_FALSE(Listed(out, "tools", name)) << name << " in " << out["lists"]["tools"].dump();
  }
  EXPECT_EQ(TextOf(CallResult(out, "echo")), "clash: echo: hi") << out["calls"].dump();
  EXPECT_EQ(TextOf(CallResult(out, "get-sum")), "clash: get-sum: 5") << out["calls"].dump();
  EXPECT_EQ(TextOf(CallResult(out, "clash-only")), "clash: clash-only") << out["calls"].dump();
  // Only server-everything has it: answered by `everything`, which outranks `everything-sse`.
  const Json image = CallResult(out, "get-tiny-image");
  ASSERT_TRUE(image.is_object()) << out["calls"].dump();
  EXPECT_FALSE(image.value("isError", false)) << image.dump();
  EXPECT_TRUE(std::any_of(image["content"].begin(), image["content"].end(),
                          [](const Json& c) { return c.value("type", "") == "image"; }))
      << image.dump();
  EXPECT_EQ(EnvPort(CallResult(out, "get-env")), std::to_string(everything_port_)) << out["calls"].dump();
  // Prompts: priority-listed backends keep bare names, the first in priorityOrder wins.
  EXPECT_EQ(out["results"]["prompts/get"]["messages"][0]["content"]["text"], "clash: simple-prompt")
      << out["results"].dump();
  EXPECT_EQ(out["ok"], true) << out.dump();
  gw->Stop(std::chrono::seconds(2));
}

// ---- manual: overrides rename clash's clashing tools ---------------------------------------------------

// Only `everything` and `clash` here: under manual, every name two backends share needs an override,
// and the two server-everything instances share all of theirs.
TEST_F(SdkClientsTest, ManualOverridesRenameClashingToolsAndBothSidesAreReachable) {
  const std::string aggregation =
      "  conflictResolution: manual\n"
      "  conflictResolutionConfig: {}\n"
      "  tools:\n"
      "    - workload: clash\n"
      "      overrides:\n"
      "        echo:\n"
      "          name: clash_echo_renamed\n"
      "          description: clash's echo, renamed\n"
      "        get-sum:\n"
      "          name: clash_get-sum_renamed\n";
  uint16_t port = 0;
  auto gw = StartGateway(
      VmcpConfig(BackendEntry("everything", everything_port_) + BackendEntry("clash", clash_port_), aggregation), port);
  ASSERT_NE(gw, nullptr);
  Json calls = Json::array({
      {{"name", "echo"}, {"arguments", {{"message", "hi"}}}},
      {{"name", "clash_echo_renamed"}, {"arguments", {{"message", "hi"}}}},
      {{"name", "get-sum"}, {"arguments", {{"a", 2}, {"b", 3}}}},
      {{"name", "clash_get-sum_renamed"}, {"arguments", {{"a", 2}, {"b", 3}}}},
      {{"name", "clash-only"}, {"arguments", Json::object()}},
  });
  Json out = RunSdkClient({"--url", McpUrl(port), "--script", "smoke", "--calls", calls.dump()});
  ASSERT_TRUE(out.is_object());
  for (const char* name : {"echo", "clash_echo_renamed", "get-sum", "clash_get-sum_renamed", "clash-only", "get-tiny-image"}) {
    EXPECT_TRUE(Listed(out, "tools", name)) << name << " not in " << out["lists"]["tools"].dump();
  }
  for (const Json& t : out["results"]["tools/list"].value("tools", Json::array())) {
    if (t.value("name", "") == "clash_echo_renamed") {
      EXPECT_EQ(t.value("description", ""), "clash's echo, renamed");
    }
  }
  EXPECT_EQ(TextOf(CallResult(out, "echo")), "Echo: hi") << out["calls"].dump();
  EXPECT_EQ(TextOf(CallResult(out, "clash_echo_renamed")), "clash: echo: hi") << out["calls"].dump();
  EXPECT_NE(TextOf(CallResult(out, "get-sum")).find('5'), std::string::npos) << out["calls"].dump();
  EXPECT_EQ(TextOf(CallResult(out, "get-sum")).rfind("clash", 0), std::string::npos) << out["calls"].dump();
  EXPECT_EQ(TextOf(CallResult(out, "clash_get-sum_renamed")), "clash: get-sum: 5") << out["calls"].dump();
  EXPECT_EQ(TextOf(CallResult(out, "clash-only")), "clash: clash-only") << out["calls"].dump();
  EXPECT_EQ(out["ok"], true) << out.dump();
  gw->Stop(std::chrono::seconds(2));
}

// ---- the gateway's own legacy HTTP+SSE endpoint ---------------------------------------------------------

// The SDK's legacy SSEClientTransport (GET /sse, then POST to the endpoint it names) against the
// gateway, with the full `everything` script through the streamable server-everything backend.
TEST_F(SdkClientsTest, LegacySseClientThroughGateway) {
  uint16_t port = 0;
  auto gw = StartGateway(VmcpConfig(AllBackends(), PrefixAggregation("{workload}_")), port);
  ASSERT_NE(gw, nullptr);
  Json out = RunSdkClient({"--transport", "sse", "--url", "http://127.0.0.1:" + std::to_string(port) + "/sse",
                           "--script", "everything", "--prefix", "everything_", "--timeout-ms", "15000"});
  ExpectEverythingChecks(out);
  gw->Stop(std::chrono::seconds(2));
}

// A backend's tools/list_changed (it advertised listChanged) re-aggregates the session's catalogue and
// reaches the client, over streamable HTTP (on its GET stream) and over legacy SSE (on its one stream):
// the new tool is then listed under its prefix and routed.
TEST_F(SdkClientsTest, BackendListChangedReachesTheClientAndTheNewToolRoutes) {
  uint16_t port = 0;
  auto gw = StartGateway(VmcpConfig(AllBackends(), PrefixAggregation("{workload}_")), port);
  ASSERT_NE(gw, nullptr);
  for (const char* transport : {"streamable", "sse"}) {
    const std::string url = std::string("http://127.0.0.1:") + std::to_string(port) +
                            (std::string(transport) == "sse" ? "/sse" : "/mcp");
    const std::string added = std::string("clash_fresh_") + transport;
    Json out = RunSdkClient({"--transport", transport, "--url", url, "--script", "listchanged", "--prefix", "clash_",
                             "--tool", "clash_add-tool", "--expect", added, "--timeout-ms", "15000"});
    ASSERT_TRUE(out.is_object()) << transport;
    for (const char* check : {"absentBefore", "listChangedReceived", "newToolListed", "newToolCalled"}) {
      EXPECT_EQ(out["checks"].value(check, Json()), Json(true))
          << transport << ": " << check << "; checks " << out["checks"].dump() << "; errors " << out["errors"].dump()
          << "; tools after " << out["lists"].value("toolsAfter", Json()).dump();
    }
    EXPECT_EQ(out["ok"], true) << out.dump();
  }
  gw->Stop(std::chrono::seconds(2));
}

}  // namespace
}  // namespace vmcp
