#include "gateway/jsonrpc.h"

namespace vmcp::gateway {

bool IsSupportedProtocolVersion(std::string_view version) {
  for (const char* v : kProtocolVersions) {
    if (version == v) return true;
  }
  return false;
}

std::string NegotiateProtocolVersion(std::string_view requested) {
  return IsSupportedProtocolVersion(requested) ? std::string(requested) : std::string(kLatestProtocolVersion);
}

MessageKind Classify(const Json& m) {
  if (!m.is_object()) return MessageKind::kInvalid;
  auto version = m.find("jsonrpc");
  if (version == m.end() || *version != "2.0") return MessageKind::kInvalid;
  const bool has_id = m.contains("id") && (m["id"].is_string() || m["id"].is_number_integer());
  if (m.contains("method")) {
    if (!m["method"].is_string()) return MessageKind::kInvalid;
    if (m.contains("params") && !m["params"].is_object() && !m["params"].is_array()) return MessageKind::kInvalid;
    if (!m.contains("id")) return MessageKind::kNotification;
    return has_id ? MessageKind::kRequest : MessageKind::kInvalid;
  }
  if (has_id && (m.contains("result") || m.contains("error"))) return MessageKind::kResponse;
  return MessageKind::kInvalid;
}

std::string Dump(const Json& message) { return message.dump(-1, ' ', false, Json::error_handler_t::replace); }

Json MakeResult(const Json& id, Json result) { return Json{{"jsonrpc", "2.0"}, {"id", id}, {"result", std::move(result)}}; }

Json MakeError(const Json& id, int code, std::string message, Json data) {
  Json error{{"code", code}, {"message", std::move(message)}};
  if (!data.is_null()) error["data"] = std::move(data);
  return Json{{"jsonrpc", "2.0"}, {"id", id}, {"error", std::move(error)}};
}

Json MakeRequest(const Json& id, std::string method, Json params) {
  Json m{{"jsonrpc", "2.0"}, {"id", id}, {"method", std::move(method)}};
  if (!params.is_null()) m["params"] = std::move(params);
  return m;
}

Json MakeNotification(std::string method, Json params) {
  Json m{{"jsonrpc", "2.0"}, {"method", std::move(method)}};
  if (!params.is_null()) m["params"] = std::move(params);
  return m;
}

}  // namespace vmcp::gateway
