// File: auth/audit.h
//
// The audit record of one call to a direct (remote) backend, which the MCPRemoteEndpoint RFC asks for
// and the Go system lacks: which backend and URL, the outgoing auth method and how it went, and the
// remote HTTP status. One JSON object per record; never a token or a header value. A record only points
// at its texts (every request to a remote backend makes one: building it allocates nothing).
#pragma once

#include <array>
#include <cassert>
#include <cstddef>
#include <string>
#include <string_view>

#include "auth/clock.h"

namespace vmcp::auth {

// Its texts are views: whoever fills one keeps them alive while it is read.
struct AuditRecord {
  TimePoint time{};
  std::string_view backend;
  std::string_view url;           // as dialed (a query, if any, is left out of the fields)
  std::string_view auth_method;   // unauthenticated | header_injection | token_exchange
  std::string_view auth_outcome;  // "ok" | "failed" (the strategy could not produce its header) | "none"
  std::string_view outcome;       // success | denied | failure | error (OutcomeForHttpStatus), or "error" when no answer
  int http_status = 0;            // 0 when the backend never answered
  std::string_view error;         // a short reason on failure (already free of secrets)
  double duration_ms = 0;
};

// ToolHive's audit outcome for an HTTP status: 2xx success, 401/403 denied, other 4xx failure, 5xx (and
// no answer, 0) error.
std::string_view OutcomeForHttpStatus(int status);

// One field of a record: a string (`text`, pointing into the record) or a number.
struct AuditField {
  const char* name;
  std::string_view text;
  double number = 0;
  bool is_number = false;
};
// The fields of one record, in their order (at most kMax, held in place).
class AuditFieldList {
 public:
  static constexpr size_t kMax = 9;
  void push_back(const AuditField& f) {
    assert(size_ < kMax && "AuditFieldList::kMax is too small for AuditFields");
    items_[size_++] = f;
  }
  size_t size() const { return size_; }
  const AuditField& operator[](size_t i) const { return items_[i]; }
  const AuditField& back() const { return items_[size_ - 1]; }
  const AuditField* begin() const { return items_.data(); }
  const AuditField* end() const { return items_.data() + size_; }

 private:
  std::array<AuditField, kMax> items_{};
  size_t size_ = 0;
};

// The record's fields in their order, its time aside (a log line carries its own): type, backend, url
// (without query), auth_method, auth_outcome, outcome, http_status, duration_ms, and error when there
// is one. What the gateway writes into its audit log line, field by field.
AuditFieldList AuditFields(const AuditRecord& record);

// The record as one line of JSON:
// {"type":"backend_call","time":"2026-01-02T03:04:05.678Z","backend":...,"url":...,"auth_method":...,
//  "auth_outcome":...,"outcome":...,"http_status":...,"duration_ms":...,"error":...}
std::string AuditJson(const AuditRecord& record);

}  // namespace vmcp::auth
