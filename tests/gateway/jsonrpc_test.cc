// JSON text in and out (gateway/jsonrpc.h): Parse makes the document nlohmann_json's parser makes, type
// for type, and says "not JSON" where it does; Dump writes the text nlohmann_json's dump() writes, byte
// for byte (bad UTF-8 replaced). Classify sorts messages. ScanResult takes only what Parse would read
// as a response with a result, and finds its id where it is; ScanToolCall likewise for a client's
// tools/call, whose id's text must also be the text Dump writes of it.
#include <optional>
#include <string>
#include <vector>

#include "gateway/jsonrpc.h"
#include "gtest/gtest.h"

namespace vmcp::gateway {
namespace {

// Equal values of the same types all the way down (nlohmann's == calls 1 and 1u equal).
void ExpectSame(const Json& want, const Json& got, const std::string& where) {
  ASSERT_EQ(want.type_name(), std::string(got.type_name())) << where;
  ASSERT_EQ(want.type(), got.type()) << where;
  if (want.is_object()) {
    ASSERT_EQ(want.size(), got.size()) << where;
    for (auto it = want.begin(); it != want.end(); ++it) {
      ASSERT_TRUE(got.contains(it.key())) << where << "." << it.key();
      ExpectSame(it.value(), got[it.key()], where + "." + it.key());
    }
  } else if (want.is_array()) {
    ASSERT_EQ(want.size(), got.size()) << where;
    for (size_t i = 0; i < want.size(); ++i) ExpectSame(want[i], got[i], where + "[" + std::to_string(i) + "]");
  } else if (!want.is_discarded()) {
    ASSERT_EQ(want, got) << where;
  }
}

const std::vector<std::string>& Documents() {
  static const std::vector<std::string> docs = {
      R"({"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"echo","arguments":{"text":"hi"}}})",
      R"({"jsonrpc":"2.0","id":"a-1","result":{"content":[{"type":"text","text":"x"}],"isError":false}})",
      R"(  { "b" : [ 1 , -2 , 3.5 , 0 , -0.0 , 1e2 , 1E-2 , 0.1 , true , false , null ] , "a" : { } , "c" : [ ] }  )",
      R"({"a":1,"a":2,"b":{"x":"first","x":"last"}})",  // a repeated key keeps its last value
      R"([9223372036854775807,9223372036854775808,18446744073709551615,-9223372036854775808])",
      R"([18446744073709551616,-9223372036854775809,123456789012345678901234567890])",  // beyond 64 bits
      R"(["\u00e9\u4e2d\ud83d\ude00","\"\\\/\b\f\n\r\t","a\u0000b","caf\u00c3\u00a9"])",
      "[\"\xc3\xa9\xe4\xb8\xad\xf0\x9f\x98\x80\"]",
      R"("just a string")",
      "42",
      "null",
      "[[[[[[[[[[[]]]]]]]]]]]",
  };
  return docs;
}

TEST(JsonParse, MakesTheDocumentNlohmannMakesTypeForType) {
  for (const std::string& text : Documents()) {
    SCOPED_TRACE(text);
    const Json want = Json::parse(text, nullptr, false);
    ASSERT_FALSE(want.is_discarded());
    ExpectSame(want, Parse(text), "$");
  }
}

TEST(JsonParse, TextThatIsNotJsonIsDiscardedAsNlohmannDiscardsIt) {
  const std::vector<std::string> bad = {
      "",        " ",          "{",       "[1,]",      R"({"a":1,})", R"({"a" 1})", "[1] x", "01", "-", "1e400",
      "\"\\ud800\"", "\"\\udc00x\"", "\"a\x01\"", "\"\xff\"", "\"\xc3\"", "[\"\xed\xa0\x80\"]", "nul", "{\"a\":tru}",
      "'single'",
  };
  for (const std::string& text : bad) {
    SCOPED_TRACE(text);
    EXPECT_TRUE(Json::parse(text, nullptr, false).is_discarded());
    EXPECT_TRUE(Parse(text).is_discarded());
  }
}

// The one difference: nlohmann keeps "-0" as a signed integer, Parse as an unsigned one. The same value,
// written the same.
TEST(JsonParse, MinusZeroIsZero) {
  EXPECT_EQ(Json::parse("-0"), Parse("-0"));
  EXPECT_EQ(Json::parse("[-0]").dump(), Dump(Parse("[-0]")));
}

TEST(JsonParse, NestingDeeperThanSimdjsonTakesIsStillParsed) {
  const std::string deep = std::string(3000, '[') + std::string(3000, ']');
  ExpectSame(Json::parse(deep), Parse(deep), "$");
}

TEST(JsonParse, ALargeDocumentThenSmallOnesOnTheSameThread) {
  Json big = Json::array();
  for (int i = 0; i < 60000; ++i) big.push_back(Json{{"name", "tool_" + std::to_string(i)}, {"n", i}});
  const std::string text = big.dump();
  ASSERT_GT(text.size(), size_t{1} << 20);
  ExpectSame(Json::parse(text), Parse(text), "$");
  for (const std::string& small : Documents()) ExpectSame(Json::parse(small), Parse(small), "$");
}

TEST(JsonDump, WritesTheTextNlohmannWrites) {
  for (const std::string& text : Documents()) {
    SCOPED_TRACE(text);
    const Json doc = Json::parse(text);
    EXPECT_EQ(doc.dump(), Dump(doc));
  }
  const Json built = {{"z", 1.5}, {"y", -3}, {"x", 3u}, {"w", {1e300, 0.1, -0.0, 2.0}}, {"v", Json::binary({1, 2})}};
  EXPECT_EQ(built.dump(), Dump(built));
}

// Every byte at every position of strings of 1 to 24 bytes (shorter than one 8-byte step, whole steps,
// steps and a tail read overlapping): written as nlohmann writes it, bad UTF-8 replaced with U+FFFD.
TEST(JsonDump, EveryByteAtEveryPositionIsEscapedAsNlohmannEscapesIt) {
  for (size_t size = 1; size <= 24; ++size) {
    for (int byte = 0; byte < 256; ++byte) {
      for (size_t at = 0; at < size; ++at) {
        std::string s(size, 'a');
        s[at] = static_cast<char>(byte);
        const Json value = s;
        const std::string want = value.dump(-1, ' ', false, Json::error_handler_t::replace);
        ASSERT_EQ(want, Dump(value)) << "byte " << byte << " at " << at << " of " << size;
        ASSERT_EQ(want, Dump(Json::object({{s, 1}})).substr(1, want.size()))
            << "key, byte " << byte << " at " << at << " of " << size;
      }
    }
  }
  EXPECT_EQ("\"\"", Dump(Json(std::string())));
  const Json mixed = {"caf\xc3\xa9", "cut \xe4\xb8", "\xed\xa0\x80", std::string("nul\0in", 6)};
  EXPECT_EQ(mixed.dump(-1, ' ', false, Json::error_handler_t::replace), Dump(mixed));
}

TEST(JsonDump, AppendQuotedAddsToWhatIsThere) {
  std::string out = "x=";
  AppendQuoted(out, "plain text");
  AppendQuoted(out, "tab\there");
  EXPECT_EQ(R"(x="plain text""tab\there")", out);
}

TEST(Classify, SortsMessages) {
  EXPECT_EQ(MessageKind::kRequest, Classify(Parse(R"({"jsonrpc":"2.0","id":1,"method":"ping"})")));
  EXPECT_EQ(MessageKind::kRequest, Classify(Parse(R"({"jsonrpc":"2.0","id":"x","method":"m","params":[]})")));
  EXPECT_EQ(MessageKind::kNotification, Classify(Parse(R"({"jsonrpc":"2.0","method":"notifications/initialized"})")));
  EXPECT_EQ(MessageKind::kResponse, Classify(Parse(R"({"jsonrpc":"2.0","id":1,"result":{}})")));
  EXPECT_EQ(MessageKind::kResponse, Classify(Parse(R"({"jsonrpc":"2.0","id":"1","error":{"code":1}})")));
  EXPECT_EQ(MessageKind::kInvalid, Classify(Parse(R"({"jsonrpc":"1.0","id":1,"method":"ping"})")));
  EXPECT_EQ(MessageKind::kInvalid, Classify(Parse(R"({"jsonrpc":"2.0","id":1.5,"method":"ping"})")));
  EXPECT_EQ(MessageKind::kInvalid, Classify(Parse(R"({"jsonrpc":"2.0","id":null,"method":"ping"})")));
  EXPECT_EQ(MessageKind::kInvalid, Classify(Parse(R"({"jsonrpc":"2.0","id":1,"method":5})")));
  EXPECT_EQ(MessageKind::kInvalid, Classify(Parse(R"({"jsonrpc":"2.0","method":"m","params":"s"})")));
  EXPECT_EQ(MessageKind::kInvalid, Classify(Parse(R"({"jsonrpc":"2.0","id":1})")));
  EXPECT_EQ(MessageKind::kInvalid, Classify(Parse(R"([1])")));
}

// What ScanResult says of `text`, checked against the document Parse makes of it: the text is a valid
// response with a result, the id is where the shape says, isError is what the document has.
void ExpectScanAgreesWithParse(const std::string& text) {
  const std::optional<ResponseShape> shape = ScanResult(text);
  if (!shape) return;
  const Json doc = Parse(text);
  ASSERT_FALSE(doc.is_discarded()) << "scanned, but not JSON: " << text;
  ASSERT_EQ(MessageKind::kResponse, Classify(doc)) << text;
  ASSERT_TRUE(doc.contains("result")) << text;
  ASSERT_FALSE(doc.contains("error")) << text;
  ASSERT_LE(shape->id_at + shape->id_size, text.size()) << text;
  ExpectSame(doc["id"], Parse(text.substr(shape->id_at, shape->id_size)), "id of " + text);
  const Json& result = doc["result"];
  const bool tool_error = result.is_object() && result.value("isError", Json()) == Json(true);
  ASSERT_EQ(tool_error, shape->tool_error) << text;
  Json renumbered = doc;
  renumbered["id"] = "new";
  ExpectSame(renumbered, Parse(WithId(text, *shape, R"("new")")), "renumbered " + text);
}

TEST(ScanResult, FindsTheIdOfAResultAndWhetherItIsAToolError) {
  const std::string text = R"({"jsonrpc":"2.0","id":7,"result":{"content":[{"type":"text","text":"hi"}]}})";
  auto shape = ScanResult(text);
  ASSERT_TRUE(shape.has_value());
  EXPECT_EQ("7", text.substr(shape->id_at, shape->id_size));
  EXPECT_FALSE(shape->tool_error);
  EXPECT_EQ(R"({"jsonrpc":"2.0","id":"c-1","result":{"content":[{"type":"text","text":"hi"}]}})",
            WithId(text, *shape, R"("c-1")"));

  const std::string spaced = " { \"result\" : { \"isError\" : true , \"content\" : [ ] } ,\n \"id\" : 12 \t, \"jsonrpc\" : \"2.0\" } \n";
  shape = ScanResult(spaced);
  ASSERT_TRUE(shape.has_value());
  EXPECT_EQ("12", spaced.substr(shape->id_at, shape->id_size));
  EXPECT_TRUE(shape->tool_error);

  const std::string quoted = R"({"id":"a\"b\u00e9","jsonrpc":"2.0","result":[1,{"isError":true}],"_meta":{"k":[null,false]}})";
  shape = ScanResult(quoted);
  ASSERT_TRUE(shape.has_value());
  EXPECT_EQ(R"("a\"b\u00e9")", quoted.substr(shape->id_at, shape->id_size));
  EXPECT_FALSE(shape->tool_error);  // (a result that is not an object says nothing of isError)

  // A repeated isError: the last one counts, as in the document Parse makes; only `true` is an error.
  const std::string repeated = R"({"jsonrpc":"2.0","id":1,"result":{"isError":true,"isError":"yes"}})";
  shape = ScanResult(repeated);
  ASSERT_TRUE(shape.has_value());
  EXPECT_FALSE(shape->tool_error);

  for (const std::string& t : {text, spaced, quoted, repeated}) ExpectScanAgreesWithParse(t);
}

TEST(ScanResult, LeavesEverythingElseToParse) {
  const std::vector<std::string> others = {
      R"({"jsonrpc":"2.0","id":1,"error":{"code":-32601,"message":"no"}})",
      R"({"jsonrpc":"2.0","id":1,"method":"ping"})",
      R"({"jsonrpc":"2.0","method":"notifications/progress","params":{}})",
      R"({"id":1,"result":{}})",
      R"({"jsonrpc":"1.0","id":1,"result":{}})",
      R"({"jsonrpc":"2.0","result":{}})",
      R"({"jsonrpc":"2.0","id":1})",
      R"({"jsonrpc":"2.0","id":1,"id":2,"result":{}})",
      R"({"jsonrpc":"2.0","id":1,"result":{},"result":{}})",
      R"({"jsonrpc":"2.0","jsonrpc":"2.0","id":1,"result":{}})",
      R"({"jsonrpc":"2.0","id":null,"result":{}})",
      R"({"jsonrpc":"2.0","id":1.5,"result":{}})",
      R"({"jsonrpc":"2.0","id":{},"result":{}})",
      R"({"jsonrpc":"2.0","id":18446744073709551616,"result":{}})",
      R"({"jsonrpc":"2.0","id":1,"result":{}} x)",
      R"({"jsonrpc":"2.0","id":1,"result":{}}})",
      R"({"jsonrpc":"2.0","id":1,"result":{}}{})",
      R"({"jsonrpc":"2.0","id":1,"result":{"a":01}})",
      R"({"jsonrpc":"2.0","id":1,"result":{"a":1.}})",
      R"({"jsonrpc":"2.0","id":1,"result":{"a":-}})",
      R"({"jsonrpc":"2.0","id":1,"result":{"a":tru}})",
      R"({"jsonrpc":"2.0","id":1,"result":{"a":nul}})",
      R"({"jsonrpc":"2.0","id":1,"result":{"a":"\x"}})",
      "{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{\"a\":\"\x01\"}}",
      "{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{\"a\":\"\xff\"}}",
      R"({"jsonrpc":"2.0","id":1,"result":{"a":[1,2}})",
      R"({"jsonrpc":"2.0","id":1,"result":{"a" 1}})",
      R"({"jsonrpc":"2.0","id":1,"result":{"a":1 "b":2}})",
      R"({"jsonrpc":"2.0","id":1,"result":{"a":1,}})",
      R"({"jsonrpc":"2.0","id":1,"result":{)",
      R"([{"jsonrpc":"2.0","id":1,"result":{}}])",
      "",
      "   ",
      std::string(R"({"jsonrpc":"2.0","id":1,"result":)") + std::string(100, '[') + std::string(100, ']') + "}",
  };
  for (const std::string& text : others) EXPECT_FALSE(ScanResult(text).has_value()) << text;
}

// Every text one byte away from `seed` (a byte left out, or replaced by one that matters to JSON).
std::vector<std::string> Neighbours(const std::string& seed) {
  const std::string replacements = std::string("\"{}[],:0-.eE\\ tnfu1x\x01\xff", 22);
  std::vector<std::string> out;
  for (size_t i = 0; i < seed.size(); ++i) {
    out.push_back(seed);
    out.back().erase(i, 1);
    for (char c : replacements) {
      out.push_back(seed);
      out.back()[i] = c;
    }
  }
  return out;
}

// Every text one byte away from a valid response: whatever ScanResult takes, Parse reads as the same
// response.
TEST(ScanResult, NeverTakesWhatParseWouldNot) {
  const std::vector<std::string> seeds = {
      R"({"jsonrpc":"2.0","id":42,"result":{"content":[{"type":"text","text":"a\"b\\c\u00e9"}],"isError":false}})",
      R"({"result":{"n":[-1.5e3,0,true,null],"isError":true},"id":"s-1","jsonrpc":"2.0","_meta":{}})",
  };
  size_t taken = 0;
  for (const std::string& seed : seeds) {
    ASSERT_TRUE(ScanResult(seed).has_value()) << seed;
    for (const std::string& text : Neighbours(seed)) {
      if (ScanResult(text)) ++taken;
      ExpectScanAgreesWithParse(text);
    }
  }
  EXPECT_GT(taken, 0u);  // (some variants are still responses: the check above had something to check)
}

// What ScanToolCall says of `text`, checked against the document Parse makes of it: a tools/call
// request whose params are an object with a string name and no arguments but an object; the id (its
// text Dump's), name and their places as the shape says.
void ExpectToolCallAgreesWithParse(const std::string& text) {
  const std::optional<ToolCallShape> shape = ScanToolCall(text);
  if (!shape) return;
  const Json doc = Parse(text);
  ASSERT_FALSE(doc.is_discarded()) << "scanned, but not JSON: " << text;
  ASSERT_EQ(MessageKind::kRequest, Classify(doc)) << text;
  ASSERT_EQ(4u, doc.size()) << text;
  ASSERT_EQ("tools/call", doc["method"]) << text;
  const Json& params = doc["params"];
  ASSERT_TRUE(params.is_object()) << text;
  ASSERT_TRUE(params["name"].is_string()) << text;
  ASSERT_TRUE(!params.contains("arguments") || params["arguments"].is_object()) << text;
  ExpectSame(doc["id"], shape->id, "id of " + text);
  ASSERT_LE(shape->id_at + shape->id_size, text.size()) << text;
  ASSERT_EQ(Dump(doc["id"]), text.substr(shape->id_at, shape->id_size)) << text;
  ASSERT_EQ(params["name"].get<std::string>(), shape->name) << text;
  ASSERT_LE(shape->name_at + shape->name_size, text.size()) << text;
  ExpectSame(params["name"], Parse(text.substr(shape->name_at, shape->name_size)), "name of " + text);
}

TEST(ScanToolCall, FindsTheIdAndTheToolsName) {
  const std::string text =
      R"({"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"echo_tool","arguments":{"text":"hi"}}})";
  auto shape = ScanToolCall(text);
  ASSERT_TRUE(shape.has_value());
  EXPECT_EQ("7", text.substr(shape->id_at, shape->id_size));
  EXPECT_EQ(Json(7u), shape->id);
  EXPECT_TRUE(shape->id.is_number_unsigned());  // (as Parse makes it)
  EXPECT_EQ("echo_tool", shape->name);
  EXPECT_EQ(R"("echo_tool")", text.substr(shape->name_at, shape->name_size));

  // Any order, whitespace, _meta and other params kept; a negative id; an escaped name, unescaped.
  const std::string spaced =
      " {\n \"params\" : { \"_meta\" : { \"progressToken\" : [1, {\"a\": null}] } , \"name\" : \"a\\u00e9\\\"b\" \t} ,"
      " \"method\" : \"tools/call\" , \"id\" : -12 , \"jsonrpc\" : \"2.0\" } \n";
  shape = ScanToolCall(spaced);
  ASSERT_TRUE(shape.has_value());
  EXPECT_EQ("-12", spaced.substr(shape->id_at, shape->id_size));
  EXPECT_TRUE(shape->id.is_number_integer() && !shape->id.is_number_unsigned());
  EXPECT_EQ("a\xc3\xa9\"b", shape->name);
  EXPECT_EQ(R"("a\u00e9\"b")", spaced.substr(shape->name_at, shape->name_size));

  // A string id, in UTF-8.
  const std::string quoted = "{\"jsonrpc\":\"2.0\",\"id\":\"req-\xc3\xa9/1\",\"method\":\"tools/call\",\"params\":{\"name\":\"t\"}}";
  shape = ScanToolCall(quoted);
  ASSERT_TRUE(shape.has_value());
  EXPECT_EQ("\"req-\xc3\xa9/1\"", quoted.substr(shape->id_at, shape->id_size));
  EXPECT_EQ(Json("req-\xc3\xa9/1"), shape->id);

  for (const std::string& t : {text, spaced, quoted}) ExpectToolCallAgreesWithParse(t);
}

TEST(ScanToolCall, LeavesEverythingElseToParse) {
  const std::string params = R"("params":{"name":"t","arguments":{}})";
  const std::vector<std::string> others = {
      R"({"jsonrpc":"2.0","id":1,"method":"tools/list","params":{"name":"t"}})",
      R"({"jsonrpc":"2.0","method":"tools/call",)" + params + "}",  // a notification
      R"({"jsonrpc":"2.0","id":1,"method":"tools/call"})",
      R"({"jsonrpc":"2.0","id":1,"method":"tools/call","params":{}})",
      R"({"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":5}})",
      R"({"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"t","name":"u"}})",
      R"({"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"t","arguments":[]}})",
      R"({"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"t","arguments":"x"}})",
      R"({"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"t","arguments":{},"arguments":{}}})",
      R"({"jsonrpc":"2.0","id":1,"method":"tools/call","params":["t"]})",
      R"({"jsonrpc":"2.0","id":1,"method":"tools/call",)" + params + "," + params + "}",
      R"({"jsonrpc":"2.0","id":1,"id":2,"method":"tools/call",)" + params + "}",
      R"({"jsonrpc":"2.0","id":1,"method":"tools/call","method":"tools/call",)" + params + "}",
      R"({"jsonrpc":"2.0","jsonrpc":"2.0","id":1,"method":"tools/call",)" + params + "}",
      R"({"jsonrpc":"2.0","id":1,"method":"tools/call","extra":1,)" + params + "}",
      R"({"jsonrpc":"1.0","id":1,"method":"tools/call",)" + params + "}",
      R"({"id":1,"method":"tools/call",)" + params + "}",
      R"({"jsonrpc":"2.0","id":null,"method":"tools/call",)" + params + "}",
      R"({"jsonrpc":"2.0","id":1.5,"method":"tools/call",)" + params + "}",
      R"({"jsonrpc":"2.0","id":1e2,"method":"tools/call",)" + params + "}",
      R"({"jsonrpc":"2.0","id":-0,"method":"tools/call",)" + params + "}",  // (Dump writes 0)
      R"({"jsonrpc":"2.0","id":"a\u0062","method":"tools/call",)" + params + "}",  // (Dump writes "ab")
      R"({"jsonrpc":"2.0","id":18446744073709551615,"method":"tools/call",)" + params + "}",
      R"({"jsonrpc":"2.0","id":1,"method":"tools/call",)" + params + "} x",
      R"({"jsonrpc":"2.0","id":1,"method":"tools/call",)" + params,
      R"({"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"t","arguments":{"a":01}}})",
      R"({"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"t","_meta":{"a":tru}}})",
      "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\",\"params\":{\"name\":\"\xff\"}}",
      R"([{"jsonrpc":"2.0","id":1,"method":"tools/call",)" + params + "}]",
      std::string(R"({"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"t","arguments":{"a":)") +
          std::string(100, '[') + std::string(100, ']') + "}}}",
      "",
  };
  for (const std::string& text : others) EXPECT_FALSE(ScanToolCall(text).has_value()) << text;
}

// Every text one byte away from a valid tools/call: whatever ScanToolCall takes, Parse reads as the
// same request.
TEST(ScanToolCall, NeverTakesWhatParseWouldNot) {
  const std::vector<std::string> seeds = {
      R"({"jsonrpc":"2.0","id":42,"method":"tools/call","params":{"name":"a_b","arguments":{"t":"a\"b\\c\u00e9","n":[-1.5e3,true,null]}}})",
      R"({"params":{"_meta":{"progressToken":"p"},"name":"x"},"id":"s-1","method":"tools/call","jsonrpc":"2.0"})",
  };
  size_t taken = 0;
  for (const std::string& seed : seeds) {
    ASSERT_TRUE(ScanToolCall(seed).has_value()) << seed;
    for (const std::string& text : Neighbours(seed)) {
      if (ScanToolCall(text)) ++taken;
      ExpectToolCallAgreesWithParse(text);
    }
  }
  EXPECT_GT(taken, 0u);
}

TEST(ScanResult, ALargeResultThenSmallOnesOnTheSameThread) {
  const std::string large = R"({"jsonrpc":"2.0","id":1,"result":{"text":")" + std::string(3 << 20, 'x') + "\"}}";
  auto shape = ScanResult(large);
  ASSERT_TRUE(shape.has_value());
  EXPECT_EQ("1", large.substr(shape->id_at, shape->id_size));
  for (int i = 0; i < 3; ++i) {
    const std::string small = R"({"jsonrpc":"2.0","id":)" + std::to_string(i) + R"(,"result":{}})";
    shape = ScanResult(small);
    ASSERT_TRUE(shape.has_value());
    EXPECT_EQ(std::to_string(i), small.substr(shape->id_at, shape->id_size));
  }
}

}  // namespace
}  // namespace vmcp::gateway
