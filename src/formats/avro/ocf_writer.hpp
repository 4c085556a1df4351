// Writing Avro: the binary encoding of primitive values and an Object Container File writer with the null,
// deflate and snappy codecs. Used by `advx gen` and by tests; fast enough for tens of millions of records.
#pragma once
#include <cstdint>
#include <cstdio>
#include <string>
#include <string_view>

namespace advx::avro {

enum class Codec : uint8_t { null, deflate, snappy };

// Binary encoding (Avro spec, "Binary Encoding"), appending to `out`.
void put_long(std::string& out, int64_t v);  // zigzag varint; also int, enum index, union branch
void put_double(std::string& out, double v);
void put_float(std::string& out, float v);
void put_bool(std::string& out, bool v);
void put_bytes(std::string& out, std::string_view v);  // length + bytes; also string
inline void put_string(std::string& out, std::string_view v) { put_bytes(out, v); }

class OcfWriter {
 public:
  // Writes the header (magic, avro.schema, avro.codec, a sync marker derived from `sync_seed`) to `out`.
  // `out` stays owned by the caller. Records are buffered and written a block at a time.
  OcfWriter(std::FILE* out, std::string_view schema_json, Codec codec, uint64_t sync_seed = 0,
            size_t block_records = 4000);
  ~OcfWriter();  // flushes
  OcfWriter(const OcfWriter&) = delete;
  OcfWriter& operator=(const OcfWriter&) = delete;

  // Appends one datum, already binary-encoded with the writer schema.
  void append(std::string_view datum);
  void flush();  // writes the pending block, if any

  // The 16-byte sync marker, so tests can corrupt files precisely.
  std::string_view sync_marker() const { return {sync_, 16}; }

 private:
  void write_block();
  std::FILE* out_;
  Codec codec_;
  char sync_[16];
  size_t block_records_;
  size_t pending_count_ = 0;
  std::string pending_;
  std::string compressed_;
};

}  // namespace advx::avro
