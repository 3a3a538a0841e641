#include "gateway/jsonrpc.h"

#include <charconv>
#include <cstdint>
#include <cstring>
#include <utility>

#include "absl/strings/ascii.h"

#include "simdjson.h"

namespace vmcp::gateway {
namespace {

// A parser keeps buffers sized to the largest document it read; one a thread, and one that grew for a
// large document is let go instead of being kept.
constexpr size_t kKeptParserCapacity = 1 << 20;

// The document simdjson read, as the values nlohmann_json's parser makes of the same text.
Json Build(simdjson::dom::element e) {
  switch (e.type()) {
    case simdjson::dom::element_type::OBJECT: {
      const simdjson::dom::object object = e.get_object().value_unsafe();  // (a value, not a reference)
      Json out(Json::value_t::object);
      auto& members = out.get_ref<Json::object_t&>();
      for (simdjson::dom::key_value_pair member : object) {
        members.insert_or_assign(std::string(member.key), Build(member.value));  // a repeated key: the last
      }
      return out;
    }
    case simdjson::dom::element_type::ARRAY: {
      const simdjson::dom::array items = e.get_array().value_unsafe();
      Json out(Json::value_t::array);
      auto& values = out.get_ref<Json::array_t&>();
      values.reserve(items.size());
      for (simdjson::dom::element item : items) values.push_back(Build(item));
      return out;
    }
    case simdjson::dom::element_type::STRING:
      return Json(std::string(e.get_string().value_unsafe()));
    case simdjson::dom::element_type::INT64: {
      const int64_t n = e.get_int64().value_unsafe();
      // nlohmann_json keeps a number without a sign as unsigned.
      return n >= 0 ? Json(static_cast<uint64_t>(n)) : Json(n);
    }
    case simdjson::dom::element_type::UINT64:
      return Json(e.get_uint64().value_unsafe());
    case simdjson::dom::element_type::DOUBLE:
      return Json(e.get_double().value_unsafe());
    case simdjson::dom::element_type::BOOL:
      return Json(e.get_bool().value_unsafe());
    case simdjson::dom::element_type::NULL_VALUE:
      return Json();
  }
  return Json();
}

// Plain printable ASCII without quote or backslash: written as it is. Eight bytes a step: a word has a
// byte that needs escaping when one is below 0x20, at or above 0x7f, '"' or '\\'. (HasZero is exact about
// whether any byte is zero; bytes below n, for n <= 0x80, likewise.)
constexpr uint64_t kOnes = 0x0101010101010101ULL;
constexpr uint64_t kHighs = 0x8080808080808080ULL;
constexpr uint64_t HasZero(uint64_t w) { return (w - kOnes) & ~w & kHighs; }
constexpr uint64_t HasLess(uint64_t w, uint8_t n) { return (w - kOnes * n) & ~w & kHighs; }

// Eight bytes at once; a shorter tail is read as the text's last eight bytes (again, overlapping) or,
// in a text shorter than that, padded with a plain byte.
constexpr bool PlainWord(uint64_t w) {
  return !((w & kHighs) | HasLess(w, 0x20) | HasZero(w ^ (kOnes * 0x7f)) | HasZero(w ^ (kOnes * '"')) |
           HasZero(w ^ (kOnes * '\\')));
}

bool Plain(std::string_view text) {
  const char* p = text.data();
  const size_t size = text.size();
  uint64_t w;
  if (size < 8) {
    w = kOnes * 'a';
    if (size != 0) std::memcpy(&w, p, size);
    return PlainWord(w);
  }
  for (size_t at = 0; at + 8 <= size; at += 8) {
    std::memcpy(&w, p + at, 8);
    if (!PlainWord(w)) return false;
  }
  if (size % 8 != 0) {
    std::memcpy(&w, p + size - 8, 8);
    return PlainWord(w);
  }
  return true;
}

// {"jsonrpc":"2.0","id":id}. Messages are built member by member: nlohmann's initializer-list form
// builds each pair as an array first.
Json Envelope(const Json& id) {
  Json m(Json::value_t::object);
  auto& members = m.get_ref<Json::object_t&>();
  members.emplace("jsonrpc", "2.0");
  members.emplace("id", id);
  return m;
}

namespace ondemand = simdjson::ondemand;

// How deep a scan follows a message; deeper ones are parsed.
constexpr int kMaxScanDepth = 64;

// Each member of `object` in order to `fn(key, value)`: false as soon as one cannot be read or `fn`
// refuses it.
template <typename Fn>
bool EachMember(ondemand::object& object, Fn&& fn) {
  for (auto member : object) {
    std::string_view key;
    ondemand::value value;
    if (member.unescaped_key().get(key) || member.value().get(value) || !fn(key, value)) return false;
  }
  return true;
}

// Reads every value under `v`, as Parse would: false when one is not valid JSON (or simdjson cannot take
// it, or it nests too deep).
bool CheckValue(ondemand::value v, int depth) {
  if (depth > kMaxScanDepth) return false;
  ondemand::json_type type;
  if (v.type().get(type)) return false;
  switch (type) {
    case ondemand::json_type::object: {
      ondemand::object object;
      if (v.get_object().get(object)) return false;
      return EachMember(object,
                        [depth](std::string_view, ondemand::value value) { return CheckValue(value, depth + 1); });
    }
    case ondemand::json_type::array: {
      ondemand::array array;
      if (v.get_array().get(array)) return false;
      for (auto item : array) {
        ondemand::value value;
        if (item.get(value) || !CheckValue(value, depth + 1)) return false;
      }
      return true;
    }
    case ondemand::json_type::string: {
      std::string_view s;
      return !v.get_string().get(s);
    }
    case ondemand::json_type::number: {
      ondemand::number n;
      return !v.get_number().get(n);
    }
    case ondemand::json_type::boolean: {
      bool b;
      return !v.get_bool().get(b);
    }
    case ondemand::json_type::null: {
      bool null = false;
      return !v.is_null().get(null) && null;
    }
  }
  return false;
}

// A response's `result`: checked, and whether it says `isError: true` (the last one, as Parse keeps).
bool CheckResult(ondemand::value v, bool& tool_error) {
  ondemand::json_type type;
  if (v.type().get(type)) return false;
  if (type != ondemand::json_type::object) return CheckValue(v, 1);
  ondemand::object object;
  if (v.get_object().get(object)) return false;
  return EachMember(object, [&tool_error](std::string_view key, ondemand::value value) {
    ondemand::json_type member_type;
    if (value.type().get(member_type)) return false;
    if (key == "isError") {
      tool_error = false;  // (the last isError counts, and only `true` is an error)
      if (member_type == ondemand::json_type::boolean) return !value.get_bool().get(tool_error);
    }
    return CheckValue(value, 2);
  });
}

// One scan of a text with simdjson's on-demand parser. simdjson reads up to SIMDJSON_PADDING bytes past
// the text: it is copied (one copy a thread, kept unless it grew large) with zeros after it. A scan's
// values point into that copy; offsets into it are offsets into the text. (One scan at a time a thread.)
class Scanner {
 public:
  explicit Scanner(std::string_view text) : size_(text.size()) {
    padded().assign(text);
    padded().append(simdjson::SIMDJSON_PADDING, '\0');
  }
  ~Scanner() {  // (after a large text, neither buffer is kept)
    if (padded().capacity() > kKeptParserCapacity) std::string().swap(padded());
    if (parser().capacity() > kKeptParserCapacity) parser() = ondemand::parser();
  }
  Scanner(const Scanner&) = delete;
  Scanner& operator=(const Scanner&) = delete;

  // The text as one object: each member to `fn(key, value)` (see EachMember), then nothing but
  // whitespace after the object.
  template <typename Fn>
  bool Object(Fn&& fn) {
    const simdjson::padded_string_view view(padded().data(), size_, padded().size());
    ondemand::object top;
    if (parser().iterate(view).get(doc_) || doc_.get_object().get(top) || !EachMember(top, fn)) return false;
    const char* after = nullptr;
    return doc_.current_location().get(after) != simdjson::SUCCESS;  // (no location: the text ended)
  }
  const char* base() const { return padded().data(); }

 private:
  static std::string& padded() {
    thread_local std::string text;
    return text;
  }
  static ondemand::parser& parser() {
    thread_local ondemand::parser p;
    return p;
  }
  size_t size_;
  ondemand::document doc_;
};

// Where a scalar `value` is in the scanned text (its token, without the whitespace after it).
void TokenSpan(ondemand::value& value, const char* base, size_t& at, size_t& size) {
  std::string_view token = value.raw_json_token();
  while (!token.empty() && absl::ascii_isspace(static_cast<unsigned char>(token.back()))) token.remove_suffix(1);
  at = static_cast<size_t>(token.data() - base);
  size = token.size();
}

// A JSON-RPC id (an integer, as Classify wants, or a string): where its text is; false for a second
// one (`seen`). With `as_dumped`, only an id whose text is the text Dump writes of it (no "-0", no
// escapes), which is stored there.
bool ReadId(ondemand::value value, const char* base, bool& seen, size_t& at, size_t& size, Json* as_dumped) {
  ondemand::json_type type;
  if (seen || value.type().get(type)) return false;
  seen = true;
  TokenSpan(value, base, at, size);
  const std::string_view token(base + at, size);
  if (type == ondemand::json_type::number) {
    int64_t n;
    if (value.get_int64().get(n)) return false;
    if (as_dumped == nullptr) return true;
    char digits[24];
    const char* end = std::to_chars(digits, digits + sizeof digits, n).ptr;
    if (token != std::string_view(digits, static_cast<size_t>(end - digits))) return false;
    // (as Parse makes it: a number without a sign is unsigned)
    *as_dumped = n >= 0 ? Json(static_cast<uint64_t>(n)) : Json(n);
    return true;
  }
  if (type != ondemand::json_type::string) return false;
  std::string_view s;
  if (value.get_string().get(s)) return false;
  if (as_dumped == nullptr) return true;
  if (token.find('\\') != std::string_view::npos) return false;
  *as_dumped = Json(std::string(s));
  return true;
}

// A member that may appear once, a string that must be `want`: true when it is, and `seen` set.
bool StringOnce(ondemand::value value, std::string_view want, bool& seen) {
  std::string_view v;
  if (seen || value.get_string().get(v) || v != want) return false;
  seen = true;
  return true;
}

}  // namespace

std::optional<ResponseShape> ScanResult(std::string_view text) {
  Scanner scan(text);
  ResponseShape shape;
  bool version = false, id = false, result = false;
  const bool read = scan.Object([&](std::string_view key, ondemand::value value) {
    if (key == "jsonrpc") return StringOnce(value, "2.0", version);
    if (key == "id") return ReadId(value, scan.base(), id, shape.id_at, shape.id_size, nullptr);
    if (key == "result") {
      if (result) return false;
      result = true;
      return CheckResult(value, shape.tool_error);
    }
    return key != "error" && key != "method" && CheckValue(value, 1);
  });
  if (!read || !version || !id || !result) return std::nullopt;
  return shape;
}

namespace {

// A tools/call's params: an object with a string `name` (found in the text) and, if any, object
// `arguments`; every value checked.
bool ReadToolParams(ondemand::value value, const char* base, ToolCallShape& shape) {
  ondemand::object object;
  if (value.get_object().get(object)) return false;
  bool name = false, arguments = false;
  const bool read = EachMember(object, [&](std::string_view key, ondemand::value param) {
    if (key == "name") {
      std::string_view v;
      if (name) return false;
      TokenSpan(param, base, shape.name_at, shape.name_size);
      if (param.get_string().get(v)) return false;
      shape.name.assign(v);
      name = true;
      return true;
    }
    if (key == "arguments") {
      ondemand::json_type type;
      if (arguments || param.type().get(type) || type != ondemand::json_type::object) return false;
      arguments = true;
    }
    return CheckValue(param, 2);
  });
  return read && name;
}

}  // namespace

std::optional<ToolCallShape> ScanToolCall(std::string_view text) {
  Scanner scan(text);
  ToolCallShape shape;
  bool version = false, id = false, method = false, params = false;
  const bool read = scan.Object([&](std::string_view key, ondemand::value value) {
    if (key == "jsonrpc") return StringOnce(value, "2.0", version);
    if (key == "id") return ReadId(value, scan.base(), id, shape.id_at, shape.id_size, &shape.id);
    if (key == "method") return StringOnce(value, "tools/call", method);
    if (key != "params" || params) return false;
    params = true;
    return ReadToolParams(value, scan.base(), shape);
  });
  if (!read || !version || !id || !method || !params) return std::nullopt;
  return shape;
}

std::string WithId(std::string text, const ResponseShape& shape, std::string_view id) {
  text.replace(shape.id_at, shape.id_size, id);
  return text;
}

Json Parse(std::string_view text) {
  thread_local simdjson::dom::parser parser;
  auto doc = parser.parse(text.data(), text.size(), /*realloc_if_needed=*/true);
  Json out = doc.error() ? Json::parse(text, nullptr, /*allow_exceptions=*/false) : Build(doc.value_unsafe());
  if (parser.capacity() > kKeptParserCapacity) parser = simdjson::dom::parser();
  return out;
}

void AppendQuoted(std::string& out, std::string_view value) {
  if (Plain(value)) {
    const size_t at = out.size();
    out.resize(at + value.size() + 2);
    char* p = out.data() + at;
    p[0] = '"';
    std::memcpy(p + 1, value.data(), value.size());
    p[value.size() + 1] = '"';
    return;
  }
  out += Json(std::string(value)).dump(-1, ' ', false, Json::error_handler_t::replace);
}

// Containers, strings and integers written here, straight into `out`; what is rare on the wire (floating
// point, binary) is written by nlohmann_json, so the text is the same as its dump().
void AppendDump(std::string& out, const Json& value) {
  switch (value.type()) {
    case Json::value_t::object: {
      out += '{';
      bool first = true;
      for (const auto& [key, member] : value.get_ref<const Json::object_t&>()) {
        if (!first) out += ',';
        first = false;
        AppendQuoted(out, key);
        out += ':';
        AppendDump(out, member);
      }
      out += '}';
      return;
    }
    case Json::value_t::array: {
      out += '[';
      bool first = true;
      for (const Json& item : value.get_ref<const Json::array_t&>()) {
        if (!first) out += ',';
        first = false;
        AppendDump(out, item);
      }
      out += ']';
      return;
    }
    case Json::value_t::string:
      AppendQuoted(out, value.get_ref<const std::string&>());
      return;
    case Json::value_t::boolean:
      out += value.get<bool>() ? "true" : "false";
      return;
    case Json::value_t::null:
      out += "null";
      return;
    case Json::value_t::number_integer:
    case Json::value_t::number_unsigned: {
      char digits[24];
      char* end = value.is_number_unsigned()
                            ? std::to_chars(digits, digits + sizeof digits, value.get<uint64_t>()).ptr
                            : std::to_chars(digits, digits + sizeof digits, value.get<int64_t>()).ptr;
      out.append(digits, static_cast<size_t>(end - digits));
      return;
    }
    default:  // floating point, binary, discarded
      out += value.dump(-1, ' ', false, Json::error_handler_t::replace);
      return;
  }
}

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
  const auto end = m.end();
  auto version = m.find("jsonrpc");
  if (version == end || *version != "2.0") return MessageKind::kInvalid;
  const auto id = m.find("id");
  const bool has_id = id != end && (id->is_string() || id->is_number_integer());
  if (const auto method = m.find("method"); method != end) {
    if (!method->is_string()) return MessageKind::kInvalid;
    const auto params = m.find("params");
    if (params != end && !params->is_object() && !params->is_array()) return MessageKind::kInvalid;
    if (id == end) return MessageKind::kNotification;
    return has_id ? MessageKind::kRequest : MessageKind::kInvalid;
  }
  if (has_id && (m.contains("result") || m.contains("error"))) return MessageKind::kResponse;
  return MessageKind::kInvalid;
}

std::string Dump(const Json& message) {
  std::string out;
  out.reserve(256);
  AppendDump(out, message);
  return out;
}

Json MakeResult(const Json& id, Json result) {
  Json m = Envelope(id);
  m.get_ref<Json::object_t&>().emplace("result", std::move(result));
  return m;
}

Json MakeError(const Json& id, int code, std::string message, Json data) {
  Json error(Json::value_t::object);
  auto& members = error.get_ref<Json::object_t&>();
  members.emplace("code", code);
  members.emplace("message", std::move(message));
  if (!data.is_null()) members.emplace("data", std::move(data));
  Json m = Envelope(id);
  m.get_ref<Json::object_t&>().emplace("error", std::move(error));
  return m;
}

Json MakeRequest(const Json& id, std::string method, Json params) {
  Json m = Envelope(id);
  auto& members = m.get_ref<Json::object_t&>();
  members.emplace("method", std::move(method));
  if (!params.is_null()) members.emplace("params", std::move(params));
  return m;
}

Json MakeNotification(std::string method, Json params) {
  Json m(Json::value_t::object);
  auto& members = m.get_ref<Json::object_t&>();
  members.emplace("jsonrpc", "2.0");
  members.emplace("method", std::move(method));
  if (!params.is_null()) members.emplace("params", std::move(params));
  return m;
}

}  // namespace vmcp::gateway
