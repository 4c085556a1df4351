// Bad input never crashes or hangs the decoder: it gives rows, malformed_avro rejects with exact record
// numbers, or a fatal error. Apache Avro's own test files, hand-made corrupt files, random byte flips.
#include <gtest/gtest.h>

#include <filesystem>
#include <random>

#include "avro_test_util.hpp"

namespace advx::avro_test {
namespace {

const std::string kApache = std::string(ADVX_SHARED_TESTDATA) + "/avro/apache-avro";

// A tiny encoder for hand-made files (tests must not depend on the code under test to write them).
void put_long(std::string& out, int64_t v) {
  uint64_t u = (uint64_t(v) << 1) ^ uint64_t(v >> 63);
  while (u >= 0x80) {
    out += char(u | 0x80);
    u >>= 7;
  }
  out += char(u);
}
void put_str(std::string& out, std::string_view s) {
  put_long(out, int64_t(s.size()));
  out += s;
}
const std::string kSync = "0123456789abcdef";

std::string ocf_header(std::string_view schema, std::string_view codec = "null") {
  std::string h = std::string("Obj\x01", 4);
  put_long(h, 2);
  put_str(h, "avro.schema");
  put_str(h, schema);
  put_str(h, "avro.codec");
  put_str(h, codec);
  put_long(h, 0);
  return h + kSync;
}
std::string ocf_block(int64_t count, std::string_view data, std::string_view sync = kSync) {
  std::string b;
  put_long(b, count);
  put_long(b, int64_t(data.size()));
  b += data;
  b += sync;
  return b;
}

const char* kSimple = R"({"type":"record","name":"R","fields":[{"name":"id","type":"string"},
  {"name":"device","type":["null",{"type":"record","name":"D","fields":[{"name":"ua","type":"string"}]}]}]})";

std::string simple_datum(const std::string& id, bool with_device = true) {
  std::string d;
  put_str(d, id);
  put_long(d, with_device ? 1 : 0);
  if (with_device) put_str(d, "ua-" + id);
  return d;
}

TEST(AvroRobustness, ApacheCTestFiles) {
  std::string dir = kApache + "/lang/c/tests/";
  for (const char* good :
       {"avro-1237-good.avro", "avro-1238-good.avro", "avro-1279-codec.avro", "avro-1279-no-codec.avro"}) {
    Decoded d = decode_file(dir + good);
    EXPECT_EQ(d.fatal, "") << good;
    EXPECT_TRUE(d.rejects.empty()) << good << ": " << d.rejects.front();
    EXPECT_EQ(long(d.rows.size()), avro_c_count(dir + good)) << good;
    EXPECT_GT(d.rows.size(), 0u) << good;
  }
  // The bad union discriminant: the good twin's records, the bad one a reject with its reason.
  Decoded bad = decode_file(dir + "avro-1237-bad-union-discriminant.avro");
  Decoded good = decode_file(dir + "avro-1237-good.avro");
  EXPECT_EQ(bad.fatal, "");
  EXPECT_EQ(good.rows.size(), 2u);
  EXPECT_EQ(bad.rows.size(), 1u);
  // It also has one stray byte after its last block: a block header cut short, one more reject.
  ASSERT_EQ(bad.rejects.size(), 2u);
  EXPECT_EQ(bad.rejects[0], "#2 malformed_avro: record 2: bad union index 2");
  EXPECT_EQ(bad.rejects[1], "#3 malformed_avro: record 3: truncated block header at the end of the file");
  // The truncated file: its last block's records are rejects, nothing more, nothing less.
  Decoded trunc = decode_file(dir + "avro-1238-truncated.avro");
  Decoded twin = decode_file(dir + "avro-1238-good.avro");
  EXPECT_EQ(trunc.fatal, "");
  EXPECT_EQ(trunc.read(), twin.read());
  EXPECT_FALSE(trunc.rejects.empty());
}

TEST(AvroRobustness, ApacheShareTestData) {
  std::string dir = kApache + "/share/test/data";
  int files = 0;
  for (const auto& e : std::filesystem::recursive_directory_iterator(dir)) {
    std::string p = e.path().string();
    if (!e.is_regular_file() || p.find(".avro") == std::string::npos) continue;
    ++files;
    Decoded d = decode_file(p);  // must not crash, hang or leave bytes
    std::string name = e.path().filename().string();
    if (name.starts_with("weather")) {
      if (name == "weather-zstd.avro") {
        EXPECT_EQ(d.fatal, "unsupported Avro codec zstandard");
        continue;
      }
      EXPECT_EQ(d.fatal, "") << p;
      EXPECT_TRUE(d.rejects.empty()) << p;
      EXPECT_EQ(long(d.rows.size()), avro_c_count(p)) << p;
    } else if (name == "syncInMeta.avro" || name == "data.avro") {
      EXPECT_EQ(d.fatal, "") << p;
      EXPECT_TRUE(d.rejects.empty()) << p;
      long want = avro_c_count(p);
      if (want >= 0) {
        EXPECT_EQ(long(d.rows.size()), want) << p;
      }
    }
  }
  EXPECT_GE(files, 8);
}

TEST(AvroRobustness, FatalErrors) {
  EXPECT_EQ(decode_bytes(R"({"id": "not avro"})").fatal,
            "not an Avro Object Container File (bad magic bytes)");
  EXPECT_EQ(decode_bytes("").fatal, "truncated Avro file header");
  std::string h = ocf_header(kSimple);
  EXPECT_EQ(decode_bytes(h.substr(0, h.size() - 3)).fatal, "truncated Avro file header");
  EXPECT_EQ(decode_bytes(ocf_header(kSimple, "lzma")).fatal, "unsupported Avro codec lzma");
  EXPECT_NE(decode_bytes(ocf_header("{\"type\":\"recor")).fatal.find("invalid Avro schema"),
            std::string::npos);
  // The header needs more input: nothing is consumed until it is complete.
  auto dec = make_avro_decoder();
  RawBatch b(Stream::bid_requests);
  std::string padded = h + std::string(kInputPadding, '\0');
  EXPECT_EQ(dec->decode(std::string_view(padded.data(), h.size() - 1), false, b), 0u);
  EXPECT_EQ(dec->fatal_error(), "");
  EXPECT_EQ(dec->decode(std::string_view(padded.data(), h.size()), false, b), h.size());
}

TEST(AvroRobustness, BadDatumRejectsTheRestOfItsBlock) {
  std::string block1 = simple_datum("a") + simple_datum("b");
  std::string block2 = simple_datum("c");
  put_str(block2, "d");
  put_long(block2, -5);  // union index
  block2 += simple_datum("e") + simple_datum("f");
  std::string block3 = simple_datum("g", false);
  std::string file = ocf_header(kSimple) + ocf_block(2, block1) + ocf_block(4, block2) + ocf_block(1, block3);
  Decoded d = decode_bytes(file);
  EXPECT_EQ(d.fatal, "");
  ASSERT_EQ(d.rows.size(), 4u);
  EXPECT_EQ(d.rows[2], "#3 s:c|-|-|-|-|-|-|s:ua-c|-|-|-|-|-");
  EXPECT_EQ(d.rows[3], "#7 s:g|-|-|-|-|-|-|null|-|-|-|-|-");
  ASSERT_EQ(d.rejects.size(), 3u);
  EXPECT_EQ(d.rejects[0], "#4 malformed_avro: record 4: bad union index -5 at field device");
  EXPECT_EQ(d.rejects[1], "#5 malformed_avro: record 5: unreadable after an earlier error in its block");
  EXPECT_EQ(d.rejects[2], "#6 malformed_avro: record 6: unreadable after an earlier error in its block");
}

TEST(AvroRobustness, BadUnionIndexNamesTheField) {
  std::string datum;
  put_str(datum, "x");
  put_long(datum, 7);
  std::string file = ocf_header(kSimple) + ocf_block(1, datum);
  Decoded d = decode_bytes(file);
  ASSERT_EQ(d.rejects.size(), 1u);
  EXPECT_EQ(d.rejects[0], "#1 malformed_avro: record 1: bad union index 7 at field device");
}

TEST(AvroRobustness, BadSyncMarkerRejectsThatBlockOnly) {
  std::string b1 = simple_datum("a") + simple_datum("b");
  std::string file = ocf_header(kSimple) + ocf_block(2, b1) + ocf_block(2, b1, "XXXXXXXXXXXXXXXX") +
                     ocf_block(2, b1) + ocf_block(1, simple_datum("z"));
  Decoded d = decode_bytes(file);
  EXPECT_EQ(d.fatal, "");
  EXPECT_EQ(d.rows.size(), 5u);
  ASSERT_EQ(d.rejects.size(), 2u);
  EXPECT_EQ(d.rejects[0], "#3 malformed_avro: record 3: block with a bad sync marker (2 records)");
  EXPECT_EQ(d.rows.back(), "#7 s:z|-|-|-|-|-|-|s:ua-z|-|-|-|-|-");
  // Same when the input arrives in small pieces.
  std::vector<size_t> cuts;
  for (size_t c = 5; c < file.size(); c += 5) cuts.push_back(c);
  Decoded s = decode_bytes(file, cuts);
  EXPECT_EQ(s.rows, d.rows);
  EXPECT_EQ(s.rejects, d.rejects);
}

TEST(AvroRobustness, GarbageBetweenBlocksResyncs) {
  std::string b1 = simple_datum("a");
  std::string file =
      ocf_header(kSimple) + ocf_block(1, b1) + "\xff\xff\xff garbage" + kSync + ocf_block(1, b1);
  Decoded d = decode_bytes(file);
  EXPECT_EQ(d.rows.size(), 2u);
  ASSERT_EQ(d.rejects.size(), 1u);
  EXPECT_NE(d.rejects[0].find("#2 malformed_avro: record 2: bad block header"), std::string::npos)
      << d.rejects[0];
  EXPECT_EQ(d.rows[1].substr(0, 6), "#3 s:a");
}

TEST(AvroRobustness, TruncatedLastBlockRejectsItsRecords) {
  std::string b = simple_datum("a") + simple_datum("b") + simple_datum("c");
  std::string file = ocf_header(kSimple) + ocf_block(1, simple_datum("x")) + ocf_block(3, b);
  Decoded d = decode_bytes(file.substr(0, file.size() - 20));
  EXPECT_EQ(d.fatal, "");
  EXPECT_EQ(d.rows.size(), 1u);
  ASSERT_EQ(d.rejects.size(), 3u);
  EXPECT_NE(d.rejects[0].find("record 2: truncated block at the end of the file"), std::string::npos);
  EXPECT_EQ(d.rejects[2].substr(0, 3), "#4 ");
  // A forged count in a truncated block is not believed.
  std::string forged = ocf_header(kSimple);
  put_long(forged, int64_t(1) << 40);
  put_long(forged, 100);
  forged += "abc";
  Decoded f = decode_bytes(forged);
  EXPECT_EQ(f.rejects.size(), 1u);
}

TEST(AvroRobustness, HugeCountsAndLengthsDoNotAllocate) {
  const char* schema = R"({"type":"record","name":"R","fields":[{"name":"id","type":"string"},
    {"name":"imp","type":{"type":"array","items":{"type":"record","name":"I","fields":[
      {"name":"bidfloor","type":"double"}]}}},
    {"name":"nulls","type":{"type":"array","items":"null"}},
    {"name":"m","type":{"type":"map","values":"long"}}]})";
  auto file_with = [&](const std::string& datum, int64_t count = 1) {
    return ocf_header(schema) + ocf_block(count, datum);
  };
  std::string ok;
  put_str(ok, "a");
  put_long(ok, -2);  // a block of 2 items with its byte size
  put_long(ok, 16);
  std::string two = std::string(8, '\0') + std::string(8, '\0');
  double f1 = 2.5, f2 = 1.5;
  std::memcpy(two.data(), &f1, 8);
  std::memcpy(two.data() + 8, &f2, 8);
  ok += two;
  put_long(ok, 0);
  put_long(ok, 3);  // three nulls
  put_long(ok, 0);
  put_long(ok, 0);
  Decoded d = decode_bytes(file_with(ok));
  ASSERT_EQ(d.rows.size(), 1u) << (d.rejects.empty() ? d.fatal : d.rejects[0]);
  EXPECT_EQ(d.rows[0], "#1 s:a|-|-|-|-|-|-|-|-|i:2|n:1.5|-|-");

  std::vector<std::string> bad;
  std::string s;
  put_long(s, int64_t(1) << 60);  // string length
  bad.push_back(s);
  s.clear();
  put_str(s, "a");
  put_long(s, int64_t(1) << 60);  // array count
  bad.push_back(s);
  s.clear();
  put_str(s, "a");
  put_long(s, INT64_MIN);  // array count that cannot be negated
  bad.push_back(s);
  s.clear();
  put_str(s, "a");
  put_long(s, 0);
  put_long(s, int64_t(1) << 40);  // a trillion nulls take no bytes, but are not believed
  bad.push_back(s);
  s.clear();
  put_str(s, "a");
  put_long(s, 0);
  put_long(s, 0);
  put_long(s, -(int64_t(1) << 50));  // map block with a byte size
  put_long(s, 5);
  bad.push_back(s);
  bad.push_back(std::string(11, '\xff'));  // varint longer than 10 bytes
  for (const auto& datum : bad) {
    Decoded r = decode_bytes(file_with(datum));
    EXPECT_EQ(r.rows.size(), 0u);
    EXPECT_EQ(r.rejects.size(), 1u);
  }
  // A block claiming more records than bytes: one reject, not 2^50.
  Decoded many = decode_bytes(file_with(ok, int64_t(1) << 50));
  EXPECT_EQ(many.read(), 1u);
}

TEST(AvroRobustness, RecursiveSchemaDepthIsCapped) {
  const char* schema = R"({"type":"record","name":"List","fields":[{"name":"id","type":"long"},
    {"name":"next","type":["null","List"]}]})";
  std::string shallow, deep;
  for (int i = 0; i < 10; ++i) shallow += std::string("\x02\x02", 2);
  shallow += std::string("\x02\x00", 2);
  for (int i = 0; i < 100000; ++i) deep += std::string("\x02\x02", 2);
  deep += std::string("\x02\x00", 2);
  Decoded d = decode_bytes(ocf_header(schema) + ocf_block(1, shallow) + ocf_block(1, deep));
  EXPECT_EQ(d.rows.size(), 1u);
  ASSERT_EQ(d.rejects.size(), 1u);
  EXPECT_NE(d.rejects[0].find("nesting deeper than 64 levels"), std::string::npos) << d.rejects[0];
}

TEST(AvroRobustness, BadCompressedBlocks) {
  std::string file = ocf_header(kSimple, "deflate") + ocf_block(2, "not deflate at all") +
                     ocf_block(1, std::string("\x03\x00", 2));
  Decoded d = decode_bytes(file);
  EXPECT_EQ(d.rows.size(), 0u);
  ASSERT_EQ(d.rejects.size(), 3u);
  EXPECT_NE(d.rejects[0].find("invalid deflate data"), std::string::npos) << d.rejects[0];
  std::string sn =
      ocf_header(kSimple, "snappy") + ocf_block(1, std::string("\x05\x10hello\x00\x00\x00\x00", 11));
  Decoded s = decode_bytes(sn);
  ASSERT_EQ(s.rejects.size(), 1u);
  EXPECT_EQ(s.rejects[0], "#1 malformed_avro: record 1: block of 1 records: snappy checksum mismatch");
}

// Seeded random corruption of real files: never a crash or a hang, counts stay sane.
TEST(AvroRobustness, RandomByteFlips) {
  for (const char* codec : {"null", "deflate", "snappy"}) {
    std::string path = temp_path(std::string("flip_") + codec + ".avro");
    write_avro(
        path, reference_schema(), codec, 60,
        [](avro_value_t& rec, int i) {
          set_str(field(rec, "id"), "auc-" + std::to_string(i));
          set_long(field(rec, "timestamp"), 1767225600000 + i);
          avro_value_t imp = append(field(rec, "imp"));
          set_str(field(imp, "id"), "1");
          set_double(field(imp, "bidfloor"), 0.5);
          set_null(branch(field(imp, "bidfloorcur"), 0));
          set_null(branch(field(imp, "banner"), 0));
          avro_value_t site = branch(field(rec, "site"), 1);
          set_str(field(site, "domain"), "x.com");
          set_null(branch(field(site, "page"), 0));
          set_null(branch(field(rec, "app"), 0));
          set_null(branch(field(rec, "device"), 0));
          set_null(branch(field(rec, "user"), 0));
          set_null(branch(field(rec, "exchange"), 0));
          set_int(field(rec, "at"), 1);
          set_null(branch(field(rec, "tmax"), 0));
        },
        2048);
    std::string orig = read_file(path);
    ASSERT_GT(orig.size(), 1000u);
    std::mt19937_64 rng(42);
    for (int m = 0; m < 150; ++m) {
      std::string bytes = orig;
      int flips = 1 + int(rng() % 4);
      for (int k = 0; k < flips; ++k) bytes[rng() % bytes.size()] ^= char(1 + rng() % 255);
      if (m % 10 == 0) bytes.resize(rng() % bytes.size());
      Decoded d = decode_bytes(bytes, {bytes.size() / 3});
      if (d.fatal.empty()) {
        EXPECT_LE(d.read(), 200u) << codec << " mutation " << m;  // 60 records, a few bogus blocks at most
      }
    }
  }
}

}  // namespace
}  // namespace advx::avro_test

namespace advx::avro_test {
namespace {

TEST(AvroTypes, LogicalTypesAndEveryPrimitive) {
  const char* schema = R"({"type":"record","name":"BidRequest","namespace":"n","fields":[
    {"name":"id","type":{"type":"fixed","name":"Id","size":3}},
    {"name":"timestamp","type":{"type":"long","logicalType":"timestamp-millis"}},
    {"name":"exchange","type":{"type":"enum","name":"Ex","symbols":["a","openx"]}},
    {"name":"user","type":{"type":"record","name":"U","fields":[
      {"name":"id","type":["null","bytes"]}]}},
    {"name":"site","type":{"type":"record","name":"S","namespace":"other","fields":[
      {"name":"domain","type":"boolean"},{"name":"next","type":["null","n.U"]}]}},
    {"name":"app","type":{"type":"record","name":"A","fields":[
      {"name":"bundle","type":{"type":"long","logicalType":"timestamp-micros"}}]}},
    {"name":"imp","type":{"type":"array","items":{"type":"record","name":"I","fields":[
      {"name":"bidfloor","type":"float"}]}}},
    {"name":"device","type":{"type":"record","name":"D","fields":[
      {"name":"ua","type":{"type":"map","values":["null","double","U"]}},
      {"name":"ip","type":"int"}]}}]})";
  std::string d = "abc";
  put_long(d, 1767225600123);
  put_long(d, 1);
  put_long(d, 1);
  put_str(d, std::string("\x00\xff", 2));
  d += '\x01';
  put_long(d, 0);
  put_long(d, 42);
  put_long(d, 2);
  float f1 = 2.0f, f2 = 0.25f;
  d.append(reinterpret_cast<const char*>(&f1), 4);
  d.append(reinterpret_cast<const char*>(&f2), 4);
  put_long(d, 0);
  put_long(d, 3);  // map of 3
  put_str(d, "k");
  put_long(d, 0);
  put_str(d, "d");
  put_long(d, 1);
  double x = 0.5;
  d.append(reinterpret_cast<const char*>(&x), 8);
  put_str(d, "u");
  put_long(d, 2);
  put_long(d, 1);
  put_str(d, "q\"");
  put_long(d, 0);
  put_long(d, -7);
  std::string file = ocf_header(schema) + ocf_block(1, d);
  Decoded r = decode_bytes(file);
  ASSERT_EQ(r.rows.size(), 1u) << (r.rejects.empty() ? r.fatal : r.rejects[0]);
  EXPECT_EQ(r.rows[0], "#1 s:abc|t:1767225600123000|s:" + std::string("\x00\xff", 2) +
                           "|true|t:42|-|-|"
                           R"(c:{"k":null,"d":0.5,"u":{"id":"q\""}})"
                           "|i:-7|i:2|n:0.25|s:openx|-");
}

}  // namespace
}  // namespace advx::avro_test
