// TableBuffer: rows for one table, held column by column in the layout TableSlice hands to the store.
// Stages fill it by column index (the enums below mirror core/table_schema.hpp, checked at compile time),
// so one generic buffer serves every table instead of a hand-written struct per table.
#pragma once
#include <cstdint>
#include <cstring>
#include <string_view>
#include <vector>

#include "core/arena.hpp"
#include "core/table_schema.hpp"

namespace advx {

constexpr size_t column_width(ColumnType t) {
  switch (t) {
    case ColumnType::varchar:
    case ColumnType::blob:
      return sizeof(std::string_view);
    case ColumnType::boolean:
    case ColumnType::utinyint:
      return 1;
    case ColumnType::integer:
    case ColumnType::date:
      return 4;
    case ColumnType::money:
      return 16;
    case ColumnType::bigint:
    case ColumnType::ubigint:
    case ColumnType::double_:
    case ColumnType::timestamp:
      return 8;
  }
  return 8;
}

class TableBuffer {
 public:
  explicit TableBuffer(const TableDef& def);

  const TableDef& def() const { return *def_; }
  size_t rows() const { return rows_; }

  // Appends a row with every column NULL; returns its index.
  size_t add_row();
  void clear();

  // Setters by column index. Each accepts only its column types (set_str: VARCHAR and BLOB, set_i64: BIGINT
  // and TIMESTAMP, set_u64: UBIGINT, set_f64: DOUBLE, set_i32: INTEGER and DATE, set_u8: UTINYINT,
  // set_bool: BOOLEAN); in a build without NDEBUG (Debug, so every sanitizer run) a wrong type, column or
  // row aborts with the table, column and types named. Release builds compile the check out.
  void set_str(int col, size_t row, std::string_view v) { set<Setter::str>(col, row, v); }
  void set_i64(int col, size_t row, int64_t v) { set<Setter::i64>(col, row, v); }
  void set_u64(int col, size_t row, uint64_t v) { set<Setter::u64>(col, row, v); }
  void set_f64(int col, size_t row, double v) { set<Setter::f64>(col, row, v); }
  void set_i32(int col, size_t row, int32_t v) { set<Setter::i32>(col, row, v); }
  void set_u8(int col, size_t row, uint8_t v) { set<Setter::u8>(col, row, v); }
  void set_bool(int col, size_t row, bool v) { set_flag(col, row, v ? 1 : 0); }
  // A string that must outlive the input buffer it points into (e.g. a rewritten value): copied.
  void set_owned_str(int col, size_t row, std::string_view v) { set_str(col, row, arena_.copy(v)); }

  template <class T>
  const T* data(int col) const {
    return reinterpret_cast<const T*>(columns_[size_t(col)].data());
  }
  bool is_valid(int col, size_t row) const { return valid_[size_t(col)][row] != 0; }

  Arena& arena() { return arena_; }

  // The rows listed in `sel` (all rows when sel is null) as a slice for DuckDbStore::append. Valid until
  // the buffer changes.
  TableSlice slice(const uint32_t* sel = nullptr, size_t sel_count = 0);

 private:
  enum class Setter : uint8_t { str, i64, u64, f64, i32, u8, boolean };
  static constexpr bool accepts(Setter s, ColumnType t) {
    switch (s) {
      case Setter::str:
        return t == ColumnType::varchar || t == ColumnType::blob;
      case Setter::i64:
        return t == ColumnType::bigint || t == ColumnType::timestamp;
      case Setter::u64:
        return t == ColumnType::ubigint;
      case Setter::f64:
        return t == ColumnType::double_;
      case Setter::i32:
        return t == ColumnType::integer || t == ColumnType::date;
      case Setter::u8:
        return t == ColumnType::utinyint;
      case Setter::boolean:
        return t == ColumnType::boolean;
    }
    return false;
  }
  // Prints what was written where (table, column, its type, the setter) and aborts.
  [[noreturn, gnu::cold, gnu::noinline]] void misuse(Setter s, int col, size_t row) const;

  // set_bool's store, a call deeper like set_u8's, so the inliner treats both alike.
  void set_flag(int col, size_t row, uint8_t v) { set<Setter::boolean>(col, row, v); }
  // The size is a compile-time constant, so the copy is a plain store, not a memmove call per cell.
  template <Setter S, class T>
  [[gnu::always_inline]] void set(int col, size_t row, const T& v) {
#ifndef NDEBUG
    if (col < 0 || size_t(col) >= columns_.size() || row >= rows_ ||
        !accepts(S, def_->columns[size_t(col)].type)) [[unlikely]]
      misuse(S, col, row);
#endif
    std::memcpy(columns_[size_t(col)].data() + row * sizeof(T), &v, sizeof(T));
    valid_[size_t(col)][row] = 1;
  }

  void grow();

  const TableDef* def_;
  size_t rows_ = 0;
  size_t capacity_ = 0;  // rows the columns have room for: they grow geometrically, not per row
  std::vector<std::vector<char>> columns_;
  std::vector<std::vector<uint8_t>> valid_;
  std::vector<ColumnData> column_data_;
  Arena arena_;
};

// Column indexes. The static_asserts in table_buffer.cpp keep them in step with table_schema.hpp.
namespace col {
enum Impression {
  imp_event_key,
  imp_impression_id,
  imp_event_time,
  imp_event_date,
  imp_event_hour,
  imp_creative_id,
  imp_campaign_id,
  imp_advertiser_id,
  imp_user_id,
  imp_site,
  imp_auction_id,
  imp_win_price_cpm,
  imp_country,
  imp_device_type,
  imp_os,
  imp_browser,
  imp_user_agent,
  imp_ip,
  imp_unknown_creative,
  imp_source,
  imp_source_record,
  imp_ingested_at
};
// Clicks and conversions share their leading columns; conversions add theirs after creative_id.
enum Event {
  ev_event_key,
  ev_event_id,
  ev_event_time,
  ev_event_date,
  ev_event_hour,
  ev_user_id,
  ev_campaign_id,
  ev_advertiser_id,
  ev_creative_id
};
enum Click {
  clk_unknown_campaign = ev_creative_id + 1,
  clk_source,
  clk_source_record,
  clk_ingested_at,
  clk_attribution,
  clk_attributed_impression_key,
  clk_seconds_from_impression
};
enum Conversion {
  conv_conversion_type = ev_creative_id + 1,
  conv_conversion_value,
  conv_currency,
  conv_unknown_campaign,
  conv_source,
  conv_source_record,
  conv_ingested_at,
  conv_attribution,
  conv_attributed_click_key,
  conv_attributed_impression_key,
  conv_seconds_from_touch
};
enum BidRequest {
  bid_auction_id,
  bid_event_time,
  bid_event_date,
  bid_event_hour,
  bid_user_id,
  bid_site_domain,
  bid_app_bundle,
  bid_country,
  bid_device_type,
  bid_os,
  bid_browser,
  bid_user_agent,
  bid_ip,
  bid_imp_count,
  bid_bid_floor,
  bid_exchange,
  bid_targeting,
  bid_source,
  bid_source_record,
  bid_ingested_at,
  bid_won
};
enum Reject {
  rej_stream,
  rej_category,
  rej_reason,
  rej_detail,
  rej_source,
  rej_source_record,
  rej_raw,
  rej_event_time,
  rej_ingested_at
};
enum DedupState { dd_stream, dd_key_hi, dd_key_lo, dd_event_time, dd_payload_hash, dd_source, dd_source_record };
enum Campaign {
  cmp_campaign_id,
  cmp_advertiser_id,
  cmp_campaign_name,
  cmp_start_date,
  cmp_end_date,
  cmp_currency
};
enum Creative { cre_creative_id, cre_campaign_id, cre_format, cre_width, cre_height };
}  // namespace col

}  // namespace advx
