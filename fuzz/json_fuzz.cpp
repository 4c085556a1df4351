// libFuzzer target for the JSON decoder:
//   clang++ -std=c++20 -g -O1 -fsanitize=fuzzer,address,undefined -march=x86-64-v3 -mpclmul -Isrc \
//     fuzz/json_fuzz.cpp src/formats/json/*.cpp -lsimdjson -o json_fuzz
// Besides "never crash, never read outside data + padding", it checks that decoding in two calls, split at a
// point taken from the input (caller-style carry of the unconsumed tail), gives what one call gives, and
// that at_end consumes everything.
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <string>
#include <string_view>

#include "formats/decoder.hpp"

namespace {

// Exact-size copy plus the kInputPadding bytes the decoder contract promises (JSON-looking, so parsing
// them as data shows up as a mismatch); the sanitizer sees any read beyond.
class Buffer {
 public:
  explicit Buffer(std::string_view s) : size_(s.size()), bytes_(new char[s.size() + advx::kInputPadding]) {
    if (!s.empty()) std::memcpy(bytes_.get(), s.data(), s.size());
    for (size_t i = 0; i < advx::kInputPadding; ++i) bytes_[s.size() + i] = "1]}\",9"[i % 6];
  }
  std::string_view view() const { return {bytes_.get(), size_}; }

 private:
  size_t size_;
  std::unique_ptr<char[]> bytes_;
};

void append_cell(std::string& s, const advx::Cell& c) {
  s += std::to_string(int(c.type)) + ":";
  switch (c.type) {
    case advx::CellType::integer:
    case advx::CellType::boolean:
      s += std::to_string(c.i64) + "=";
      break;
    case advx::CellType::number: {
      char d[32];
      std::memcpy(d, &c.f64, sizeof c.f64);  // bit-exact, NaN-safe
      s.append(d, sizeof c.f64);
      s += "=";
      break;
    }
    default:
      break;
  }
  s += std::string(c.text) + ",";
}

// Owned summary of decoded batches (cells point into the input buffer, which is freed after each call).
// Rows, rejects and unknown-field counts are kept apart so two batches add up to what one batch holds.
struct Summary {
  std::string rows, rejects;
  std::map<std::string, uint64_t> unknown;
  bool operator==(const Summary&) const = default;

  void add(const advx::RawBatch& b) {
    for (size_t i = 0; i < b.rows(); ++i) {
      rows += std::to_string(b.record_no[i]) + ":" + std::string(b.raw[i]) + "|";
      for (const auto& column : b.columns) append_cell(rows, column[i]);
      rows += "\n";
    }
    for (const auto& r : b.rejects) {
      if (r.reason != advx::Reason::malformed_json) std::abort();
      rejects += std::to_string(r.record_no) + "!" + r.detail + "!" + r.raw + "\n";
    }
    for (const auto& [name, count] : b.unknown_fields) unknown[name] += count;
  }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view input(reinterpret_cast<const char*>(data), size);

  auto whole_decoder = advx::make_json_decoder();
  Summary whole;
  {
    advx::RawBatch batch(advx::Stream::impressions);
    Buffer bytes(input);
    if (whole_decoder->decode(bytes.view(), true, batch) != size) std::abort();
    whole.add(batch);
  }

  // Caller-style carry: the second call gets the unconsumed tail of the first plus the rest.
  size_t split = size == 0 ? 0 : (size_t(data[0]) * 7919u) % (size + 1);
  auto split_decoder = advx::make_json_decoder();
  Summary parts;
  size_t consumed = 0;
  {
    advx::RawBatch batch(advx::Stream::impressions);
    Buffer first(input.substr(0, split));
    consumed = split_decoder->decode(first.view(), false, batch);
    if (consumed > split) std::abort();
    parts.add(batch);
  }
  {
    advx::RawBatch batch(advx::Stream::impressions);
    Buffer second(input.substr(consumed));
    if (split_decoder->decode(second.view(), true, batch) != size - consumed) std::abort();
    parts.add(batch);
  }
  if (whole_decoder->fatal_error() != split_decoder->fatal_error()) std::abort();
  if (!(whole == parts)) std::abort();
  return 0;
}
