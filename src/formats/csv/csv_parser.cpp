#include "formats/csv/csv_parser.hpp"

#include <cstring>

namespace advx {
namespace {

constexpr char kBom[] = "\xEF\xBB\xBF";

const char* find(const char* p, const char* end, char c) {
  return static_cast<const char*>(std::memchr(p, c, size_t(end - p)));
}

// Copies a quoted field's content into the arena with every `""` turned into `"`.
std::string_view unescape(std::string_view s, Arena& arena) {
  char* out = arena.allocate(s.size());
  size_t n = 0;
  for (size_t i = 0; i < s.size(); ++i) {
    out[n++] = s[i];
    if (s[i] == '"') ++i;  // skip the pair's second quote: the scanner only leaves quotes in pairs here
  }
  return {out, n};
}

uint64_t count_newlines(const char* p, const char* end) {
  uint64_t n = 0;
  while (p < end && (p = find(p, end, '\n')) != nullptr) {
    ++n;
    ++p;
  }
  return n;
}

}  // namespace

CsvStatus CsvParser::next(std::string_view data, size_t& pos, bool at_end, Arena& arena, CsvRecord& record) {
  if (pos >= data.size()) {
    pos = data.size();
    // An empty input still ends the BOM window only when nothing more can come.
    if (at_end) bom_checked_ = true;
    return at_end ? CsvStatus::end : CsvStatus::need_more;
  }
  const char* const begin = data.data();
  const char* const end = begin + data.size();
  if (!bom_checked_) {
    size_t n = data.size() - pos;
    if (n < 3 && !at_end && std::memcmp(begin + pos, kBom, n) == 0) return CsvStatus::need_more;
    if (n >= 3 && std::memcmp(begin + pos, kBom, 3) == 0) pos += 3;  // consumed at once: state is pos
    bom_checked_ = true;
  }
  for (;;) {
    const char* p = begin + pos;
    if (p == end) return at_end ? CsvStatus::end : CsvStatus::need_more;
    const char* nl = find(p, end, '\n');
    if (nl == nullptr && !at_end) return CsvStatus::need_more;  // no terminator yet, quoted or not
    const char* line_end = nl ? nl : end;
    const char* rec_end = line_end;
    if (rec_end > p && rec_end[-1] == '\r') --rec_end;
    if (rec_end == p) {  // empty line: not a record
      pos = size_t((nl ? nl + 1 : end) - begin);
      ++line_;
      continue;
    }
    // Hot path: a line without quotes is a whole record, split at commas.
    if (find(p, line_end, '"') != nullptr) return next_quoted(begin, end, p, pos, at_end, arena, record);
    record.fields.clear();
    for (const char* f = p;;) {
      const char* comma = find(f, rec_end, ',');
      if (comma == nullptr) {
        record.fields.emplace_back(f, size_t(rec_end - f));
        break;
      }
      record.fields.emplace_back(f, size_t(comma - f));
      f = comma + 1;
    }
    record.raw = {p, size_t(rec_end - p)};
    record.line = line_++;
    record.error = {};
    record.error_field = 0;
    pos = size_t((nl ? nl + 1 : end) - begin);
    return CsvStatus::record;
  }
}

// The general state machine, for records with at least one quote on their first line.
CsvStatus CsvParser::next_quoted(const char* begin, const char* end, const char* start, size_t& pos,
                                 bool at_end, Arena& arena, CsvRecord& record) {
  record.fields.clear();
  const char* q = start;
  const char* rec_end;  // end of the record's bytes (its terminator excluded)
  const char* after;    // where the next record starts
  for (;;) {
    if (q < end && *q == '"') {
      const char* field_begin = ++q;
      const char* field_end;
      bool escaped = false;
      for (;;) {
        const char* c = find(q, end, '"');
        if (c == nullptr) {
          if (!at_end) return CsvStatus::need_more;
          // Unterminated: everything from the record's start is one malformed record.
          rec_end = end;
          if (rec_end > start && rec_end[-1] == '\n') --rec_end;
          if (rec_end > start && rec_end[-1] == '\r') --rec_end;
          record.raw = {start, size_t(rec_end - start)};
          record.line = line_;
          line_ += count_newlines(start, rec_end) + 1;
          record.error = "unterminated quoted field";
          record.error_field = uint32_t(record.fields.size() + 1);
          pos = size_t(end - begin);
          return CsvStatus::malformed;
        }
        if (c + 1 == end && !at_end) return CsvStatus::need_more;  // `""` or closing: the next byte decides
        if (c + 1 < end && c[1] == '"') {
          escaped = true;
          q = c + 2;
          continue;
        }
        field_end = c;
        q = c + 1;
        break;
      }
      std::string_view field(field_begin, size_t(field_end - field_begin));
      record.fields.push_back(escaped ? unescape(field, arena) : field);
      if (q == end) {  // only reached with at_end
        rec_end = after = end;
        break;
      }
      if (*q == ',') {
        ++q;
        continue;
      }
      if (*q == '\n') {
        rec_end = q;
        after = q + 1;
        break;
      }
      if (*q == '\r') {
        if (q + 1 == end) {
          if (!at_end) return CsvStatus::need_more;
          rec_end = q;
          after = end;
          break;
        }
        if (q[1] == '\n') {
          rec_end = q;
          after = q + 2;
          break;
        }
      }
      return finish_malformed(begin, end, start, q, pos, at_end, "unexpected character after closing quote",
                              record.fields.size(), record);
    }
    const char* field_begin = q;
    while (q < end && *q != ',' && *q != '\n') {
      if (*q == '"' && !options_.quote_in_unquoted_field_is_data) {
        return finish_malformed(begin, end, start, q, pos, at_end, "quote inside unquoted field",
                                record.fields.size() + 1, record);
      }
      ++q;
    }
    if (q < end && *q == ',') {
      record.fields.emplace_back(field_begin, size_t(q - field_begin));
      ++q;
      continue;
    }
    if (q == end && !at_end) return CsvStatus::need_more;
    rec_end = q;
    if (rec_end > field_begin && rec_end[-1] == '\r') --rec_end;
    record.fields.emplace_back(field_begin, size_t(rec_end - field_begin));
    after = q == end ? end : q + 1;
    break;
  }
  record.raw = {start, size_t(rec_end - start)};
  record.line = line_;
  line_ += count_newlines(start, rec_end) + 1;
  record.error = {};
  record.error_field = 0;
  pos = size_t(after - begin);
  return CsvStatus::record;
}

// Resync: the bad record ends at the first `\n` at or after the offending byte.
CsvStatus CsvParser::finish_malformed(const char* begin, const char* end, const char* start, const char* at,
                                      size_t& pos, bool at_end, std::string_view error, size_t field,
                                      CsvRecord& record) {
  const char* nl = find(at, end, '\n');
  if (nl == nullptr && !at_end) return CsvStatus::need_more;
  const char* rec_end = nl ? nl : end;
  if (rec_end > at && rec_end[-1] == '\r') --rec_end;
  record.raw = {start, size_t(rec_end - start)};
  record.line = line_;
  line_ += count_newlines(start, rec_end) + 1;
  record.error = error;
  record.error_field = uint32_t(field);
  pos = size_t((nl ? nl + 1 : end) - begin);
  return CsvStatus::malformed;
}

std::string csv_error_detail(const CsvRecord& record) {
  std::string s = "line " + std::to_string(record.line) + ": ";
  if (record.error_field != 0) s += "field " + std::to_string(record.error_field) + ": ";
  s += record.error;
  return s;
}

std::vector<std::vector<std::string>> parse_csv_document(std::string_view text, std::string* error,
                                                         CsvOptions options) {
  if (error != nullptr) error->clear();
  CsvParser parser(options);
  Arena arena(4096);
  CsvRecord record;
  std::vector<std::vector<std::string>> rows;
  size_t pos = 0;
  for (;;) {
    CsvStatus status = parser.next(text, pos, true, arena, record);
    if (status == CsvStatus::record) {
      rows.emplace_back(record.fields.begin(), record.fields.end());
    } else if (status == CsvStatus::malformed) {
      if (error != nullptr) *error = csv_error_detail(record);
      return {};
    } else {
      return rows;
    }
  }
}

}  // namespace advx
