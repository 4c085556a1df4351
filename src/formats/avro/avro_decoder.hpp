// Avro bid requests (SPEC 1.3): an Object Container File decoder (make_avro_decoder) and a single-datum
// decoder for the Confluent wire format (AvroDatumDecoder). Both read with the writer's schema and find the
// standard fields by path; the paths are resolved once per schema, so the per-record work is one walk over
// the datum that extracts the wanted fields and skips the rest by length.
//
// Cell text: strings and bytes are views into the datum bytes. For the null codec those are the caller's
// input buffer; a compressed block is decompressed into `out.arena`, so every view (cells and `out.raw`)
// stays valid for as long as the RawBatch is not cleared. Enum symbols and rendered JSON (records, maps and
// arrays at a wanted path, CellType::compound) are copied into `out.arena` too.
#pragma once
#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/raw_batch.hpp"
#include "formats/decoder.hpp"

namespace advx {

// Dotted paths per BidRequestField slot, tried in order: the first path that exists in the writer schema is
// used for every record of that schema. A path steps into record fields by name and passes through unions
// (a null branch gives CellType::null) and arrays (`imp.bidfloor` or `imp[].bidfloor`: the minimum over the
// items for numbers, the first present value otherwise). The imp_count slot takes the length of an array or
// map at its path. A record, map or array at the end of any other path becomes CellType::compound JSON.
struct AvroFieldPaths {
  std::array<std::vector<std::string>, size_t(BidRequestField::count_)> paths;

  AvroFieldPaths();  // the SPEC 1.3 defaults: OpenRTB paths first, then the case-study layout
  std::vector<std::string>& operator[](BidRequestField f) { return paths[size_t(f)]; }
  const std::vector<std::string>& operator[](BidRequestField f) const { return paths[size_t(f)]; }
};

// Decodes single binary datums written with one writer schema (the Confluent wire format, once the magic
// byte and schema id are stripped). Create one per schema and cache it with the schema id.
class AvroDatumDecoder {
 public:
  // Null with a message in `error` when `schema_json` is not a valid Avro schema.
  static std::unique_ptr<AvroDatumDecoder> create(std::string_view schema_json, std::string* error,
                                                  const AvroFieldPaths& paths = AvroFieldPaths());
  ~AvroDatumDecoder();
  AvroDatumDecoder(const AvroDatumDecoder&) = delete;
  AvroDatumDecoder& operator=(const AvroDatumDecoder&) = delete;

  // Decodes the datum that is exactly `datum` into a row of `out` (a bid_requests batch) and returns true;
  // or, when it is malformed (bad varint, length past the end, bad union index, trailing bytes...), appends a
  // malformed_avro reject with `record_no` and the datum bytes and returns false. Never throws. The row's
  // cells and raw view point into `datum`, which must outlive the use of the row.
  bool decode(std::string_view datum, uint64_t record_no, RawBatch& out);

  struct Impl;

 private:
  explicit AvroDatumDecoder(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// make_avro_decoder() (formats/decoder.hpp) with the default paths; this one takes user paths.
std::unique_ptr<Decoder> make_avro_decoder(const AvroFieldPaths& paths);

// The writer schema (the JSON text of the header's avro.schema, byte for byte) of the Object Container File
// that `decoder`, one made by make_avro_decoder, reads: empty until its header is read, and for another
// decoder. `advx publish` registers it with a schema registry, so that each record's bytes (RawBatch::raw,
// the datum) can travel as a Confluent-framed message.
std::string_view ocf_writer_schema(const Decoder& decoder);

}  // namespace advx
