// Files written by avro-c with the reference and the case-study schemas, decoded by our decoder: every
// field compared, for every codec and for every way of splitting the input across decode() calls.
#include <gtest/gtest.h>

#include <cmath>

#include "avro_test_util.hpp"

namespace advx::avro_test {
namespace {

using F = BidRequestField;

Cell str_cell(const std::string& s) {
  static std::vector<std::unique_ptr<std::string>> keep;  // cells view their text
  keep.push_back(std::make_unique<std::string>(s));
  Cell c;
  c.type = CellType::string;
  c.text = *keep.back();
  return c;
}
Cell null_cell() {
  Cell c;
  c.type = CellType::null;
  return c;
}
Cell int_cell(int64_t v, CellType t = CellType::integer) {
  Cell c;
  c.type = t;
  c.i64 = v;
  return c;
}
Cell num_cell(double v) {
  Cell c;
  c.type = CellType::number;
  c.f64 = v;
  return c;
}

std::string row_text(uint64_t rno, const std::vector<Cell>& cells) {
  std::string s = "#" + std::to_string(rno);
  for (size_t f = 0; f < cells.size(); ++f) s += (f ? "|" : " ") + cell_text(cells[f]);
  return s;
}

constexpr int64_t kT0 = 1767225600000;  // 2026-01-01 in ms

// Bid request i of the reference schema, varied so every union takes both branches.
void fill_bid(avro_value_t& rec, int i) {
  set_str(field(rec, "id"), "auc-" + std::to_string(i));
  set_long(field(rec, "timestamp"), kT0 + i);
  avro_value_t imps = field(rec, "imp");
  for (int k = 0; k < i % 4; ++k) {
    avro_value_t imp = append(imps);
    set_str(field(imp, "id"), std::to_string(k + 1));
    set_double(field(imp, "bidfloor"), 0.5 + ((i + 2 * k) % 3) * 0.25);
    if (k % 2) {
      set_str(branch(field(imp, "bidfloorcur"), 1), "USD");
    } else {
      set_null(branch(field(imp, "bidfloorcur"), 0));
    }
    if (i % 2) {
      avro_value_t banner = branch(field(imp, "banner"), 1);
      set_int(field(banner, "w"), 300);
      set_int(field(banner, "h"), 250);
    } else {
      set_null(branch(field(imp, "banner"), 0));
    }
  }
  if (i % 3 == 0) {
    set_null(branch(field(rec, "site"), 0));
    set_str(field(branch(field(rec, "app"), 1), "bundle"), "com.app" + std::to_string(i));
  } else {
    avro_value_t site = branch(field(rec, "site"), 1);
    set_str(field(site, "domain"), "site" + std::to_string(i) + ".com");
    if (i % 2) {
      set_str(branch(field(site, "page"), 1), "https://site.com/p?\"q\"");
    } else {
      set_null(branch(field(site, "page"), 0));
    }
    for (int k = 0; k < i % 3; ++k) set_str(append(field(site, "cat")), "IAB" + std::to_string(k));
    set_null(branch(field(rec, "app"), 0));
  }
  if (i % 5 == 4) {
    set_null(branch(field(rec, "device"), 0));
  } else {
    avro_value_t dev = branch(field(rec, "device"), 1);
    if (i % 2) {
      set_str(branch(field(dev, "ua"), 1), "Mozilla/5.0 (X11; Linux x86_64) \xc3\xa9");
    } else {
      set_null(branch(field(dev, "ua"), 0));
    }
    set_str(branch(field(dev, "ip"), 1), "10.0.0." + std::to_string(i % 256));
    if (i % 3 == 0) {
      set_null(branch(field(dev, "devicetype"), 0));
    } else {
      set_int(branch(field(dev, "devicetype"), 1), i % 7);
    }
    if (i % 4 == 0) {
      set_null(branch(field(dev, "geo"), 0));
    } else {
      avro_value_t geo = branch(field(dev, "geo"), 1);
      if (i % 2) {
        set_str(branch(field(geo, "country"), 1), i % 3 ? "US" : "DE");
      } else {
        set_null(branch(field(geo, "country"), 0));
      }
    }
  }
  if (i % 6 == 5) {
    set_null(branch(field(rec, "user"), 0));
  } else {
    avro_value_t user = branch(field(rec, "user"), 1);
    if (i % 4 == 1) {
      set_null(branch(field(user, "id"), 0));
    } else {
      set_str(branch(field(user, "id"), 1), "u" + std::to_string(i));
    }
  }
  if (i % 2) {
    set_str(branch(field(rec, "exchange"), 1), "openx");
  } else {
    set_null(branch(field(rec, "exchange"), 0));
  }
  set_int(field(rec, "at"), 1 + i % 2);
  if (i % 3) {
    set_int(branch(field(rec, "tmax"), 1), 120);
  } else {
    set_null(branch(field(rec, "tmax"), 0));
  }
}

// What our decoder must give for fill_bid(i), record number i + 1.
std::string expected_bid(int i) {
  std::vector<Cell> c(size_t(F::count_));
  auto at = [&](F f) -> Cell& { return c[size_t(f)]; };
  at(F::auction_id) = str_cell("auc-" + std::to_string(i));
  // avro-c 1.11 drops logicalType when it writes the schema: a plain long here (see LogicalTypes below).
  at(F::timestamp) = int_cell(kT0 + i);
  at(F::user_id) = i % 6 == 5 ? null_cell() : i % 4 == 1 ? null_cell() : str_cell("u" + std::to_string(i));
  at(F::site_domain) = i % 3 == 0 ? null_cell() : str_cell("site" + std::to_string(i) + ".com");
  at(F::app_bundle) = i % 3 == 0 ? str_cell("com.app" + std::to_string(i)) : null_cell();
  bool dev = i % 5 != 4;
  at(F::country) = !dev || i % 4 == 0 || i % 2 == 0 ? null_cell() : str_cell(i % 3 ? "US" : "DE");
  at(F::device_type) = !dev || i % 3 == 0 ? null_cell() : int_cell(i % 7);
  at(F::user_agent) = !dev || i % 2 == 0 ? null_cell() : str_cell("Mozilla/5.0 (X11; Linux x86_64) \xc3\xa9");
  at(F::ip) = !dev ? null_cell() : str_cell("10.0.0." + std::to_string(i % 256));
  at(F::imp_count) = int_cell(i % 4);
  if (i % 4) {
    double m = 1e9;
    for (int k = 0; k < i % 4; ++k) m = std::min(m, 0.5 + ((i + 2 * k) % 3) * 0.25);
    at(F::bid_floor) = num_cell(m);
  }
  at(F::exchange) = i % 2 ? str_cell("openx") : null_cell();
  return row_text(uint64_t(i) + 1, c);
}

std::string write_bids(const char* codec, int n, size_t block_size = 0) {
  std::string path = temp_path(std::string("bids_") + codec + "_" + std::to_string(n) + ".avro");
  write_avro(path, reference_schema(), codec, n, fill_bid, block_size);
  return path;
}

class ReferenceSchema : public ::testing::TestWithParam<const char*> {};

TEST_P(ReferenceSchema, EveryFieldOfEveryRecord) {
  const int n = 500;
  std::string path = write_bids(GetParam(), n, 4096);  // several blocks
  Decoded d = decode_file(path);
  EXPECT_EQ(d.fatal, "");
  EXPECT_TRUE(d.rejects.empty()) << d.rejects.front();
  ASSERT_EQ(d.rows.size(), size_t(n));
  for (int i = 0; i < n; ++i) EXPECT_EQ(d.rows[size_t(i)], expected_bid(i));
  EXPECT_EQ(avro_c_count(path), n);
}

TEST_P(ReferenceSchema, SameRowsAndRawBytesAsNullCodec) {
  std::string plain = write_bids("null", 300, 2048);
  std::string coded = write_bids(GetParam(), 300, 2048);
  Decoded a = decode_file(plain), b = decode_file(coded);
  EXPECT_EQ(a.rows, b.rows);
  EXPECT_EQ(a.raws, b.raws);  // raw = the datum's (decompressed) bytes
}

TEST_P(ReferenceSchema, AnySplitGivesTheSameOutput) {
  std::string bytes = read_file(write_bids(GetParam(), 120, 1024));
  Decoded whole = decode_bytes(bytes);
  ASSERT_EQ(whole.rows.size(), 120u);
  // One cut anywhere in the header, then every 17 bytes through the blocks.
  for (size_t cut = 0; cut < bytes.size(); cut += cut < 1200 ? 1 : 17) {
    Decoded d = decode_bytes(bytes, {cut});
    ASSERT_EQ(d.rows, whole.rows) << "cut at " << cut;
    ASSERT_EQ(d.raws, whole.raws) << "cut at " << cut;
    ASSERT_TRUE(d.rejects.empty()) << "cut at " << cut;
  }
  // Fixed-size chunks, as a file reader with small buffers would hand them over.
  for (size_t chunk : {1, 3, 64, 1000, 4096}) {
    std::vector<size_t> cuts;
    for (size_t c = chunk; c < bytes.size(); c += chunk) cuts.push_back(c);
    Decoded d = decode_bytes(bytes, cuts);
    EXPECT_EQ(d.rows, whole.rows) << "chunk " << chunk;
    EXPECT_TRUE(d.rejects.empty()) << "chunk " << chunk;
  }
}

INSTANTIATE_TEST_SUITE_P(Codecs, ReferenceSchema, ::testing::Values("null", "deflate", "snappy"));

TEST(AvroDecoder, EmptyFileHasNoRecords) {
  std::string path = temp_path("empty.avro");
  write_avro(path, reference_schema(), "null", 0, fill_bid);
  Decoded d = decode_file(path);
  EXPECT_EQ(d.fatal, "");
  EXPECT_EQ(d.read(), 0u);
}

// --- the case study's layout -------------------------------------------------------------------------

const char* kLegacySchema = R"({"type":"record","name":"BidRequest","namespace":"casestudy","fields":[
 {"name":"auction_details","type":{"type":"record","name":"AuctionDetails","fields":[
   {"name":"auction_id","type":"string"},{"name":"timestamp","type":"long"},
   {"name":"floor_price","type":"double"},{"name":"exchange","type":"string"}]}},
 {"name":"user_info","type":{"type":"record","name":"UserInfo","fields":[
   {"name":"user_id","type":"string"},{"name":"country","type":"string"}]}},
 {"name":"ad_targeting","type":{"type":"record","name":"AdTargeting","fields":[
   {"name":"website","type":"string"},{"name":"device_type","type":"string"},
   {"name":"criteria","type":{"type":"map","values":"string"}}]}}]})";

// The same with a string timestamp, targeting criteria as an array and a named-type reference.
const char* kLegacySchema2 = R"({"type":"record","name":"BidRequest","namespace":"casestudy","fields":[
 {"name":"auction_details","type":{"type":"record","name":"AuctionDetails","fields":[
   {"name":"auction_id","type":"string"},{"name":"timestamp","type":"string"},
   {"name":"floor_price","type":"double"},{"name":"exchange","type":"string"}]}},
 {"name":"previous","type":["null","casestudy.AuctionDetails"]},
 {"name":"user_info","type":{"type":"record","name":"UserInfo","fields":[
   {"name":"user_id","type":"string"},{"name":"country","type":"string"}]}},
 {"name":"ad_targeting","type":{"type":"record","name":"AdTargeting","fields":[
   {"name":"website","type":"string"},{"name":"device_type","type":"string"},
   {"name":"criteria","type":{"type":"array","items":"string"}}]}}]})";

void fill_legacy(avro_value_t& rec, int i, bool v2) {
  avro_value_t ad = field(rec, "auction_details");
  set_str(field(ad, "auction_id"), "a" + std::to_string(i));
  if (v2) {
    set_str(field(ad, "timestamp"), "2026-01-01T00:00:0" + std::to_string(i % 10) + "Z");
    if (i % 2) {
      avro_value_t prev = branch(field(rec, "previous"), 1);
      set_str(field(prev, "auction_id"), "old");
      set_str(field(prev, "timestamp"), "x");
      set_double(field(prev, "floor_price"), 9);
      set_str(field(prev, "exchange"), "old-ex");
    } else {
      set_null(branch(field(rec, "previous"), 0));
    }
  } else {
    set_long(field(ad, "timestamp"), kT0 + i);
  }
  set_double(field(ad, "floor_price"), 1.25 + i);
  set_str(field(ad, "exchange"), "appnexus");
  avro_value_t ui = field(rec, "user_info");
  set_str(field(ui, "user_id"), "user" + std::to_string(i));
  set_str(field(ui, "country"), "FR");
  avro_value_t tg = field(rec, "ad_targeting");
  set_str(field(tg, "website"), "news.example");
  set_str(field(tg, "device_type"), i % 2 ? "mobile" : "desktop");
  avro_value_t crit = field(tg, "criteria");
  if (v2) {
    set_str(append(crit), "sports");
    set_str(append(crit), "tab\there");
  } else {
    set_str(add(crit, "age"), "25-34");
    set_str(add(crit, "interest"), "sp\"orts");
  }
}

TEST(AvroDecoder, CaseStudyLayoutWithMapCriteria) {
  std::string path = temp_path("legacy1.avro");
  write_avro(path, kLegacySchema, "deflate", 10, [](avro_value_t& r, int i) { fill_legacy(r, i, false); });
  Decoded d = decode_file(path);
  EXPECT_EQ(d.fatal, "");
  ASSERT_EQ(d.rows.size(), 10u);
  for (int i = 0; i < 10; ++i) {
    std::vector<Cell> c(size_t(F::count_));
    c[size_t(F::auction_id)] = str_cell("a" + std::to_string(i));
    c[size_t(F::timestamp)] = int_cell(kT0 + i);  // a plain long: the validator tells the unit by magnitude
    c[size_t(F::user_id)] = str_cell("user" + std::to_string(i));
    c[size_t(F::site_domain)] = str_cell("news.example");
    c[size_t(F::country)] = str_cell("FR");
    c[size_t(F::device_type)] = str_cell(i % 2 ? "mobile" : "desktop");
    c[size_t(F::bid_floor)] = num_cell(1.25 + i);
    c[size_t(F::exchange)] = str_cell("appnexus");
    Cell t;
    t.type = CellType::compound;
    t.text = R"({"age":"25-34","interest":"sp\"orts"})";
    c[size_t(F::targeting)] = t;
    EXPECT_EQ(d.rows[size_t(i)], row_text(uint64_t(i) + 1, c));
  }
}

TEST(AvroDecoder, CaseStudyLayoutWithStringTimestampAndArrayCriteria) {
  std::string path = temp_path("legacy2.avro");
  write_avro(path, kLegacySchema2, "snappy", 4, [](avro_value_t& r, int i) { fill_legacy(r, i, true); });
  Decoded d = decode_file(path);
  EXPECT_EQ(d.fatal, "");
  ASSERT_EQ(d.rows.size(), 4u);
  EXPECT_EQ(d.rows[1],
            "#2 s:a1|s:2026-01-01T00:00:01Z|s:user1|s:news.example|-|s:FR|s:mobile|-|-|-|n:2.25|s:appnexus|"
            R"(c:["sports","tab\u0009here"])");
}

TEST(AvroDecoder, UserPathsOverrideTheDefaults) {
  std::string path = temp_path("legacy_paths.avro");
  write_avro(path, kLegacySchema2, "null", 2, [](avro_value_t& r, int i) { fill_legacy(r, i, true); });
  AvroFieldPaths paths;
  paths[F::auction_id] = {"no.such.path", "previous.auction_id"};
  paths[F::exchange] = {"previous.exchange"};
  paths[F::imp_count] = {"ad_targeting.criteria"};  // a length
  paths[F::targeting] = {"previous"};               // a record through a union: JSON
  Decoded d = decode_bytes(read_file(path), {}, make_avro_decoder(paths));
  ASSERT_EQ(d.rows.size(), 2u);
  EXPECT_EQ(
      d.rows[0],
      "#1 null|s:2026-01-01T00:00:00Z|s:user0|s:news.example|-|s:FR|s:desktop|-|-|i:2|n:1.25|null|null");
  EXPECT_EQ(d.rows[1],
            "#2 s:old|s:2026-01-01T00:00:01Z|s:user1|s:news.example|-|s:FR|s:mobile|-|-|i:2|n:2.25|s:old-ex|"
            R"(c:{"auction_id":"old","timestamp":"x","floor_price":9,"exchange":"old-ex"})");
}

// --- single datums (Confluent wire format) -----------------------------------------------------------

TEST(AvroDatumDecoder, DecodesOneDatumAndRejectsBadOnes) {
  std::string error;
  auto dec = AvroDatumDecoder::create(reference_schema(), &error);
  ASSERT_TRUE(dec) << error;
  // Datum of fill_bid(0): take it from a file decoded by the OCF decoder.
  Decoded file = decode_file(write_bids("null", 1));
  ASSERT_EQ(file.raws.size(), 1u);
  std::string datum = file.raws[0];
  RawBatch out(Stream::bid_requests);
  EXPECT_TRUE(dec->decode(datum, 1, out));
  std::string trailing = datum + "x";
  EXPECT_FALSE(dec->decode(trailing, 2, out));
  // fill_bid(0) has no imps, so `site` (a union) follows id, timestamp and the empty imp array.
  std::string bad = datum;
  size_t site_at = 1 + 5 + 6 + 1;  // "auc-0" with its length, timestamp varint, imp count 0
  bad[site_at] = 14;               // union index 7
  EXPECT_FALSE(dec->decode(bad, 3, out));
  EXPECT_FALSE(dec->decode(std::string_view(datum).substr(0, datum.size() - 1), 4, out));
  Decoded d;
  collect(out, d);
  ASSERT_EQ(d.rows.size(), 1u);
  // The datum decoder has the schema with its logicalType, which avro-c left out of the file.
  std::string want = expected_bid(0);
  want.replace(want.find("i:1767225600000|"), 16, "t:1767225600000000|");
  EXPECT_EQ(d.rows[0], want);
  ASSERT_EQ(d.rejects.size(), 3u);
  EXPECT_EQ(d.rejects[0], "#2 malformed_avro: record 2: 1 bytes after the end of the datum");
  EXPECT_EQ(d.rejects[1], "#3 malformed_avro: record 3: bad union index 7 at field site");
  EXPECT_EQ(out.rejects[1].raw, bad);
  EXPECT_TRUE(d.rejects[2].starts_with("#4 malformed_avro: record 4: ")) << d.rejects[2];
}

TEST(AvroDatumDecoder, InvalidSchemaIsAnError) {
  std::string error;
  EXPECT_FALSE(AvroDatumDecoder::create("{\"type\":\"record\"", &error));
  EXPECT_NE(error, "");
  EXPECT_FALSE(AvroDatumDecoder::create(
      R"({"type":"record","name":"R","fields":[{"name":"a","type":"Nope"}]})", &error));
  EXPECT_NE(error.find("Nope"), std::string::npos) << error;
}

}  // namespace
}  // namespace advx::avro_test
