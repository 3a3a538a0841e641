// File: tests/transport/test_io.h
//
// Test plumbing: an io_context running on its own thread, with a way to run a coroutine on it and wait
// for its result from the test's thread; and a blocking raw TCP client for byte-level server tests.
#pragma once

#include <chrono>
#include <future>
#include <initializer_list>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/use_future.hpp>
#include <boost/asio/write.hpp>

namespace vmcp::transport::testing {

class IoThread {
 public:
  explicit IoThread(int threads = 1) : work_(boost::asio::make_work_guard(ioc_)) {
    for (int i = 0; i < threads; ++i) threads_.emplace_back([this] { ioc_.run(); });
  }
  ~IoThread() { Stop(); }
  // Stops the loop and joins its threads (again: nothing).
  void Stop() {
    work_.reset();
    ioc_.stop();
    for (auto& t : threads_) t.join();
    threads_.clear();
  }
  // Destroys the handlers still queued (after Stop). IoThreads that hand work to each other are all
  // stopped, then all shut down, before any is destroyed: a handler queued in one, or finishing on its
  // thread, may hold another's executor (see ShutDownTogether).
  void ShutDown() { ioc_.ShutDown(); }
  boost::asio::io_context& context() { return ioc_; }
  boost::asio::any_io_executor executor() { return ioc_.get_executor(); }

  // Runs the coroutine on the io thread and waits for its result.
  template <typename T>
  T Run(boost::asio::awaitable<T> aw) {
    return boost::asio::co_spawn(ioc_, std::move(aw), boost::asio::use_future).get();
  }
  template <typename T>
  std::future<T> Spawn(boost::asio::awaitable<T> aw) {
    return boost::asio::co_spawn(ioc_, std::move(aw), boost::asio::use_future);
  }

 private:
  class Context : public boost::asio::io_context {
   public:
    void ShutDown() { shutdown(); }
  };
  Context ioc_;
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> work_;
  std::vector<std::thread> threads_;
};

// Declared after the IoThreads it names, it stops them all, then shuts them all down, before the first
// of them is destroyed.
class ShutDownTogether {
 public:
  explicit ShutDownTogether(std::initializer_list<IoThread*> threads) : threads_(threads) {}
  ~ShutDownTogether() {
    for (IoThread* t : threads_) t->Stop();
    for (IoThread* t : threads_) t->ShutDown();
  }
  ShutDownTogether(const ShutDownTogether&) = delete;
  ShutDownTogether& operator=(const ShutDownTogether&) = delete;

 private:
  std::vector<IoThread*> threads_;
};

// A blocking TCP connection to 127.0.0.1:port, for writing raw bytes and reading raw answers.
class RawClient {
 public:
  explicit RawClient(uint16_t port) : socket_(ioc_) {
    socket_.connect({boost::asio::ip::make_address("127.0.0.1"), port});
  }
  void Write(const std::string& bytes) { boost::asio::write(socket_, boost::asio::buffer(bytes)); }
  // Reads until `marker` has been seen (returns everything read), or until the peer closes.
  std::string ReadUntil(const std::string& marker) {
    while (buffer_.find(marker) == std::string::npos) {
      if (!ReadMore()) break;
    }
    return buffer_;
  }
  // Reads until the peer closes the connection; returns everything read.
  std::string ReadToEof() {
    while (ReadMore()) {
    }
    return buffer_;
  }
  bool ReadMore() {
    char chunk[4096];
    boost::system::error_code ec;
    const size_t n = socket_.read_some(boost::asio::buffer(chunk), ec);
    if (ec) return false;
    buffer_.append(chunk, n);
    return true;
  }
  std::string& buffer() { return buffer_; }
  void Close() {
    boost::system::error_code ec;
    socket_.close(ec);
  }
  boost::asio::ip::tcp::socket& socket() { return socket_; }

 private:
  boost::asio::io_context ioc_;
  boost::asio::ip::tcp::socket socket_;
  std::string buffer_;
};

}  // namespace vmcp::transport::testing
