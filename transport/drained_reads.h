// File: transport/drained_reads.h
//
// Internal to transport/ (included by wire.h, so by server.cc and client.cc before any read is
// instantiated): how a socket read tells Asio's reactor that the socket is drained.
//
// Asio 1.81 tries every read on a stream socket at once ("speculatively") unless the read before it
// returned 0 bytes. Request and response alternate on a keep-alive connection, so the read after a
// complete message nearly always finds nothing: a recvmsg that fails with EAGAIN before the read waits
// for readiness, about two a proxied call (perf stat at concurrency 32: 3.8 recvmsg a call, 1.8 of them
// EAGAIN, where nginx makes 2).
//
// A TCP recvmsg that returns less than the buffer could take has emptied the socket's receive queue (it
// stops short only when nothing is left), so these reads report such a read as exhausting the socket, as
// Asio already does for 0 bytes: the reactor then queues the next read for readiness instead of trying
// it. Nothing can be lost by that: data that arrives after the read raises a new edge-triggered event,
// which runs the queued read (or, with none queued, makes the next one speculative again).
//
// These are explicit specializations of Asio's read operation for the two buffer types the transport
// reads into (Beast's stream hands the socket a buffers_prefix_view; Asio's SSL engine and plain reads a
// mutable_buffer). They are declared here and defined once, in drained_reads.cc.
#pragma once

#include <boost/asio/buffer.hpp>
#include <boost/asio/socket_base.hpp>  // (before the detail header, which needs it)
#include <boost/asio/detail/reactive_socket_recv_op.hpp>
#include <boost/beast/core/buffers_prefix.hpp>

namespace boost::asio::detail {

template <>
reactor_op::status reactive_socket_recv_op_base<boost::asio::mutable_buffer>::do_perform(reactor_op* base);

template <>
reactor_op::status reactive_socket_recv_op_base<
    boost::beast::buffers_prefix_view<boost::asio::mutable_buffer>>::do_perform(reactor_op* base);

}  // namespace boost::asio::detail
