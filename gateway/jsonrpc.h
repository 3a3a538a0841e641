// File: gateway/jsonrpc.h
//
// JSON-RPC 2.0 as MCP uses it: classifying a message (request, notification, response), building
// results and errors with the standard codes, and the MCP protocol versions the gateway speaks.
#pragma once

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

// A message as wire text. A string holding bytes that are not UTF-8 (a backend's text passed through, or
// cut short) is written with U+FFFD in their place: never an exception on the way out.
std::string Dump(const Json& message);

Json MakeResult(const Json& id, Json result);
Json MakeError(const Json& id, int code, std::string message, Json data = nullptr);
Json MakeRequest(const Json& id, std::string method, Json params);
Json MakeNotification(std::string method, Json params);

}  // namespace vmcp::gateway
