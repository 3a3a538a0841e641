#include "gateway/trace.h"

#include <algorithm>
#include <future>
#include <random>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "gateway/jsonrpc.h"
#include "transport/client.h"

namespace vmcp::gateway {
namespace {

namespace asio = boost::asio;
constexpr auto kTuple = asio::as_tuple(asio::use_awaitable);

// Trace and span ids need to be unique and unpredictable enough, not secret: a per-thread generator
// seeded from the OS (OpenSSL's RAND_bytes would cost system calls on every request).
std::mt19937_64& Generator() {
  thread_local std::mt19937_64 gen = [] {
    std::random_device device;
    std::seed_seq seed{device(), device(), device(), device(), device(), device(), device(), device()};
    return std::mt19937_64(seed);
  }();
  return gen;
}

// `words` random 64-bit words in lower-case hex (written in place by absl), not all zero (an all-zero id
// is invalid).
template <size_t N>
HexId<N> RandomHex() {
  static_assert(N == 16 || N == 32);
  std::mt19937_64& gen = Generator();
  uint64_t first, second = 0;
  do {
    first = gen();
    if (N == 32) second = gen();
  } while (first == 0 && second == 0);
  const absl::AlphaNum high(absl::Hex(first, absl::kZeroPad16));
  char digits[N];
  std::copy(high.Piece().begin(), high.Piece().end(), digits);
  if constexpr (N == 32) {
    const absl::AlphaNum low(absl::Hex(second, absl::kZeroPad16));
    std::copy(low.Piece().begin(), low.Piece().end(), digits + 16);
  }
  return HexId<N>(std::string_view(digits, N));
}

bool IsLowerHex(const std::string& s) {
  for (char c : s) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

bool AllZero(const std::string& s) { return s.find_first_not_of('0') == std::string::npos; }

double RandomUnit() { return std::uniform_real_distribution<double>(0.0, 1.0)(Generator()); }

int64_t UnixNanos(std::chrono::system_clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
}

}  // namespace

TraceId NewTraceId() { return RandomHex<32>(); }
SpanId NewSpanId() { return RandomHex<16>(); }

std::optional<TraceContext> TraceContext::Parse(const std::string& header) {
  const std::string h(absl::StripAsciiWhitespace(header));
  // version "-" trace-id "-" parent-id "-" flags; a later version may append "-..." fields.
  if (h.size() < 55 || h[2] != '-' || h[35] != '-' || h[52] != '-') return std::nullopt;
  const std::string version = h.substr(0, 2), trace = h.substr(3, 32), parent = h.substr(36, 16), flags = h.substr(53, 2);
  if (!IsLowerHex(version) || version == "ff" || !IsLowerHex(trace) || !IsLowerHex(parent) || !IsLowerHex(flags)) {
    return std::nullopt;
  }
  if (version == "00" && h.size() != 55) return std::nullopt;
  if (h.size() > 55 && h[55] != '-') return std::nullopt;
  if (AllZero(trace) || AllZero(parent)) return std::nullopt;
  TraceContext t;
  t.trace_id = TraceId(trace);
  t.parent_id = SpanId(parent);
  t.span_id = NewSpanId();
  int f = 0;
  absl::SimpleHexAtoi(flags, &f);
  t.sampled = (f & 1) != 0;
  return t;
}

TraceContext TraceContext::FromHeaders(std::optional<std::string> traceparent, std::optional<std::string> tracestate,
                                       double sample_ratio) {
  if (traceparent) {
    if (auto t = Parse(*traceparent)) {
      // tracestate is kept only with a valid traceparent, and bounded (the spec allows 512 bytes).
      if (tracestate && tracestate->size() <= 512) t->tracestate = *tracestate;
      return *t;
    }
  }
  TraceContext t;
  t.trace_id = NewTraceId();
  t.span_id = NewSpanId();
  t.sampled = sample_ratio >= 1.0 || (sample_ratio > 0 && RandomUnit() < sample_ratio);
  return t;
}

TraceContext TraceContext::Child() const {
  TraceContext c = *this;
  c.parent_id = span_id;
  c.span_id = NewSpanId();
  return c;
}

std::string TraceContext::Traceparent() const {
  std::string out;
  out.reserve(55);
  out.append("00-").append(trace_id.view()).append("-").append(span_id.view()).append(sampled ? "-01" : "-00");
  return out;
}

// --- the exporter ---------------------------------------------------------------------------------

struct SpanExporter::Loop {
  explicit Loop(asio::any_io_executor ex) : strand(asio::make_strand(ex)), timer(strand) {}
  asio::any_io_executor strand;
  asio::steady_timer timer;
  std::shared_ptr<transport::HttpClient> client;
  std::atomic<bool> stopping{false};
  std::promise<void> done;
};

std::shared_ptr<SpanExporter> SpanExporter::FromConfig(const config::Config& cfg, double& sample_ratio) {
  sample_ratio = 1.0;
  if (!cfg.telemetry) return nullptr;
  const config::TelemetryConfig& t = *cfg.telemetry;
  double ratio = 1.0;
  if (!t.sampling_rate.empty() && absl::SimpleAtod(t.sampling_rate, &ratio)) sample_ratio = std::clamp(ratio, 0.0, 1.0);
  if (t.endpoint.empty() || !t.tracing_enabled) return nullptr;
  Options o;
  std::string base = t.endpoint;
  if (base.find("://") == std::string::npos) base = absl::StrCat(t.insecure ? "http://" : "https://", base);
  while (!base.empty() && base.back() == '/') base.pop_back();
  o.url = absl::EndsWith(base, "/v1/traces") ? base : absl::StrCat(base, "/v1/traces");
  for (const auto& [k, v] : t.headers) o.headers.emplace_back(k, v);
  if (!t.service_name.empty()) o.service_name = t.service_name;
  if (!t.service_version.empty()) o.service_version = t.service_version;
  return std::make_shared<SpanExporter>(std::move(o));
}

SpanExporter::SpanExporter(Options options) : options_(std::move(options)) {}

void SpanExporter::Export(Span span) {
  bool wake = false;
  {
    std::lock_guard lock(mu_);
    if (queue_.size() >= options_.max_queue) {
      ++dropped_;
      return;
    }
    queue_.push_back(std::move(span));
    wake = queue_.size() == options_.batch_size;
  }
  if (wake && loop_) asio::post(loop_->strand, [loop = loop_] { loop->timer.cancel(); });
}

SpanExporter::Stats SpanExporter::stats() const { return {exported_.load(), dropped_.load(), batches_failed_.load()}; }

nlohmann::json SpanExporter::Body(const std::vector<Span>& spans) const {
  using Json = nlohmann::json;
  auto attr = [](const std::string& k, const std::string& v) { return Json{{"key", k}, {"value", {{"stringValue", v}}}}; };
  Json out = Json::array();
  for (const Span& s : spans) {
    Json attributes = Json::array();
    for (const auto& [k, v] : s.attributes) attributes.push_back(attr(k, v));
    Json span{{"traceId", s.trace_id},
              {"spanId", s.span_id},
              {"name", s.name},
              {"kind", s.kind},
              {"startTimeUnixNano", std::to_string(UnixNanos(s.start))},
              {"endTimeUnixNano", std::to_string(UnixNanos(s.end))},
              {"attributes", attributes},
              {"status", s.error ? Json{{"code", 2}, {"message", s.error_message}} : Json{{"code", 1}}}};
    if (!s.parent_id.empty()) span["parentSpanId"] = s.parent_id;
    out.push_back(std::move(span));
  }
  return Json{{"resourceSpans",
               Json::array({{{"resource",
                              {{"attributes", Json::array({attr("service.name", options_.service_name),
                                                           attr("service.version", options_.service_version)})}}},
                             {"scopeSpans", Json::array({{{"scope", {{"name", "vmcp"}}}, {"spans", out}}})}}})}};
}

void SpanExporter::Start(asio::any_io_executor executor, std::shared_ptr<transport::HttpClient> client) {
  auto loop = std::make_shared<Loop>(executor);
  loop->client = std::move(client);
  loop_ = loop;
  auto url = transport::ParseUrl(options_.url);
  asio::co_spawn(
      loop->strand,
      [](std::shared_ptr<SpanExporter> self, std::shared_ptr<Loop> loop,
         absl::StatusOr<transport::Url> url) -> asio::awaitable<void> {
        for (;;) {
          loop->timer.expires_after(self->options_.interval);
          co_await loop->timer.async_wait(kTuple);
          const bool stopping = loop->stopping;
          // Everything queued now, a batch at a time.
          for (;;) {
            std::vector<Span> batch;
            {
              std::lock_guard lock(self->mu_);
              while (!self->queue_.empty() && batch.size() < self->options_.batch_size) {
                batch.push_back(std::move(self->queue_.front()));
                self->queue_.pop_front();
              }
            }
            if (batch.empty()) break;
            bool ok = false;
            if (url.ok()) {
              transport::Request req;
              req.method = "POST";
              req.headers.Set("Content-Type", "application/json");
              for (const auto& [k, v] : self->options_.headers) req.headers.Set(k, v);
              req.body = Dump(self->Body(batch));
              transport::Endpoint endpoint;
              auto r = co_await loop->client->Send(*url, std::move(req), endpoint, self->options_.timeout);
              ok = r.ok() && r->status >= 200 && r->status < 300;
            }
            if (ok) {
              self->exported_ += batch.size();
            } else {
              ++self->batches_failed_;
              self->dropped_ += batch.size();
            }
          }
          if (stopping) {
            loop->done.set_value();
            co_return;
          }
        }
      }(shared_from_this(), loop, std::move(url)),
      asio::detached);
}

void SpanExporter::Stop() {
  auto loop = loop_;
  if (!loop || loop->stopping.exchange(true)) return;
  auto done = loop->done.get_future();
  asio::post(loop->strand, [loop] { loop->timer.cancel(); });
  done.wait_for(options_.timeout + std::chrono::seconds(1));
}

}  // namespace vmcp::gateway
