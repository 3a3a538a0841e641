// The health monitor's probe loops.

#include "gateway/health_monitor.h"

#include <atomic>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_awaitable.hpp>


namespace vmcp::gateway {
namespace {

namespace asio = boost::asio;
using Clock = std::chrono::steady_clock;
constexpr auto kTuple = asio::as_tuple(asio::use_awaitable);

// The monitor's own backend sessions take part in no client conversation.
class QuietEvents final : public BackendEvents {
 public:
  void OnNotification(const std::string&, Json) override {}
  asio::awaitable<Answer> OnRequest(const std::string&, Json) override {
    Answer a;
    a.error = Json{{"code", kMethodNotFound}, {"message", "the gateway's health monitor answers no requests"}};
    co_return a;
  }
};

}  // namespace

struct HealthMonitor::Loop {
  BackendTarget target;                    // the probe's: the health-check timeout, no traffic gate
  std::shared_ptr<BackendHealth> health;
  asio::strand<asio::any_io_executor> strand;
  asio::steady_timer timer;
  std::shared_ptr<BackendSession> session;  // open once a probe initialized it
  std::atomic<bool> stopped{false};

  Loop(BackendTarget t, asio::any_io_executor ex)
      : target(std::move(t)), health(target.health), strand(asio::make_strand(ex)), timer(strand) {
    target.health = nullptr;
    target.metrics = nullptr;  // probes are reported by the health endpoints, not counted as traffic
    target.audit = nullptr;    // nor audited as calls
    target.header_source = target.probe_header_source;  // client_credentials for token-exchange backends
    target.timeout = health->policy().timeout;
    target.connect_retry_window = Clock::duration::zero();  // a probe reports what it finds, at once
  }
};

HealthMonitor::HealthMonitor(asio::any_io_executor executor, std::shared_ptr<transport::HttpClient> client, OnChange on_change)
    : executor_(std::move(executor)), client_(std::move(client)), on_change_(std::move(on_change)) {}

namespace {

asio::awaitable<absl::Status> Probe(std::shared_ptr<transport::HttpClient> client, std::shared_ptr<BackendSession>& session,
                                    const BackendTarget& target) {
  if (!session) {
    auto fresh = MakeBackendSession(client, target, std::make_shared<QuietEvents>());
    absl::Status s = co_await fresh->Initialize(Json::object());
    if (!s.ok()) {
      co_await fresh->Close();
      co_return s;
    }
    session = fresh;
    co_return absl::OkStatus();
  }
  std::string method = "ping";
  Json params = Json::object();
  std::shared_ptr<BackendEvents> none;
  auto r = co_await session->Call(std::move(method), std::move(params), none);
  if (!r.ok()) {
    if (r.status().code() != absl::StatusCode::kDeadlineExceeded) {
      // Start over with a new session next time (the backend may be a new process by then).
      auto old = std::move(session);
      co_await old->Close();
    }
    co_return r.status();
  }
  co_return absl::OkStatus();  // a JSON-RPC error to `ping` still proves the backend up
}

}  // namespace

void HealthMonitor::StartLoop(const BackendTarget& target) {
  auto loop = std::make_shared<Loop>(target, executor_);
  loops_[target.name] = loop;
  auto run = [](std::shared_ptr<HealthMonitor> self, std::shared_ptr<Loop> loop) -> asio::awaitable<void> {
    const HealthPolicy& policy = loop->health->policy();
    while (!loop->stopped) {
      const auto now = Clock::now();
      Clock::duration wait = policy.interval;
      if (loop->health->ShouldProbe(now)) {
        absl::Status result = co_await Probe(self->client_, loop->session, loop->target);
        if (loop->stopped) break;
        const auto done = Clock::now();
        const bool changed = loop->health->RecordProbe(result, done - now, done);
        if (changed || result.ok()) self->on_change_(loop->target.name, loop->health->Advertised(), changed);
      } else {
        wait = std::max<Clock::duration>(loop->health->NextProbeAllowed(now) - now, std::chrono::milliseconds(1));
      }
      loop->timer.expires_after(wait);
      co_await loop->timer.async_wait(kTuple);
    }
    if (loop->session) co_await loop->session->Close();
  };
  asio::co_spawn(loop->strand, run(shared_from_this(), loop), asio::detached);
}

void HealthMonitor::Sync(const std::vector<BackendTarget>& targets) {
  std::lock_guard lock(mu_);
  if (stopped_) return;
  std::map<std::string, std::shared_ptr<Loop>> keep;
  for (const BackendTarget& t : targets) {
    if (!t.health) continue;
    auto it = loops_.find(t.name);
    if (it != loops_.end() && it->second->health == t.health) {
      keep[t.name] = it->second;
      loops_.erase(it);
    }
  }
  for (auto& [name, loop] : loops_) {
    loop->stopped = true;
    asio::post(loop->strand, [loop] { loop->timer.cancel(); });
  }
  loops_.swap(keep);
  for (const BackendTarget& t : targets) {
    if (t.health && !loops_.count(t.name)) StartLoop(t);
  }
}

void HealthMonitor::Stop() {
  std::lock_guard lock(mu_);
  stopped_ = true;
  for (auto& [name, loop] : loops_) {
    loop->stopped = true;
    asio::post(loop->strand, [loop] { loop->timer.cancel(); });
  }
  loops_.clear();
}

}  // namespace vmcp::gateway
