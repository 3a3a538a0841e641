// File: auth/audit.cc
#include "auth/audit.h"

#include <nlohmann/json.hpp>

#include "absl/time/time.h"

namespace vmcp::auth {

std::string OutcomeForHttpStatus(int status) {
  if (status >= 200 && status < 300) return "success";
  if (status == 401 || status == 403) return "denied";
  if (status >= 400 && status < 500) return "failure";
  return "error";
}

std::string AuditJson(const AuditRecord& r) {
  nlohmann::json j = nlohmann::json::object();
  j["type"] = "backend_call";
  j["time"] = absl::FormatTime("%Y-%m-%dT%H:%M:%E3SZ", absl::FromChrono(r.time), absl::UTCTimeZone());
  j["backend"] = r.backend;
  std::string url = r.url;
  if (size_t q = url.find_first_of("?#"); q != std::string::npos) url.resize(q);
  j["url"] = url;
  j["auth_method"] = r.auth_method;
  j["auth_outcome"] = r.auth_outcome;
  j["outcome"] = r.outcome;
  j["http_status"] = r.http_status;
  j["duration_ms"] = r.duration_ms;
  if (!r.error.empty()) j["error"] = r.error;
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace vmcp::auth
