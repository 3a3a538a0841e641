// W3C trace context: ids, traceparent parsing and writing, child spans.
#include "gateway/trace.h"

#include <set>
#include <string>

#include <gtest/gtest.h>

namespace vmcp::gateway {
namespace {

bool LowerHex(std::string_view s) { return s.find_first_not_of("0123456789abcdef") == std::string_view::npos; }

TEST(TraceIds, AreLowerHexOfTheirLengthAndDiffer) {
  std::set<std::string> seen;
  for (int i = 0; i < 1000; ++i) {
    const TraceId trace = NewTraceId();
    const SpanId span = NewSpanId();
    ASSERT_EQ(32u, trace.view().size());
    ASSERT_EQ(16u, span.view().size());
    ASSERT_TRUE(LowerHex(trace.view()) && LowerHex(span.view())) << trace.view() << " " << span.view();
    ASSERT_NE(std::string(32, '0'), trace.str());
    seen.insert(trace.str());
    seen.insert(span.str());
  }
  EXPECT_EQ(2000u, seen.size());
  EXPECT_TRUE(SpanId().empty());
  EXPECT_TRUE(SpanId("abc").empty());  // not 16 digits: no id
}

TEST(TraceContext, AClientsTraceparentIsContinuedAndWrittenBack) {
  const std::string tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
  auto t = TraceContext::Parse(tp);
  ASSERT_TRUE(t.has_value());
  EXPECT_EQ("4bf92f3577b34da6a3ce929d0e0e4736", t->trace_id.view());
  EXPECT_EQ("00f067aa0ba902b7", t->parent_id.view());
  EXPECT_NE("00f067aa0ba902b7", t->span_id.view());
  EXPECT_TRUE(t->sampled);
  const TraceContext child = t->Child();
  EXPECT_EQ(t->trace_id, child.trace_id);
  EXPECT_EQ(t->span_id, child.parent_id);
  EXPECT_NE(t->span_id, child.span_id);
  EXPECT_EQ("00-4bf92f3577b34da6a3ce929d0e0e4736-" + child.span_id.str() + "-01", child.Traceparent());

  EXPECT_FALSE(TraceContext::Parse("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0").has_value());
  EXPECT_FALSE(TraceContext::Parse("00-00000000000000000000000000000000-00f067aa0ba902b7-01").has_value());
  EXPECT_FALSE(TraceContext::Parse("00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01").has_value());
  auto unsampled = TraceContext::Parse("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00");
  ASSERT_TRUE(unsampled.has_value());
  EXPECT_EQ("-00", unsampled->Traceparent().substr(52));
}

TEST(TraceContext, WithoutAValidTraceparentANewRootStarts) {
  const TraceContext t = TraceContext::FromHeaders(std::string("garbage"), std::string("vendor=1"));
  EXPECT_EQ(32u, t.trace_id.view().size());
  EXPECT_TRUE(t.parent_id.empty());
  EXPECT_TRUE(t.tracestate.empty());  // tracestate only goes with a valid traceparent
  EXPECT_EQ(55u, t.Traceparent().size());
}

}  // namespace
}  // namespace vmcp::gateway
