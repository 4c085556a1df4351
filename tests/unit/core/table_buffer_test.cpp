#include "core/table_buffer.hpp"

#include <gtest/gtest.h>

namespace advx {
namespace {

TEST(TableBuffer, SettersStoreTheirColumnsTypes) {
  TableBuffer b(tables::kImpressions);
  for (int i = 0; i < 1500; ++i) {  // past the first growth (1,024 rows)
    const size_t r = b.add_row();
    b.set_str(col::imp_event_key, r, "k");
    b.set_i64(col::imp_event_time, r, 1'000'000 * int64_t(r));
    b.set_i32(col::imp_event_date, r, int32_t(r));
    b.set_u8(col::imp_event_hour, r, uint8_t(r % 24));
    b.set_f64(col::imp_win_price_cpm, r, 0.5 * double(r));
    b.set_bool(col::imp_unknown_creative, r, r % 2 == 1);
    b.set_u64(col::imp_source_record, r, r + 1);
  }
  ASSERT_EQ(b.rows(), 1500u);
  EXPECT_EQ(b.data<int64_t>(col::imp_event_time)[1499], 1'499'000'000);
  EXPECT_EQ(b.data<int32_t>(col::imp_event_date)[1234], 1234);
  EXPECT_EQ(b.data<uint8_t>(col::imp_event_hour)[25], 1);
  EXPECT_EQ(b.data<double>(col::imp_win_price_cpm)[10], 5.0);
  EXPECT_EQ(b.data<uint8_t>(col::imp_unknown_creative)[7], 1);
  EXPECT_EQ(b.data<uint64_t>(col::imp_source_record)[0], 1u);
  EXPECT_TRUE(b.is_valid(col::imp_event_key, 3));
  EXPECT_FALSE(b.is_valid(col::imp_site, 3));  // never set: NULL
}

// The trap from review (issue 11): an int64 written into a DATE column (4 bytes a row) wrote past the end
// of the column from row 512 on. A debug build names the table, column and type and aborts at the first.
TEST(TableBufferDeathTest, WrongTypeNamesTableColumnAndType) {
#ifdef NDEBUG
  GTEST_SKIP() << "the setters' type check is compiled out with NDEBUG (it runs in the Debug and sanitizer "
                  "builds)";
#else
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  TableBuffer imps(tables::kImpressions);
  const size_t r = imps.add_row();
  EXPECT_DEATH(imps.set_i64(col::imp_event_date, r, 1),
               R"(set_i64: wrong type for impressions\.event_date \(column 3\), which is DATE)");
  EXPECT_DEATH(imps.set_str(col::imp_event_hour, r, "x"), R"(set_str: .*impressions\.event_hour.*UTINYINT)");
  EXPECT_DEATH(imps.set_u8(col::imp_unknown_creative, r, 1), R"(impressions\.unknown_creative.*BOOLEAN)");
  EXPECT_DEATH(imps.set_bool(col::imp_event_hour, r, true), R"(set_bool: .*impressions\.event_hour)");
  EXPECT_DEATH(imps.set_i32(col::imp_event_time, r, 1), R"(impressions\.event_time.*TIMESTAMP)");
  EXPECT_DEATH(imps.set_f64(col::imp_source_record, r, 1), R"(impressions\.source_record.*UBIGINT)");
  EXPECT_DEATH(imps.set_u64(col::imp_win_price_cpm, r, 1), R"(impressions\.win_price_cpm.*DOUBLE)");

  // A column index of another table (clicks' has 16 columns, bid_requests' 21) and a row not added yet.
  TableBuffer clicks(tables::kClicks);
  clicks.add_row();
  EXPECT_DEATH(clicks.set_bool(col::bid_won, 0, true), "column 20 out of range: clicks has 16 columns");
  EXPECT_DEATH(clicks.set_str(col::ev_user_id, 1, "u"), "row 1 of clicks out of range");
#endif
}

}  // namespace
}  // namespace advx
