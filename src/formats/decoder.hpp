// Decoder: bytes of one input (a file, an HTTP body, a Kafka message) -> RawBatch rows and rejects.
// One Decoder object per input: it keeps the input's state (CSV header, Avro schema and sync marker,
// line numbers) across calls. Decoders never throw on bad data: a bad record is a reject with a reason.
#pragma once
#include <cstddef>
#include <memory>
#include <string>
#include <string_view>

#include "core/raw_batch.hpp"

namespace advx {

// Every buffer handed to a decoder is followed by at least this many readable bytes (simdjson reads
// past the end of a document).
inline constexpr size_t kInputPadding = 64;

enum class Format : uint8_t { json, csv, avro };

class Decoder {
 public:
  virtual ~Decoder() = default;

  // Decodes the complete records at the front of `data` into `out` and returns how many bytes it consumed.
  // The caller keeps the bytes not consumed and passes them again, followed by more input, on the next call.
  // Returning 0 with `at_end == false` asks for more input (e.g. a header or block not complete yet).
  // With `at_end == true` there is no more input: the decoder consumes everything, and a trailing partial
  // record becomes a reject. `data` is followed by kInputPadding readable bytes.
  virtual size_t decode(std::string_view data, bool at_end, RawBatch& out) = 0;

  // A whole-input error that no record explains (e.g. not an Avro file at all): empty when fine.
  // Set once the decoder knows; the pipeline then fails the input with this message.
  const std::string& fatal_error() const { return fatal_error_; }

 protected:
  std::string fatal_error_;
};

std::unique_ptr<Decoder> make_json_decoder();
std::unique_ptr<Decoder> make_csv_decoder();
// Bid requests, read with the writer schema; fields found by the SPEC 1.3 paths.
std::unique_ptr<Decoder> make_avro_decoder();

}  // namespace advx
