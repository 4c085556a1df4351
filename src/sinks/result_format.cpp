#include "sinks/result_format.hpp"

#include <algorithm>
#include <cstdint>
#include <vector>

#include "core/json_text.hpp"

namespace advx {
namespace {

constexpr char kHex[] = "0123456789abcdef";

// Terminal columns a UTF-8 string takes: East Asian wide characters count 2, combining marks 0. Close enough
// for alignment without pulling in a Unicode table.
size_t display_width(std::string_view s) {
  size_t width = 0;
  for (size_t i = 0; i < s.size();) {
    auto c = static_cast<unsigned char>(s[i]);
    uint32_t cp = c;
    size_t len = c < 0x80 ? 1 : (c & 0xE0) == 0xC0 ? 2 : (c & 0xF0) == 0xE0 ? 3 : (c & 0xF8) == 0xF0 ? 4 : 1;
    if (len > 1 && i + len <= s.size()) {
      cp = c & (0x7F >> len);
      for (size_t k = 1; k < len; ++k) cp = (cp << 6) | (static_cast<unsigned char>(s[i + k]) & 0x3F);
    } else {
      len = 1;
    }
    i += len;
    if ((cp >= 0x0300 && cp <= 0x036F) || cp == 0x200B || (cp >= 0xFE00 && cp <= 0xFE0F)) continue;
    bool wide = (cp >= 0x1100 && cp <= 0x115F) || (cp >= 0x2E80 && cp <= 0xA4CF) ||
                (cp >= 0xAC00 && cp <= 0xD7A3) || (cp >= 0xF900 && cp <= 0xFAFF) ||
                (cp >= 0xFE30 && cp <= 0xFE4F) || (cp >= 0xFF00 && cp <= 0xFF60) ||
                (cp >= 0xFFE0 && cp <= 0xFFE6) || (cp >= 0x1F300 && cp <= 0x1F64F) ||
                (cp >= 0x1F900 && cp <= 0x1F9FF) || (cp >= 0x20000 && cp <= 0x3FFFD);
    width += wide ? 2 : 1;
  }
  return width;
}

// A cell's lines, with control characters other than LF made visible.
std::vector<std::string> cell_lines(std::string_view s) {
  std::vector<std::string> lines(1);
  for (char ch : s) {
    auto c = static_cast<unsigned char>(ch);
    if (c == '\n') {
      lines.emplace_back();
    } else if (c == '\t') {
      lines.back() += "\\t";
    } else if (c == '\r') {
      lines.back() += "\\r";
    } else if (c < 0x20 || c == 0x7F) {
      lines.back() += "\\x";
      lines.back() += kHex[c >> 4];
      lines.back() += kHex[c & 0xF];
    } else {
      lines.back() += ch;
    }
  }
  return lines;
}

void pad(std::string& out, size_t n) { out.append(n, ' '); }

void rstrip(std::string& s) {
  while (!s.empty() && s.back() == ' ') s.pop_back();
}

// Query results may hold any bytes (a BLOB cast to text): the shared writer keeps the JSON valid.
void json_string(std::string_view s, std::string& out) { append_json_string(s, out); }

void csv_field(std::string_view s, std::string& out) {
  if (!s.empty() && s.find_first_of(",\"\r\n") == std::string_view::npos) {
    out += s;
    return;
  }
  out += '"';
  for (char c : s) {
    out += c;
    if (c == '"') out += '"';
  }
  out += '"';
}

bool is_null(const QueryResult& r, size_t row, size_t col) {
  return row < r.is_null.size() && col < r.is_null[row].size() && r.is_null[row][col];
}

}  // namespace

bool is_numeric_type(std::string_view t) {
  static constexpr std::string_view kNumeric[] = {"TINYINT", "SMALLINT", "INTEGER",   "BIGINT",
                                                  "HUGEINT", "UTINYINT", "USMALLINT", "UINTEGER",
                                                  "UBIGINT", "UHUGEINT", "FLOAT",     "DOUBLE"};
  if (t.starts_with("DECIMAL")) return true;
  return std::find(std::begin(kNumeric), std::end(kNumeric), t) != std::end(kNumeric);
}

std::string format_table(const QueryResult& result) {
  const size_t ncols = result.column_names.size();
  const size_t nrows = result.rows.size();
  std::string out;
  if (ncols > 0) {
    std::vector<bool> right(ncols);
    std::vector<size_t> width(ncols);
    for (size_t c = 0; c < ncols; ++c) {
      right[c] = c < result.column_types.size() && is_numeric_type(result.column_types[c]);
      width[c] = display_width(result.column_names[c]);
    }
    // [row][col] -> lines; the header is row 0.
    std::vector<std::vector<std::vector<std::string>>> cells(nrows + 1);
    for (size_t c = 0; c < ncols; ++c) cells[0].push_back(cell_lines(result.column_names[c]));
    for (size_t r = 0; r < nrows; ++r) {
      for (size_t c = 0; c < ncols; ++c) {
        cells[r + 1].push_back(is_null(result, r, c) ? std::vector<std::string>{"NULL"}
                                                     : cell_lines(result.rows[r][c]));
      }
    }
    for (const auto& row : cells) {
      for (size_t c = 0; c < ncols; ++c) {
        for (const auto& line : row[c]) width[c] = std::max(width[c], display_width(line));
      }
    }
    auto emit_row = [&](const std::vector<std::vector<std::string>>& row) {
      size_t height = 1;
      for (const auto& lines : row) height = std::max(height, lines.size());
      for (size_t h = 0; h < height; ++h) {
        std::string line;
        for (size_t c = 0; c < ncols; ++c) {
          line += c ? " | " : " ";
          std::string_view text = h < row[c].size() ? std::string_view(row[c][h]) : std::string_view();
          size_t gap = width[c] - display_width(text);
          if (right[c]) pad(line, gap);
          line += text;
          if (!right[c]) pad(line, gap);
        }
        rstrip(line);
        out += line;
        out += '\n';
      }
    };
    emit_row(cells[0]);
    for (size_t c = 0; c < ncols; ++c) {
      if (c) out += '+';
      out.append(width[c] + 2, '-');
    }
    out += '\n';
    for (size_t r = 1; r < cells.size(); ++r) emit_row(cells[r]);
  }
  // Appended piece by piece: GCC 12 reports a false -Wrestrict on "(" + std::to_string(n) at -O3.
  out += '(';
  out += std::to_string(nrows);
  out += nrows == 1 ? " row)\n" : " rows)\n";
  return out;
}

std::string format_csv(const QueryResult& result) {
  std::string out;
  const size_t ncols = result.column_names.size();
  for (size_t c = 0; c < ncols; ++c) {
    if (c) out += ',';
    csv_field(result.column_names[c], out);
  }
  out += '\n';
  for (size_t r = 0; r < result.rows.size(); ++r) {
    for (size_t c = 0; c < ncols; ++c) {
      if (c) out += ',';
      if (!is_null(result, r, c)) csv_field(result.rows[r][c], out);
    }
    out += '\n';
  }
  return out;
}

std::string format_json(const QueryResult& result) {
  const size_t ncols = result.column_names.size();
  std::vector<bool> numeric(ncols), boolean(ncols);
  for (size_t c = 0; c < ncols && c < result.column_types.size(); ++c) {
    numeric[c] = is_numeric_type(result.column_types[c]);
    boolean[c] = result.column_types[c] == "BOOLEAN";
  }
  if (result.rows.empty()) return "[]\n";
  std::string out = "[\n";
  for (size_t r = 0; r < result.rows.size(); ++r) {
    out += "  {";
    for (size_t c = 0; c < ncols; ++c) {
      if (c) out += ", ";
      json_string(result.column_names[c], out);
      out += ": ";
      const std::string& v = result.rows[r][c];
      if (is_null(result, r, c)) {
        out += "null";
      } else if ((numeric[c] && v != "nan" && v != "inf" && v != "-inf" && !v.empty()) ||
                 (boolean[c] && (v == "true" || v == "false"))) {
        out += v;
      } else {
        json_string(v, out);
      }
    }
    out += r + 1 < result.rows.size() ? "},\n" : "}\n";
  }
  out += "]\n";
  return out;
}

std::string format_result(const QueryResult& result, std::string_view format) {
  if (format == "csv") return format_csv(result);
  if (format == "json") return format_json(result);
  return format_table(result);
}

}  // namespace advx
