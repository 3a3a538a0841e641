#include "transport/drained_reads.h"

#include <boost/asio/detail/buffer_sequence_adapter.hpp>
#include <boost/asio/detail/socket_ops.hpp>

namespace boost::asio::detail {
namespace {

// One non-blocking read, as Asio's own do_perform makes it; on a stream socket, a read that returns 0
// bytes (end of stream, or an error) or fewer than the buffers hold has drained the socket.
template <typename Buffers>
reactor_op::status Receive(socket_type socket, socket_ops::state_type state, const Buffers& buffers,
                           socket_base::message_flags flags, boost::system::error_code& ec, std::size_t& bytes) {
  using Adapter = buffer_sequence_adapter<boost::asio::mutable_buffer, Buffers>;
  const bool stream = (state & socket_ops::stream_oriented) != 0;
  std::size_t room = 0;
  bool finished = false;
  if constexpr (Adapter::is_single_buffer) {
    const boost::asio::mutable_buffer b = Adapter::first(buffers);
    room = b.size();
    finished = socket_ops::non_blocking_recv1(socket, b.data(), b.size(), flags, stream, ec, bytes);
  } else {
    Adapter adapted(buffers);
    room = adapted.total_size();
    finished = socket_ops::non_blocking_recv(socket, adapted.buffers(), adapted.count(), flags, stream, ec, bytes);
  }
  if (!finished) return reactor_op::not_done;
  // (Out-of-band and peeking reads leave the receive queue as it was: only a plain read drains it.)
  const bool plain = (flags & (socket_base::message_out_of_band | socket_base::message_peek)) == 0;
  if (stream && (bytes == 0 || (plain && !ec && bytes < room))) return reactor_op::done_and_exhausted;
  return reactor_op::done;
}

}  // namespace

template <>
reactor_op::status reactive_socket_recv_op_base<boost::asio::mutable_buffer>::do_perform(reactor_op* base) {
  auto* o = static_cast<reactive_socket_recv_op_base*>(base);
  return Receive(o->socket_, o->state_, o->buffers_, o->flags_, o->ec_, o->bytes_transferred_);
}

template <>
reactor_op::status reactive_socket_recv_op_base<
    boost::beast::buffers_prefix_view<boost::asio::mutable_buffer>>::do_perform(reactor_op* base) {
  auto* o = static_cast<reactive_socket_recv_op_base*>(base);
  return Receive(o->socket_, o->state_, o->buffers_, o->flags_, o->ec_, o->bytes_transferred_);
}

}  // namespace boost::asio::detail
