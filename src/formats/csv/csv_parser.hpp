// RFC 4180 record splitter over a byte range, shared by the clicks/conversions decoder and the dimension
// loader. Fields are views into the input; only fields that contained `""` are copied (unescaped) into an
// Arena. No heap allocation per record once the field vector has grown.
//
// Grammar and the exact rules for bad input:
//  - Records end at `\n`; a `\r` right before that `\n` belongs to the terminator (CRLF). The last record
//    of the input may lack a terminator (then a final `\r` is dropped too). Any other `\r` is data.
//  - Fields are separated by `,`. A field that starts with `"` is quoted: it runs to the next `"` not
//    followed by another `"`; `""` inside it is one `"`; commas, `\n` and `\r` inside it are data.
//  - A UTF-8 BOM (EF BB BF) at the very start of the input is skipped.
//  - Empty lines (no bytes between two terminators) are skipped: they are not records.
//  - Malformed record (CsvStatus::malformed), strict mode:
//      * a `"` inside an unquoted field (also after leading spaces: ` "a"` is not a quoted field);
//      * after a closing quote, anything but `,`, the terminator or the end of input.
//    The record then ends at the first `\n` at or after the offending byte; quotes after that byte are
//    not interpreted (resync at the next line break, no guessing).
//  - Unterminated quoted field: more input may close it, so without `at_end` the parser asks for more;
//    at the end of input the whole rest, from the record's start, is ONE malformed record.
//  - With CsvOptions::quote_in_unquoted_field_is_data, a `"` inside an unquoted field is kept as data
//    (what many spreadsheets write); the other rules stay.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/arena.hpp"

namespace advx {

enum class CsvStatus : uint8_t {
  record,     // `record` holds the next record's fields
  malformed,  // `record` holds the bad record's raw bytes, line and error; its fields are unspecified
  need_more,  // the rest of `data` is an incomplete record: call again with more input appended
  end,        // at_end and everything consumed
};

struct CsvOptions {
  bool quote_in_unquoted_field_is_data = false;
};

struct CsvRecord {
  std::vector<std::string_view> fields;
  std::string_view raw;      // the record's bytes without its terminator
  uint64_t line = 0;         // 1-based physical line where the record starts
  std::string_view error;    // malformed only: what was wrong (static text)
  uint32_t error_field = 0;  // malformed only: 1-based field where it was found
};

class CsvParser {
 public:
  explicit CsvParser(CsvOptions options = {}) : options_(options) {}

  // Splits the record at `data[pos...]` into `record` and advances `pos` past it and its terminator
  // (and past skipped empty lines and the BOM). On need_more `pos` stays at the incomplete record's start,
  // which is everything consumed so far: the caller passes `data[pos...]` plus more input next time.
  // Unescaped fields go into `arena`; other fields point into `data`.
  CsvStatus next(std::string_view data, size_t& pos, bool at_end, Arena& arena, CsvRecord& record);

  // Line number the next record starts on.
  uint64_t line() const { return line_; }

 private:
  CsvStatus next_quoted(const char* begin, const char* end, const char* p, size_t& pos, bool at_end,
                        Arena& arena, CsvRecord& record);
  CsvStatus finish_malformed(const char* begin, const char* end, const char* start, const char* at,
                             size_t& pos, bool at_end, std::string_view error, size_t field,
                             CsvRecord& record);

  CsvOptions options_;
  uint64_t line_ = 1;
  bool bom_checked_ = false;
};

// "line N: field F: <error>" for a malformed record, the detail stored with a malformed_csv reject.
std::string csv_error_detail(const CsvRecord& record);

// Parses a small whole document (dimension files): every record, header included, as strings.
// On malformed input returns no rows and sets `*error` to "line N: ..."; otherwise clears it.
std::vector<std::vector<std::string>> parse_csv_document(std::string_view text, std::string* error,
                                                         CsvOptions options = {});

}  // namespace advx
