// Tests of transport/drained_reads: a read on a real loopback TCP connection reports the socket drained
// (so the reactor waits for readiness before the next read) exactly when it emptied the receive queue:
// fewer bytes than the buffer holds, or the end of the stream. Asio's own read reports only the end of
// the stream, so the short-read cases fail without the specializations.
#include <sys/socket.h>

#include <array>
#include <string>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/write.hpp>

#include "gtest/gtest.h"
#include "transport/drained_reads.h"

namespace {

namespace asio = boost::asio;
namespace detail = boost::asio::detail;
using tcp = asio::ip::tcp;
using Status = detail::reactor_op::status;

// A connected pair on loopback: `reader` non-blocking, as the reactor keeps its sockets.
struct Pair {
  asio::io_context io;
  tcp::socket reader{io}, writer{io};
  Pair() {
    tcp::acceptor acceptor(io, tcp::endpoint(asio::ip::address_v4::loopback(), 0));
    writer.connect(acceptor.local_endpoint());
    acceptor.accept(reader);
    reader.non_blocking(true);
  }
  void Send(const std::string& bytes) { asio::write(writer, asio::buffer(bytes)); }
  // Waits (blocking, with poll) until `n` bytes are readable, so the read below sees all of them.
  void AwaitReadable(std::size_t n) {
    reader.non_blocking(false);
    std::array<char, 256> peek{};
    while (static_cast<std::size_t>(::recv(reader.native_handle(), peek.data(), peek.size(), MSG_PEEK)) < n) {
    }
    reader.non_blocking(true);
  }
};

void Complete(void*, detail::scheduler_operation*, const boost::system::error_code&, std::size_t) {}

template <typename Buffers>
Status Read(Pair& p, const Buffers& buffers, std::size_t& got, boost::system::error_code& ec,
            asio::socket_base::message_flags flags = 0) {
  detail::reactive_socket_recv_op_base<Buffers> op(boost::system::error_code(), p.reader.native_handle(),
                                                   detail::socket_ops::stream_oriented, buffers, flags, &Complete);
  const Status status = op.perform();
  got = op.bytes_transferred_;
  ec = op.ec_;
  return status;
}

TEST(DrainedReadsTest, ShortReadDrainsTheSocket) {
  Pair p;
  p.Send("hello");
  p.AwaitReadable(5);
  std::array<char, 64> buf{};
  std::size_t got = 0;
  boost::system::error_code ec;
  EXPECT_EQ(Read(p, asio::mutable_buffer(buf.data(), buf.size()), got, ec), Status::done_and_exhausted);
  EXPECT_FALSE(ec);
  EXPECT_EQ(std::string(buf.data(), got), "hello");
}

TEST(DrainedReadsTest, FullBufferMayLeaveMore) {
  Pair p;
  p.Send("0123456789");
  p.AwaitReadable(10);
  std::array<char, 4> buf{};
  std::size_t got = 0;
  boost::system::error_code ec;
  EXPECT_EQ(Read(p, asio::mutable_buffer(buf.data(), buf.size()), got, ec), Status::done);
  EXPECT_EQ(std::string(buf.data(), got), "0123");
  // The rest is still there: a larger buffer takes it and finds the socket empty.
  std::array<char, 64> rest{};
  EXPECT_EQ(Read(p, asio::mutable_buffer(rest.data(), rest.size()), got, ec), Status::done_and_exhausted);
  EXPECT_EQ(std::string(rest.data(), got), "456789");
}

TEST(DrainedReadsTest, NothingToReadIsNotDone) {
  Pair p;
  std::array<char, 16> buf{};
  std::size_t got = 0;
  boost::system::error_code ec;
  EXPECT_EQ(Read(p, asio::mutable_buffer(buf.data(), buf.size()), got, ec), Status::not_done);
}

TEST(DrainedReadsTest, EndOfStreamDrainsTheSocket) {
  Pair p;
  p.writer.shutdown(tcp::socket::shutdown_send);
  p.reader.non_blocking(false);
  p.reader.wait(tcp::socket::wait_read);
  p.reader.non_blocking(true);
  std::array<char, 16> buf{};
  std::size_t got = 0;
  boost::system::error_code ec;
  EXPECT_EQ(Read(p, asio::mutable_buffer(buf.data(), buf.size()), got, ec), Status::done_and_exhausted);
  EXPECT_EQ(ec, asio::error::eof);
  EXPECT_EQ(got, 0u);
}

TEST(DrainedReadsTest, PeekLeavesTheSocketAsItWas) {
  Pair p;
  p.Send("abc");
  p.AwaitReadable(3);
  std::array<char, 16> buf{};
  std::size_t got = 0;
  boost::system::error_code ec;
  EXPECT_EQ(Read(p, asio::mutable_buffer(buf.data(), buf.size()), got, ec, asio::socket_base::message_peek),
            Status::done);
  EXPECT_EQ(got, 3u);
}

// Beast's stream hands the socket a prefix of the caller's buffers: the same rule, over its whole size.
TEST(DrainedReadsTest, PrefixViewOfBuffers) {
  Pair p;
  p.Send("abcdefgh");
  p.AwaitReadable(8);
  std::array<char, 64> buf{};
  std::size_t got = 0;
  boost::system::error_code ec;
  const auto whole = boost::beast::buffers_prefix(32, asio::mutable_buffer(buf.data(), buf.size()));
  EXPECT_EQ(Read(p, whole, got, ec), Status::done_and_exhausted);
  EXPECT_EQ(std::string(buf.data(), got), "abcdefgh");

  p.Send("0123456789");
  p.AwaitReadable(10);
  const auto part = boost::beast::buffers_prefix(6, asio::mutable_buffer(buf.data(), buf.size()));
  EXPECT_EQ(Read(p, part, got, ec), Status::done);
  EXPECT_EQ(std::string(buf.data(), got), "012345");
}

}  // namespace
