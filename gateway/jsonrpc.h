// File: gateway/jsonrpc.h
//
// JSON-RPC 2.0 as MCP uses it: JSON text in and out (Parse, Dump), classifying a message (request,
// notification, response), building results and errors with the standard codes, and the MCP protocol
// versions the gateway speaks.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

#include "nlohmann/json.hpp"

namespace vmcp::gateway {

using Json = nlohmann::json;

// Standard JSON-RPC error codes, and MCP's.
inline constexpr int kParseError = -32700;
inline constexpr int kInvalidRequest = -32600;
inline constexpr int kMethodNotFound = -32601;
inline constexpr int kInvalidParams = -32602;
inline constexpr int kInternalError = -32603;
inline constexpr int kResourceNotFound = -32002;

// The protocol versions the gateway negotiates, newest first.
inline constexpr const char* kProtocolVersions[] = {"2025-11-25", "2025-06-18", "2025-03-26", "2024-11-05"};
inline constexpr char kLatestProtocolVersion[] = "2025-11-25";
bool IsSupportedProtocolVersion(std::string_view version);
// The version to answer a client's `initialize` with: its own when supported, else the latest.
std::string NegotiateProtocolVersion(std::string_view requested);

enum class MessageKind { kRequest, kNotification, kResponse, kInvalid };
MessageKind Classify(const Json& message);

// JSON text into a document; a discarded value (`is_discarded()`) when the text is not JSON. The same
// document nlohmann_json's parser makes (numbers keep its types, a repeated key keeps its last value;
// only "-0" becomes an unsigned 0, the same value, written the same), made faster: simdjson reads the
// text and the values are built from what it found. Text simdjson does not take (an integer beyond 64
// bits, nesting deeper than 1024, invalid text) goes to nlohmann_json, which decides.
Json Parse(std::string_view text);

// Where the parts of a response that the gateway needs are, in the response's text.
struct ResponseShape {
  size_t id_at = 0;  // the id's JSON text is text.substr(id_at, id_size)
  size_t id_size = 0;
  bool tool_error = false;  // `result` is an object whose `isError` is true
};
// Reads `text` as a JSON-RPC 2.0 response carrying a `result`, checking every value in it as Parse
// would, without building a document: such an answer can be passed on as the text it came as, with
// another id (WithId). nullopt for anything else (an error response, a request, a notification, text
// that is not JSON, a duplicated `id` or `result`, nesting deeper than 64): parse that instead.
std::optional<ResponseShape> ScanResult(std::string_view text);
// Where the parts of a client's `tools/call` that the gateway needs are, in the request's text.
struct ToolCallShape {
  Json id;  // as Parse reads it; its text, text.substr(id_at, id_size), is the text Dump writes of it
  size_t id_at = 0;
  size_t id_size = 0;
  std::string name;  // params.name; its JSON text is text.substr(name_at, name_size)
  size_t name_at = 0;
  size_t name_size = 0;
};
// Reads `text` as a JSON-RPC 2.0 `tools/call` request (members jsonrpc, id, method and params, no
// others) whose params hold a string `name` and, if any, object `arguments`, checking every value as
// Parse would: such a request can be passed to a backend as the text it came as, with another id and
// tool name. nullopt for anything else (another method, a repeated member, an id Dump would write
// otherwise, such as "-0" or an escaped string, nesting deeper than 64, ...): parse that instead.
std::optional<ToolCallShape> ScanToolCall(std::string_view text);
// `text` (scanned into `shape`) with `id` (JSON text) in place of its id.
std::string WithId(std::string text, const ResponseShape& shape, std::string_view id);

// A message as wire text, compact, keys in the document's (sorted) order: the text nlohmann_json's
// dump() writes. A string holding bytes that are not UTF-8 (a backend's text passed through, or cut
// short) is written with U+FFFD in their place: never an exception on the way out.
std::string Dump(const Json& message);
void AppendDump(std::string& out, const Json& value);
// `value` as a JSON string (quoted and escaped, bad UTF-8 replaced as Dump does).
void AppendQuoted(std::string& out, std::string_view value);

Json MakeResult(const Json& id, Json result);
Json MakeError(const Json& id, int code, std::string message, Json data = nullptr);
Json MakeRequest(const Json& id, std::string method, Json params);
Json MakeNotification(std::string method, Json params);

}  // namespace vmcp::gateway
