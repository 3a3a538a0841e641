// File: transport/http.h
//
// The HTTP vocabulary shared by the server and the client, free of Boost and Beast so that the gateway
// can include it cheaply: header lists with case-insensitive lookup, requests, responses, and the
// limits and timeouts that bound everything read from the network.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace vmcp::transport {

using Duration = std::chrono::nanoseconds;

// An ordered list of header fields. Names compare case-insensitively; repeated fields are kept.
class Headers {
 public:
  struct Field {
    std::string name;
    std::string value;
  };

  // The first value of `name`, if present.
  std::optional<std::string_view> Get(std::string_view name) const;
  bool Has(std::string_view name) const { return Get(name).has_value(); }
  // Replaces every field named `name` with one.
  void Set(std::string name, std::string value);
  void Add(std::string name, std::string value);
  void Remove(std::string_view name);

  const std::vector<Field>& fields() const { return fields_; }
  bool empty() const { return fields_.empty(); }

 private:
  std::vector<Field> fields_;
};

bool EqualsIgnoreCase(std::string_view a, std::string_view b);

// A field name HTTP allows: an RFC 9110 token.
bool IsFieldName(std::string_view name);
// A field value that can be sent as it is: no control character but tab (no CR, LF or NUL, which
// could end the field or the head early).
bool IsFieldValue(std::string_view value);

struct Request {
  std::string method = "GET";
  std::string target = "/";  // origin-form: path and query, never a fragment
  Headers headers;
  std::string body;

  // Filled by the server.
  std::string remote_address;

  std::string_view Path() const;   // target without the query
  std::string_view Query() const;  // after '?', or empty
  // The value of a query parameter, percent-decoded.
  std::optional<std::string> QueryParam(std::string_view name) const;
};

struct Response {
  int status = 200;
  Headers headers;
  std::string body;
};

// Percent-decoding for query components ('+' as space). Invalid escapes are kept literally.
std::string PercentDecode(std::string_view in);

// The reason phrase of a status code ("Not Found"), or "" for unknown codes.
const char* StatusReason(int status);

}  // namespace vmcp::transport
