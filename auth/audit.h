// File: auth/audit.h
//
// The audit record of one call to a direct (remote) backend, which the MCPRemoteEndpoint RFC asks for
// and the Go system lacks: which backend and URL, the outgoing auth method and how it went, and the
// remote HTTP status. One JSON object per record; never a token or a header value.
#pragma once

#include <string>

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

// The record as one line of JSON:
// {"type":"backend_call","time":"2026-01-02T03:04:05.678Z","backend":...,"url":...,"auth_method":...,
//  "auth_outcome":...,"outcome":...,"http_status":...,"duration_ms":...,"error":...}
std::string AuditJson(const AuditRecord& record);

}  // namespace vmcp::auth
