// Small pieces every user of DuckDB's C API in advx needs: one-line error text, SQL quoting, and an owner
// for a duckdb_result so that every throw path releases it.
#pragma once
#include <duckdb.h>

#include <string>
#include <string_view>

#include "store/store.hpp"

namespace advx::duckdb_util {

// DuckDB follows the message with a blank line and a caret diagram; the first paragraph says what went
// wrong, and our errors are one line.
inline std::string one_line(std::string_view msg) {
  if (size_t cut = msg.find("\n\n"); cut != std::string_view::npos) msg = msg.substr(0, cut);
  std::string out;
  out.reserve(msg.size());
  for (char c : msg) out += (c == '\n' || c == '\r') ? ' ' : c;
  while (!out.empty() && out.back() == ' ') out.pop_back();
  return out.empty() ? std::string("unknown DuckDB error") : out;
}

inline std::string quote_ident(std::string_view name) {
  std::string out = "\"";
  for (char c : name) {
    out += c;
    if (c == '"') out += '"';
  }
  return out + '"';
}

inline std::string quote_literal(std::string_view text) {
  std::string out = "'";
  for (char c : text) {
    out += c;
    if (c == '\'') out += '\'';
  }
  return out + '\'';
}

// A StoreError with the code DuckDB's message implies (the message starts with DuckDB's error class).
inline StoreError duckdb_error(const std::string& msg) {
  auto has = [&](std::string_view s) { return msg.find(s) != std::string::npos; };
  StoreErrorCode code = StoreErrorCode::internal;
  if (has("Interrupted") || has("INTERRUPT"))
    code = StoreErrorCode::interrupted;
  else if (msg.starts_with("advx sql is read-only") || has("Permission Error") ||
           has("disabled by configuration") || has("read-only mode"))
    code = StoreErrorCode::refused;
  else if (msg.starts_with("no database at") || has("Catalog Error") || has("does not exist"))
    code = StoreErrorCode::not_found;
  else if (has("Parser Error") || has("Binder Error") || has("Conversion Error") || has("no SQL statement"))
    code = StoreErrorCode::invalid;
  return StoreError(msg, code);
}

struct Result {
  duckdb_result r{};
  bool live = false;
  Result() = default;
  Result(const Result&) = delete;
  Result& operator=(const Result&) = delete;
  ~Result() {
    if (live) duckdb_destroy_result(&r);
  }
};

}  // namespace advx::duckdb_util
