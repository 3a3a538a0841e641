// File: gateway/trace.h
//
// W3C trace context for the gateway: a client's `traceparent` (and `tracestate`) is accepted, or a
// trace is started; every backend request carries the trace on with a span id of its own; and, when
// the config's `telemetry` names an endpoint with tracing on, finished spans are exported as OTLP/HTTP
// JSON in batches, off the request path: a full queue drops spans (counted) and a collector that is
// down never slows a call.
//
//   TraceContext t = TraceContext::FromHeaders(traceparent, tracestate);   // or a new root
//   TraceContext child = t.Child();        // for one backend request
//   headers.Set("traceparent", child.Traceparent());
#pragma once

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <boost/asio/any_io_executor.hpp>

#include "config/config.h"
#include "nlohmann/json.hpp"

namespace vmcp::transport {
class HttpClient;
}

namespace vmcp::gateway {

// A trace or span id: N lower-case hex digits held in place (no allocation on the request path), or
// empty. Read as a string_view.
template <size_t N>
class HexId {
 public:
  HexId() = default;
  // `hex` is N digits (callers check), or empty.
  explicit HexId(std::string_view hex) : size_(hex.size() == N ? N : 0) {
    if (size_ == N) std::copy(hex.begin(), hex.end(), digits_.begin());
  }
  bool empty() const { return size_ == 0; }
  std::string_view view() const { return {digits_.data(), size_}; }
  operator std::string_view() const { return view(); }
  std::string str() const { return std::string(view()); }
  friend bool operator==(const HexId& a, const HexId& b) { return a.view() == b.view(); }

 private:
  std::array<char, N> digits_{};
  size_t size_ = 0;
};
using TraceId = HexId<32>;
using SpanId = HexId<16>;

struct TraceContext {
  TraceId trace_id;   // 32 lowercase hex digits, not all zero
  SpanId span_id;     // 16 lowercase hex digits: this hop's span
  SpanId parent_id;   // the caller's span (empty for a root)
  bool sampled = true;
  std::string tracestate;  // forwarded as received

  // The client's context when `traceparent` is valid (version 00, or a later one read as 00), else a new
  // root trace. `sample_ratio` decides a new root's sampling.
  static TraceContext FromHeaders(std::optional<std::string> traceparent, std::optional<std::string> tracestate,
                                  double sample_ratio = 1.0);
  // Parses a traceparent; nullopt when malformed.
  static std::optional<TraceContext> Parse(const std::string& traceparent);
  // A span of this trace whose parent is this one.
  TraceContext Child() const;
  std::string Traceparent() const;
};

TraceId NewTraceId();
SpanId NewSpanId();

// A finished span, as exported.
struct Span {
  std::string trace_id;
  std::string span_id;
  std::string parent_id;
  std::string name;
  int kind = 2;  // OTLP SpanKind: 2 server, 3 client
  std::chrono::system_clock::time_point start;
  std::chrono::system_clock::time_point end;
  bool error = false;
  std::string error_message;
  std::vector<std::pair<std::string, std::string>> attributes;
};

// OTLP/HTTP JSON exporter. Spans are queued (bounded) from any thread; a coroutine on `executor`
// posts a batch every `interval` or when `batch_size` spans wait.
class SpanExporter : public std::enable_shared_from_this<SpanExporter> {
 public:
  struct Options {
    std::string url;  // .../v1/traces
    std::vector<std::pair<std::string, std::string>> headers;
    std::string service_name = "vmcp";
    std::string service_version = "0.1.0";
    size_t max_queue = 4096;
    size_t batch_size = 256;
    std::chrono::milliseconds interval{1000};
    std::chrono::milliseconds timeout{5000};
  };
  // The exporter the config asks for, or null (no endpoint, or tracing off). `sample_ratio` is set from
  // telemetry.samplingRate (1.0 when unset).
  static std::shared_ptr<SpanExporter> FromConfig(const config::Config& cfg, double& sample_ratio);

  explicit SpanExporter(Options options);
  void Start(boost::asio::any_io_executor executor, std::shared_ptr<transport::HttpClient> client);
  void Export(Span span);
  // Sends what is queued (bounded by the timeout) and stops the loop.
  void Stop();

  struct Stats {
    uint64_t exported = 0;
    uint64_t dropped = 0;  // queue full, or the collector failed
    uint64_t batches_failed = 0;
  };
  Stats stats() const;

  // The OTLP JSON body for a batch (public for tests).
  nlohmann::json Body(const std::vector<Span>& spans) const;

 private:
  struct Loop;
  const Options options_;
  mutable std::mutex mu_;
  std::deque<Span> queue_;
  std::shared_ptr<Loop> loop_;
  std::atomic<uint64_t> exported_{0}, dropped_{0}, batches_failed_{0};
};

}  // namespace vmcp::gateway
