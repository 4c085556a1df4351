#include "store/result_format.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <string>

namespace advx {
namespace {

// NULLs, commas, quotes, a line break, unicode (including wide characters), an empty string and control
// characters, over numeric, text and boolean columns.
ResultColumn column(const char* name, ValueType type) {
  ResultColumn c;
  c.name = name;
  c.type = type;
  return c;
}

ResultTable sample() {
  ResultTable r;
  r.columns = {column("id", ValueType::integer), column("name", ValueType::text),
               column("price", ValueType::real), column("ok", ValueType::boolean)};
  ResultColumn &id = r.columns[0], &name = r.columns[1], &price = r.columns[2], &ok = r.columns[3];
  const int64_t ids[] = {1, 2, 0, 10, 3, 5, 6};
  const char* names[] = {
      "plain", "a,b", "say \"hi\"", "two\nlines", "h\xC3\xA9llo \xE6\x97\xA5\xE6\x9C\xAC", "", "tab\tx\x01"};
  const double prices[] = {1.5, 0, -0.25, 100.0, std::nan(""), 2.0, 1e20};
  const int oks[] = {1, 0, -1, 1, 0, 0, 1};
  for (int i = 0; i < 7; i++) {
    if (i == 2)
      id.push_null();
    else
      id.push_int(ids[i]);
    name.push_text(names[i]);
    if (i == 1)
      price.push_null();
    else
      price.push_real(prices[i]);
    if (oks[i] < 0)
      ok.push_null();
    else
      ok.push_int(oks[i]);
  }
  return r;
}

TEST(ResultFormat, Table) {
  EXPECT_EQ(format_table(sample()),
            "   id | name       | price | ok\n"
            "------+------------+-------+-------\n"
            "    1 | plain      |   1.5 | true\n"
            "    2 | a,b        |  NULL | false\n"
            " NULL | say \"hi\"   | -0.25 | NULL\n"
            "   10 | two        | 100.0 | true\n"
            "      | lines      |       |\n"
            "    3 | h\xC3\xA9llo \xE6\x97\xA5\xE6\x9C\xAC |   nan | false\n"
            "    5 |            |   2.0 | false\n"
            "    6 | tab\\tx\\x01 | 1e+20 | true\n"
            "(7 rows)\n");
}

TEST(ResultFormat, Csv) {
  EXPECT_EQ(format_csv(sample()),
            "id,name,price,ok\n"
            "1,plain,1.5,true\n"
            "2,\"a,b\",,false\n"
            ",\"say \"\"hi\"\"\",-0.25,\n"
            "10,\"two\nlines\",100.0,true\n"
            "3,h\xC3\xA9llo \xE6\x97\xA5\xE6\x9C\xAC,nan,false\n"
            "5,\"\",2.0,false\n"
            "6,tab\tx\x01,1e+20,true\n");
}

TEST(ResultFormat, Json) {
  EXPECT_EQ(format_json(sample()),
            "[\n"
            "  {\"id\": 1, \"name\": \"plain\", \"price\": 1.5, \"ok\": true},\n"
            "  {\"id\": 2, \"name\": \"a,b\", \"price\": null, \"ok\": false},\n"
            "  {\"id\": null, \"name\": \"say \\\"hi\\\"\", \"price\": -0.25, \"ok\": null},\n"
            "  {\"id\": 10, \"name\": \"two\\nlines\", \"price\": 100.0, \"ok\": true},\n"
            "  {\"id\": 3, \"name\": \"h\xC3\xA9llo \xE6\x97\xA5\xE6\x9C\xAC\", \"price\": \"nan\", \"ok\": "
            "false},\n"
            "  {\"id\": 5, \"name\": \"\", \"price\": 2.0, \"ok\": false},\n"
            "  {\"id\": 6, \"name\": \"tab\\tx\\u0001\", \"price\": 1e+20, \"ok\": true}\n"
            "]\n");
}

TEST(ResultFormat, EmptyAndSingleRowResults) {
  ResultTable r;
  r.columns = {column("n", ValueType::decimal), column("s\"q", ValueType::text)};
  r.columns[0].scale = 2;
  EXPECT_EQ(format_table(r), " n | s\"q\n---+-----\n(0 rows)\n");
  EXPECT_EQ(format_csv(r), "n,\"s\"\"q\"\n");
  EXPECT_EQ(format_json(r), "[]\n");
  r.columns[0].push_decimal(-125);
  r.columns[1].push_text("x");
  EXPECT_EQ(format_table(r), "     n | s\"q\n-------+-----\n -1.25 | x\n(1 row)\n");
  EXPECT_EQ(format_json(r), "[\n  {\"n\": -1.25, \"s\\\"q\": \"x\"}\n]\n");
  EXPECT_EQ(format_table(ResultTable{}), "(0 rows)\n");
}

// Every value type's text: as DuckDB's VARCHAR cast writes it, whichever engine read the value.
TEST(ResultFormat, ValueText) {
  ResultColumn ts = column("t", ValueType::timestamp);
  ts.push_int(-1);                     // a microsecond before the epoch
  ts.push_int(1'793'491'200'123'000);  // 2026-11-01 00:00:00.123
  EXPECT_EQ(ts.text_at(0), "1969-12-31 23:59:59.999999");
  EXPECT_EQ(ts.text_at(1), "2026-11-01 00:00:00.123");
  ResultColumn tz = column("t", ValueType::timestamp_tz);
  tz.push_int(0);
  EXPECT_EQ(tz.text_at(0), "1970-01-01 00:00:00+00");
  ResultColumn d = column("d", ValueType::date);
  d.push_int(20758);
  d.push_int(-1);
  EXPECT_EQ(d.text_at(0), "2026-11-01");
  EXPECT_EQ(d.text_at(1), "1969-12-31");
  ResultColumn m = column("m", ValueType::decimal);
  m.scale = 12;
  m.push_decimal(static_cast<__int128>(12'500'000'000'000));
  m.push_decimal(-5);
  EXPECT_EQ(m.text_at(0), "12.500000000000");
  EXPECT_EQ(m.text_at(1), "-0.000000000005");
  EXPECT_DOUBLE_EQ(m.real_at(0), 12.5);
  ResultColumn f = column("f", ValueType::real);
  f.single = true;
  f.push_real(0.1f);
  EXPECT_EQ(f.text_at(0), "0.1");
  ResultColumn x = column("x", ValueType::real);
  x.push_real(0.1f);
  EXPECT_EQ(x.text_at(0), "0.10000000149011612");
  EXPECT_TRUE(x.is_number());
  EXPECT_FALSE(ts.is_number());
}

}  // namespace
}  // namespace advx
