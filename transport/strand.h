// File: transport/strand.h
//
// Internal to transport/ (server.cc and client.cc): the strand each connection runs on. It is kept in an
// `any_io_executor`, which is copied at every asynchronous step. A strand over the io_context's own
// executor type fits in any_io_executor's inline storage, where a strand over an `any_io_executor` does
// not and makes every copy a heap allocation (callgrind found hundreds a call), so that form is used
// whenever the executor is an io_context's. An io_context marked as run by exactly one thread (each of
// the server's own threads runs one) needs no strand at all: nothing on it ever runs concurrently, and
// a strand would only add its lock and queue to every step.
#pragma once

#include <optional>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/execution_context.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/strand.hpp>

namespace vmcp::transport::internal {

// The mark of an io_context that exactly one thread runs, for its whole life (added by its owner with
// boost::asio::make_service<SingleThreaded>(context) before any work is queued).
class SingleThreaded : public boost::asio::detail::execution_context_service_base<SingleThreaded> {
 public:
  explicit SingleThreaded(boost::asio::execution_context& context)
      : boost::asio::detail::execution_context_service_base<SingleThreaded>(context) {}
  void shutdown() override {}
};

inline boost::asio::any_io_executor MakeStrand(const boost::asio::any_io_executor& executor) {
  if (const auto* io = executor.target<boost::asio::io_context::executor_type>()) {
    if (boost::asio::has_service<SingleThreaded>(io->context())) return *io;
    return boost::asio::make_strand(*io);
  }
  return boost::asio::make_strand(executor);
}

// Whether `executor` is an io_context's own executor on a context marked SingleThreaded (MakeStrand's
// plain form): work bound to it may run inline from any coroutine on that thread.
inline bool IsSingleThreaded(const boost::asio::any_io_executor& executor) {
  const auto* io = executor.target<boost::asio::io_context::executor_type>();
  return io && boost::asio::has_service<SingleThreaded>(io->context());
}

// The io_context executor under `executor` (itself, or the one a strand of it wraps); nullopt when it
// runs on something else. A connection opened from there lives on that io_context, so the caller's
// next Acquire finds it as its own.
inline std::optional<boost::asio::io_context::executor_type> IoContextExecutorOf(
    const boost::asio::any_io_executor& executor) {
  if (const auto* io = executor.target<boost::asio::io_context::executor_type>()) return *io;
  if (const auto* strand = executor.target<boost::asio::strand<boost::asio::io_context::executor_type>>()) {
    return strand->get_inner_executor();
  }
  if (const auto* strand = executor.target<boost::asio::strand<boost::asio::any_io_executor>>()) {
    return IoContextExecutorOf(strand->get_inner_executor());  // (the health monitor's and JWKS loops')
  }
  return std::nullopt;
}

}  // namespace vmcp::transport::internal
