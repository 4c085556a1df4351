#include "sinks/result_format.hpp"

#include <gtest/gtest.h>

#include <string>

namespace advx {
namespace {

// NULLs, commas, quotes, a line break, unicode (including wide characters), an empty string and control
// characters, over numeric, text and boolean columns.
QueryResult sample() {
  QueryResult r;
  r.column_names = {"id", "name", "price", "ok"};
  r.column_types = {"INTEGER", "VARCHAR", "DOUBLE", "BOOLEAN"};
  r.rows = {
      {"1", "plain", "1.5", "true"},
      {"2", "a,b", "", "false"},
      {"", "say \"hi\"", "-0.25", ""},
      {"10", "two\nlines", "100.0", "true"},
      {"3", "h\xC3\xA9llo \xE6\x97\xA5\xE6\x9C\xAC", "nan", "false"},
      {"5", "", "2.0", "false"},
      {"6", "tab\tx\x01", "1e+20", "true"},
  };
  r.is_null = {{0, 0, 0, 0}, {0, 0, 1, 0}, {1, 0, 0, 1}, {0, 0, 0, 0},
               {0, 0, 0, 0}, {0, 0, 0, 0}, {0, 0, 0, 0}};
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
  QueryResult r;
  r.column_names = {"n", "s\"q"};
  r.column_types = {"DECIMAL(18,2)", "VARCHAR"};
  EXPECT_EQ(format_table(r), " n | s\"q\n---+-----\n(0 rows)\n");
  EXPECT_EQ(format_csv(r), "n,\"s\"\"q\"\n");
  EXPECT_EQ(format_json(r), "[]\n");
  r.rows = {{"-1.25", "x"}};
  r.is_null = {{0, 0}};
  EXPECT_EQ(format_table(r), "     n | s\"q\n-------+-----\n -1.25 | x\n(1 row)\n");
  EXPECT_EQ(format_json(r), "[\n  {\"n\": -1.25, \"s\\\"q\": \"x\"}\n]\n");
  EXPECT_EQ(format_table(QueryResult{}), "(0 rows)\n");
}

TEST(ResultFormat, NumericTypes) {
  for (const char* t : {"TINYINT", "BIGINT", "UBIGINT", "HUGEINT", "DOUBLE", "FLOAT", "DECIMAL(38,10)"}) {
    EXPECT_TRUE(is_numeric_type(t)) << t;
  }
  for (const char* t : {"VARCHAR", "DATE", "TIMESTAMP", "BOOLEAN", "INTERVAL", "UUID"}) {
    EXPECT_FALSE(is_numeric_type(t)) << t;
  }
}

}  // namespace
}  // namespace advx
