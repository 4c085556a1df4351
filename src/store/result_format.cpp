#include "store/result_format.hpp"

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
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

std::string with_separators(std::string_view digits) {
  std::string sign;
  if (!digits.empty() && (digits[0] == '-' || digits[0] == '+')) {
    sign = std::string(digits.substr(0, 1));
    digits.remove_prefix(1);
  }
  std::string out;
  for (size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  return sign + out;
}

// A number with `decimals` places and separators in the integer part; `suffix` after it. nan and inf as
// they are.
std::string fixed(double v, const std::string& text, int decimals, double scale, const char* suffix) {
  if (v != v || v - v != 0) return text;
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", decimals, v * scale);
  std::string_view s = buf;
  const size_t dot = s.find('.');
  const std::string_view int_part = s.substr(0, dot);
  return with_separators(int_part) + std::string(dot == std::string_view::npos ? "" : s.substr(dot)) + suffix;
}

bool is_integral(const ResultColumn& c) {
  return c.type == ValueType::integer || (c.type == ValueType::decimal && c.scale == 0);
}

}  // namespace

TextTable as_text(const ResultTable& result) {
  TextTable t;
  const size_t nrows = result.rows();
  for (const ResultColumn& c : result.columns) {
    t.column_names.push_back(c.name);
    t.right_align.push_back(c.is_number());
  }
  t.rows.assign(nrows, std::vector<std::string>(result.columns.size()));
  t.is_null.assign(nrows, std::vector<uint8_t>(result.columns.size()));
  for (size_t c = 0; c < result.columns.size(); ++c) {
    const ResultColumn& col = result.columns[c];
    for (size_t r = 0; r < nrows; ++r) {
      t.is_null[r][c] = col.is_null(r);
      col.append_text(r, t.rows[r][c]);
    }
  }
  return t;
}

std::string format_table(const ResultTable& result) { return format_table(as_text(result)); }

std::string format_table(const TextTable& result) {
  const size_t ncols = result.column_names.size();
  const size_t nrows = result.rows.size();
  std::string out;
  if (ncols > 0) {
    std::vector<bool> right(ncols);
    std::vector<size_t> width(ncols);
    for (size_t c = 0; c < ncols; ++c) {
      right[c] = c < result.right_align.size() && result.right_align[c];
      width[c] = display_width(result.column_names[c]);
    }
    // [row][col] -> lines; the header is row 0.
    std::vector<std::vector<std::vector<std::string>>> cells(nrows + 1);
    for (size_t c = 0; c < ncols; ++c) cells[0].push_back(cell_lines(result.column_names[c]));
    for (size_t r = 0; r < nrows; ++r) {
      for (size_t c = 0; c < ncols; ++c) {
        cells[r + 1].push_back(result.is_null[r][c] ? std::vector<std::string>{"NULL"}
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

std::string format_csv(const ResultTable& result) {
  std::string out;
  const size_t ncols = result.columns.size();
  for (size_t c = 0; c < ncols; ++c) {
    if (c) out += ',';
    csv_field(result.columns[c].name, out);
  }
  out += '\n';
  std::string v;
  for (size_t r = 0; r < result.rows(); ++r) {
    for (size_t c = 0; c < ncols; ++c) {
      if (c) out += ',';
      const ResultColumn& col = result.columns[c];
      if (col.is_null(r)) continue;
      v.clear();
      col.append_text(r, v);
      csv_field(v, out);
    }
    out += '\n';
  }
  return out;
}

std::string format_json(const ResultTable& result) {
  const size_t ncols = result.columns.size();
  const size_t nrows = result.rows();
  if (nrows == 0) return "[]\n";
  std::string out = "[\n";
  std::string v;
  for (size_t r = 0; r < nrows; ++r) {
    out += "  {";
    for (size_t c = 0; c < ncols; ++c) {
      if (c) out += ", ";
      const ResultColumn& col = result.columns[c];
      json_string(col.name, out);
      out += ": ";
      v.clear();
      col.append_text(r, v);
      if (col.is_null(r)) {
        out += "null";
      } else if ((col.is_number() && v != "nan" && v != "inf" && v != "-inf" && !v.empty()) ||
                 col.type == ValueType::boolean) {
        out += v;
      } else {
        json_string(v, out);
      }
    }
    out += r + 1 < nrows ? "},\n" : "}\n";
  }
  out += "]\n";
  return out;
}

std::string format_result(const ResultTable& result, std::string_view format) {
  if (format == "csv") return format_csv(result);
  if (format == "json") return format_json(result);
  return format_table(result);
}

namespace report {

TextTable humanize(const ResultTable& result) {
  TextTable out = as_text(result);
  for (size_t c = 0; c < result.columns.size(); ++c) {
    const ResultColumn& col = result.columns[c];
    const std::string& name = col.name;
    enum { keep, count, percent, two_decimals } kind = keep;
    if (name == "ctr" || name == "conversion_rate" || name == "win_rate")
      kind = percent;
    else if (name == "hour")
      kind = keep;
    else if (is_integral(col))
      kind = count;
    else if (col.is_number())
      kind = two_decimals;  // money, roas, seconds
    if (kind == keep) continue;
    for (size_t r = 0; r < out.rows.size(); ++r) {
      if (col.is_null(r)) continue;
      std::string& cell = out.rows[r][c];
      if (kind == count)
        cell = with_separators(cell);
      else if (kind == percent)
        cell = fixed(col.real_at(r), cell, 2, 100.0, "%");
      else
        cell = fixed(col.real_at(r), cell, 2, 1.0, "");
    }
  }
  return out;
}

}  // namespace report
}  // namespace advx
