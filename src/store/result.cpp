#include "store/result.hpp"

#include <stdexcept>

#include "store/value_text.hpp"

namespace advx {

void ResultColumn::push_null() {
  switch (type) {
    case ValueType::real:
      reals.push_back(0);
      break;
    case ValueType::decimal:
      decimals.push_back(0);
      break;
    case ValueType::text:
    case ValueType::other:
      texts.emplace_back();
      break;
    default:
      ints.push_back(0);
      break;
  }
  nulls.push_back(1);
}

void ResultColumn::push_int(int64_t v) {
  ints.push_back(v);
  nulls.push_back(0);
}

void ResultColumn::push_real(double v) {
  reals.push_back(v);
  nulls.push_back(0);
}

void ResultColumn::push_decimal(__int128 unscaled) {
  decimals.push_back(unscaled);
  nulls.push_back(0);
}

void ResultColumn::push_text(std::string v) {
  texts.push_back(std::move(v));
  nulls.push_back(0);
}

namespace {

__int128 pow10(uint8_t n) {
  __int128 p = 1;
  for (uint8_t i = 0; i < n; i++) p *= 10;
  return p;
}

}  // namespace

int64_t ResultColumn::int_at(size_t row) const {
  if (nulls[row]) return 0;
  switch (type) {
    case ValueType::real:
      return static_cast<int64_t>(reals[row]);
    case ValueType::decimal:
      return static_cast<int64_t>(decimals[row] / pow10(scale));
    case ValueType::text:
    case ValueType::other:
      return std::stoll(texts[row]);
    default:
      return ints[row];
  }
}

double ResultColumn::real_at(size_t row) const {
  if (nulls[row]) return 0;
  switch (type) {
    case ValueType::real:
      return reals[row];
    case ValueType::decimal:
      return static_cast<double>(decimals[row]) / static_cast<double>(pow10(scale));
    case ValueType::text:
    case ValueType::other:
      return std::stod(texts[row]);
    default:
      return static_cast<double>(ints[row]);
  }
}

void ResultColumn::append_text(size_t row, std::string& out) const {
  if (nulls[row]) return;
  switch (type) {
    case ValueType::boolean:
      out += ints[row] ? "true" : "false";
      return;
    case ValueType::integer:
      value_text::append_int(ints[row], out);
      return;
    case ValueType::real:
      if (single)
        value_text::append_float(static_cast<float>(reals[row]), out);
      else
        value_text::append_double(reals[row], out);
      return;
    case ValueType::decimal:
      value_text::append_decimal(decimals[row], scale, out);
      return;
    case ValueType::timestamp:
    case ValueType::timestamp_tz: {
      const int64_t us = ints[row];
      value_text::append_timestamp(us, 86'400'000'000LL, 6, out);
      if (type == ValueType::timestamp_tz && us != INT64_MAX && us != -INT64_MAX) out += "+00";
      return;
    }
    case ValueType::date: {
      const int64_t days = ints[row];
      if (days == INT32_MAX)
        out += "infinity";
      else if (days == -INT32_MAX)
        out += "-infinity";
      else
        value_text::append_date(days, out);
      return;
    }
    case ValueType::text:
    case ValueType::other:
      out += texts[row];
      return;
  }
}

std::string ResultColumn::text_at(size_t row) const {
  std::string s;
  append_text(row, s);
  return s;
}

const ResultColumn* ResultTable::find(std::string_view name) const {
  for (const auto& c : columns)
    if (c.name == name) return &c;
  return nullptr;
}

const ResultColumn& ResultTable::column(std::string_view name) const {
  if (const ResultColumn* c = find(name)) return *c;
  throw std::out_of_range("result has no column " + std::string(name));
}

}  // namespace advx
