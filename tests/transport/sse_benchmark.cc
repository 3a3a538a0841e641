// Micro-benchmark of the SSE codec (transport/sse.h): parse throughput on an MCP-like stream fed in 4 KiB
// chunks (many ~200-byte JSON-RPC events with heartbeats, and one event with 64 KiB of data), and
// FormatSseEvent/AppendSseEvent throughput. Reports bytes/second of wire text.
//
//   bazel build //tests/transport:sse_benchmark && bazel-bin/tests/transport/sse_benchmark

#include <benchmark/benchmark.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "transport/sse.h"

namespace vmcp::transport {
namespace {

constexpr size_t kChunk = 4096;

// A JSON-RPC result of about 200 bytes, varying with `i`.
std::string JsonRpc(int i) {
  std::string s = "{\"jsonrpc\":\"2.0\",\"id\":" + std::to_string(i) +
                  ",\"result\":{\"content\":[{\"type\":\"text\",\"text\":\"result of call " + std::to_string(i) +
                  " from the backend\"}],\"isError\":false,\"_meta\":{\"progressToken\":\"tok-" + std::to_string(i) +
                  "\"}}}";
  s.resize(200, ' ');  // pad (JSON allows trailing whitespace)
  s.back() = '}';
  return s;
}

std::vector<SseEvent> SmallEvents(int n) {
  std::vector<SseEvent> events;
  for (int i = 0; i < n; ++i) {
    events.push_back(SseEvent{"session-1-" + std::to_string(i), "message", JsonRpc(i), std::nullopt, true});
  }
  return events;
}

SseEvent LargeEvent() {
  std::string data = "{\"jsonrpc\":\"2.0\",\"id\":7,\"result\":{\"content\":[{\"type\":\"text\",\"text\":\"";
  while (data.size() < 64 * 1024 - 8) data += "lorem ipsum dolor sit amet ";
  data.resize(64 * 1024 - 8);
  data += "\"}]}}";
  return SseEvent{"big-1", "message", data, std::nullopt, true};
}

std::string Wire(const std::vector<SseEvent>& events, bool heartbeats) {
  std::string wire;
  for (size_t i = 0; i < events.size(); ++i) {
    AppendSseEvent(events[i], wire);
    if (heartbeats && i % 50 == 49) AppendSseComment("keep-alive", wire);
  }
  return wire;
}

void ParseInChunks(benchmark::State& state, const std::string& wire, size_t want_events) {
  std::vector<SseEvent> events;
  events.reserve(want_events);
  for (auto _ : state) {
    SseParser parser;
    events.clear();
    for (size_t pos = 0; pos < wire.size(); pos += kChunk) {
      absl::Status s = parser.Feed(std::string_view(wire).substr(pos, kChunk), events);
      if (!s.ok()) state.SkipWithError("parse failed");
    }
    if (events.size() != want_events) state.SkipWithError("wrong event count");
    benchmark::DoNotOptimize(events.data());
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * static_cast<int64_t>(wire.size()));
  state.counters["events/s"] =
      benchmark::Counter(static_cast<double>(want_events), benchmark::Counter::kIsIterationInvariantRate);
}

void BM_ParseSmallEvents(benchmark::State& state) {
  static const std::string wire = Wire(SmallEvents(2000), /*heartbeats=*/true);
  ParseInChunks(state, wire, 2000);
}
BENCHMARK(BM_ParseSmallEvents);

void BM_ParseLargeEvent(benchmark::State& state) {
  static const std::string wire = Wire({LargeEvent()}, /*heartbeats=*/false);
  ParseInChunks(state, wire, 1);
}
BENCHMARK(BM_ParseLargeEvent);

// The realistic mix: small events with one 64 KiB event in the middle.
void BM_ParseMixedStream(benchmark::State& state) {
  static const std::string wire = [] {
    std::vector<SseEvent> events = SmallEvents(1000);
    events.insert(events.begin() + 500, LargeEvent());
    return Wire(events, /*heartbeats=*/true);
  }();
  ParseInChunks(state, wire, 1001);
}
BENCHMARK(BM_ParseMixedStream);

void BM_FormatSmallEvents(benchmark::State& state) {
  static const std::vector<SseEvent> events = SmallEvents(2000);
  size_t bytes = 0;
  for (auto _ : state) {
    for (const SseEvent& e : events) {
      std::string wire = FormatSseEvent(e);
      bytes += wire.size();
      benchmark::DoNotOptimize(wire.data());
    }
  }
  state.SetBytesProcessed(static_cast<int64_t>(bytes));
  state.counters["events/s"] =
      benchmark::Counter(static_cast<double>(events.size()), benchmark::Counter::kIsIterationInvariantRate);
}
BENCHMARK(BM_FormatSmallEvents);

void BM_AppendSmallEventsReusedBuffer(benchmark::State& state) {
  static const std::vector<SseEvent> events = SmallEvents(2000);
  std::string wire;
  size_t bytes = 0;
  for (auto _ : state) {
    wire.clear();
    for (const SseEvent& e : events) AppendSseEvent(e, wire);
    bytes += wire.size();
    benchmark::DoNotOptimize(wire.data());
  }
  state.SetBytesProcessed(static_cast<int64_t>(bytes));
}
BENCHMARK(BM_AppendSmallEventsReusedBuffer);

void BM_FormatLargeEvent(benchmark::State& state) {
  static const SseEvent event = LargeEvent();
  size_t bytes = 0;
  for (auto _ : state) {
    std::string wire = FormatSseEvent(event);
    bytes += wire.size();
    benchmark::DoNotOptimize(wire.data());
  }
  state.SetBytesProcessed(static_cast<int64_t>(bytes));
}
BENCHMARK(BM_FormatLargeEvent);

}  // namespace
}  // namespace vmcp::transport
