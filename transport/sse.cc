// File: transport/sse.cc
//
// The text/event-stream parser and formatter declared in transport/sse.h. The parser scans each chunk
// with memchr for LF and CR, remembering the next position of each so that the scan stays linear even for
// CR-only or LF-only streams, and reads complete lines in place; only a line split across chunks is copied.
#include "transport/sse.h"

#include <cstring>
#include <limits>
#include <utility>

#include "absl/strings/str_cat.h"

namespace vmcp::transport {
namespace {

constexpr char kBom[] = "\xEF\xBB\xBF";
constexpr size_t kBomSize = 3;

// The position of the first `c` in `s` at or after `from`, or s.size() when there is none.
size_t Find(std::string_view s, size_t from, char c) {
  const void* hit = std::memchr(s.data() + from, c, s.size() - from);
  return hit == nullptr ? s.size() : static_cast<size_t>(static_cast<const char*>(hit) - s.data());
}

// ASCII digits only, non-empty, fitting in int64; anything else is ignored like the spec says.
std::optional<int64_t> ParseRetry(std::string_view value) {
  if (value.empty()) return std::nullopt;
  int64_t n = 0;
  for (char c : value) {
    if (c < '0' || c > '9') return std::nullopt;
    const int digit = c - '0';
    if (n > (std::numeric_limits<int64_t>::max() - digit) / 10) return std::nullopt;
    n = n * 10 + digit;
  }
  return n;
}

absl::Status LineTooLong(size_t limit) {
  return absl::ResourceExhaustedError(
      absl::StrCat("SSE line longer than max_line_bytes (", limit, " bytes) without a line end"));
}

// Calls `fn` with each line of `text`, split at CRLF, LF and CR; always at least once (for "").
template <typename Fn>
void ForEachLine(std::string_view text, Fn fn) {
  size_t pos = 0;
  while (true) {
    size_t end = pos;
    while (end < text.size() && text[end] != '\n' && text[end] != '\r') ++end;
    fn(text.substr(pos, end - pos));
    if (end == text.size()) return;
    pos = end + 1;
    if (text[end] == '\r' && pos < text.size() && text[pos] == '\n') ++pos;
  }
}

// Appends `value` without the characters in `drop`.
void AppendWithout(std::string_view value, std::string_view drop, std::string& out) {
  for (char c : value) {
    if (drop.find(c) == std::string_view::npos) out.push_back(c);
  }
}

}  // namespace

SseParser::SseParser(SseParserOptions options) : options_(std::move(options)) {}

absl::Status SseParser::Fail(absl::Status status) {
  status_ = status;
  return status;
}

bool SseParser::has_pending() const { return !line_.empty() || block_started_ || (at_start_ && bom_matched_ > 0); }

absl::Status SseParser::Feed(std::string_view chunk, std::vector<SseEvent>& events) {
  if (!status_.ok()) return status_;
  if (at_start_) {
    while (!chunk.empty() && bom_matched_ < kBomSize && chunk.front() == kBom[bom_matched_]) {
      ++bom_matched_;
      chunk.remove_prefix(1);
    }
    if (bom_matched_ == kBomSize) {
      at_start_ = false;  // a whole BOM: dropped
    } else if (chunk.empty()) {
      return absl::OkStatus();  // all of it (if anything) matched a BOM prefix so far; wait for more
    } else {
      // Not a BOM after all: the bytes held back are the start of the first line.
      at_start_ = false;
      if (bom_matched_ > 0) {
        if (absl::Status s = Consume(std::string_view(kBom, bom_matched_), events); !s.ok()) return s;
      }
    }
  }
  return Consume(chunk, events);
}

absl::Status SseParser::Consume(std::string_view chunk, std::vector<SseEvent>& events) {
  const size_t n = chunk.size();
  if (n == 0) return absl::OkStatus();
  size_t pos = 0;
  if (pending_cr_) {
    pending_cr_ = false;
    if (chunk[0] == '\n') pos = 1;
  }
  size_t next_lf = Find(chunk, pos, '\n');
  size_t next_cr = Find(chunk, pos, '\r');
  while (pos < n) {
    if (next_lf < pos) next_lf = Find(chunk, pos, '\n');
    if (next_cr < pos) next_cr = Find(chunk, pos, '\r');
    const size_t end = next_lf < next_cr ? next_lf : next_cr;
    if (end == n) {
      // No line end in the rest of the chunk: keep it for the next one.
      if (line_.size() + (n - pos) > options_.max_line_bytes) return Fail(LineTooLong(options_.max_line_bytes));
      line_.append(chunk.data() + pos, n - pos);
      return absl::OkStatus();
    }
    std::string_view line = chunk.substr(pos, end - pos);
    if (!line_.empty()) {
      if (line_.size() + line.size() > options_.max_line_bytes) return Fail(LineTooLong(options_.max_line_bytes));
      line_.append(line);
      line = line_;
    } else if (line.size() > options_.max_line_bytes) {
      return Fail(LineTooLong(options_.max_line_bytes));
    }
    pos = end + 1;
    if (chunk[end] == '\r') {
      if (pos < n) {
        if (chunk[pos] == '\n') ++pos;
      } else {
        pending_cr_ = true;
      }
    }
    if (absl::Status s = ProcessLine(line, events); !s.ok()) return s;
    line_.clear();
  }
  return absl::OkStatus();
}

absl::Status SseParser::ProcessLine(std::string_view line, std::vector<SseEvent>& events) {
  if (line.empty()) {
    Dispatch(events);
    return absl::OkStatus();
  }
  if (line.front() == ':') {
    ++comment_count_;
    if (options_.on_comment) options_.on_comment(line.substr(1));
    return absl::OkStatus();
  }
  block_started_ = true;
  std::string_view name = line;
  std::string_view value;
  if (const size_t colon = line.find(':'); colon != std::string_view::npos) {
    name = line.substr(0, colon);
    value = line.substr(colon + 1);
    if (!value.empty() && value.front() == ' ') value.remove_prefix(1);
  }
  if (name == "data") {
    if (data_.size() + value.size() + 1 > options_.max_event_bytes) {
      return Fail(absl::ResourceExhaustedError(
          absl::StrCat("SSE event data longer than max_event_bytes (", options_.max_event_bytes, " bytes)")));
    }
    data_.append(value);
    data_.push_back('\n');
  } else if (name == "event") {
    event_type_.assign(value);
  } else if (name == "id") {
    if (value.find('\0') == std::string_view::npos) {
      id_buffer_.assign(value);
      block_has_id_ = true;
    }
  } else if (name == "retry") {
    if (std::optional<int64_t> retry = ParseRetry(value)) {
      retry_ms_ = retry;
      block_retry_ms_ = retry;
    }
  }
  // Any other field is ignored.
  return absl::OkStatus();
}

void SseParser::Dispatch(std::vector<SseEvent>& events) {
  last_event_id_ = id_buffer_;
  if (!data_.empty()) {
    data_.pop_back();  // the trailing '\n'
    SseEvent& event = events.emplace_back();
    event.id = last_event_id_;
    event.event = std::move(event_type_);
    event.data = std::move(data_);
    event.retry_ms = block_retry_ms_;
    event.has_id = block_has_id_;
  }
  data_.clear();  // also makes the moved-from strings definitely empty
  event_type_.clear();
  block_has_id_ = false;
  block_retry_ms_.reset();
  block_started_ = false;
}

absl::Status SseParser::Finish() {
  absl::Status result = std::move(status_);
  status_ = absl::OkStatus();
  bom_matched_ = 0;
  at_start_ = true;
  pending_cr_ = false;
  line_.clear();
  data_.clear();
  event_type_.clear();
  id_buffer_ = last_event_id_;  // the discarded block's id never became the last event ID
  block_has_id_ = false;
  block_retry_ms_.reset();
  block_started_ = false;
  return result;
}

void AppendSseEvent(const SseEvent& event, std::string& out) {
  out.reserve(out.size() + event.id.size() + event.event.size() + event.data.size() + 64);
  if (event.has_id) {
    out.append("id: ");
    AppendWithout(event.id, std::string_view("\r\n\0", 3), out);
    out.push_back('\n');
  }
  if (!event.event.empty()) {
    out.append("event: ");
    AppendWithout(event.event, "\r\n", out);
    out.push_back('\n');
  }
  if (event.retry_ms.has_value() && *event.retry_ms >= 0) {
    out.append("retry: ");
    absl::StrAppend(&out, *event.retry_ms);
    out.push_back('\n');
  }
  ForEachLine(event.data, [&out](std::string_view line) {
    if (line.empty()) {
      out.append("data:\n");
    } else {
      out.append("data: ");
      out.append(line);
      out.push_back('\n');
    }
  });
  out.push_back('\n');
}

std::string FormatSseEvent(const SseEvent& event) {
  std::string out;
  AppendSseEvent(event, out);
  return out;
}

void AppendSseComment(std::string_view text, std::string& out) {
  ForEachLine(text, [&out](std::string_view line) {
    out.append(line.empty() ? ":" : ": ");
    out.append(line);
    out.push_back('\n');
  });
}

std::string FormatSseComment(std::string_view text) {
  std::string out;
  AppendSseComment(text, out);
  return out;
}

}  // namespace vmcp::transport
