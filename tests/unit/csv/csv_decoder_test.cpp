#include <gtest/gtest.h>

#include <array>
#include <cstring>
#include <map>
#include <memory>
#include <random>
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

constexpr std::array<const char*, size_t(EventField::count_)> kFieldNames = {
    "event_timestamp", "user_id",     "campaign_id",      "event_type", "conversion_type",
    "event_id",        "creative_id", "conversion_value", "currency"};

Result collect(const RawBatch& b) {
  Result r;
  for (size_t i = 0; i < b.rows(); ++i) {
    Row row{b.record_no[i], std::string(b.raw[i]), {}};
    for (size_t f = 0; f < kFieldNames.size(); ++f) {
      const Cell& c = b.columns[f][i];
      if (c.type == CellType::absent) continue;
      EXPECT_EQ(c.type, CellType::string);
      EXPECT_FALSE(c.text.empty());
      row.cells[kFieldNames[f]] = std::string(c.text);
    }
    r.rows.push_back(std::move(row));
  }
  for (const RejectRecord& j : b.rejects) r.rejects.push_back({j.reason, j.detail, j.record_no, j.raw});
  r.unknown = b.unknown_fields;
  return r;
}

Result decode_all(std::string_view input) {
  Buffer buffer(input);
  auto decoder = make_csv_decoder();
  RawBatch batch(Stream::events);
  EXPECT_EQ(decoder->decode(buffer.view(), true, batch), input.size());
  EXPECT_EQ(decoder->fatal_error(), "");
  return collect(batch);
}

Reject malformed(uint64_t line, std::string detail, std::string raw) {
  return {Reason::malformed_csv, std::move(detail), line, std::move(raw)};
}

const char kHeader[] =
    "event_timestamp,user_id,ad_campaign_id,event_type,conversion_type,event_id,ad_creative_id,"
    "conversion_value,currency\n";

TEST(CsvDecoder, TypicalRows) {
  std::string in = std::string(kHeader) +
                   "2024-05-24T12:34:56Z,u1,c1,click,,e1,cr1,,\n"
                   "2024-05-24 12:35:00,u2,c2,conversion,purchase,e2,cr2,12.50,usd\n";
  Result r = decode_all(in);
  ASSERT_EQ(r.rows.size(), 2u);
  EXPECT_EQ(r.rows[0], (Row{2,
                            "2024-05-24T12:34:56Z,u1,c1,click,,e1,cr1,,",
                            {{"event_timestamp", "2024-05-24T12:34:56Z"},
                             {"user_id", "u1"},
                             {"campaign_id", "c1"},
                             {"event_type", "click"},
                             {"event_id", "e1"},
                             {"creative_id", "cr1"}}}));
  EXPECT_EQ(r.rows[1].cells, (Cells{{"event_timestamp", "2024-05-24 12:35:00"},
                                    {"user_id", "u2"},
                                    {"campaign_id", "c2"},
                                    {"event_type", "conversion"},
                                    {"conversion_type", "purchase"},
                                    {"event_id", "e2"},
                                    {"creative_id", "cr2"},
                                    {"conversion_value", "12.50"},
                                    {"currency", "usd"}}));
  EXPECT_TRUE(r.rejects.empty());
  EXPECT_TRUE(r.unknown.empty());
}

TEST(CsvDecoder, Rfc4180Quoting) {
  Result r = decode_all("user_id,event_id,currency\n\"u,1\",\"say \"\"hi\"\"\",\"\"\n");
  ASSERT_EQ(r.rows.size(), 1u);
  EXPECT_EQ(r.rows[0].cells, (Cells{{"user_id", "u,1"}, {"event_id", "say \"hi\""}}));  // "" is absent
  EXPECT_EQ(r.rows[0].raw, "\"u,1\",\"say \"\"hi\"\"\",\"\"");
}

TEST(CsvDecoder, EmbeddedNewlinesKeepLineNumbers) {
  Result r = decode_all(
      "user_id,event_id\n"
      "u1,\"multi\nline\r\nvalue\"\n"
      "u2,e2\n"
      "\n"
      "u3,e3");
  ASSERT_EQ(r.rows.size(), 3u);
  EXPECT_EQ(
      r.rows[0],
      (Row{2, "u1,\"multi\nline\r\nvalue\"", {{"user_id", "u1"}, {"event_id", "multi\nline\r\nvalue"}}}));
  EXPECT_EQ(r.rows[1].record_no, 5u);
  EXPECT_EQ(r.rows[2], (Row{7, "u3,e3", {{"user_id", "u3"}, {"event_id", "e3"}}}));
}

TEST(CsvDecoder, CrlfAndBom) {
  Result r = decode_all("\xEF\xBB\xBFuser_id,event_id\r\nu1,e1\r\n\r\n\"u2\",e2\r\n");
  ASSERT_EQ(r.rows.size(), 2u);
  EXPECT_EQ(r.rows[0], (Row{2, "u1,e1", {{"user_id", "u1"}, {"event_id", "e1"}}}));
  EXPECT_EQ(r.rows[1], (Row{4, "\"u2\",e2", {{"user_id", "u2"}, {"event_id", "e2"}}}));
}

TEST(CsvDecoder, AliasesOrderAndCase) {
  Result r = decode_all(
      " Currency ,CREATIVE_ID,Campaign_Id,\tEvent_Time,User_ID,conversion_value,EVENT_TYPE,Conversion_Type,"
      "Event_Id\n"
      "EUR,cr,ca,1716554096,u,3,conversion,lead,e\n");
  ASSERT_EQ(r.rows.size(), 1u);
  EXPECT_EQ(r.rows[0].cells, (Cells{{"currency", "EUR"},
                                    {"creative_id", "cr"},
                                    {"campaign_id", "ca"},
                                    {"event_timestamp", "1716554096"},
                                    {"user_id", "u"},
                                    {"conversion_value", "3"},
                                    {"event_type", "conversion"},
                                    {"conversion_type", "lead"},
                                    {"event_id", "e"}}));
  EXPECT_EQ(decode_all("timestamp\nt\n").rows[0].cells, (Cells{{"event_timestamp", "t"}}));
}

TEST(CsvDecoder, ValuesAreNotTrimmed) {
  Result r = decode_all("user_id,event_id\n u1 ,\" e \"\n");
  EXPECT_EQ(r.rows[0].cells, (Cells{{"user_id", " u1 "}, {"event_id", " e "}}));
}

TEST(CsvDecoder, UnknownAndDuplicateColumnsAreCounted) {
  Result r = decode_all(
      "user_id,Browser,user_id,timestamp,event_time,\n"
      "u1,firefox,u9,t1,t9,\n"
      "u2,,,t2,,x\n"
      "u3,chrome,u8\n");
  ASSERT_EQ(r.rows.size(), 3u);
  EXPECT_EQ(r.rows[0].cells, (Cells{{"user_id", "u1"}, {"event_timestamp", "t1"}}));  // first wins
  EXPECT_EQ(r.rows[1].cells, (Cells{{"user_id", "u2"}, {"event_timestamp", "t2"}}));
  EXPECT_EQ(r.unknown, (std::map<std::string, uint64_t, std::less<>>{
                           {"", 1}, {"Browser", 2}, {"event_time", 1}, {"user_id", 2}}));
}

TEST(CsvDecoder, MissingRequiredColumnStillDecodes) {
  Result r = decode_all("user_id,event_type\nu1,click\n");
  ASSERT_EQ(r.rows.size(), 1u);
  EXPECT_EQ(r.rows[0].cells, (Cells{{"user_id", "u1"}, {"event_type", "click"}}));
  EXPECT_TRUE(r.rejects.empty());
}

TEST(CsvDecoder, FieldCounts) {
  Result r = decode_all(std::string(kHeader) +
                        "t,u,c\n"
                        "t,u,c,click,,e,cr,1,USD,x,y,z\n"
                        "t,u,c,,,,,,\n");
  ASSERT_EQ(r.rows.size(), 2u);
  EXPECT_EQ(r.rows[0], (Row{2, "t,u,c", {{"event_timestamp", "t"}, {"user_id", "u"}, {"campaign_id", "c"}}}));
  EXPECT_EQ(r.rows[1].record_no, 4u);
  EXPECT_EQ(r.rows[1].cells.size(), 3u);
  EXPECT_EQ(r.rejects, (std::vector<Reject>{malformed(3, "line 3: 12 fields, header has 9",
                                                      "t,u,c,click,,e,cr,1,USD,x,y,z")}));
}

TEST(CsvDecoder, UnterminatedQuoteAtEnd) {
  Result r = decode_all("user_id,event_id\nu1,e1\nu2,\"e2\nu3,e3\n");
  ASSERT_EQ(r.rows.size(), 1u);
  EXPECT_EQ(r.rows[0].record_no, 2u);
  EXPECT_EQ(
      r.rejects,
      (std::vector<Reject>{malformed(3, "line 3: field 2: unterminated quoted field", "u2,\"e2\nu3,e3")}));
}

TEST(CsvDecoder, StrayQuotes) {
  Result r = decode_all(
      "user_id,event_id\n"
      "u1,e\"1\n"
      "u2,\"e2\"x\r\n"
      "u3,e3\n");
  ASSERT_EQ(r.rows.size(), 1u);
  EXPECT_EQ(r.rows[0], (Row{4, "u3,e3", {{"user_id", "u3"}, {"event_id", "e3"}}}));
  EXPECT_EQ(r.rejects,
            (std::vector<Reject>{
                malformed(2, "line 2: field 2: quote inside unquoted field", "u1,e\"1"),
                malformed(3, "line 3: field 2: unexpected character after closing quote", "u2,\"e2\"x")}));
}

TEST(CsvDecoder, EmptyInputs) {
  EXPECT_EQ(decode_all(""), Result{});
  EXPECT_EQ(decode_all("\xEF\xBB\xBF"), Result{});
  EXPECT_EQ(decode_all(kHeader), Result{});
  EXPECT_EQ(decode_all("\n\nuser_id\n\n\n"), Result{});
  Result r = decode_all("\n\nuser_id\n\n\nu1\n");
  ASSERT_EQ(r.rows.size(), 1u);
  EXPECT_EQ(r.rows[0].record_no, 6u);
}

TEST(CsvDecoder, WaitsForTheHeader) {
  auto decoder = make_csv_decoder();
  RawBatch batch(Stream::events);
  Buffer partial("user_id,event");
  EXPECT_EQ(decoder->decode(partial.view(), false, batch), 0u);
  Buffer more("user_id,event_id\nu1,e1\nu2,");
  EXPECT_EQ(decoder->decode(more.view(), false, batch), std::string_view("user_id,event_id\nu1,e1\n").size());
  EXPECT_EQ(batch.rows(), 1u);
}

TEST(CsvDecoder, MalformedHeaderFailsTheInput) {
  auto decoder = make_csv_decoder();
  RawBatch batch(Stream::events);
  Buffer in("user_id,\"event_id\"x\nu1,e1\n");
  EXPECT_EQ(decoder->decode(in.view(), true, batch), in.view().size());
  EXPECT_EQ(decoder->fatal_error(),
            "malformed CSV header: line 1: field 2: unexpected character after closing quote");
  EXPECT_EQ(batch.records_read(), 0u);
}

// Decoding in two calls, split anywhere, must give exactly what one call gives.
void expect_split_invariant(std::string_view input) {
  Result whole = decode_all(input);
  for (size_t k = 0; k <= input.size(); ++k) {
    auto decoder = make_csv_decoder();
    RawBatch batch(Stream::events);
    Buffer first(input.substr(0, k));
    size_t consumed = decoder->decode(first.view(), false, batch);
    ASSERT_LE(consumed, k);
    Buffer second(std::string(input.substr(consumed, k - consumed)) + std::string(input.substr(k)));
    EXPECT_EQ(decoder->decode(second.view(), true, batch), second.view().size());
    ASSERT_EQ(collect(batch), whole) << "split at " << k << " of " << ::testing::PrintToString(input);
  }
}

TEST(CsvDecoder, SplitAnywhereGivesTheSameResult) {
  expect_split_invariant(
      "\xEF\xBB\xBF"
      "user_id,Event_Id,extra,currency\r\n"
      "u1,\"a,\"\"b\"\"\r\nc\",x,\"\"\r\n"
      "\r\n"
      "u2,e\"2,,\n"
      "u3,\"e3\"z,,\n"
      "u4,e4,,,,,\n"
      "\n"
      "u5,\"e5\"\r"
      "\"u6\",\"e6\"\n"
      "u7,\"never closed\r\nu8,e8\n");
  expect_split_invariant("user_id\nu1\r");
  expect_split_invariant("\xEF\xBB");
}

TEST(CsvDecoder, RandomBytesNeverBreakTheInvariant) {
  const char alphabet[] = {'a', 'b', ',', ',', '"', '"', '\n', '\r', ' ', '\xEF', '\xBB', '\xBF', '\0'};
  std::mt19937 rng(42);
  int checked = 0;
  for (int iter = 0; iter < 300; ++iter) {
    std::string input = "user_id,event_id,x\n";
    size_t n = rng() % 40;
    for (size_t i = 0; i < n; ++i) input += alphabet[rng() % sizeof(alphabet)];
    if (iter % 2 == 0) input.erase(0, 19);  // sometimes the header itself is random
    auto decoder = make_csv_decoder();
    RawBatch batch(Stream::events);
    Buffer buffer(input);
    EXPECT_EQ(decoder->decode(buffer.view(), true, batch), input.size());
    if (!decoder->fatal_error().empty()) continue;
    expect_split_invariant(input);
    if (::testing::Test::HasFailure()) break;
    ++checked;
  }
  EXPECT_GT(checked, 100);
}

}  // namespace
}  // namespace advx
