// File: transport/wire.h
//
// Internal to transport/ (server.cc and client.cc): writing a complete HTTP/1.1 message with a sized
// body, and parsing what is already buffered. The start line and the header fields are laid out in one
// string straight from the transport's own Request or Response, framed here (Content-Length;
// Connection: close when the connection ends), then written with the body in one gather write, offered
// to a plain socket at once before any wait. Beast's serializer reaches the same bytes through layered
// buffer-sequence views, and a Beast message built only to be serialized cost a lookup and an
// allocation per field: callgrind showed both among the largest costs of the gateway's request path.
// Reading stays Beast's parser, with its limits; bytes already buffered are fed to it directly.
#pragma once

#include <array>
#include <charconv>
#include <string>
#include <string_view>
#include <tuple>
#include <type_traits>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/buffer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/buffers_suffix.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/basic_parser.hpp>
#include <boost/beast/http/error.hpp>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "transport/drained_reads.h"
#include "transport/http.h"

namespace vmcp::transport::internal {

// Every field written is checked, whoever set it: a name must be a token, a value may hold nothing that
// could end the field or the head early (IsFieldName, IsFieldValue).
inline absl::Status CheckField(const Headers::Field& f) {
  if (f.name.empty()) return absl::InvalidArgumentError("a header field has an empty name");
  const absl::string_view name(f.name.data(), f.name.size());
  if (!IsFieldName(f.name)) return absl::InvalidArgumentError(absl::StrCat("header field name \"", name, "\" is not a token"));
  if (!IsFieldValue(f.value)) {
    return absl::InvalidArgumentError(absl::StrCat("header field ", name, " has a control character in its value"));
  }
  return absl::OkStatus();
}

// The fields the writer treats apart. Framing is the writer's own: those are never copied from the
// message's fields.
enum class FieldRole { kOther, kFraming, kHost, kUserAgent };
inline FieldRole RoleOf(std::string_view name) {
  switch (name.size()) {
    case 4:
      if (EqualsIgnoreCase(name, "Host")) return FieldRole::kHost;
      break;
    case 10:
      if (EqualsIgnoreCase(name, "Connection")) return FieldRole::kFraming;
      if (EqualsIgnoreCase(name, "User-Agent")) return FieldRole::kUserAgent;
      break;
    case 14:
      if (EqualsIgnoreCase(name, "Content-Length")) return FieldRole::kFraming;
      break;
    case 17:
      if (EqualsIgnoreCase(name, "Transfer-Encoding")) return FieldRole::kFraming;
      break;
  }
  return FieldRole::kOther;
}

inline void AppendField(std::string& head, std::string_view name, std::string_view value) {
  head.append(name).append(": ").append(value).append("\r\n");
}

inline void AppendContentLength(std::string& head, size_t n) {
  char digits[24];
  const char* end = std::to_chars(digits, digits + sizeof digits, n).ptr;
  AppendField(head, "Content-Length", std::string_view(digits, static_cast<size_t>(end - digits)));
}

// A request's head: `method target HTTP/1.1`, the request's fields, Host (`host`) and a User-Agent
// unless the request has its own, and Content-Length for a body (or a POST, PUT, PATCH or OPTIONS
// without one). The connection stays open (HTTP/1.1's default).
inline absl::StatusOr<std::string> RequestHead(const Request& request, std::string_view target, std::string_view host) {
  std::string head;
  head.reserve(256);
  head.append(request.method).append(" ").append(target).append(" HTTP/1.1\r\n");
  bool has_host = false, has_agent = false;
  for (const Headers::Field f : request.headers.fields()) {
    if (absl::Status s = CheckField(f); !s.ok()) return s;
    const FieldRole role = RoleOf(f.name);
    if (role == FieldRole::kFraming) continue;
    has_host |= role == FieldRole::kHost;
    has_agent |= role == FieldRole::kUserAgent;
    AppendField(head, f.name, f.value);
  }
  if (!has_host) AppendField(head, "Host", host);
  if (!has_agent) AppendField(head, "User-Agent", "vmcp/0.1");
  const std::string& m = request.method;
  if (!request.body.empty() || m == "POST" || m == "PUT" || m == "PATCH" || m == "OPTIONS") {
    AppendContentLength(head, request.body.size());
  }
  head.append("\r\n");
  return head;
}

// 1xx, 204 and 304 responses have no body (and no Content-Length).
inline bool Bodiless(int status) { return status < 200 || status == 204 || status == 304; }

// A response's head: `HTTP/1.1 status reason`, the response's fields, Content-Length (unless
// Bodiless), and Connection: close when the connection ends after it.
inline absl::StatusOr<std::string> ResponseHead(const Response& response, bool keep_alive) {
  std::string head;
  head.reserve(256);
  char digits[8];
  const char* end = std::to_chars(digits, digits + sizeof digits, response.status).ptr;
  head.append("HTTP/1.1 ").append(digits, static_cast<size_t>(end - digits)).append(" ").append(StatusReason(response.status)).append("\r\n");
  for (const Headers::Field f : response.headers.fields()) {
    if (absl::Status s = CheckField(f); !s.ok()) return s;
    if (RoleOf(f.name) != FieldRole::kFraming) AppendField(head, f.name, f.value);
  }
  if (!Bodiless(response.status)) AppendContentLength(head, response.body.size());
  if (!keep_alive) AppendField(head, "Connection", "close");
  head.append("\r\n");
  return head;
}

// Writing `head` and `body` in one gather write, in two steps so that the common case costs no
// coroutine: WriteNow offers a plain TCP socket the whole message without waiting (loopback and LAN
// peers take it all at once nearly always, and then no asynchronous write, with its composed operation,
// timer and posted completion, is needed); WriteRest writes what is left asynchronously, under the
// stream's timeout. Both strings must live until the write completes.
//
//   WriteProgress w = WriteNow(stream, head, body);
//   if (!w.done) {
//     auto [ec, n] = co_await WriteRest(stream, head, body, w.written);
//     w.ec = ec;
//   }
struct WriteProgress {
  boost::system::error_code ec;
  size_t written = 0;  // bytes of head + body written
  bool done = false;   // all of it written, or failed (ec)
};

template <typename Stream>
WriteProgress WriteNow(Stream& stream, const std::string& head, const std::string& body) {
  WriteProgress w;
  if constexpr (std::is_same_v<Stream, boost::beast::tcp_stream>) {
    const std::array<boost::asio::const_buffer, 2> message{boost::asio::buffer(head), boost::asio::buffer(body)};
    auto& socket = stream.socket();
    if (!socket.non_blocking()) socket.non_blocking(true, w.ec);
    if (!w.ec) w.written = socket.write_some(message, w.ec);
    if (w.ec == boost::asio::error::would_block || w.ec == boost::asio::error::try_again) w.ec = {};
    w.done = w.ec || w.written == head.size() + body.size();
  }
  return w;
}

template <typename Stream>
boost::asio::awaitable<std::tuple<boost::system::error_code, size_t>> WriteRest(Stream& stream, const std::string& head,
                                                                                const std::string& body, size_t written) {
  boost::beast::buffers_suffix<std::array<boost::asio::const_buffer, 2>> rest(
      std::array<boost::asio::const_buffer, 2>{boost::asio::buffer(head), boost::asio::buffer(body)});
  rest.consume(written);
  auto [ec, n] = co_await boost::asio::async_write(stream, rest, boost::asio::as_tuple(boost::asio::use_awaitable));
  co_return std::tuple(ec, written + n);
}

// Feeds the bytes `buffer` holds to `parser` until it is done (with `header_only`, until its header is),
// wants more bytes, or fails. Wanting more, or a place for the body (need_buffer), is not an error here:
// the caller reads on. An asynchronous read of bytes already buffered would complete at once, but
// through the scheduler.
template <bool isRequest>
boost::beast::error_code ParseBuffered(boost::beast::http::basic_parser<isRequest>& parser,
                                       boost::beast::flat_buffer& buffer, bool header_only) {
  namespace http = boost::beast::http;
  boost::beast::error_code ec;
  while (buffer.size() > 0 && !parser.is_done() && !(header_only && parser.is_header_done())) {
    const size_t used = parser.put(buffer.data(), ec);
    buffer.consume(used);
    if (ec == http::error::need_more || ec == http::error::need_buffer) return {};
    if (ec || used == 0) break;
  }
  return ec;
}

}  // namespace vmcp::transport::internal
