// File: gateway/health_monitor.h
//
// The health monitor: one probe loop per configured backend, on the gateway's executor. Each loop keeps
// a backend session of its own (initialize once, then `ping`; a backend that lost the session is
// re-initialized by the session itself) and feeds every result to the backend's BackendHealth. Every
// backend is probed every `healthCheckInterval` (so `unhealthyThreshold` failures span that many
// intervals, as configured); not at all while its circuit breaker is open, except for the half-open
// probe. (Reconnecting is not the monitor's job: sessions and streams do it with their own backoff.)
//
// `on_change` runs (on the executor) after every probe whose result matters to client sessions: the
// backend entered or left the aggregate, or it answered (sessions that could not connect to it may now).
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <boost/asio/any_io_executor.hpp>

#include "gateway/backend_session.h"
#include "gateway/health.h"

namespace vmcp::gateway {

class HealthMonitor : public std::enable_shared_from_this<HealthMonitor> {
 public:
  // (backend, whether it is in the aggregate now, whether that changed with this probe)
  using OnChange = std::function<void(const std::string& backend, bool advertised, bool changed)>;

  HealthMonitor(boost::asio::any_io_executor executor, std::shared_ptr<transport::HttpClient> client, OnChange on_change);

  // Probes exactly these targets from now on (each has its BackendHealth in `target.health`): loops of
  // targets no longer there stop, new ones start. A target whose health object is the same keeps its loop.
  void Sync(const std::vector<BackendTarget>& targets);
  void Stop();

 private:
  struct Loop;
  void StartLoop(const BackendTarget& target);

  boost::asio::any_io_executor executor_;
  std::shared_ptr<transport::HttpClient> client_;
  OnChange on_change_;
  std::mutex mu_;
  std::map<std::string, std::shared_ptr<Loop>> loops_;
  bool stopped_ = false;
};

}  // namespace vmcp::gateway
