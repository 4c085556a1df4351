// Clicks and conversions (SPEC 1.2): RFC 4180 CSV with a header row -> RawBatch rows of Stream::events.
//
// Header rules: names are matched case-insensitively after trimming spaces and tabs, with the SPEC aliases.
// When two columns map to the same field (a repeated name, or a name and its alias) the first one wins and
// the later ones are treated like unknown columns, so their values are counted, not silently lost.
// A missing required column does not fail the file: rows decode without that cell and validation rejects
// them as missing_field. A malformed header makes the whole input unreadable (fatal_error), since no row
// of it can be interpreted.
//
// Rows: a non-empty field becomes a string cell (not trimmed: the validator trims); an empty one stays
// absent, as do cells missing from a short row. A row with more fields than the header, or one the
// parser finds malformed, is a malformed_csv reject with its line number and raw bytes.
#include <array>
#include <string>
#include <vector>

#include "formats/csv/csv_columns.hpp"
#include "formats/csv/csv_parser.hpp"
#include "formats/decoder.hpp"

namespace advx {
namespace {

struct HeaderName {
  std::string_view name;
  EventField field;
};

constexpr std::array<HeaderName, 13> kHeaderNames = {{
    {"event_timestamp", EventField::event_timestamp},
    {"timestamp", EventField::event_timestamp},
    {"event_time", EventField::event_timestamp},
    {"user_id", EventField::user_id},
    {"ad_campaign_id", EventField::campaign_id},
    {"campaign_id", EventField::campaign_id},
    {"event_type", EventField::event_type},
    {"conversion_type", EventField::conversion_type},
    {"event_id", EventField::event_id},
    {"ad_creative_id", EventField::creative_id},
    {"creative_id", EventField::creative_id},
    {"conversion_value", EventField::conversion_value},
    {"currency", EventField::currency},
}};

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

bool equals_ignore_case(std::string_view a, std::string_view lower) {
  if (a.size() != lower.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    char c = a[i];
    if (c >= 'A' && c <= 'Z') c = char(c - 'A' + 'a');
    if (c != lower[i]) return false;
  }
  return true;
}

int find_field(std::string_view name) {
  for (const HeaderName& h : kHeaderNames) {
    if (equals_ignore_case(name, h.name)) return int(h.field);
  }
  return -1;
}

class CsvDecoder final : public Decoder {
 public:
  size_t decode(std::string_view data, bool at_end, RawBatch& out) override {
    if (!fatal_error_.empty()) return data.size();
    if (out.stream != Stream::events) {
      fatal_error_ = "CSV decoder needs a clicks_conversions batch";
      return data.size();
    }
    size_t pos = 0;
    for (;;) {
      CsvStatus status = parser_.next(data, pos, at_end, out.arena, record_);
      if (status == CsvStatus::record) {
        if (have_header_) {
          add_row(out);
        } else {
          set_header();
        }
      } else if (status == CsvStatus::malformed) {
        if (!have_header_) {
          fatal_error_ = "malformed CSV header: " + csv_error_detail(record_);
          pos = data.size();
          break;
        }
        out.rejects.push_back(RejectRecord{Reason::malformed_csv, csv_error_detail(record_), record_.line,
                                           std::string(record_.raw)});
      } else {
        break;
      }
    }
    flush_unknown(out);
    return pos;
  }

 private:
  void set_header() {
    have_header_ = true;
    size_t n = record_.fields.size();
    slots_.assign(n, -1);
    names_.resize(n);
    unknown_counts_.assign(n, 0);
    std::array<bool, size_t(EventField::count_)> taken{};
    for (size_t i = 0; i < n; ++i) {
      std::string_view name = trim(record_.fields[i]);
      names_[i] = std::string(name);
      int field = find_field(name);
      if (field >= 0 && !taken[size_t(field)]) {
        taken[size_t(field)] = true;
        slots_[i] = field;
      }
    }
  }

  void add_row(RawBatch& out) {
    const std::vector<std::string_view>& fields = record_.fields;
    if (fields.size() > slots_.size()) {
      out.rejects.push_back(RejectRecord{Reason::malformed_csv,
                                         "line " + std::to_string(record_.line) + ": " +
                                             std::to_string(fields.size()) + " fields, header has " +
                                             std::to_string(slots_.size()),
                                         record_.line, std::string(record_.raw)});
      return;
    }
    size_t row = out.add_row(record_.line, record_.raw);
    for (size_t i = 0; i < fields.size(); ++i) {
      if (fields[i].empty()) continue;
      int slot = slots_[i];
      if (slot < 0) {
        ++unknown_counts_[i];  // per column here, into the batch's map once per call
        continue;
      }
      Cell& cell = out.columns[size_t(slot)][row];
      cell.type = CellType::string;
      cell.text = fields[i];
    }
  }

  void flush_unknown(RawBatch& out) {
    for (size_t i = 0; i < unknown_counts_.size(); ++i) {
      if (unknown_counts_[i] == 0) continue;
      out.unknown_fields[names_[i]] += unknown_counts_[i];
      unknown_counts_[i] = 0;
    }
  }

  CsvParser parser_;
  CsvRecord record_;
  bool have_header_ = false;
  std::vector<int> slots_;                // [column] EventField, or -1 for an unknown or repeated column
  std::vector<std::string> names_;        // [column] trimmed header name, as written
  std::vector<uint64_t> unknown_counts_;  // [column] non-empty values not yet added to the batch
};

}  // namespace

std::unique_ptr<Decoder> make_csv_decoder() { return std::make_unique<CsvDecoder>(); }

int csv_column_field(std::string_view header_name) { return find_field(trim(header_name)); }

}  // namespace advx
