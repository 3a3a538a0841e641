#include "transport/http.h"

#include <algorithm>
#include <cstdint>
#include <cstring>

#include "absl/strings/match.h"

namespace vmcp::transport {

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  // (ASCII only, as header names are; no locale lookup per character)
  return absl::EqualsIgnoreCase(absl::string_view(a.data(), a.size()), absl::string_view(b.data(), b.size()));
}

namespace {

// RFC 9110's tchar: letters, digits and "!#$%&'*+-.^_`|~".
struct TokenChars {
  bool table[256] = {};
  constexpr TokenChars() {
    for (int c = '0'; c <= '9'; ++c) table[c] = true;
    for (int c = 'a'; c <= 'z'; ++c) table[c] = table[c - 'a' + 'A'] = true;
    for (char c : std::string_view("!#$%&'*+-.^_`|~")) table[static_cast<unsigned char>(c)] = true;
  }
};
constexpr TokenChars kTokenChars;

}  // namespace

bool IsFieldName(std::string_view name) {
  if (name.empty()) return false;
  for (unsigned char c : name) {
    if (!kTokenChars.table[c]) return false;
  }
  return true;
}

// Eight bytes a step (values are checked on every message written): a word with a byte below 0x20 or a
// DEL is looked at byte by byte from there. (For a byte b, (b - n) & ~b has its high bit set exactly when
// b < n, for n <= 0x80.)
bool IsFieldValue(std::string_view value) {
  constexpr uint64_t kOnes = 0x0101010101010101ULL, kHighs = 0x8080808080808080ULL;
  size_t i = 0;
  for (; i + 8 <= value.size(); i += 8) {
    uint64_t w;
    std::memcpy(&w, value.data() + i, 8);
    const uint64_t del = w ^ (kOnes * 0x7f);
    if ((((w - kOnes * 0x20) & ~w) | ((del - kOnes) & ~del)) & kHighs) break;
  }
  for (; i < value.size(); ++i) {
    const unsigned char c = static_cast<unsigned char>(value[i]);
    if ((c < 0x20 && c != '\t') || c == 0x7f) return false;
  }
  return true;
}

std::optional<std::string_view> Headers::Get(std::string_view name) const {
  for (const Slot& s : slots_) {
    if (s.name_size == name.size() && EqualsIgnoreCase(std::string_view(text_.data() + s.at, s.name_size), name)) {
      return std::string_view(text_.data() + s.at + s.name_size, s.value_size);
    }
  }
  return std::nullopt;
}

void Headers::Set(std::string_view name, std::string_view value) {
  const bool removed = Drop(name);
  Add(name, value);  // (before any compaction: `name` and `value` may view this object's text)
  if (removed) MaybeCompact();
}

void Headers::Add(std::string_view name, std::string_view value) {
  if (slots_.empty()) {
    slots_.reserve(8);  // a typical message's fields in one allocation each
    text_.reserve(256);
  }
  const size_t at = text_.size();
  const char* const base = text_.data();
  const auto inside = [&](std::string_view v) { return !v.empty() && v.data() >= base && v.data() < base + at; };
  if (inside(name) || inside(value)) {
    // A name or value viewing this list's own text (a field copied under another name) is copied
    // before the append can move that text.
    std::string copy;
    copy.reserve(name.size() + value.size());
    copy.append(name).append(value);
    text_.append(copy);
  } else {
    text_.append(name).append(value);
  }
  slots_.push_back({static_cast<uint32_t>(at), static_cast<uint32_t>(name.size()), static_cast<uint32_t>(value.size())});
  live_ += name.size() + value.size();
}

void Headers::Remove(std::string_view name) {
  if (Drop(name)) MaybeCompact();
}

bool Headers::Drop(std::string_view name) {
  const size_t before = slots_.size();
  slots_.erase(std::remove_if(slots_.begin(), slots_.end(),
                              [&](const Slot& s) {
                                if (s.name_size != name.size() ||
                                    !EqualsIgnoreCase(std::string_view(text_.data() + s.at, s.name_size), name)) {
                                  return false;
                                }
                                live_ -= s.name_size + s.value_size;
                                return true;
                              }),
               slots_.end());
  return slots_.size() != before;
}

// Headers changed field by field for long (a set kept and updated) never grow without bound.
void Headers::MaybeCompact() {
  if (text_.size() <= 2 * live_ + 1024) return;
  std::string text;
  text.reserve(live_);
  for (Slot& s : slots_) {
    const size_t at = text.size();
    text.append(text_, s.at, s.name_size + s.value_size);
    s.at = static_cast<uint32_t>(at);
  }
  text_ = std::move(text);
}

std::string_view Request::Path() const {
  std::string_view t(target);
  return t.substr(0, t.find('?'));
}

std::string_view Request::Query() const {
  std::string_view t(target);
  const size_t q = t.find('?');
  return q == std::string_view::npos ? std::string_view() : t.substr(q + 1);
}

std::optional<std::string> Request::QueryParam(std::string_view name) const {
  std::string_view q = Query();
  while (!q.empty()) {
    const size_t amp = q.find('&');
    const std::string_view pair = q.substr(0, amp);
    const size_t eq = pair.find('=');
    if (PercentDecode(pair.substr(0, eq)) == name) {
      return eq == std::string_view::npos ? std::string() : PercentDecode(pair.substr(eq + 1));
    }
    if (amp == std::string_view::npos) break;
    q.remove_prefix(amp + 1);
  }
  return std::nullopt;
}

std::string PercentDecode(std::string_view in) {
  auto hex = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  std::string out;
  out.reserve(in.size());
  for (size_t i = 0; i < in.size(); ++i) {
    if (in[i] == '%' && i + 2 < in.size() && hex(in[i + 1]) >= 0 && hex(in[i + 2]) >= 0) {
      out.push_back(static_cast<char>(hex(in[i + 1]) * 16 + hex(in[i + 2])));
      i += 2;
    } else if (in[i] == '+') {
      out.push_back(' ');
    } else {
      out.push_back(in[i]);
    }
  }
  return out;
}

const char* StatusReason(int status) {
  switch (status) {
    case 200: return "OK";
    case 201: return "Created";
    case 202: return "Accepted";
    case 204: return "No Content";
    case 301: return "Moved Permanently";
    case 302: return "Found";
    case 307: return "Temporary Redirect";
    case 308: return "Permanent Redirect";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 406: return "Not Acceptable";
    case 408: return "Request Timeout";
    case 409: return "Conflict";
    case 413: return "Payload Too Large";
    case 415: return "Unsupported Media Type";
    case 421: return "Misdirected Request";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    default: return "";
  }
}

}  // namespace vmcp::transport
