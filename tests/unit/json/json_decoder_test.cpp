// JSON impressions decoder (SPEC 1.1, 2.1): NDJSON and array framing, cell typing, rejects, resumable
// decoding across calls, and JSONTestSuite conformance.
#include "formats/json/json_decoder.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "../decoder_snapshot.hpp"
#include "formats/decoder.hpp"

namespace advx {
namespace {

using test::Buffer;
using test::Cells;
using test::Reject;
using test::Result;
using test::Row;

constexpr std::array<const char*, size_t(ImpressionField::count_)> kFieldNames = {
    "ad_creative_id", "user_id",       "timestamp",  "website", "impression_id", "auction_id",
    "campaign_id",    "win_price_cpm", "user_agent", "ip",      "country",       "device_type"};

// A cell as an owned value: "type:text", plus the number for integer/number/boolean cells.
std::string describe_cell(const Cell& c) {
  switch (c.type) {
    case CellType::absent:
      return "absent";
    case CellType::null:
      return "null";
    case CellType::string:
      return "string:" + std::string(c.text);
    case CellType::integer:
      return "integer:" + std::string(c.text) + "=" + std::to_string(c.i64);
    case CellType::big_integer:
      return "big_integer:" + std::string(c.text);
    case CellType::number: {
      std::ostringstream os;
      os.precision(17);
      os << "number:" << c.text << "=" << c.f64;
      return os.str();
    }
    case CellType::boolean:
      return "boolean:" + std::string(c.text) + "=" + std::to_string(c.i64);
    case CellType::compound:
      return "compound:" + std::string(c.text);
    case CellType::timestamp_us:
      return "timestamp_us:" + std::to_string(c.i64);
  }
  return "?";
}

// Exact-size input followed by kInputPadding bytes, as the decoder contract promises. The padding holds
// JSON-looking bytes so a decoder that parses it as data is caught; ASan catches reads beyond it.
struct PaddedBuffer : test::Buffer {
  explicit PaddedBuffer(std::string_view s) : test::Buffer(s, kInputPadding, "1]}\",9") {}
};

// Copies the batch out (cells point into the input buffer, which the caller frees).
void collect(const RawBatch& b, Result& r) {
  for (size_t i = 0; i < b.rows(); ++i) {
    Row row{b.record_no[i], std::string(b.raw[i]), {}};
    for (size_t f = 0; f < kFieldNames.size(); ++f) {
      const Cell& c = b.columns[f][i];
      if (c.type != CellType::absent) row.cells[kFieldNames[f]] = describe_cell(c);
    }
    r.rows.push_back(std::move(row));
  }
  for (const RejectRecord& j : b.rejects) r.rejects.push_back({j.reason, j.detail, j.record_no, j.raw});
  for (const auto& [name, count] : b.unknown_fields) r.unknown[name] += count;
}

Result decode_all(std::string_view input) {
  auto decoder = make_json_decoder();
  RawBatch batch(Stream::impressions);
  PaddedBuffer buf(input);
  size_t consumed = decoder->decode(buf.view(), true, batch);
  EXPECT_EQ(consumed, input.size());
  EXPECT_EQ(decoder->fatal_error(), "");
  Result r;
  collect(batch, r);
  return r;
}

// Caller-style carry: decode input[0, split) without at_end, then the unconsumed tail plus the rest with
// at_end. Each call gets its own exact-size buffer, and its batch is copied out before the buffer is freed.
Result decode_split(std::string_view input, size_t split) {
  auto decoder = make_json_decoder();
  Result r;
  size_t consumed = 0;
  {
    RawBatch batch(Stream::impressions);
    PaddedBuffer first(input.substr(0, split));
    consumed = decoder->decode(first.view(), false, batch);
    EXPECT_LE(consumed, split);
    collect(batch, r);
  }
  RawBatch batch(Stream::impressions);
  PaddedBuffer second(input.substr(consumed));
  EXPECT_EQ(decoder->decode(second.view(), true, batch), input.size() - consumed);
  collect(batch, r);
  return r;
}

// Feeds `chunk` new bytes per call with the carried tail in front, the way a file reader does.
Result decode_chunked(std::string_view input, size_t chunk) {
  auto decoder = make_json_decoder();
  Result r;
  std::string carry;
  size_t offset = 0;
  while (true) {
    size_t take = std::min(chunk, input.size() - offset);
    carry.append(input.substr(offset, take));
    offset += take;
    bool at_end = offset == input.size();
    RawBatch batch(Stream::impressions);
    PaddedBuffer buf(carry);
    size_t consumed = decoder->decode(buf.view(), at_end, batch);
    EXPECT_LE(consumed, carry.size());
    collect(batch, r);
    carry.erase(0, consumed);
    if (at_end) {
      EXPECT_TRUE(carry.empty());
      break;
    }
  }
  return r;
}

Reject malformed(std::string detail, uint64_t record_no, std::string raw) {
  return Reject{Reason::malformed_json, std::move(detail), record_no, std::move(raw)};
}

const std::string kSeed =
    R"({"ad_creative_id":"123","user_id":"abc","timestamp":"2024-05-24T12:34:56Z","website":"example.com"})";
const Cells kSeedCells = {{"ad_creative_id", "string:123"},
                          {"user_id", "string:abc"},
                          {"timestamp", "string:2024-05-24T12:34:56Z"},
                          {"website", "string:example.com"}};

// One NDJSON record's cells (asserts there is exactly one row and no reject).
Cells one_row(std::string_view line) {
  Result r = decode_all(line);
  EXPECT_EQ(r.rejects, std::vector<Reject>{}) << line;
  if (r.rows.size() != 1) {
    ADD_FAILURE() << "expected one row for " << line << ", got " << r.rows.size();
    return {};
  }
  EXPECT_EQ(r.rows[0].record_no, 1u);
  EXPECT_EQ(r.rows[0].raw, line);
  return r.rows[0].cells;
}

// The detail of the one reject of a one-line input (asserts there is no row).
std::string one_reject(std::string_view line) {
  Result r = decode_all(line);
  EXPECT_TRUE(r.rows.empty()) << line;
  if (r.rejects.size() != 1) {
    ADD_FAILURE() << "expected one reject for " << ::testing::PrintToString(std::string(line)) << ", got "
                  << r.rejects.size();
    return {};
  }
  EXPECT_EQ(r.rejects[0].reason, Reason::malformed_json);
  EXPECT_EQ(r.rejects[0].record_no, 1u);
  EXPECT_EQ(r.rejects[0].raw, line);
  return r.rejects[0].detail;
}

// ---- SPEC 1.1 basics ----

TEST(JsonDecoder, SeedExampleIsOneRowOfFourStrings) {
  Result r = decode_all(kSeed + "\n");
  EXPECT_EQ(r, (Result{{{1, kSeed, kSeedCells}}, {}, {}}));
}

TEST(JsonDecoder, EveryFieldAndUnknownKeysCounted) {
  std::string line =
      R"({"ad_creative_id":7,"user_id":"u","timestamp":1716554096,"website":"https://a.example/x",)"
      R"("impression_id":"i-1","auction_id":"a-1","campaign_id":"c-1","win_price_cpm":2.5,)"
      R"("user_agent":"Mozilla/5.0","ip":"10.0.0.1","country":"DE","device_type":"mobile",)"
      R"("extra":{"k":[1,2]},"User_ID":"case-sensitive","extra2":null})";
  Result r = decode_all(line + "\n" + R"({"extra":1,"ad_creative_id":"x"})" + "\n");
  ASSERT_EQ(r.rows.size(), 2u);
  EXPECT_EQ(r.rejects, std::vector<Reject>{});
  EXPECT_EQ(r.rows[0].cells, (Cells{{"ad_creative_id", "integer:7=7"},
                                    {"user_id", "string:u"},
                                    {"timestamp", "integer:1716554096=1716554096"},
                                    {"website", "string:https://a.example/x"},
                                    {"impression_id", "string:i-1"},
                                    {"auction_id", "string:a-1"},
                                    {"campaign_id", "string:c-1"},
                                    {"win_price_cpm", "number:2.5=2.5"},
                                    {"user_agent", "string:Mozilla/5.0"},
                                    {"ip", "string:10.0.0.1"},
                                    {"country", "string:DE"},
                                    {"device_type", "string:mobile"}}));
  EXPECT_EQ(r.unknown,
            (std::map<std::string, uint64_t, std::less<>>{{"User_ID", 1}, {"extra", 2}, {"extra2", 1}}));
}

TEST(JsonDecoder, UnknownKeysOfRejectedRecordsAreNotCounted) {
  Result r = decode_all("{\"extra\":1,\"user_id\":}\n{\"other\":2}\n");
  ASSERT_EQ(r.rows.size(), 1u);
  ASSERT_EQ(r.rejects.size(), 1u);
  EXPECT_EQ(r.unknown, (std::map<std::string, uint64_t, std::less<>>{{"other", 1}}));
}

TEST(JsonDecoder, DuplicateKeyLastWins) {
  EXPECT_EQ(one_row(R"({"user_id":"first","user_id":42,"website":"a","website":"b"})"),
            (Cells{{"user_id", "integer:42=42"}, {"website", "string:b"}}));
  EXPECT_EQ(one_row(R"({"user_id":{"a":1},"user_id":"s\"q"})"), (Cells{{"user_id", "string:s\"q"}}));
}

TEST(JsonDecoder, KeyWithEscapesSpellingAKnownName) {
  EXPECT_EQ(one_row(R"({"user\u005fid":"x","ip\u0000":"y"})"), (Cells{{"user_id", "string:x"}}));
  Result r = decode_all(R"({"ip\u0000":"y"})");
  EXPECT_EQ(r.unknown, (std::map<std::string, uint64_t, std::less<>>{{std::string("ip\0", 3), 1}}));
}

// ---- NDJSON framing ----

TEST(JsonDecoder, CrlfBlankLinesAndWhitespaceLines) {
  std::string a = R"({"user_id":"a"})", b = R"({"user_id":"b"})";
  Result r = decode_all("\r\n" + a + "\r\n\r\n  \t \r\n\n" + b + "\r\n");
  EXPECT_EQ(r, (Result{{{2, a, {{"user_id", "string:a"}}}, {6, b, {{"user_id", "string:b"}}}}, {}, {}}));
}

TEST(JsonDecoder, LeadingAndTrailingSpacesStayInRaw) {
  std::string line = "  " + kSeed + " \t";
  Result r = decode_all(line + "\n");
  EXPECT_EQ(r, (Result{{{1, line, kSeedCells}}, {}, {}}));
}

TEST(JsonDecoder, FinalLineWithoutNewline) {
  std::string a = R"({"user_id":"a"})", b = R"({"user_id":"b"})";
  EXPECT_EQ(decode_all(a + "\n" + b),
            (Result{{{1, a, {{"user_id", "string:a"}}}, {2, b, {{"user_id", "string:b"}}}}, {}, {}}));

  // Without at_end the last line is not complete yet: it is left unconsumed.
  auto decoder = make_json_decoder();
  RawBatch batch(Stream::impressions);
  std::string input = a + "\n" + b;
  PaddedBuffer buf(input);
  EXPECT_EQ(decoder->decode(buf.view(), false, batch), a.size() + 1);
  EXPECT_EQ(batch.rows(), 1u);
  Buffer rest(b);
  EXPECT_EQ(decoder->decode(rest.view(), true, batch), b.size());
  ASSERT_EQ(batch.rows(), 2u);
  EXPECT_EQ(batch.record_no[1], 2u);
}

TEST(JsonDecoder, EmptyAndWhitespaceOnlyInputs) {
  EXPECT_EQ(decode_all(""), Result{});
  EXPECT_EQ(decode_all(" \n\r\n\t\n"), Result{});
  EXPECT_EQ(decode_all("\xEF\xBB\xBF"), Result{});
  EXPECT_EQ(decode_all("\xEF\xBB\xBF\n \n"), Result{});
}

TEST(JsonDecoder, ByteOrderMarkIsSkipped) {
  EXPECT_EQ(decode_all("\xEF\xBB\xBF" + kSeed + "\n"), (Result{{{1, kSeed, kSeedCells}}, {}, {}}));
  // The BOM before a blank first line: the line numbers still count it.
  EXPECT_EQ(decode_all("\xEF\xBB\xBF\r\n" + kSeed), (Result{{{2, kSeed, kSeedCells}}, {}, {}}));
  EXPECT_EQ(decode_all("\xEF\xBB\xBF [" + kSeed + "]"), (Result{{{1, kSeed, kSeedCells}}, {}, {}}));
  // A BOM anywhere but the start is not whitespace.
  EXPECT_EQ(decode_all(kSeed + "\n\xEF\xBB\xBF" + kSeed).rejects.size(), 1u);
}

// ---- array framing ----

TEST(JsonDecoder, ArrayElementsAreRecords) {
  std::string e1 = R"({"user_id":"a","extra":[[1,[2]],{"x":"]"}]})";
  std::string e2 = R"({"user_id":"b]],{,\"x\":\"","website":"c,d"})";
  std::string e3 = R"({"website":{"a":[1,"}]"]}})";
  Result r = decode_all(" \n[ " + e1 + " ,\n\t" + e2 + "," + e3 + "\r\n]\n");
  EXPECT_EQ(r, (Result{{{1, e1, {{"user_id", "string:a"}}},
                        {2, e2, {{"user_id", R"(string:b]],{,"x":")"}, {"website", "string:c,d"}}},
                        {3, e3, {{"website", R"(compound:{"a":[1,"}]"]})"}}}},
                       {},
                       {{"extra", 1}}}));
}

TEST(JsonDecoder, EmptyArrays) {
  EXPECT_EQ(decode_all("[]"), Result{});
  EXPECT_EQ(decode_all(" [ \n ] \n"), Result{});
}

TEST(JsonDecoder, ArrayBadElementIsOneRejectAndNeighboursSurvive) {
  std::string good1 = R"({"user_id":"a"})", good2 = R"({"user_id":"b"})";
  Result r = decode_all("[" + good1 + ", {\"user_id\":}, 42, \"s\", [1,{\"a\":2}], null, " + good2 +
                        ", {\"a\":1} x, {} ]");
  std::vector<Row> rows = {
      {1, good1, {{"user_id", "string:a"}}}, {7, good2, {{"user_id", "string:b"}}}, {9, "{}", {}}};
  EXPECT_EQ(r.rows, rows);
  ASSERT_EQ(r.rejects.size(), 6u);
  std::vector<std::pair<uint64_t, std::string>> where;
  for (const Reject& j : r.rejects) {
    EXPECT_EQ(j.reason, Reason::malformed_json);
    where.emplace_back(j.record_no, j.raw);
  }
  EXPECT_EQ(where, (std::vector<std::pair<uint64_t, std::string>>{{2, "{\"user_id\":}"},
                                                                  {3, "42"},
                                                                  {4, "\"s\""},
                                                                  {5, "[1,{\"a\":2}]"},
                                                                  {6, "null"},
                                                                  {8, "{\"a\":1} x"}}));
  for (size_t i = 1; i <= 4; ++i)
    EXPECT_EQ(r.rejects[i].detail, "element " + std::to_string(i + 2) + ": expected a JSON object");
  EXPECT_EQ(r.rejects[5].detail, "element 8: trailing content after the object");
}

TEST(JsonDecoder, ArrayEmptyElementsAndTruncation) {
  EXPECT_EQ(decode_all("[{},]").rejects,
            (std::vector<Reject>{malformed("element 2: empty array element", 2, "")}));
  Result truncated = decode_all("[{}, {\"user_id\":\"abc");
  EXPECT_EQ(truncated.rows, (std::vector<Row>{{1, "{}", {}}}));
  EXPECT_EQ(truncated.rejects,
            (std::vector<Reject>{
                malformed("element 2: truncated (input ends inside the element)", 2, "{\"user_id\":\"abc")}));
}

TEST(JsonDecoder, ArrayTrailingContentIsOneReject) {
  Result r = decode_all("[{}] \n{\"user_id\":\"x\"}\n");
  EXPECT_EQ(r.rows, (std::vector<Row>{{1, "{}", {}}}));
  EXPECT_EQ(r.rejects, (std::vector<Reject>{malformed("element 2: trailing content after the JSON array", 2,
                                                      "{\"user_id\":\"x\"}")}));
}

// ---- strings ----

TEST(JsonDecoder, EscapesGiveExactBytes) {
  EXPECT_EQ(one_row(R"({"user_id":"a\nb\"c\\d\/e\tf\r\b\f"})"),
            (Cells{{"user_id", "string:a\nb\"c\\d/e\tf\r\b\f"}}));
  EXPECT_EQ(one_row(R"({"user_id":"caf\u00e9","website":"\u00E9t\u00e9"})"),
            (Cells{{"user_id", "string:caf\xC3\xA9"}, {"website", "string:\xC3\xA9t\xC3\xA9"}}));
  EXPECT_EQ(one_row(R"({"user_id":"\ud83d\ude00!","website":"\u20ac\u0041"})"),
            (Cells{{"user_id", "string:\xF0\x9F\x98\x80!"},
                   {"website",
                    "string:\xE2\x82\xAC"
                    "A"}}));
  EXPECT_EQ(one_row(R"({"user_id":"","website":"\u0000"})"),
            (Cells{{"user_id", "string:"}, {"website", std::string("string:\0", 8)}}));
}

TEST(JsonDecoder, RawUnicodeIsKept) {
  std::string s = "\xE6\x97\xA5\xE6\x9C\xAC \xF0\x9F\x98\x80 \xC3\xA9";
  EXPECT_EQ(one_row("{\"user_id\":\"" + s + "\",\"" + s + "\":1}"), (Cells{{"user_id", "string:" + s}}));
}

TEST(JsonDecoder, BadStringsAreRejected) {
  EXPECT_EQ(one_reject("{\"user_id\":\"abc}"), "line 1: unclosed string");
  EXPECT_EQ(one_reject("{\"user_id\":\"a\xFF\"}"), "line 1: invalid UTF-8");
  EXPECT_EQ(one_reject("{\"user_id\":\"\xC3\"}"), "line 1: invalid UTF-8");
  EXPECT_EQ(one_reject("{\"user_id\":\"\xED\xA0\x80\"}"), "line 1: invalid UTF-8");  // encoded surrogate
  EXPECT_NE(one_reject("{\"user_id\":\"a\x01\"}"), "");                              // raw control char
  EXPECT_NE(one_reject(R"({"user_id":"\q"})"), "");
  EXPECT_NE(one_reject(R"({"user_id":"\u12"})"), "");
  EXPECT_NE(one_reject(R"({"user_id":"\ud800"})"), "");  // lone surrogate
  EXPECT_NE(one_reject(R"({"user_id":"\udc00\ud800"})"), "");
  // Invalid pieces of values and keys that are not stored are found all the same.
  EXPECT_NE(one_reject(R"({"other":["\q"]})"), "");
  EXPECT_NE(one_reject(R"({"o\q":1})"), "");
  EXPECT_NE(one_reject("{\"other\":{\"k\":\"\xFF\"}}"), "");
}

// ---- numbers, literals, compounds ----

TEST(JsonDecoder, Integers) {
  EXPECT_EQ(one_row(R"({"ad_creative_id":123,"user_id":-5,"campaign_id":0,"auction_id":-0})"),
            (Cells{{"ad_creative_id", "integer:123=123"},
                   {"user_id", "integer:-5=-5"},
                   {"campaign_id", "integer:0=0"},
                   {"auction_id", "integer:-0=0"}}));
  EXPECT_EQ(one_row(R"({"ad_creative_id":9223372036854775807,"user_id":-9223372036854775808})"),
            (Cells{{"ad_creative_id", "integer:9223372036854775807=9223372036854775807"},
                   {"user_id", "integer:-9223372036854775808=-9223372036854775808"}}));
  // Whitespace around a number is not part of its text.
  EXPECT_EQ(one_row("{\"ad_creative_id\" : 123 ,\"user_id\":\t456\t}"),
            (Cells{{"ad_creative_id", "integer:123=123"}, {"user_id", "integer:456=456"}}));
}

TEST(JsonDecoder, HugeIntegersKeepTheirExactText) {
  EXPECT_EQ(one_row(R"({"ad_creative_id":123456789012345678901234567890,"user_id":-9223372036854775809,)"
                    R"("campaign_id":9223372036854775808,"auction_id":18446744073709551616})"),
            (Cells{{"ad_creative_id", "big_integer:123456789012345678901234567890"},
                   {"user_id", "big_integer:-9223372036854775809"},
                   {"campaign_id", "big_integer:9223372036854775808"},
                   {"auction_id", "big_integer:18446744073709551616"}}));
  // A huge integer in a value that is not stored is valid too.
  EXPECT_EQ(one_row(R"({"other":[123456789012345678901234567890]})"), Cells{});
}

TEST(JsonDecoder, FloatsAndExponents) {
  EXPECT_EQ(one_row(R"({"win_price_cpm":2.5,"user_id":-0.125,"ad_creative_id":1e3,"campaign_id":2.5E-3,)"
                    R"("auction_id":1E+2,"ip":0.1})"),
            (Cells{{"win_price_cpm", "number:2.5=2.5"},
                   {"user_id", "number:-0.125=-0.125"},
                   {"ad_creative_id", "number:1e3=1000"},
                   {"campaign_id", "number:2.5E-3=0.0025000000000000001"},
                   {"auction_id", "number:1E+2=100"},
                   {"ip", "number:0.1=0.10000000000000001"}}));
}

TEST(JsonDecoder, BadNumbersAreRejected) {
  for (const char* bad :
       {R"({"user_id":01})", R"({"user_id":1.})", R"({"user_id":.5})", R"({"user_id":1e})",
        R"({"user_id":+1})", R"({"user_id":-})", R"({"user_id":0x10})", R"({"user_id":1.5x})",
        R"({"user_id":NaN})", R"({"user_id":-Infinity})", R"({"other":[01]})",
        R"({"user_id":0123456789012345678901234567890})", R"({"other":-})"})
    EXPECT_NE(one_reject(bad), "") << bad;
}

TEST(JsonDecoder, NullAndBooleans) {
  EXPECT_EQ(one_row(R"({"user_id":null,"website":true,"ip":false})"),
            (Cells{{"user_id", "null"}, {"website", "boolean:true=1"}, {"ip", "boolean:false=0"}}));
  for (const char* bad : {R"({"user_id":nul})", R"({"user_id":truex})", R"({"user_id":False})",
                          R"({"other":[nulll]})", R"({"user_id":undefined})"})
    EXPECT_NE(one_reject(bad), "") << bad;
}

TEST(JsonDecoder, CompoundValuesKeepTheirExactText) {
  EXPECT_EQ(one_row(R"({"website":{"a":[1,{"b":"}]"}],"c":null} ,"user_id":[ 1, "x" ]})"),
            (Cells{{"website", R"(compound:{"a":[1,{"b":"}]"}],"c":null})"},
                   {"user_id", R"(compound:[ 1, "x" ])"}}));
  EXPECT_EQ(one_row(R"({"website":{},"user_id":[]})"),
            (Cells{{"website", "compound:{}"}, {"user_id", "compound:[]"}}));
  // The last value of the object.
  EXPECT_EQ(one_row("{\"website\":{\"a\":1}\t}"), (Cells{{"website", "compound:{\"a\":1}"}}));
}

// ---- depth ----

std::string nested_arrays(int n) { return std::string(size_t(n), '[') + std::string(size_t(n), ']'); }

TEST(JsonDecoder, DeepNestingIsRejectedNotACrash) {
  for (const char* key : {"user_id", "other"}) {
    std::string line = "{\"" + std::string(key) + "\":" + nested_arrays(5000) + "}";
    EXPECT_EQ(one_reject(line), "line 1: nested deeper than 1024 levels") << key;
  }
  std::string objects;
  for (int i = 0; i < 5000; ++i) objects += "{\"a\":";
  objects += "1" + std::string(5000, '}');
  EXPECT_EQ(one_reject(objects), "line 1: nested deeper than 1024 levels");

  std::string elem = "{\"user_id\":" + nested_arrays(5000) + "}";
  Result r = decode_all("[{}," + elem + ",{}]");
  EXPECT_EQ(r.rows.size(), 2u);
  EXPECT_EQ(r.rejects,
            (std::vector<Reject>{malformed("element 2: nested deeper than 1024 levels", 2, elem)}));
}

TEST(JsonDecoder, DepthLimitIsExact) {
  // The root object is depth 1, so a field value may open kJsonMaxDepth - 1 levels.
  std::string ok = nested_arrays(kJsonMaxDepth - 1);
  EXPECT_EQ(one_row("{\"user_id\":" + ok + "}"), (Cells{{"user_id", "compound:" + ok}}));
  EXPECT_EQ(one_row("{\"other\":" + ok + "}"), Cells{});
  EXPECT_EQ(one_reject("{\"user_id\":" + nested_arrays(kJsonMaxDepth) + "}"),
            "line 1: nested deeper than 1024 levels");
  EXPECT_EQ(one_reject("{\"other\":" + nested_arrays(kJsonMaxDepth) + "}"),
            "line 1: nested deeper than 1024 levels");
}

// ---- malformed records among good ones ----

TEST(JsonDecoder, ExactlyTheBadLinesAreRejected) {
  const std::vector<std::string> bad = {R"({"user_id":"a"} x)",
                                        R"({"user_id":})",
                                        R"({"user_id":"a",})",
                                        R"({user_id:"a"})",
                                        R"({"user_id":"a"}})",
                                        R"({"user_id":"a")",
                                        R"([{"user_id":"a"}])",
                                        R"("just a string")",
                                        "42",
                                        "{\"user_id\":\"a\xFF\"}",
                                        R"({"user_id" "a"})",
                                        R"({"user_id":"a"} {"user_id":"b"})",
                                        "{\"user_id\":\"a\"}\x01",
                                        "}",
                                        "{"};
  std::string input;
  Result expected;
  uint64_t line = 0;
  for (size_t i = 0; i < bad.size(); ++i) {
    std::string good = "{\"user_id\":\"good-" + std::to_string(i) + "\"}";
    input += good + "\n" + bad[i] + "\r\n";
    expected.rows.push_back({++line, good, {{"user_id", "string:good-" + std::to_string(i)}}});
    ++line;
  }
  input += "{\"user_id\":\"last\"}";
  expected.rows.push_back({++line, "{\"user_id\":\"last\"}", {{"user_id", "string:last"}}});

  Result r = decode_all(input);
  EXPECT_EQ(r.rows, expected.rows);
  ASSERT_EQ(r.rejects.size(), bad.size());
  for (size_t i = 0; i < bad.size(); ++i) {
    EXPECT_EQ(r.rejects[i].reason, Reason::malformed_json) << bad[i];
    EXPECT_EQ(r.rejects[i].record_no, 2 * i + 2) << bad[i];
    EXPECT_EQ(r.rejects[i].raw, bad[i]);
    EXPECT_TRUE(r.rejects[i].detail.starts_with("line " + std::to_string(2 * i + 2) + ": "))
        << r.rejects[i].detail;
  }
  EXPECT_EQ(r.rejects[0].detail, "line 2: trailing content after the object");
  EXPECT_EQ(r.rejects[6].detail, "line 14: expected a JSON object");
  EXPECT_EQ(r.rejects[7].detail, "line 16: expected a JSON object");
  EXPECT_EQ(r.rejects[8].detail, "line 18: expected a JSON object");
}

TEST(JsonDecoder, TrailingGarbageAfterTheObject) {
  for (const char* bad : {"{\"a\":1} x", "{\"a\":1}x", "{\"a\":1} 1", "{\"a\":1} ,", "{\"a\":1} \"s\"",
                          "{\"a\":1} {}", "{\"a\":1}]", "{\"a\":1} null"})
    EXPECT_EQ(one_reject(bad), "line 1: trailing content after the object") << bad;
  // Not trailing content: the object is never closed, or closed by the wrong bracket.
  for (const char* bad : {"{\"a\":1", "{\"a\":1]", "{\"a\":\"}\" x", "{\"a\":{\"b\":1} x"})
    EXPECT_EQ(one_reject(bad), "line 1: unclosed or mismatched brackets") << bad;
}

// ---- resumable decoding ----

const std::string kNdjsonInput =
    "\xEF\xBB\xBF" + kSeed + "\r\n\n  \r\n" +
    R"({"user_id":"caf\u00e9 \"q\" \\ \ud83d\ude00","ad_creative_id":123456789012345678901234567890,)"
    R"("website":{"a":["]",",","\"",{"b":null}]},"win_price_cpm":1.5e2,"x":[1,2]})" +
    "\n{\"user_id\":\"a\"} "
    "x\r\n[1,2]\n{\"user_id\":\"\xE6\x97\xA5\",\"ip\":-9223372036854775809,\"country\":true}"
    "\n{\"user_id\":\"unclosed}\n\t\n{\"ad_creative_id\":7,\"timestamp\":1716554096123}";

const std::string kArrayInput =
    "\xEF\xBB\xBF \r\n[ " + kSeed + ",\n" +
    R"({"user_id":"caf\u00e9 \"q\" ] , \\","website":[[1,[2,"]]"]],{"c":"}"}],"x":{"y":[]}},)" +
    R"( 42 , {"user_id":}, {"a":1} x ,{"user_id":"\ud83d\ude00","ad_creative_id":-12.5e-1},)" +
    "{\"user_id\":\"\xE6\x97\xA5\",\"campaign_id\":-9223372036854775809} \n]\n";

TEST(JsonDecoder, ReferenceInputsDecodeAsExpected) {
  Result nd = decode_all(kNdjsonInput);
  EXPECT_EQ(nd.rows.size(), 4u);
  EXPECT_EQ(nd.rejects.size(), 3u);
  std::vector<uint64_t> row_lines, reject_lines;
  for (const Row& row : nd.rows) row_lines.push_back(row.record_no);
  for (const Reject& j : nd.rejects) reject_lines.push_back(j.record_no);
  EXPECT_EQ(row_lines, (std::vector<uint64_t>{1, 4, 7, 10}));
  EXPECT_EQ(reject_lines, (std::vector<uint64_t>{5, 6, 8}));
  EXPECT_EQ(nd.rows[1].cells, (Cells{{"user_id", "string:caf\xC3\xA9 \"q\" \\ \xF0\x9F\x98\x80"},
                                     {"ad_creative_id", "big_integer:123456789012345678901234567890"},
                                     {"website", R"(compound:{"a":["]",",","\"",{"b":null}]})"},
                                     {"win_price_cpm", "number:1.5e2=150"}}));

  Result arr = decode_all(kArrayInput);
  EXPECT_EQ(arr.rows.size(), 4u);
  row_lines.clear();
  reject_lines.clear();
  for (const Row& row : arr.rows) row_lines.push_back(row.record_no);
  for (const Reject& j : arr.rejects) reject_lines.push_back(j.record_no);
  EXPECT_EQ(row_lines, (std::vector<uint64_t>{1, 2, 6, 7}));
  EXPECT_EQ(reject_lines, (std::vector<uint64_t>{3, 4, 5}));
  EXPECT_EQ(arr.rows[1].cells, (Cells{{"user_id", "string:caf\xC3\xA9 \"q\" ] , \\"},
                                      {"website", R"(compound:[[1,[2,"]]"]],{"c":"}"}])"}}));
  EXPECT_EQ(arr.rows[2].cells,
            (Cells{{"user_id", "string:\xF0\x9F\x98\x80"}, {"ad_creative_id", "number:-12.5e-1=-1.25"}}));
}

TEST(JsonDecoder, SplitAtEveryByteGivesTheSameResult) {
  for (const std::string* input : {&kNdjsonInput, &kArrayInput}) {
    const Result whole = decode_all(*input);
    for (size_t split = 0; split <= input->size(); ++split) {
      ASSERT_EQ(decode_split(*input, split), whole) << "split at " << split << " of " << input->substr(0, 20);
    }
  }
}

TEST(JsonDecoder, SmallChunksGiveTheSameResult) {
  for (const std::string* input : {&kNdjsonInput, &kArrayInput}) {
    const Result whole = decode_all(*input);
    for (size_t chunk : {1, 2, 3, 7, 64})
      EXPECT_EQ(decode_chunked(*input, chunk), whole) << "chunk " << chunk << " of " << input->substr(0, 20);
  }
}

// Blank lines before the first record are consumed as they come, not carried: a file of only blank lines is
// no records (not one record longer than the reader's bound), and the line numbers after them still count
// them, however the input is split.
TEST(JsonDecoder, LeadingBlankLinesAreConsumedAndCounted) {
  auto decoder = make_json_decoder();
  RawBatch batch(Stream::impressions);
  const std::string blanks(1000, '\n');
  Buffer first(blanks);
  EXPECT_EQ(decoder->decode(first.view(), false, batch), blanks.size());
  Buffer more(" \r\n\t");
  EXPECT_EQ(decoder->decode(more.view(), false, batch), 4u);
  Buffer rest(kSeed + "\n");
  EXPECT_EQ(decoder->decode(rest.view(), true, batch), kSeed.size() + 1);
  ASSERT_EQ(batch.rows(), 1u);
  EXPECT_EQ(batch.record_no[0], 1002u);  // 1000 blank lines, one of blanks and CR, then the record
  const std::string input = blanks + " \r\n\t" + kSeed + "\n";
  EXPECT_EQ(decode_chunked(input, 7), decode_all(input));
  EXPECT_EQ(decode_chunked(input, 7).rows.at(0).record_no, 1002u);
  // Array mode numbers elements, not lines.
  EXPECT_EQ(decode_chunked(blanks + "[" + kSeed + "]", 64), (Result{{{1, kSeed, kSeedCells}}, {}, {}}));
}

TEST(JsonDecoder, SplitInsideTheByteOrderMark) {
  for (const std::string& input : {"\xEF\xBB\xBF" + kSeed, "\xEF\xBB\xBF[" + kSeed + "]"}) {
    Result expected{{{1, kSeed, kSeedCells}}, {}, {}};
    for (size_t split = 0; split <= 4; ++split) EXPECT_EQ(decode_split(input, split), expected) << split;
  }
}

// ---- JSONTestSuite ----

// True when a raw '\n' or '\r' lies inside a string (replacing it by a space would change the value).
bool newline_in_string(std::string_view s) {
  bool in_string = false, escaped = false;
  for (char c : s) {
    if (in_string) {
      if (c == '\n' || c == '\r') return true;
      if (escaped)
        escaped = false;
      else if (c == '\\')
        escaped = true;
      else if (c == '"')
        in_string = false;
    } else if (c == '"') {
      in_string = true;
    }
  }
  return false;
}

TEST(JsonDecoder, JsonTestSuiteConformance) {
  namespace fs = std::filesystem;
  const fs::path dir = fs::path(ADVX_SHARED_TESTDATA) / "JSONTestSuite" / "test_parsing";
  ASSERT_TRUE(fs::is_directory(dir)) << dir;
  std::vector<fs::path> files;
  for (const auto& entry : fs::directory_iterator(dir))
    if (entry.path().extension() == ".json") files.push_back(entry.path());
  std::sort(files.begin(), files.end());

  const std::string sentinel = "{\"user_id\":\"sentinel\"}";
  std::map<char, int> checked, skipped;
  for (const fs::path& path : files) {
    const std::string name = path.filename().string();
    const char kind = name[0];
    std::ifstream in(path, std::ios::binary);
    std::string content((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    if (newline_in_string(content)) {
      ++skipped[kind];
      continue;
    }
    std::replace(content.begin(), content.end(), '\n', ' ');
    std::replace(content.begin(), content.end(), '\r', ' ');
    // A first line that is an object keeps the decoder in NDJSON mode (a file starting with '[' would
    // otherwise choose array mode); the file is line 2, a single record.
    Result r = decode_all(sentinel + "\n" + content);
    ASSERT_GE(r.rows.size(), 1u) << name;
    EXPECT_EQ(r.rows[0].record_no, 1u) << name;
    r.rows.erase(r.rows.begin());
    ++checked[kind];
    const size_t first = content.find_first_not_of(" \t");
    const bool object = first != std::string::npos && content[first] == '{';
    if (kind == 'y' && object) {
      EXPECT_EQ(r.rejects, std::vector<Reject>{}) << name;
      ASSERT_EQ(r.rows.size(), 1u) << name;
      EXPECT_EQ(r.rows[0].record_no, 2u) << name;
      EXPECT_EQ(r.rows[0].raw, content) << name;
    } else if (kind == 'y') {
      EXPECT_TRUE(r.rows.empty()) << name;
      EXPECT_EQ(r.rejects, (std::vector<Reject>{malformed("line 2: expected a JSON object", 2, content)}))
          << name;
    } else if (kind == 'n') {
      EXPECT_TRUE(r.rows.empty()) << name << ": " << content.substr(0, 80);
      EXPECT_LE(r.rejects.size(), 1u) << name;
      for (const Reject& j : r.rejects) EXPECT_EQ(j.reason, Reason::malformed_json) << name;
    } else {
      // i_: either outcome is acceptable, but exactly one (a row or a reject) and no crash.
      EXPECT_EQ(r.rows.size() + r.rejects.size(), 1u) << name;
    }
  }
  std::printf("JSONTestSuite: checked y=%d n=%d i=%d; skipped (newline in a string) y=%d n=%d i=%d\n",
              checked['y'], checked['n'], checked['i'], skipped['y'], skipped['n'], skipped['i']);
  EXPECT_GT(checked['y'], 0);
  EXPECT_GT(checked['n'], 0);
  EXPECT_GT(checked['i'], 0);
}

}  // namespace
}  // namespace advx
