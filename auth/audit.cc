// File: auth/audit.cc
#include "auth/audit.h"

#include <algorithm>
#include <cmath>
#include <cstdint>

#include <nlohmann/json.hpp>

#include "absl/time/time.h"

namespace vmcp::auth {

std::string_view OutcomeForHttpStatus(int status) {
  if (status >= 200 && status < 300) return "success";
  if (status == 401 || status == 403) return "denied";
  if (status >= 400 && status < 500) return "failure";
  return "error";
}

AuditFieldList AuditFields(const AuditRecord& r) {
  AuditFieldList fields;
  fields.push_back({"type", "backend_call"});
  fields.push_back({"backend", r.backend});
  fields.push_back({"url", r.url.substr(0, std::min(r.url.find_first_of("?#"), r.url.size()))});
  fields.push_back({"auth_method", r.auth_method});
  fields.push_back({"auth_outcome", r.auth_outcome});
  fields.push_back({"outcome", r.outcome});
  fields.push_back({"http_status", {}, static_cast<double>(r.http_status), true});
  fields.push_back({"duration_ms", {}, r.duration_ms, true});
  if (!r.error.empty()) fields.push_back({"error", r.error});
  return fields;
}

std::string AuditJson(const AuditRecord& r) {
  nlohmann::json j = nlohmann::json::object();
  j["time"] = absl::FormatTime("%Y-%m-%dT%H:%M:%E3SZ", absl::FromChrono(r.time), absl::UTCTimeZone());
  for (const AuditField& f : AuditFields(r)) {
    if (f.is_number && f.number == std::trunc(f.number) && std::abs(f.number) < 1e15) {
      j[f.name] = static_cast<int64_t>(f.number);  // (written as the log line writes it: 403, not 403.0)
    } else if (f.is_number) {
      j[f.name] = f.number;
    } else {
      j[f.name] = std::string(f.text);
    }
  }
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace vmcp::auth
