#include "formats/csv/csv_parser.hpp"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

namespace advx {
namespace {

using Rows = std::vector<std::vector<std::string>>;

// The conformance data lives beside the repo (../shared/testdata): a missing file must stop the test, not
// hand an empty text to the parsers.
std::string read_file(const std::filesystem::path& path) {
  if (!std::filesystem::is_regular_file(path))
    throw std::runtime_error("missing test data: " + path.string());
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

// Just enough JSON for csv-spectrum's expectations: an array of objects (or one object) of strings.
class MiniJson {
 public:
  explicit MiniJson(std::string_view text) : s_(text) {}

  std::vector<std::map<std::string, std::string>> objects() {
    std::vector<std::map<std::string, std::string>> out;
    skip_ws();
    if (peek() == '{') {
      out.push_back(object());
    } else {
      expect('[');
      skip_ws();
      if (peek() == ']') return out;
      for (;;) {
        out.push_back(object());
        skip_ws();
        if (peek() == ']') break;
        expect(',');
      }
    }
    return out;
  }

 private:
  std::map<std::string, std::string> object() {
    std::map<std::string, std::string> m;
    skip_ws();
    expect('{');
    for (;;) {
      skip_ws();
      std::string key = string();
      skip_ws();
      expect(':');
      skip_ws();
      m[key] = string();
      skip_ws();
      if (peek() == '}') break;
      expect(',');
    }
    ++i_;
    return m;
  }

  std::string string() {
    expect('"');
    std::string out;
    while (i_ < s_.size() && s_[i_] != '"') {
      char c = s_[i_++];
      if (c != '\\') {
        out += c;
        continue;
      }
      char e = s_[i_++];
      switch (e) {
        case 'n':
          out += '\n';
          break;
        case 'r':
          out += '\r';
          break;
        case 't':
          out += '\t';
          break;
        case 'u':
          ADD_FAILURE() << "\\u escapes not needed by csv-spectrum";
          break;
        default:
          out += e;  // \" \\ \/
      }
    }
    ++i_;
    return out;
  }

  void skip_ws() {
    while (i_ < s_.size() && (s_[i_] == ' ' || s_[i_] == '\n' || s_[i_] == '\r' || s_[i_] == '\t')) ++i_;
  }
  char peek() const { return i_ < s_.size() ? s_[i_] : '\0'; }
  void expect(char c) {
    EXPECT_EQ(peek(), c) << "at offset " << i_;
    ++i_;
  }

  std::string_view s_;
  size_t i_ = 0;
};

// Rows (header first) -> one map per data row, keyed by header: the shape of csv-spectrum's JSON.
std::vector<std::map<std::string, std::string>> as_objects(const Rows& rows) {
  std::vector<std::map<std::string, std::string>> out;
  for (size_t r = 1; r < rows.size(); ++r) {
    std::map<std::string, std::string> m;
    for (size_t c = 0; c < rows[r].size() && c < rows[0].size(); ++c) m[rows[0][c]] = rows[r][c];
    EXPECT_EQ(rows[r].size(), rows[0].size()) << "row " << r;
    out.push_back(std::move(m));
  }
  return out;
}

const std::filesystem::path kSpectrum = std::filesystem::path(ADVX_SHARED_TESTDATA) / "csv-spectrum";

TEST(CsvSpectrum, EveryFileMatchesItsJson) {
  int files = 0;
  for (const auto& entry : std::filesystem::directory_iterator(kSpectrum / "csvs")) {
    std::string name = entry.path().stem().string();
    if (name == "location_coordinates") continue;  // see the next test
    SCOPED_TRACE(name);
    std::string error;
    Rows rows = parse_csv_document(read_file(entry.path()), &error);
    ASSERT_EQ(error, "");
    ASSERT_FALSE(rows.empty());
    std::string json = read_file(kSpectrum / "json" / (name + ".json"));
    EXPECT_EQ(as_objects(rows), MiniJson(json).objects());
    ++files;
  }
  EXPECT_EQ(files, 11);
}

// This file breaks RFC 4180 (a `"` inside unquoted fields: 37'36'37.8"N), and its upstream JSON does not
// match its own CSV (phone 1234567890 in the JSON, 2095257564 in the CSV).
TEST(CsvSpectrum, LocationCoordinates) {
  std::string csv = read_file(kSpectrum / "csvs" / "location_coordinates.csv");
  std::string error;
  EXPECT_TRUE(parse_csv_document(csv, &error).empty());
  EXPECT_EQ(error, "line 2: field 2: quote inside unquoted field");

  Rows rows = parse_csv_document(csv, &error, CsvOptions{.quote_in_unquoted_field_is_data = true});
  ASSERT_EQ(error, "");
  auto got = as_objects(rows);
  auto want = MiniJson(read_file(kSpectrum / "json" / "location_coordinates.json")).objects();
  ASSERT_EQ(got.size(), 1u);
  ASSERT_EQ(want.size(), 1u);
  EXPECT_EQ(got[0]["Contact Phone Number"], "2095257564");
  EXPECT_EQ(want[0]["Contact Phone Number"], "1234567890");
  got[0].erase("Contact Phone Number");
  want[0].erase("Contact Phone Number");
  EXPECT_EQ(got, want);
}

TEST(CsvDocument, BasicsAndErrors) {
  std::string error = "stale";
  EXPECT_EQ(parse_csv_document("", &error), Rows{});
  EXPECT_EQ(error, "");
  EXPECT_EQ(parse_csv_document("\xEF\xBB\xBF"
                               "a,b\r\n\r\n1,\"x,\"\"y\"\"\"\n,\n",
                               &error),
            (Rows{{"a", "b"}, {"1", "x,\"y\""}, {"", ""}}));
  EXPECT_EQ(parse_csv_document("a\n1\n\"2\n", &error), Rows{});
  EXPECT_EQ(error, "line 3: field 1: unterminated quoted field");
  EXPECT_EQ(parse_csv_document("a,b\n\"x\"y,1\n", &error), Rows{});
  EXPECT_EQ(error, "line 2: field 1: unexpected character after closing quote");
  EXPECT_EQ(parse_csv_document("a\n1\n", nullptr), (Rows{{"a"}, {"1"}}));
}

// Feeds `data` the way a Decoder does (the whole input, at_end) and collects every outcome as text.
struct Outcome {
  CsvStatus status;
  std::vector<std::string> fields;
  std::string raw;
  uint64_t line;
  std::string error;
  bool operator==(const Outcome&) const = default;
};

std::vector<Outcome> parse_all(std::string_view data, CsvOptions options = {}) {
  CsvParser parser(options);
  Arena arena;
  CsvRecord record;
  std::vector<Outcome> out;
  size_t pos = 0;
  for (;;) {
    CsvStatus status = parser.next(data, pos, true, arena, record);
    if (status == CsvStatus::end || status == CsvStatus::need_more) break;
    Outcome o{status, {}, std::string(record.raw), record.line, {}};
    if (status == CsvStatus::record) {
      o.fields.assign(record.fields.begin(), record.fields.end());
    } else {
      o.error = csv_error_detail(record);
    }
    out.push_back(std::move(o));
  }
  EXPECT_EQ(pos, data.size());
  return out;
}

TEST(CsvParser, RecordsLinesAndRaw) {
  auto out = parse_all("a,b\n\n\"x\ny\",2\r\n3,\"4\"\r\n\"\"\n");
  ASSERT_EQ(out.size(), 4u);
  EXPECT_EQ(out[0], (Outcome{CsvStatus::record, {"a", "b"}, "a,b", 1, {}}));
  EXPECT_EQ(out[1], (Outcome{CsvStatus::record, {"x\ny", "2"}, "\"x\ny\",2", 3, {}}));
  EXPECT_EQ(out[2], (Outcome{CsvStatus::record, {"3", "4"}, "3,\"4\"", 5, {}}));
  EXPECT_EQ(out[3], (Outcome{CsvStatus::record, {""}, "\"\"", 6, {}}));
}

TEST(CsvParser, CarriageReturns) {
  // A lone \r is data, inside quotes and out; \r\n and a final \r end a record.
  auto out = parse_all("\"a\rb\",c\rd\r\n\"e\r\"\r");
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[0].fields, (std::vector<std::string>{"a\rb", "c\rd"}));
  EXPECT_EQ(out[1].fields, (std::vector<std::string>{"e\r"}));
  EXPECT_EQ(out[1].raw, "\"e\r\"");
  // Characters after a closing quote, even a lone \r, make the record malformed.
  out = parse_all("\"a\"\rb\nok\n");
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[0].status, CsvStatus::malformed);
  EXPECT_EQ(out[0].raw, "\"a\"\rb");
  EXPECT_EQ(out[1].fields, std::vector<std::string>{"ok"});
  EXPECT_EQ(out[1].line, 2u);
}

TEST(CsvParser, MalformedResyncsAtNextLineBreak) {
  // The stray quote would open a field running to line 3; the parser resyncs at the line break instead.
  auto out = parse_all("a,b\"c,\"d\ne\",f\ng,h\n");
  ASSERT_EQ(out.size(), 3u);
  EXPECT_EQ(out[0].status, CsvStatus::malformed);
  EXPECT_EQ(out[0].error, "line 1: field 2: quote inside unquoted field");
  EXPECT_EQ(out[0].raw, "a,b\"c,\"d");
  EXPECT_EQ(out[1].status, CsvStatus::malformed);
  EXPECT_EQ(out[1].error, "line 2: field 1: quote inside unquoted field");
  EXPECT_EQ(out[2].fields, (std::vector<std::string>{"g", "h"}));
  EXPECT_EQ(out[2].line, 3u);
  // A leading space makes the field unquoted.
  EXPECT_EQ(parse_all("a, \"b\"\n")[0].status, CsvStatus::malformed);
  EXPECT_EQ(parse_all("a, \"b\"\n", CsvOptions{.quote_in_unquoted_field_is_data = true})[0].fields,
            (std::vector<std::string>{"a", " \"b\""}));
}

TEST(CsvParser, UnterminatedQuoteIsOneRecordToTheEnd) {
  auto out = parse_all("a\n\"x,y\nz,\"\"w\n\n1\r\n");
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[0].fields, std::vector<std::string>{"a"});
  EXPECT_EQ(out[1].status, CsvStatus::malformed);
  EXPECT_EQ(out[1].line, 2u);
  EXPECT_EQ(out[1].raw, "\"x,y\nz,\"\"w\n\n1");
  EXPECT_EQ(out[1].error, "line 2: field 1: unterminated quoted field");
}

TEST(CsvParser, NeedMoreUntilTheTerminatorIsOutsideQuotes) {
  CsvParser parser;
  Arena arena;
  CsvRecord record;
  size_t pos = 0;
  std::string data = "\xEF\xBB";
  EXPECT_EQ(parser.next(data, pos, false, arena, record), CsvStatus::need_more);
  EXPECT_EQ(pos, 0u);
  data =
      "\xEF\xBB\xBF"
      "a,\"b\n";
  EXPECT_EQ(parser.next(data, pos, false, arena, record), CsvStatus::need_more);
  EXPECT_EQ(pos, 3u);  // the BOM is consumed
  data += "c\"";
  EXPECT_EQ(parser.next(data, pos, false, arena, record), CsvStatus::need_more);  // `""` or closing?
  data += "\"\"\r";
  EXPECT_EQ(parser.next(data, pos, false, arena, record), CsvStatus::need_more);  // \r\n or stray \r?
  data += "\nrest";
  ASSERT_EQ(parser.next(data, pos, false, arena, record), CsvStatus::record);
  EXPECT_EQ(record.fields, (std::vector<std::string_view>{"a", "b\nc\""}));
  EXPECT_EQ(record.line, 1u);
  EXPECT_EQ(parser.line(), 3u);
  EXPECT_EQ(parser.next(data, pos, false, arena, record), CsvStatus::need_more);
  EXPECT_EQ(data.substr(pos), "rest");
  ASSERT_EQ(parser.next(data, pos, true, arena, record), CsvStatus::record);
  EXPECT_EQ(record.fields, std::vector<std::string_view>{"rest"});
  EXPECT_EQ(parser.next(data, pos, true, arena, record), CsvStatus::end);
}

TEST(CsvParser, OnlyEscapedFieldsUseTheArena) {
  CsvParser parser;
  Arena arena;
  CsvRecord record;
  size_t pos = 0;
  std::string data = "plain,\"quoted\",\"a\"\"b\"\n";
  ASSERT_EQ(parser.next(data, pos, true, arena, record), CsvStatus::record);
  ASSERT_EQ(record.fields.size(), 3u);
  auto inside = [&](std::string_view f) {
    return f.data() >= data.data() && f.data() < data.data() + data.size();
  };
  EXPECT_TRUE(inside(record.fields[0]));
  EXPECT_TRUE(inside(record.fields[1]));
  EXPECT_FALSE(inside(record.fields[2]));
  EXPECT_EQ(record.fields[2], "a\"b");
}

}  // namespace
}  // namespace advx
