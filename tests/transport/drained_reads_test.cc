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

void Complete(void*, detail::scheduler_operation*, const boost::system::error_code&, std::size_t) {}

// A connected pair on loopback, `reader` non-blocking as the reactor keeps its sockets, and one read
// op of Asio's run on it at a time (what the reactor does when it tries a read).
struct Pair {
  asio::io_context io;
  tcp::socket reader{io}, writer{io};
  std::array<char, 64> buf{};
  std::size_t got = 0;
  boost::system::error_code ec;

  Pair() {
    tcp::acceptor acceptor(io, tcp::endpoint(asio::ip::address_v4::loopback(), 0));
    writer.connect(acceptor.local_endpoint());
    acceptor.accept(reader);
    reader.non_blocking(true);
  }
  // Sends `bytes` and waits (a blocking peek) until all of them are readable.
  void Send(const std::string& bytes) {
    asio::write(writer, asio::buffer(bytes));
    reader.non_blocking(false);
    std::array<char, 256> peek{};
    while (static_cast<std::size_t>(::recv(reader.native_handle(), peek.data(), peek.size(), MSG_PEEK)) <
           bytes.size()) {
    }
    reader.non_blocking(true);
  }
  template <typename Buffers>
  Status ReadInto(const Buffers& buffers, asio::socket_base::message_flags flags = 0) {
    detail::reactive_socket_recv_op_base<Buffers> op(boost::system::error_code(), reader.native_handle(),
                                                     detail::socket_ops::stream_oriented, buffers, flags, &Complete);
    const Status status = op.perform();
    got = op.bytes_transferred_;
    ec = op.ec_;
    return status;
  }
  Status Read(std::size_t size, asio::socket_base::message_flags flags = 0) {
    return ReadInto(asio::mutable_buffer(buf.data(), size), flags);
  }
  std::string Got() const { return std::string(buf.data(), got); }
};

TEST(DrainedReadsTest, ShortReadDrainsTheSocket) {
  Pair p;
  p.Send("hello");
  EXPECT_EQ(p.Read(64), Status::done_and_exhausted);
  EXPECT_FALSE(p.ec);
  EXPECT_EQ(p.Got(), "hello");
}

TEST(DrainedReadsTest, FullBufferMayLeaveMore) {
  Pair p;
  p.Send("0123456789");
  EXPECT_EQ(p.Read(4), Status::done);
  EXPECT_EQ(p.Got(), "0123");
  // The rest is still there: a larger buffer takes it and finds the socket empty.
  EXPECT_EQ(p.Read(64), Status::done_and_exhausted);
  EXPECT_EQ(p.Got(), "456789");
}

TEST(DrainedReadsTest, NothingToReadIsNotDone) {
  Pair p;
  EXPECT_EQ(p.Read(16), Status::not_done);
}

TEST(DrainedReadsTest, EndOfStreamDrainsTheSocket) {
  Pair p;
  p.writer.shutdown(tcp::socket::shutdown_send);
  p.reader.non_blocking(false);
  p.reader.wait(tcp::socket::wait_read);
  p.reader.non_blocking(true);
  EXPECT_EQ(p.Read(16), Status::done_and_exhausted);
  EXPECT_EQ(p.ec, asio::error::eof);
  EXPECT_EQ(p.got, 0u);
}

TEST(DrainedReadsTest, PeekLeavesTheSocketAsItWas) {
  Pair p;
  p.Send("abc");
  EXPECT_EQ(p.Read(16, asio::socket_base::message_peek), Status::done);
  EXPECT_EQ(p.got, 3u);
}

// Beast's stream hands the socket a prefix of the caller's buffers: the same rule, over its whole size.
TEST(DrainedReadsTest, PrefixViewOfBuffers) {
  Pair p;
  p.Send("abcdefgh");
  EXPECT_EQ(p.ReadInto(boost::beast::buffers_prefix(32, asio::mutable_buffer(p.buf.data(), p.buf.size()))),
            Status::done_and_exhausted);
  EXPECT_EQ(p.Got(), "abcdefgh");

  p.Send("0123456789");
  EXPECT_EQ(p.ReadInto(boost::beast::buffers_prefix(6, asio::mutable_buffer(p.buf.data(), p.buf.size()))), Status::done);
  EXPECT_EQ(p.Got(), "012345");
}

}  // namespace
