// Server-Sent Events codec (transport/sse.h): a table of framing cases, each fed as its listed chunks,
// then one byte at a time, then at random split points (fixed seed), all of which must agree; then round
// trips of FormatSseEvent through the parser, injection attempts, and the stream life cycle (Finish()).

#include "transport/sse.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <optional>
#include <ostream>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"

namespace vmcp::transport {

// Printed by gtest when an expectation on events fails.
void PrintTo(const SseEvent& e, std::ostream* os) {
  *os << "{id=\"" << e.id << "\"" << (e.has_id ? " (set)" : "") << " event=\"" << e.event << "\" data=\"";
  if (e.data.size() <= 300) {
    *os << e.data << "\"";
  } else {
    *os << e.data.substr(0, 300) << "\"... (" << e.data.size() << " bytes)";
  }
  if (e.retry_ms) *os << " retry=" << *e.retry_ms;
  *os << "}";
}

namespace {

using namespace std::string_literals;

// An event with an `id:` field in its block.
SseEvent WithId(std::string id, std::string event, std::string data, std::optional<int64_t> retry = std::nullopt) {
  return SseEvent{std::move(id), std::move(event), std::move(data), retry, /*has_id=*/true};
}

// An event without an `id:` field; `id` is the last event ID it carries over.
SseEvent NoId(std::string id, std::string event, std::string data, std::optional<int64_t> retry = std::nullopt) {
  return SseEvent{std::move(id), std::move(event), std::move(data), retry, /*has_id=*/false};
}

struct FramingCase {
  std::string name;
  std::vector<std::string> chunks;
  std::vector<SseEvent> want;
  std::string want_last_id;
  std::optional<int64_t> want_retry = std::nullopt;
  uint64_t want_comments = 0;
  bool want_error = false;  // ResourceExhausted, after the events in `want`
  size_t max_line_bytes = size_t{8} << 20;
  size_t max_event_bytes = size_t{8} << 20;
};

std::ostream& operator<<(std::ostream& os, const FramingCase& c) { return os << c.name; }

struct Outcome {
  std::vector<SseEvent> events;
  std::string last_id;
  std::optional<int64_t> retry;
  uint64_t comments = 0;
  absl::StatusCode code = absl::StatusCode::kOk;
};

Outcome FeedAll(const FramingCase& c, const std::vector<std::string>& chunks) {
  SseParserOptions options;
  options.max_line_bytes = c.max_line_bytes;
  options.max_event_bytes = c.max_event_bytes;
  SseParser parser(options);
  Outcome out;
  for (const std::string& chunk : chunks) {
    absl::Status s = parser.Feed(chunk, out.events);
    if (!s.ok()) {
      out.code = s.code();
      break;
    }
  }
  out.last_id = parser.last_event_id();
  out.retry = parser.retry_ms();
  out.comments = parser.comment_count();
  return out;
}

std::string Concat(const std::vector<std::string>& chunks) {
  std::string all;
  for (const std::string& c : chunks) all += c;
  return all;
}

std::vector<std::string> Bytes(const std::string& all) {
  std::vector<std::string> out;
  for (char c : all) out.emplace_back(1, c);
  return out;
}

// Splits at random points, empty chunks included now and then.
std::vector<std::string> RandomSplit(const std::string& all, std::mt19937& rng) {
  std::vector<std::string> out;
  size_t pos = 0;
  while (pos < all.size()) {
    const size_t len = std::uniform_int_distribution<size_t>(0, 7)(rng);
    out.push_back(all.substr(pos, len));
    pos += len;
  }
  return out;
}

void ExpectOutcome(const FramingCase& c, const Outcome& got, const std::string& how) {
  SCOPED_TRACE(c.name + " fed " + how);
  EXPECT_EQ(got.events, c.want);
  EXPECT_EQ(got.last_id, c.want_last_id);
  EXPECT_EQ(got.retry, c.want_retry);
  EXPECT_EQ(got.comments, c.want_comments);
  EXPECT_EQ(got.code, c.want_error ? absl::StatusCode::kResourceExhausted : absl::StatusCode::kOk);
}

class SseFraming : public ::testing::TestWithParam<FramingCase> {};

TEST_P(SseFraming, ChunksAsListed) { ExpectOutcome(GetParam(), FeedAll(GetParam(), GetParam().chunks), "as listed"); }

TEST_P(SseFraming, WholeStreamInOneChunk) {
  ExpectOutcome(GetParam(), FeedAll(GetParam(), {Concat(GetParam().chunks)}), "in one chunk");
}

TEST_P(SseFraming, OneByteAtATime) {
  ExpectOutcome(GetParam(), FeedAll(GetParam(), Bytes(Concat(GetParam().chunks))), "one byte at a time");
}

TEST_P(SseFraming, RandomSplits) {
  std::mt19937 rng(20240607);
  const std::string all = Concat(GetParam().chunks);
  for (int round = 0; round < 20; ++round) {
    ExpectOutcome(GetParam(), FeedAll(GetParam(), RandomSplit(all, rng)),
                  "at random splits, round " + std::to_string(round));
  }
}

const std::string kJsonRpc = R"({"jsonrpc":"2.0","id":1,"result":{"tools":[{"name":"echo","inputSchema":{}}]}})";
const std::string kNotification = R"({"jsonrpc":"2.0","method":"notifications/progress","params":{"progress":1}})";
const std::string kBom = "\xEF\xBB\xBF";

INSTANTIATE_TEST_SUITE_P(
    Table, SseFraming,
    ::testing::Values(
        FramingCase{"simple", {"data: hello\n\n"}, {NoId("", "", "hello")}, ""},
        FramingCase{"multi_line_data", {"data: a\ndata: b\ndata: c\n\n"}, {NoId("", "", "a\nb\nc")}, ""},
        FramingCase{"crlf", {"data: a\r\ndata: b\r\n\r\n"}, {NoId("", "", "a\nb")}, ""},
        FramingCase{"cr", {"data: a\rdata: b\r\r"}, {NoId("", "", "a\nb")}, ""},
        FramingCase{"mixed_line_ends", {"data: a\r\ndata: b\rdata: c\n\r\n"}, {NoId("", "", "a\nb\nc")}, ""},
        FramingCase{
            "cr_lf_split_across_chunks", {"data: a\r", "\ndata: b\r", "\n\r", "\n"}, {NoId("", "", "a\nb")}, ""},
        FramingCase{"cr_at_chunk_end_then_not_lf", {"data: a\r", "data: b\r", "\r"}, {NoId("", "", "a\nb")}, ""},
        FramingCase{"cr_and_lf_with_empty_chunk_between", {"data: a\r", "", "\n", "\n"}, {NoId("", "", "a")}, ""},
        FramingCase{"lf_cr_is_two_line_ends", {"data: a\n\r"}, {NoId("", "", "a")}, ""},
        FramingCase{"split_byte_by_byte",
                    {"i",  "d", ":", " ", "7", "\n", "e", "v", "e",  "n",  "t",  ":", "e",
                     "\n", "d", "a", "t", "a", ":",  " ", "x", "\r", "\n", "\r", "\n"},
                    {WithId("7", "e", "x")},
                    "7"},
        FramingCase{"bom_dropped", {kBom + "data: a\n\n"}, {NoId("", "", "a")}, ""},
        FramingCase{"bom_split_across_chunks",
                    {"\xEF", "\xBB",
                     "\xBF"
                     "data: a\n\n"},
                    {NoId("", "", "a")},
                    ""},
        FramingCase{"bom_alone_then_stream", {kBom, "data: a\n\n"}, {NoId("", "", "a")}, ""},
        FramingCase{"second_bom_kept", {kBom + kBom + "data: a\n\ndata: b\n\n"}, {NoId("", "", "b")}, ""},
        FramingCase{"bom_not_at_start_is_data",
                    {"data: a\n\n", "data: " + kBom + "b\n\n"},
                    {NoId("", "", "a"), NoId("", "", kBom + "b")},
                    ""},
        FramingCase{"bom_prefix_then_other_bytes_kept", {"\xEF", "data: a\n\ndata: b\n\n"}, {NoId("", "", "b")}, ""},
        FramingCase{"bom_prefix_alone_on_a_line", {"\xEF\xBB", "\ndata: a\n\n"}, {NoId("", "", "a")}, ""},
        FramingCase{"comments_ignored",
                    {": hello\ndata: a\n: heartbeat\n\n:\n:ping\n"},
                    {NoId("", "", "a")},
                    "",
                    std::nullopt,
                    4},
        FramingCase{"data_without_colon", {"data\n\n"}, {NoId("", "", "")}, ""},
        FramingCase{"two_data_without_colon", {"data\ndata\n\n"}, {NoId("", "", "\n")}, ""},
        FramingCase{"data_no_space", {"data:a\n\n"}, {NoId("", "", "a")}, ""},
        FramingCase{"data_two_spaces_only_one_removed", {"data:  a\n\n"}, {NoId("", "", " a")}, ""},
        FramingCase{"data_tab_not_removed", {"data:\ta\n\n"}, {NoId("", "", "\ta")}, ""},
        FramingCase{"colons_in_value", {"data: a:b: c\n\n"}, {NoId("", "", "a:b: c")}, ""},
        FramingCase{"empty_data_line_in_middle", {"data: a\ndata:\ndata: b\n\n"}, {NoId("", "", "a\n\nb")}, ""},
        FramingCase{"id_persists_across_events",
                    {"id: 1\ndata: a\n\ndata: b\n\nid: 2\ndata: c\n\n"},
                    {WithId("1", "", "a"), NoId("1", "", "b"), WithId("2", "", "c")},
                    "2"},
        FramingCase{"id_with_nul_ignored",
                    {"id: 1\ndata: a\n\n"s + "id: 2\0x\ndata: b\n\n"s},
                    {WithId("1", "", "a"), NoId("1", "", "b")},
                    "1"},
        FramingCase{"empty_id_resets",
                    {"id: 1\ndata: a\n\nid\ndata: b\n\nid: 3\ndata: c\n\nid:\ndata: d\n\n"},
                    {WithId("1", "", "a"), WithId("", "", "b"), WithId("3", "", "c"), WithId("", "", "d")},
                    ""},
        FramingCase{"id_without_data_updates_last_id", {"id: 1\ndata: a\n\nid: 5\n\n"}, {WithId("1", "", "a")}, "5"},
        FramingCase{"last_id_in_block_wins", {"id: 1\nid: 2\ndata: a\n\n"}, {WithId("2", "", "a")}, "2"},
        FramingCase{"retry_valid",
                    {"retry: 1000\ndata: a\n\ndata: b\n\n"},
                    {NoId("", "", "a", 1000), NoId("", "", "b")},
                    "",
                    1000},
        FramingCase{"retry_invalid_suffix", {"retry: 10x\ndata: a\n\n"}, {NoId("", "", "a")}, ""},
        FramingCase{
            "retry_empty", {"retry:\ndata: a\n\nretry\ndata: b\n\n"}, {NoId("", "", "a"), NoId("", "", "b")}, ""},
        FramingCase{
            "retry_signs_spaces_overflow_ignored",
            {"retry: 7\n\nretry: -5\nretry: +5\nretry:  5\nretry: 5 \nretry: 99999999999999999999\ndata: a\n\n"},
            {NoId("", "", "a")},
            "",
            7},
        FramingCase{"retry_without_data_still_sets_time", {"retry: 250\n\n"}, {}, "", 250},
        FramingCase{"unknown_fields_ignored",
                    {"foo: bar\nDATA: x\nData: y\ndata : z\n  \ndata: a\n\n"},
                    {NoId("", "", "a")},
                    ""},
        FramingCase{
            "event_type", {"event: update\ndata: a\n\ndata: b\n\n"}, {NoId("", "update", "a"), NoId("", "", "b")}, ""},
        FramingCase{"event_type_without_colon_is_empty", {"event: x\nevent\ndata: a\n\n"}, {NoId("", "", "a")}, ""},
        FramingCase{"event_type_reset_by_empty_block", {"event: x\n\ndata: a\n\n"}, {NoId("", "", "a")}, ""},
        FramingCase{"blank_lines_without_data_dispatch_nothing", {"\n\n\r\n\r\r\n\n"}, {}, ""},
        FramingCase{"trailing_incomplete_event_discarded", {"data: a\n\nid: 9\ndata: b\n"}, {NoId("", "", "a")}, ""},
        FramingCase{"trailing_incomplete_line_discarded", {"data: a\n\ndata: b"}, {NoId("", "", "a")}, ""},
        FramingCase{"cr_only_stream",
                    {"id: 1\revent: e\rdata: a\r\rdata: b\rdata: c\r\r"},
                    {WithId("1", "e", "a"), NoId("1", "", "b\nc")},
                    "1"},
        FramingCase{
            "utf8_data", {"data: h\xC3\xA9llo \xE2\x9C\x93\n\n"}, {NoId("", "", "h\xC3\xA9llo \xE2\x9C\x93")}, ""},
        FramingCase{"mcp_json_rpc_message",
                    {"event: message\nid: 1\ndata: " + kJsonRpc + "\n\n"},
                    {WithId("1", "message", kJsonRpc)},
                    "1"},
        FramingCase{
            "mcp_priming_event_then_messages",
            {"id: s1-0\ndata:\n\n", ": keep-alive\n\n", "event: message\nid: s1-1\ndata: " + kNotification,
             "\n\nevent: message\nid: s1-2\ndata: " + kJsonRpc + "\r\n\r\n"},
            {WithId("s1-0", "", ""), WithId("s1-1", "message", kNotification), WithId("s1-2", "message", kJsonRpc)},
            "s1-2",
            std::nullopt,
            1},
        FramingCase{
            "line_at_limit_ok", {"data: 0123456789\n\n"}, {NoId("", "", "0123456789")}, "", std::nullopt, 0, false, 16},
        FramingCase{"line_over_limit_fails",
                    {"data: a\n\n", "data: 0123456789a\n\ndata: b\n\n"},
                    {NoId("", "", "a")},
                    "",
                    std::nullopt,
                    0,
                    true,
                    16},
        FramingCase{"unterminated_line_over_limit_fails",
                    {"data: a\n\n", "data: 0123456789abcdefghijklmnopqrstuvwxyz"},
                    {NoId("", "", "a")},
                    "",
                    std::nullopt,
                    0,
                    true,
                    16},
        FramingCase{"long_comment_over_limit_fails",
                    {": 0123456789abcdefghijklmnopqrstuvwxyz\n"},
                    {},
                    "",
                    std::nullopt,
                    0,
                    true,
                    16},
        FramingCase{"event_data_over_limit_fails",
                    {"data: 1234\n\ndata: 1234\ndata: 5678\n\n"},
                    {NoId("", "", "1234")},
                    "",
                    std::nullopt,
                    0,
                    true,
                    size_t{8} << 20,
                    8},
        FramingCase{"event_data_at_limit_ok",
                    {"data: 123\ndata: 567\n\n"},
                    {NoId("", "", "123\n567")},
                    "",
                    std::nullopt,
                    0,
                    false,
                    size_t{8} << 20,
                    8}),
    [](const ::testing::TestParamInfo<FramingCase>& info) { return info.param.name; });

// --- The parser beyond the table -------------------------------------------------------------------------

TEST(SseParser, ErrorIsStickyUntilFinish) {
  SseParserOptions options;
  options.max_line_bytes = 4;
  SseParser parser(options);
  std::vector<SseEvent> events;
  absl::Status s = parser.Feed("data: too long\n\n", events);
  EXPECT_EQ(s.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_NE(std::string(s.message()).find("max_line_bytes"), std::string::npos) << s;
  EXPECT_EQ(parser.Feed("\n", events), s);
  EXPECT_EQ(parser.status(), s);
  EXPECT_EQ(parser.Finish(), s);
  EXPECT_TRUE(parser.status().ok());
  EXPECT_TRUE(parser.Feed("a:\n\n", events).ok());
  EXPECT_TRUE(events.empty());
}

TEST(SseParser, EventLimitMessageNamesTheOption) {
  SseParserOptions options;
  options.max_event_bytes = 4;
  SseParser parser(options);
  std::vector<SseEvent> events;
  absl::Status s = parser.Feed("data: 12345\n\n", events);
  EXPECT_EQ(s.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_NE(std::string(s.message()).find("max_event_bytes"), std::string::npos) << s;
}

TEST(SseParser, FinishDiscardsPendingAndKeepsLastIdAndRetry) {
  SseParser parser;
  std::vector<SseEvent> events;
  ASSERT_TRUE(parser.Feed("retry: 3000\nid: 1\ndata: a\n\nid: 2\ndata: partial\n", events).ok());
  EXPECT_TRUE(parser.has_pending());
  ASSERT_EQ(events.size(), 1u);
  EXPECT_TRUE(parser.Finish().ok());
  EXPECT_FALSE(parser.has_pending());
  EXPECT_EQ(parser.last_event_id(), "1");  // the discarded block's id: 2 never took effect
  EXPECT_EQ(parser.retry_ms(), 3000);

  // The reconnected stream: a BOM is allowed again at its start; the last event ID carries on.
  events.clear();
  ASSERT_TRUE(parser.Feed(kBom + "data: b\n\nid: 3\ndata: c\n\n", events).ok());
  EXPECT_EQ(events, (std::vector<SseEvent>{NoId("1", "", "b"), WithId("3", "", "c")}));
  EXPECT_EQ(parser.last_event_id(), "3");
}

TEST(SseParser, FinishForgetsPendingCrAndPartialBom) {
  SseParser parser;
  std::vector<SseEvent> events;
  ASSERT_TRUE(parser.Feed("data: a\r", events).ok());
  EXPECT_TRUE(parser.has_pending());  // the undispatched event
  ASSERT_TRUE(parser.Finish().ok());
  // A new stream starting with LF: an empty line, not the second half of the old CRLF.
  ASSERT_TRUE(parser.Feed("\ndata: b\n\n", events).ok());
  EXPECT_EQ(events, (std::vector<SseEvent>{NoId("", "", "b")}));

  ASSERT_TRUE(parser.Finish().ok());
  ASSERT_TRUE(parser.Feed("\xEF\xBB", events).ok());
  EXPECT_TRUE(parser.has_pending());
  ASSERT_TRUE(parser.Finish().ok());
  EXPECT_FALSE(parser.has_pending());
}

TEST(SseParser, CommentCallbackGetsTextAfterColon) {
  std::vector<std::string> comments;
  SseParserOptions options;
  options.on_comment = [&comments](std::string_view text) { comments.emplace_back(text); };
  SseParser parser(options);
  std::vector<SseEvent> events;
  ASSERT_TRUE(parser.Feed(": ping\r\n:\n:: x\rdata: a\n\n", events).ok());
  EXPECT_EQ(comments, (std::vector<std::string>{" ping", "", ": x"}));
  EXPECT_EQ(parser.comment_count(), 3u);
  EXPECT_EQ(events.size(), 1u);
}

TEST(SseParser, FeedAppendsWithoutClearing) {
  SseParser parser;
  std::vector<SseEvent> events{NoId("", "", "earlier")};
  ASSERT_TRUE(parser.Feed("data: a\n\ndata: b\n\n", events).ok());
  EXPECT_EQ(events, (std::vector<SseEvent>{NoId("", "", "earlier"), NoId("", "", "a"), NoId("", "", "b")}));
}

TEST(SseParser, LargeEventAcrossManySmallChunks) {
  std::string payload;
  for (int i = 0; payload.size() < 200000; ++i) payload += std::to_string(i) + ",";
  const std::string wire = "id: big\ndata: " + payload + "\n\n";
  SseParser parser;
  std::vector<SseEvent> events;
  for (size_t pos = 0; pos < wire.size(); pos += 1000) ASSERT_TRUE(parser.Feed(wire.substr(pos, 1000), events).ok());
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].data, payload);
  EXPECT_EQ(events[0].id, "big");
}

// --- The formatter ---------------------------------------------------------------------------------------

std::vector<SseEvent> ParseAll(const std::string& wire, size_t chunk = 0) {
  SseParser parser;
  std::vector<SseEvent> events;
  if (chunk == 0) chunk = wire.size() + 1;
  for (size_t pos = 0; pos < wire.size(); pos += chunk) {
    absl::Status s = parser.Feed(wire.substr(pos, chunk), events);
    EXPECT_TRUE(s.ok()) << s;
  }
  EXPECT_FALSE(parser.has_pending()) << "formatted text must end every event";
  return events;
}

TEST(FormatSseEvent, ExactWireText) {
  EXPECT_EQ(FormatSseEvent(WithId("1", "message", "{\"a\":1}")), "id: 1\nevent: message\ndata: {\"a\":1}\n\n");
  EXPECT_EQ(FormatSseEvent(NoId("ignored", "", "a\nb")), "data: a\ndata: b\n\n");
  EXPECT_EQ(FormatSseEvent(NoId("", "", "")), "data:\n\n");
  EXPECT_EQ(FormatSseEvent(WithId("", "", "x", 500)), "id: \nretry: 500\ndata: x\n\n");
  EXPECT_EQ(FormatSseEvent(NoId("", "", "a\r\n\rb\n")), "data: a\ndata:\ndata: b\ndata:\n\n");
  EXPECT_EQ(FormatSseEvent(NoId("", "", "x", -1)), "data: x\n\n");  // a negative retry cannot be written
}

TEST(FormatSseEvent, RoundTripsThroughTheParser) {
  const std::vector<SseEvent> events = {
      WithId("1", "message", kJsonRpc),
      NoId("1", "", "plain"),
      WithId("2", "", "line1\nline2\n\nline4"),
      NoId("2", "", ""),
      NoId("2", "", "\n"),
      NoId("2", "", "trailing newline\n"),
      NoId("2", "", "\nleading newline"),
      WithId("  spaced id ", "  spaced type", "  spaced data  ", 1500),
      WithId("", "", "empty id resets"),
      NoId("", "", ": not a comment\ndata: not a field\nid: 99\n"),
      WithId("\xC3\xA9", "\xE2\x9C\x93",
             "\xEF\xBB\xBF"
             "bom inside data"),
      WithId("colon:id", "colon:type", "a:b"),
      NoId("colon:id", "", std::string(70000, 'x')),
  };
  std::string wire;
  for (const SseEvent& e : events) AppendSseEvent(e, wire);
  EXPECT_EQ(ParseAll(wire), events);
  EXPECT_EQ(ParseAll(wire, 1), events);
  EXPECT_EQ(ParseAll(wire, 4096), events);
}

TEST(FormatSseEvent, DataLineEndsComeBackAsLf) {
  const std::string wire = FormatSseEvent(NoId("", "", "a\r\nb\rc\nd\r"));
  EXPECT_EQ(ParseAll(wire), (std::vector<SseEvent>{NoId("", "", "a\nb\nc\nd\n")}));
}

TEST(FormatSseEvent, IdAndEventCannotInjectLines) {
  const SseEvent evil = WithId("1\n\ndata: forged\nid: 666\r", "message\r\ndata: forged\r\revent: x", "real");
  const std::string wire = FormatSseEvent(evil);
  // Exactly four lines: id, event, data, and the empty line.
  EXPECT_EQ(wire, "id: 1data: forgedid: 666\nevent: messagedata: forgedevent: x\ndata: real\n\n");
  EXPECT_EQ(ParseAll(wire),
            (std::vector<SseEvent>{WithId("1data: forgedid: 666", "messagedata: forgedevent: x", "real")}));
}

TEST(FormatSseEvent, NulRemovedFromIdSoTheIdIsNotDropped) {
  const std::string wire = FormatSseEvent(WithId("a\0b"s, "", "x"));
  EXPECT_EQ(wire, "id: ab\ndata: x\n\n");
  EXPECT_EQ(ParseAll(wire), (std::vector<SseEvent>{WithId("ab", "", "x")}));
}

TEST(FormatSseEvent, RandomEventsRoundTripAtRandomSplits) {
  std::mt19937 rng(7);
  const std::string alphabet = "ab :\r\n\x01\xEF\xBB\xBF{}\"";
  auto random_text = [&](size_t max_len, bool allow_line_ends) {
    std::string s;
    const size_t len = std::uniform_int_distribution<size_t>(0, max_len)(rng);
    while (s.size() < len) {
      const char c = alphabet[std::uniform_int_distribution<size_t>(0, alphabet.size() - 1)(rng)];
      if (!allow_line_ends && (c == '\r' || c == '\n')) continue;
      s.push_back(c);
    }
    return s;
  };
  std::vector<SseEvent> events;
  std::string last_id;
  for (int i = 0; i < 300; ++i) {
    SseEvent e;
    e.has_id = std::bernoulli_distribution(0.5)(rng);
    if (e.has_id) last_id = random_text(8, false);
    e.id = last_id;
    e.event = random_text(8, false);
    std::string data = random_text(40, true);
    // Normalize the line ends the way the wire does.
    std::string normalized;
    for (size_t k = 0; k < data.size(); ++k) {
      if (data[k] == '\r') {
        normalized.push_back('\n');
        if (k + 1 < data.size() && data[k + 1] == '\n') ++k;
      } else {
        normalized.push_back(data[k]);
      }
    }
    e.data = normalized;
    if (std::bernoulli_distribution(0.2)(rng)) e.retry_ms = std::uniform_int_distribution<int64_t>(0, 1 << 30)(rng);
    events.push_back(e);
  }
  std::string wire;
  for (const SseEvent& e : events) AppendSseEvent(e, wire);
  for (int round = 0; round < 5; ++round) {
    SseParser parser;
    std::vector<SseEvent> got;
    for (const std::string& chunk : RandomSplit(wire, rng)) ASSERT_TRUE(parser.Feed(chunk, got).ok());
    ASSERT_EQ(got, events) << "round " << round;
  }
}

TEST(FormatSseComment, OneCommentLinePerLine) {
  EXPECT_EQ(FormatSseComment("ping"), ": ping\n");
  EXPECT_EQ(FormatSseComment(""), ":\n");
  EXPECT_EQ(FormatSseComment("a\r\nb\nc"), ": a\n: b\n: c\n");
  EXPECT_EQ(FormatSseComment("x\ndata: forged"), ": x\n: data: forged\n");

  SseParser parser;
  std::vector<SseEvent> events;
  std::string wire = FormatSseComment("keep-alive") + FormatSseEvent(WithId("1", "", "a")) +
                     FormatSseComment("x\ndata: forged\n") + FormatSseEvent(NoId("1", "", "b"));
  ASSERT_TRUE(parser.Feed(wire, events).ok());
  EXPECT_EQ(events, (std::vector<SseEvent>{WithId("1", "", "a"), NoId("1", "", "b")}));
  EXPECT_EQ(parser.comment_count(), 4u);
}

}  // namespace
}  // namespace vmcp::transport
