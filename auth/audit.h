// File: auth/audit.h
//
// The audit record of one call to a direct (remote) backend, which the MCPRemoteEndpoint RFC asks for
// and the Go system lacks: which backend and URL, the outgoing auth method and how it went, and the
// remote HTTP status. One JSON object per record; never a token or a header value.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "auth/clock.h"

namespace vmcp::auth {

struct AuditRecord {
  TimePoint time{};
  std::string backend;
  std::string url;          // as dialed, without query (AuditJson strips one anyway)
  std::string auth_method;  // unauthenticated | header_injection | token_exchange
  std::string auth_outcome;  // "ok" | "failed" (the strategy could not produce its header) | "none"
  std::string outcome;       // success | denied | failure | error (OutcomeForHttpStatus), or "error" when no answer
  int http_status = 0;       // 0 when the backend never answered
  std::string error;         // a short reason on failure (already free of secrets)
  double duration_ms = 0;
};

// ToolHive's audit outcome for an HTTP status: 2xx success, 401/403 denied, other 4xx failure, 5xx (and
// no answer, 0) error.
std::string OutcomeForHttpStatus(int status);

// One field of a record: a string (`text`, pointing into the record) or a number.
struct AuditField {
  const char* name;
  std::string_view text;
  double number = 0;
  bool is_number = false;
};
// The record's fields in their order, its time aside (a log line carries its own): type, backend, url
// (without query), auth_method, auth_outcome, outcome, http_status, duration_ms, and error when there
// is one. What the gateway writes into its audit log line, field by field.
std::vector<AuditField> AuditFields(const AuditRecord& record);

// The record as one line of JSON:
// {"type":"backend_call","time":"2026-01-02T03:04:05.678Z","backend":...,"url":...,"auth_method":...,
//  "auth_outcome":...,"outcome":...,"http_status":...,"duration_ms":...,"error":...}
std::string AuditJson(const AuditRecord& record);

}  // namespace vmcp::auth
