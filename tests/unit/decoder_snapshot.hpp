// Owned copies of what a decoder produced, for exact comparisons in the decoder tests (cells point into
// the input, which the tests free between calls), and an exact-size input buffer so ASan catches overreads.
#pragma once
#include <gtest/gtest.h>

#include <cstring>
#include <map>
#include <memory>
#include <ostream>
#include <string>
#include <string_view>
#include <vector>

#include "core/raw_batch.hpp"
#include "formats/decoder.hpp"

namespace advx::test {

using Cells = std::map<std::string, std::string>;  // cell descriptions by field name

struct Row {
  uint64_t record_no;
  std::string raw;
  Cells cells;
  bool operator==(const Row&) const = default;
};

struct Reject {
  Reason reason;
  std::string detail;
  uint64_t record_no;
  std::string raw;
  bool operator==(const Reject&) const = default;
};

struct Result {
  std::vector<Row> rows;
  std::vector<Reject> rejects;
  std::map<std::string, uint64_t, std::less<>> unknown;
  bool operator==(const Result&) const = default;
};

inline void PrintTo(const Row& r, std::ostream* os) {
  *os << "{record " << r.record_no << " raw=" << ::testing::PrintToString(r.raw) << " "
      << ::testing::PrintToString(r.cells) << "}";
}
inline void PrintTo(const Reject& r, std::ostream* os) {
  *os << "{" << reason_name(r.reason) << " record " << r.record_no << " "
      << ::testing::PrintToString(r.detail) << " raw=" << ::testing::PrintToString(r.raw) << "}";
}

// An exact-size heap copy of `s`, followed by `padding` bytes filled with `fill` (cycled). With no padding
// ASan catches any read past the data; with kInputPadding bytes of JSON-looking filler, a decoder that
// parses the padding as data is caught instead.
class Buffer {
 public:
  explicit Buffer(std::string_view s, size_t padding = 0, std::string_view fill = " ")
      : size_(s.size()), bytes_(new char[s.size() + padding + 1]) {
    if (!s.empty()) std::memcpy(bytes_.get(), s.data(), s.size());
    for (size_t i = 0; i < padding; ++i) bytes_[s.size() + i] = fill[i % fill.size()];
  }
  std::string_view view() const { return {bytes_.get(), size_}; }

 private:
  size_t size_;
  std::unique_ptr<char[]> bytes_;
};

}  // namespace advx::test
