#include "core/table_buffer.hpp"

#include <cstdio>
#include <cstdlib>

namespace advx {
namespace {

constexpr bool named(std::span<const ColumnDef> cols, int i, std::string_view name) {
  return size_t(i) < cols.size() && cols[size_t(i)].name == name;
}
using namespace tables;
static_assert(named(kImpressionColumns, col::imp_site, "site"));
static_assert(named(kImpressionColumns, col::imp_unknown_creative, "unknown_creative"));
static_assert(named(kImpressionColumns, col::imp_ingested_at, "ingested_at") &&
              std::size(kImpressionColumns) == col::imp_ingested_at + 1);
static_assert(named(kClickColumns, col::ev_creative_id, "creative_id"));
static_assert(named(kConversionColumns, col::ev_creative_id, "creative_id"));
static_assert(named(kClickColumns, col::clk_seconds_from_impression, "seconds_from_impression") &&
              std::size(kClickColumns) == col::clk_seconds_from_impression + 1);
static_assert(named(kConversionColumns, col::conv_currency, "currency"));
static_assert(named(kConversionColumns, col::conv_seconds_from_touch, "seconds_from_touch") &&
              std::size(kConversionColumns) == col::conv_seconds_from_touch + 1);
static_assert(named(kBidRequestColumns, col::bid_targeting, "targeting"));
static_assert(named(kBidRequestColumns, col::bid_won, "won") &&
              std::size(kBidRequestColumns) == col::bid_won + 1);
static_assert(named(kRejectColumns, col::rej_raw, "raw") &&
              std::size(kRejectColumns) == col::rej_ingested_at + 1);
static_assert(named(kDedupStateColumns, col::dd_payload_hash, "payload_hash"));
static_assert(named(kDedupStateColumns, col::dd_source, "source"));
static_assert(named(kDedupStateColumns, col::dd_source_record, "source_record"));
// set_event_time() writes event_time, event_date and event_hour as three consecutive columns.
static_assert(named(kImpressionColumns, col::imp_event_time + 1, "event_date") &&
              named(kImpressionColumns, col::imp_event_time + 2, "event_hour"));
static_assert(named(kClickColumns, col::ev_event_time + 1, "event_date") &&
              named(kClickColumns, col::ev_event_time + 2, "event_hour") &&
              named(kConversionColumns, col::ev_event_time + 2, "event_hour"));
static_assert(named(kBidRequestColumns, col::bid_event_time + 1, "event_date") &&
              named(kBidRequestColumns, col::bid_event_time + 2, "event_hour"));
// set_provenance() writes source, source_record and ingested_at as three consecutive columns.
static_assert(named(kImpressionColumns, col::imp_source + 1, "source_record") &&
              named(kImpressionColumns, col::imp_source + 2, "ingested_at"));
static_assert(named(kClickColumns, col::clk_source + 1, "source_record") &&
              named(kClickColumns, col::clk_source + 2, "ingested_at"));
static_assert(named(kConversionColumns, col::conv_source + 1, "source_record") &&
              named(kConversionColumns, col::conv_source + 2, "ingested_at"));
static_assert(named(kBidRequestColumns, col::bid_source + 1, "source_record") &&
              named(kBidRequestColumns, col::bid_source + 2, "ingested_at"));
static_assert(named(kCampaignColumns, col::cmp_currency, "currency"));
static_assert(named(kCreativeColumns, col::cre_height, "height"));

}  // namespace

void TableBuffer::misuse(Setter s, int col, size_t row) const {
  static constexpr const char* kSetter[] = {"set_str", "set_i64", "set_u64", "set_f64",
                                            "set_i32", "set_u8",  "set_bool"};
  const std::string_view table = def_->name;
  const char* setter = kSetter[size_t(s)];
  if (col < 0 || size_t(col) >= def_->columns.size()) {
    std::fprintf(stderr, "TableBuffer::%s: column %d out of range: %.*s has %zu columns\n", setter, col,
                 int(table.size()), table.data(), def_->columns.size());
  } else if (row >= rows_) {
    std::fprintf(stderr, "TableBuffer::%s: row %zu of %.*s out of range (%zu rows)\n", setter, row,
                 int(table.size()), table.data(), rows_);
  } else {
    const ColumnDef& c = def_->columns[size_t(col)];
    const std::string_view type = sql_type_name(c.type);
    std::fprintf(stderr, "TableBuffer::%s: wrong type for %.*s.%.*s (column %d), which is %.*s\n", setter,
                 int(table.size()), table.data(), int(c.name.size()), c.name.data(), col, int(type.size()),
                 type.data());
  }
  std::abort();
}

TableBuffer::TableBuffer(const TableDef& def)
    : def_(&def),
      columns_(def.columns.size()),
      valid_(def.columns.size()),
      column_data_(def.columns.size()) {}

void TableBuffer::grow() {
  capacity_ = capacity_ ? capacity_ * 2 : 1024;
  for (size_t c = 0; c < columns_.size(); c++) {
    columns_[c].resize(capacity_ * column_width(def_->columns[c].type));
    valid_[c].resize(capacity_);
  }
}

size_t TableBuffer::add_row() {
  if (rows_ == capacity_) grow();
  const size_t row = rows_++;
  for (auto& v : valid_) v[row] = 0;  // the storage is reused across clear(): only validity needs resetting
  return row;
}

void TableBuffer::clear() {
  rows_ = 0;
  arena_.clear();
}

TableSlice TableBuffer::slice(const uint32_t* sel, size_t sel_count) {
  for (size_t c = 0; c < columns_.size(); c++) column_data_[c] = {columns_[c].data(), valid_[c].data()};
  TableSlice s;
  s.def = def_;
  s.rows = rows_;
  s.columns = column_data_;
  s.sel = sel;
  s.sel_count = sel_count;
  return s;
}

}  // namespace advx
