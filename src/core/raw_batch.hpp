// RawBatch: what a decoder produces. One column of cells per standard field of the stream, a row per
// decoded record, plus the records the decoder could not decode at all (rejects). Cells point into the
// input buffer or the batch's arena, so a RawBatch lives no longer than the buffer it was decoded from.
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "core/arena.hpp"
#include "core/reason.hpp"
#include "core/stream.hpp"

namespace advx {

enum class CellType : uint8_t {
  absent,   // the record does not have the field (an empty CSV cell counts as absent)
  null,     // JSON null, Avro null branch
  string,   // text, already unescaped
  integer,  // an integer that fits int64: `i64` holds it; `text` holds the literal when the format had one
  big_integer,   // an integer literal too large for int64: only `text`
  number,        // a non-integer number: `f64` holds it; `text` holds the literal when the format had one
  boolean,       // `i64` is 0 or 1
  compound,      // a JSON object or array, or an Avro record/array/map: `text` holds its JSON text if known
  timestamp_us,  // a UTC instant in epoch microseconds, already typed by the format (Avro timestamp-millis)
};

struct Cell {
  std::string_view text;
  union {
    int64_t i64;
    double f64;
  };
  CellType type = CellType::absent;

  Cell() : i64(0) {}
  bool present() const { return type != CellType::absent && type != CellType::null; }
};

// A record that could not become an event. Owns its bytes: rejects outlive the input buffer.
struct RejectRecord {
  Reason reason;
  std::string detail;  // for a person: what was wrong and where
  uint64_t record_no;  // position in the input: line number (1-based) for JSON/CSV, record number
                       // (1-based, over the whole file) for Avro, offset for Kafka
  std::string raw;     // the record's raw bytes, as read
};

struct RawBatch {
  explicit RawBatch(Stream s) : stream(s), columns(size_t(field_count(s))) {}

  Stream stream;
  std::vector<std::vector<Cell>> columns;  // [field][row]
  std::vector<uint64_t> record_no;         // [row], as RejectRecord::record_no
  std::vector<std::string_view> raw;       // [row] the record's raw bytes (payload hash, rejects later on)
  std::vector<RejectRecord> rejects;       // records the decoder could not decode
  std::map<std::string, uint64_t, std::less<>> unknown_fields;  // extra field name -> count (SPEC 1.1)
  Arena arena;

  size_t rows() const { return record_no.size(); }
  // Records read from the input by this batch: decoded rows plus decoder rejects.
  size_t records_read() const { return rows() + rejects.size(); }

  // Appends a row whose cells are all absent and returns its index.
  size_t add_row(uint64_t record_no_value, std::string_view raw_bytes) {
    for (auto& c : columns) c.emplace_back();
    record_no.push_back(record_no_value);
    raw.push_back(raw_bytes);
    return record_no.size() - 1;
  }

  Cell& cell(size_t row, int field) { return columns[size_t(field)][row]; }
  template <class F>
  Cell& cell(size_t row, F field) {
    return columns[size_t(field)][row];
  }
  template <class F>
  const Cell& cell(size_t row, F field) const {
    return columns[size_t(field)][row];
  }

  // Drops the last row (a decoder that finds a record bad after starting it).
  void pop_row() {
    for (auto& c : columns) c.pop_back();
    record_no.pop_back();
    raw.pop_back();
  }

  // Keeps the rows whose `keep` entry is non-zero, in order (rejects are not rows: they stay).
  void keep_rows(const std::vector<uint8_t>& keep) {
    size_t out = 0;
    for (size_t r = 0; r < record_no.size(); r++) {
      if (!keep[r]) continue;
      if (out != r) {
        for (auto& c : columns) c[out] = c[r];
        record_no[out] = record_no[r];
        raw[out] = raw[r];
      }
      ++out;
    }
    for (auto& c : columns) c.resize(out);
    record_no.resize(out);
    raw.resize(out);
  }

  void clear() {
    for (auto& c : columns) c.clear();
    record_no.clear();
    raw.clear();
    rejects.clear();
    unknown_fields.clear();
    arena.clear();
  }
};

}  // namespace advx
