// File: gateway/gateway_asio.h
//
// The one part of the gateway's API that names Boost.Asio: the executor a host passes to
// Gateway::Start(const HostExecutor&) so the gateway runs on the host's own io_context instead of
// threads of its own. Include it only in a host that runs Asio itself.
//
//   boost::asio::io_context ioc;
//   auto gw = vmcp::Gateway::Create(cfg, options);
//   auto port = (*gw)->Start(vmcp::HostExecutor{ioc.get_executor()});
//   std::thread t([&] { ioc.run(); });
//   ...
//   (*gw)->Stop(std::chrono::seconds(5));   // from a thread other than t while t keeps running
#pragma once

#include <boost/asio/any_io_executor.hpp>

#include "gateway/gateway.h"

namespace vmcp {

struct HostExecutor {
  boost::asio::any_io_executor executor;
};

}  // namespace vmcp
