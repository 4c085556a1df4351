// libFuzzer target for the CSV decoder and parser:
//   clang++ -std=c++20 -g -O1 -fsanitize=fuzzer,address,undefined -Isrc fuzz/csv_fuzz.cpp \
//     src/formats/csv/*.cpp -o csv_fuzz
// Besides "never crash, never read outside data", it checks that decoding in two calls, split at a point
// taken from the input, gives what one call gives, and that at_end consumes everything.
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>

#include "formats/csv/csv_parser.hpp"
#include "formats/decoder.hpp"

namespace {

// Exact-size copy: the sanitizer then sees any read past the end (the decoder must not need the padding).
std::unique_ptr<char[]> copy(std::string_view s) {
  std::unique_ptr<char[]> p(new char[s.size() + 1]);
  if (!s.empty()) std::memcpy(p.get(), s.data(), s.size());
  return p;
}

std::string summary(const advx::RawBatch& b) {
  std::string s;
  for (size_t i = 0; i < b.rows(); ++i) {
    s += std::to_string(b.record_no[i]) + ":" + std::string(b.raw[i]) + "|";
    for (const auto& column : b.columns) {
      s += column[i].present() ? std::string(column[i].text) + "," : "-,";
    }
    s += "\n";
  }
  for (const auto& r : b.rejects) s += std::to_string(r.record_no) + "!" + r.detail + "!" + r.raw + "\n";
  for (const auto& [name, count] : b.unknown_fields) s += name + "=" + std::to_string(count) + "\n";
  return s;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view input(reinterpret_cast<const char*>(data), size);

  auto whole_decoder = advx::make_csv_decoder();
  advx::RawBatch whole(advx::Stream::events);
  auto whole_bytes = copy(input);
  if (whole_decoder->decode({whole_bytes.get(), size}, true, whole) != size) std::abort();

  size_t split = size == 0 ? 0 : (size_t(data[0]) * 7919u) % (size + 1);
  auto split_decoder = advx::make_csv_decoder();
  advx::RawBatch parts(advx::Stream::events);
  auto first = copy(input.substr(0, split));
  size_t consumed = split_decoder->decode({first.get(), split}, false, parts);
  if (consumed > split) std::abort();
  std::string rest(input.substr(consumed));
  auto second = copy(rest);
  if (split_decoder->decode({second.get(), rest.size()}, true, parts) != rest.size()) std::abort();
  if (whole_decoder->fatal_error() != split_decoder->fatal_error()) std::abort();
  if (whole_decoder->fatal_error().empty() && summary(whole) != summary(parts)) std::abort();

  std::string error;
  advx::parse_csv_document(input, &error);
  advx::parse_csv_document(input, &error, advx::CsvOptions{.quote_in_unquoted_field_is_data = true});
  return 0;
}
