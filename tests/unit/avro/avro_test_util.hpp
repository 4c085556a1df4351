// Helpers for the Avro decoder tests: write files with avro-c (the reference implementation), feed bytes
// to our decoder the way the pipeline does (carrying the unconsumed tail), and print rows as text so
// outputs can be compared across codecs and split positions.
#pragma once
#include <avro.h>
#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <functional>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "formats/avro/avro_decoder.hpp"
#include "formats/decoder.hpp"

namespace advx::avro_test {

inline std::string read_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

inline std::string temp_path(const std::string& name) {
  return ::testing::TempDir() + "advx_avro_" + std::to_string(::getpid()) + "_" + name;
}

inline std::string reference_schema() {
  return read_file(std::string(ADVX_SOURCE_DIR) + "/schemas/bid_request.avsc");
}

// One row or reject as text, e.g. "#3 auction_id=s:abc timestamp=t:1700000000000000 ...".
inline std::string cell_text(const Cell& c) {
  switch (c.type) {
    case CellType::absent:
      return "-";
    case CellType::null:
      return "null";
    case CellType::string:
      return "s:" + std::string(c.text);
    case CellType::integer:
      return "i:" + std::to_string(c.i64);
    case CellType::big_integer:
      return "b:" + std::string(c.text);
    case CellType::number: {
      std::ostringstream o;
      o << "n:" << c.f64;
      return o.str();
    }
    case CellType::boolean:
      return c.i64 ? "true" : "false";
    case CellType::compound:
      return "c:" + std::string(c.text);
    case CellType::timestamp_us:
      return "t:" + std::to_string(c.i64);
  }
  return "?";
}

struct Decoded {
  std::vector<std::string> rows;     // "#N f0|f1|..."
  std::vector<std::string> raws;     // each row's raw bytes
  std::vector<std::string> rejects;  // "#N reason: detail"
  std::string fatal;
  size_t read() const { return rows.size() + rejects.size(); }
};

inline void collect(const RawBatch& b, Decoded& d) {
  for (size_t r = 0; r < b.rows(); ++r) {
    std::string s = "#" + std::to_string(b.record_no[r]);
    for (int f = 0; f < int(BidRequestField::count_); ++f) s += (f ? "|" : " ") + cell_text(b.cell(r, f));
    d.rows.push_back(s);
    d.raws.emplace_back(b.raw[r]);
  }
  for (const auto& rj : b.rejects) {
    d.rejects.push_back("#" + std::to_string(rj.record_no) + " " + std::string(reason_name(rj.reason)) +
                        ": " + rj.detail);
  }
}

// Feeds `bytes` in chunks ending at `cuts` (ascending offsets), like the pipeline's file reader: the bytes a
// call does not consume are passed again in front of the next chunk. Each call gets a fresh batch.
inline Decoded decode_bytes(const std::string& bytes, std::vector<size_t> cuts = {},
                            std::unique_ptr<Decoder> dec = nullptr) {
  if (!dec) dec = make_avro_decoder();
  Decoded d;
  std::string carry;
  size_t fed = 0;
  cuts.push_back(bytes.size());
  for (size_t i = 0; i < cuts.size(); ++i) {
    size_t cut = std::min(cuts[i], bytes.size());
    if (cut < fed) continue;
    carry.append(bytes, fed, cut - fed);
    fed = cut;
    bool at_end = i + 1 == cuts.size();
    // An at_end call must consume everything; a few rounds guard against a decoder that would not.
    for (int round = 0; round < (at_end ? 3 : 1); ++round) {
      std::string padded = carry + std::string(kInputPadding, '\0');
      RawBatch batch(Stream::bid_requests);
      size_t used = dec->decode(std::string_view(padded.data(), carry.size()), at_end, batch);
      EXPECT_LE(used, carry.size());
      collect(batch, d);
      carry.erase(0, std::min(used, carry.size()));
      if (!at_end || carry.empty()) break;
    }
  }
  EXPECT_TRUE(carry.empty()) << "decoder left " << carry.size() << " bytes at the end";
  d.fatal = dec->fatal_error();
  return d;
}

inline Decoded decode_file(const std::string& path) { return decode_bytes(read_file(path)); }

// Records in a file according to avro-c's reader, or -1 when it cannot open the file.
inline long avro_c_count(const std::string& path) {
  avro_file_reader_t r;
  if (avro_file_reader(path.c_str(), &r)) return -1;
  avro_schema_t ws = avro_file_reader_get_writer_schema(r);
  avro_value_iface_t* iface = avro_generic_class_from_schema(ws);
  avro_value_t v;
  avro_generic_value_new(iface, &v);
  long n = 0;
  while (avro_file_reader_read_value(r, &v) == 0) ++n;
  avro_value_decref(&v);
  avro_value_iface_decref(iface);
  avro_schema_decref(ws);
  avro_file_reader_close(r);
  return n;
}

// Writes records with avro-c: `fill` sets each generic record value.
inline void write_avro(const std::string& path, const std::string& schema_json, const char* codec, int n,
                       const std::function<void(avro_value_t&, int)>& fill, size_t block_size = 0) {
  avro_schema_t schema;
  ASSERT_EQ(avro_schema_from_json_length(schema_json.data(), schema_json.size(), &schema), 0)
      << avro_strerror();
  std::remove(path.c_str());
  avro_file_writer_t w;
  ASSERT_EQ(avro_file_writer_create_with_codec(path.c_str(), schema, &w, codec, block_size), 0)
      << avro_strerror();
  avro_value_iface_t* iface = avro_generic_class_from_schema(schema);
  avro_value_t rec;
  avro_generic_value_new(iface, &rec);
  for (int i = 0; i < n; ++i) {
    avro_value_reset(&rec);
    fill(rec, i);
    ASSERT_EQ(avro_file_writer_append_value(w, &rec), 0) << avro_strerror();
  }
  avro_file_writer_close(w);
  avro_value_decref(&rec);
  avro_value_iface_decref(iface);
  avro_schema_decref(schema);
}

// Small setters over avro-c's generic values.
inline avro_value_t field(avro_value_t rec, const char* name) {
  avro_value_t f;
  EXPECT_EQ(avro_value_get_by_name(&rec, name, &f, nullptr), 0) << name << ": " << avro_strerror();
  return f;
}
inline avro_value_t branch(avro_value_t v, int b) {
  avro_value_t out;
  EXPECT_EQ(avro_value_set_branch(&v, b, &out), 0) << avro_strerror();
  return out;
}
inline void set_null(avro_value_t v) { avro_value_set_null(&v); }
inline void set_str(avro_value_t v, const std::string& s) {
  avro_value_set_string_len(&v, s.c_str(), s.size() + 1);
}
inline void set_long(avro_value_t v, int64_t x) { avro_value_set_long(&v, x); }
inline void set_int(avro_value_t v, int32_t x) { avro_value_set_int(&v, x); }
inline void set_double(avro_value_t v, double x) { avro_value_set_double(&v, x); }
inline avro_value_t append(avro_value_t v) {
  avro_value_t e;
  avro_value_append(&v, &e, nullptr);
  return e;
}
inline avro_value_t add(avro_value_t v, const char* key) {
  avro_value_t e;
  avro_value_add(&v, key, &e, nullptr, nullptr);
  return e;
}

}  // namespace advx::avro_test
