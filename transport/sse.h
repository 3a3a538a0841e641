// File: transport/sse.h
//
// Server-Sent Events (text/event-stream), both directions, free of Boost and Beast:
//
//   SseParser       the client side: an incremental parser that follows the WHATWG HTML "interpreting
//                   an event stream" rules exactly, fed whatever chunks the network delivers.
//   FormatSseEvent  the server side: one event as wire text that the parser reads back unchanged.
//
//   SseParser parser;
//   std::vector<SseEvent> events;
//   absl::Status s = parser.Feed("id: 1\ndata: {\"jsonrpc\":\"2.0\"}\n\n", events);
//   // events[0].id == "1", events[0].has_id, events[0].data == "{\"jsonrpc\":\"2.0\"}"
//
// Memory is bounded: a line longer than max_line_bytes or an event whose data grows past
// max_event_bytes fails the stream with ResourceExhausted instead of buffering without end.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"

namespace vmcp::transport {

// One dispatched event.
struct SseEvent {
  // The stream's last event ID when the event was dispatched: set by this event's `id:` field, or carried
  // over from an earlier event (the last event ID persists, as in the spec). Empty when none was ever set.
  std::string id;
  // The `event:` field, or "" when the event did not name a type. The spec's default type is "message";
  // callers treat "" as "message" (the parser does not fill it in, so "" and an explicit "message" differ).
  std::string event;
  // The `data:` lines joined with '\n' (no trailing newline).
  std::string data;
  // The `retry:` field of this event's block, when it had a valid one (milliseconds).
  std::optional<int64_t> retry_ms;
  // True when an `id:` field (one without NUL) was seen in this event's block, i.e. `id` was set by this
  // event rather than carried over. For FormatSseEvent: write the `id:` field only when true.
  bool has_id = false;

  bool operator==(const SseEvent&) const = default;
};

struct SseParserOptions {
  // Upper bound on the data buffer of one event (the data lines plus one newline each). Exceeding it
  // fails the stream with ResourceExhausted.
  size_t max_event_bytes = size_t{8} << 20;
  // Upper bound on one line, terminator excluded. It is checked while a line is still incomplete, so a
  // peer that never sends a line end cannot make the parser buffer more than this. The default equals
  // max_event_bytes because one `data:` line may carry a whole JSON-RPC message.
  size_t max_line_bytes = size_t{8} << 20;
  // Called for each comment line (those starting with ':'; servers send them as heartbeats) with the
  // text after the ':', verbatim. Optional; comment_count() counts them either way.
  std::function<void(std::string_view)> on_comment;
};

// An incremental text/event-stream parser. Not thread-safe; one per stream (or per reconnecting
// stream, see Finish()).
//
// Feed() appends the events that each chunk completes to a caller-owned vector: no callback, and the
// caller can reuse the vector (clear() keeps its capacity) across chunks. Lines within a chunk are read
// in place; only a line that straddles chunks is copied into an internal buffer.
//
// The WHATWG rules, as implemented:
//   - Lines end with CRLF, LF or CR. A CR that ends one chunk and an LF that starts the next are one line end.
//   - One UTF-8 byte order mark at the very start of the stream is dropped, even when split across chunks;
//     a BOM anywhere else is data.
//   - A line starting with ':' is a comment. Otherwise the field name runs to the first ':' and the value
//     follows it, minus one leading space if present; a line without ':' is a field name with an empty value.
//   - `event` sets the event type; `data` appends the value and '\n' to the data buffer; `id` sets the last
//     event ID buffer (even to ""), unless the value contains NUL, in which case it is ignored; `retry` sets
//     the reconnection time when the value is ASCII digits only (and fits in int64), else it is ignored;
//     any other field is ignored.
//   - An empty line dispatches: the last event ID becomes the ID buffer; then, if the data buffer is empty,
//     the data and type buffers are reset and nothing is dispatched; otherwise its trailing '\n' is removed
//     and the event is appended to the output.
class SseParser {
 public:
  explicit SseParser(SseParserOptions options = {});

  // Parses `chunk`, appending each event it completes to `events` (existing elements are left alone).
  // On error (a limit exceeded) returns ResourceExhausted; events completed before the offending line have
  // been appended, and the parser is failed: every later Feed() returns the same error until Finish().
  absl::Status Feed(std::string_view chunk, std::vector<SseEvent>& events);

  // Ends the stream. Per the spec, an event not yet terminated by an empty line (and any incomplete line) is
  // discarded, not dispatched; the last event ID and retry time stay at what dispatched events set.
  // Returns the error that failed the stream, if any, else OK. Either way the parser is then ready for the
  // next stream, as after a reconnection: last_event_id() and retry_ms() are kept (the next stream's events
  // carry the last event ID on until it sets a new one), everything else, the failure included, is reset.
  absl::Status Finish();

  // The last event ID: what a reconnecting client sends as Last-Event-ID. Updated at each empty line.
  const std::string& last_event_id() const { return last_event_id_; }
  // The reconnection time from the last valid `retry:` field, if any.
  std::optional<int64_t> retry_ms() const { return retry_ms_; }
  // Comment lines seen, over all streams.
  uint64_t comment_count() const { return comment_count_; }
  // True when the parser holds a partial line or an undispatched event (what Finish() would discard).
  bool has_pending() const;
  const absl::Status& status() const { return status_; }

 private:
  absl::Status Consume(std::string_view chunk, std::vector<SseEvent>& events);
  absl::Status ProcessLine(std::string_view line, std::vector<SseEvent>& events);
  void Dispatch(std::vector<SseEvent>& events);
  absl::Status Fail(absl::Status status);

  SseParserOptions options_;
  absl::Status status_;

  // Stream-level state.
  size_t bom_matched_ = 0;   // bytes of the BOM matched so far at stream start
  bool at_start_ = true;     // still deciding whether the stream starts with a BOM
  bool pending_cr_ = false;  // the last chunk ended with CR: an LF opening the next chunk is skipped
  std::string line_;         // a line that straddles chunks

  // Event-level buffers.
  std::string data_;
  std::string event_type_;
  std::string id_buffer_;
  bool block_has_id_ = false;
  std::optional<int64_t> block_retry_ms_;
  bool block_started_ = false;  // any field line since the last empty line

  // Survives Finish().
  std::string last_event_id_;
  std::optional<int64_t> retry_ms_;
  uint64_t comment_count_ = 0;
};

// Appends one event as wire text: `id: ...` when has_id, `event: ...` when non-empty, `retry: N` when set
// (and not negative), then the data split at CRLF, LF and CR into `data:` lines (one `data:` line for empty
// data, so that the event is dispatched), then the empty line that dispatches it. Everything is LF-terminated.
//
// Injection: CR and LF are removed from `id` and `event`, and NUL from `id` (a NUL would make the client
// ignore the id), so no value can end its line early and forge fields or events. Parsing the output gives
// back the event with those characters removed and the data's CRLF and CR turned into LF; nothing else
// changes (leading spaces survive because a space always follows the colon).
void AppendSseEvent(const SseEvent& event, std::string& out);
std::string FormatSseEvent(const SseEvent& event);

// A comment (e.g. a heartbeat): ": text\n", one comment line per line of `text` (split like data). The parser
// ignores it apart from comment_count() and on_comment. No empty line follows, so it can be sent between
// events at any time.
void AppendSseComment(std::string_view text, std::string& out);
std::string FormatSseComment(std::string_view text);

}  // namespace vmcp::transport
