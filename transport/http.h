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
// Names and values live back to back in one string, so a message's fields cost two allocations, not
// one or two per field. Views from Get() and fields() are valid until the headers next change.
class Headers {
 public:
  struct Field {
    std::string_view name;
    std::string_view value;
  };

  // The first value of `name`, if present.
  std::optional<std::string_view> Get(std::string_view name) const;
  bool Has(std::string_view name) const { return Get(name).has_value(); }
  // Replaces every field named `name` with one.
  void Set(std::string_view name, std::string_view value);
  void Add(std::string_view name, std::string_view value);
  void Remove(std::string_view name);

  class Iterator;
  struct Fields;
  Fields fields() const;  // in order: for (Headers::Field f : headers.fields())
  size_t size() const { return slots_.size(); }
  size_t text_bytes() const { return text_.size(); }  // held for names and values, removed ones included
  bool empty() const { return slots_.empty(); }

 private:
  struct Slot {
    uint32_t at;          // where the name starts in text_; the value follows it
    uint32_t name_size;
    uint32_t value_size;
  };
  Field At(const Slot& s) const {
    return {std::string_view(text_.data() + s.at, s.name_size), std::string_view(text_.data() + s.at + s.name_size, s.value_size)};
  }
  bool Drop(std::string_view name);  // Remove without compacting: whether a field was dropped
  void MaybeCompact();

  std::string text_;
  size_t live_ = 0;  // bytes of text_ that fields still use (removed ones stay until MaybeCompact)
  std::vector<Slot> slots_;
};

class Headers::Iterator {
 public:
  Iterator(const Headers* headers, size_t i) : headers_(headers), i_(i) {}
  Field operator*() const { return headers_->At(headers_->slots_[i_]); }
  Iterator& operator++() {
    ++i_;
    return *this;
  }
  bool operator!=(const Iterator& o) const { return i_ != o.i_; }
  bool operator==(const Iterator& o) const { return i_ == o.i_; }

 private:
  const Headers* headers_;
  size_t i_;
};

struct Headers::Fields {
  const Headers* headers;
  Iterator begin() const { return Iterator(headers, 0); }
  Iterator end() const { return Iterator(headers, headers->slots_.size()); }
};

inline Headers::Fields Headers::fields() const { return Fields{this}; }

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
