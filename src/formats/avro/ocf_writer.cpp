#include "formats/avro/ocf_writer.hpp"

#include <snappy-c.h>
#include <zlib.h>

#include <bit>
#include <cstring>
#include <stdexcept>

namespace advx::avro {

void put_long(std::string& out, int64_t v) {
  uint64_t z = (uint64_t(v) << 1) ^ uint64_t(v >> 63);
  char buf[10];
  int n = 0;
  while (z >= 0x80) {
    buf[n++] = char((z & 0x7f) | 0x80);
    z >>= 7;
  }
  buf[n++] = char(z);
  out.append(buf, size_t(n));
}

// Avro fixes little-endian; memcpy of the host value is right on the little-endian hosts advx targets.
static_assert(std::endian::native == std::endian::little, "the Avro writer assumes a little-endian host");

void put_double(std::string& out, double v) {
  char buf[8];
  std::memcpy(buf, &v, 8);
  out.append(buf, 8);
}

void put_float(std::string& out, float v) {
  char buf[4];
  std::memcpy(buf, &v, 4);
  out.append(buf, 4);
}

void put_bool(std::string& out, bool v) { out.push_back(v ? '\1' : '\0'); }

void put_bytes(std::string& out, std::string_view v) {
  put_long(out, int64_t(v.size()));
  out.append(v);
}

namespace {

uint64_t mix(uint64_t& state) {
  uint64_t z = (state += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

std::string_view codec_name(Codec c) {
  switch (c) {
    case Codec::null:
      return "null";
    case Codec::deflate:
      return "deflate";
    case Codec::snappy:
      return "snappy";
  }
  return "null";
}

void write_all(std::FILE* f, const void* data, size_t n) {
  if (n != 0 && std::fwrite(data, 1, n, f) != n) throw std::runtime_error("avro: write failed");
}

}  // namespace

OcfWriter::OcfWriter(std::FILE* out, std::string_view schema_json, Codec codec, uint64_t sync_seed,
                     size_t block_records)
    : out_(out), codec_(codec), block_records_(block_records == 0 ? 1 : block_records) {
  uint64_t state = sync_seed;
  const uint64_t a = mix(state), b = mix(state);
  std::memcpy(sync_, &a, 8);
  std::memcpy(sync_ + 8, &b, 8);
  std::string header("Obj\x01", 4);
  put_long(header, 2);
  put_string(header, "avro.schema");
  put_bytes(header, schema_json);
  put_string(header, "avro.codec");
  put_bytes(header, codec_name(codec));
  put_long(header, 0);
  header.append(sync_, 16);
  write_all(out_, header.data(), header.size());
  pending_.reserve(1 << 20);
}

OcfWriter::~OcfWriter() {
  try {
    flush();
  } catch (...) {  // a destructor must not throw; callers that care call flush() themselves
  }
}

void OcfWriter::append(std::string_view datum) {
  pending_.append(datum);
  if (++pending_count_ >= block_records_) write_block();
}

void OcfWriter::flush() {
  if (pending_count_ != 0) write_block();
}

void OcfWriter::write_block() {
  std::string_view data = pending_;
  if (codec_ == Codec::deflate) {
    z_stream zs{};
    // Raw deflate (no zlib header), as the Avro spec requires; level 1 because gen is throughput-bound.
    if (deflateInit2(&zs, 1, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY) != Z_OK)
      throw std::runtime_error("avro: deflateInit2 failed");
    compressed_.resize(deflateBound(&zs, uLong(pending_.size())));
    zs.next_in = reinterpret_cast<Bytef*>(pending_.data());
    zs.avail_in = uInt(pending_.size());
    zs.next_out = reinterpret_cast<Bytef*>(compressed_.data());
    zs.avail_out = uInt(compressed_.size());
    const int rc = deflate(&zs, Z_FINISH);
    const size_t produced = zs.total_out;
    deflateEnd(&zs);
    if (rc != Z_STREAM_END) throw std::runtime_error("avro: deflate failed");
    compressed_.resize(produced);
    data = compressed_;
  } else if (codec_ == Codec::snappy) {
    size_t len = snappy_max_compressed_length(pending_.size());
    compressed_.resize(len + 4);
    if (snappy_compress(pending_.data(), pending_.size(), compressed_.data(), &len) != SNAPPY_OK)
      throw std::runtime_error("avro: snappy compression failed");
    // The snappy codec appends the big-endian CRC-32 of the uncompressed data.
    const uint32_t crc =
        uint32_t(crc32(0L, reinterpret_cast<const Bytef*>(pending_.data()), uInt(pending_.size())));
    compressed_[len] = char(crc >> 24);
    compressed_[len + 1] = char(crc >> 16);
    compressed_[len + 2] = char(crc >> 8);
    compressed_[len + 3] = char(crc);
    compressed_.resize(len + 4);
    data = compressed_;
  }
  std::string head;
  put_long(head, int64_t(pending_count_));
  put_long(head, int64_t(data.size()));
  write_all(out_, head.data(), head.size());
  write_all(out_, data.data(), data.size());
  write_all(out_, sync_, 16);
  pending_.clear();
  pending_count_ = 0;
}

}  // namespace advx::avro
