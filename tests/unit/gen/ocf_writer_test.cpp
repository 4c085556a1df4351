#include <unistd.h>

// OcfWriter round trips through avro-c, the reference C implementation, for every codec.
#include <avro.h>
#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <string>

#include "formats/avro/ocf_writer.hpp"
#include "gen/bid_request_encoder.hpp"
#include "gen/bid_request_schema.hpp"

namespace {

using advx::avro::Codec;

constexpr const char* kSchema = R"({"type":"record","name":"T","fields":[
  {"name":"n","type":"long"},{"name":"s","type":"string"},{"name":"d","type":"double"},
  {"name":"o","type":["null","string"]},{"name":"a","type":{"type":"array","items":"int"}},
  {"name":"b","type":"boolean"},{"name":"f","type":"float"}]})";

std::string temp_path(const std::string& name) {
  return (std::filesystem::temp_directory_path() / ("advx_gen_test_" + std::to_string(getpid()) + "_" + name))
      .string();
}

int64_t value_of(int i) { return (i % 2 ? -1 : 1) * (int64_t(i) * 1234567891LL); }

std::string text_of(int i) {
  std::string s = "s";
  s.append(std::to_string(i));
  s.append(size_t(i % 50), 'x');
  return s;
}

void write_file(const std::string& path, Codec codec, int count) {
  std::FILE* f = std::fopen(path.c_str(), "wb");
  ASSERT_NE(f, nullptr);
  {
    advx::avro::OcfWriter w(f, kSchema, codec, 7, 100);  // small blocks: many blocks and a partial last one
    std::string d;
    for (int i = 0; i < count; ++i) {
      d.clear();
      advx::avro::put_long(d, value_of(i));
      advx::avro::put_string(d, text_of(i));
      advx::avro::put_double(d, i * 0.25 - 3.5);
      if (i % 3 == 0) {
        advx::avro::put_long(d, 0);
      } else {
        advx::avro::put_long(d, 1);
        advx::avro::put_string(d, "opt");
      }
      if (i % 4 != 0) {  // one block of items, then the empty block that ends the array
        advx::avro::put_long(d, i % 4);
        for (int k = 0; k < i % 4; ++k) advx::avro::put_long(d, k * 100 - 50);
      }
      advx::avro::put_long(d, 0);
      advx::avro::put_bool(d, i % 2 == 0);
      advx::avro::put_float(d, float(i) * 0.5f);
      w.append(d);
    }
  }
  std::fclose(f);
}

class OcfRoundTrip : public ::testing::TestWithParam<Codec> {};

TEST_P(OcfRoundTrip, AvroCReadsExactValues) {
  std::string name = "rt_";
  name.push_back(char('0' + int(GetParam())));
  const std::string path = temp_path(name + ".avro");
  constexpr int kCount = 1234;
  write_file(path, GetParam(), kCount);
  avro_file_reader_t reader;
  ASSERT_EQ(avro_file_reader(path.c_str(), &reader), 0) << avro_strerror();
  avro_schema_t schema = avro_file_reader_get_writer_schema(reader);
  avro_value_iface_t* iface = avro_generic_class_from_schema(schema);
  avro_value_t rec;
  avro_generic_value_new(iface, &rec);
  int i = 0;
  while (avro_file_reader_read_value(reader, &rec) == 0) {
    avro_value_t field, branch, item;
    int64_t n;
    avro_value_get_by_name(&rec, "n", &field, nullptr);
    avro_value_get_long(&field, &n);
    EXPECT_EQ(n, value_of(i));
    const char* s;
    size_t slen;
    avro_value_get_by_name(&rec, "s", &field, nullptr);
    avro_value_get_string(&field, &s, &slen);
    EXPECT_EQ(std::string(s, slen - 1), text_of(i));
    double dv;
    avro_value_get_by_name(&rec, "d", &field, nullptr);
    avro_value_get_double(&field, &dv);
    EXPECT_EQ(dv, i * 0.25 - 3.5);
    int disc;
    avro_value_get_by_name(&rec, "o", &field, nullptr);
    avro_value_get_discriminant(&field, &disc);
    EXPECT_EQ(disc, i % 3 == 0 ? 0 : 1);
    if (disc == 1) {
      avro_value_get_current_branch(&field, &branch);
      avro_value_get_string(&branch, &s, &slen);
      EXPECT_STREQ(s, "opt");
    }
    size_t asize;
    avro_value_get_by_name(&rec, "a", &field, nullptr);
    avro_value_get_size(&field, &asize);
    ASSERT_EQ(asize, size_t(i % 4));
    for (size_t k = 0; k < asize; ++k) {
      int32_t v;
      avro_value_get_by_index(&field, k, &item, nullptr);
      avro_value_get_int(&item, &v);
      EXPECT_EQ(v, int32_t(k) * 100 - 50);
    }
    int b;
    avro_value_get_by_name(&rec, "b", &field, nullptr);
    avro_value_get_boolean(&field, &b);
    EXPECT_EQ(b != 0, i % 2 == 0);
    float fv;
    avro_value_get_by_name(&rec, "f", &field, nullptr);
    avro_value_get_float(&field, &fv);
    EXPECT_EQ(fv, float(i) * 0.5f);
    ++i;
  }
  EXPECT_EQ(i, kCount);
  avro_value_decref(&rec);
  avro_value_iface_decref(iface);
  avro_schema_decref(schema);
  avro_file_reader_close(reader);
  std::filesystem::remove(path);
}

INSTANTIATE_TEST_SUITE_P(Codecs, OcfRoundTrip, ::testing::Values(Codec::null, Codec::deflate, Codec::snappy));

TEST(OcfWriter, HeaderAndSyncMarker) {
  const std::string path = temp_path("hdr.avro");
  std::FILE* f = std::fopen(path.c_str(), "wb");
  std::string sync;
  {
    advx::avro::OcfWriter w(f, kSchema, Codec::null, 99);
    sync = std::string(w.sync_marker());
  }
  std::fclose(f);
  std::FILE* r = std::fopen(path.c_str(), "rb");
  char buf[4096];
  const size_t n = std::fread(buf, 1, sizeof buf, r);
  std::fclose(r);
  ASSERT_GT(n, 20u);
  EXPECT_EQ(std::string(buf, 4), std::string("Obj\x01", 4));
  EXPECT_EQ(std::string(buf + n - 16, 16), sync);  // no records: the header ends with the sync marker
  std::filesystem::remove(path);
}

TEST(OcfWriter, ZigZagVarints) {
  std::string s;
  advx::avro::put_long(s, 0);
  advx::avro::put_long(s, -1);
  advx::avro::put_long(s, 1);
  advx::avro::put_long(s, -64);
  advx::avro::put_long(s, 64);
  EXPECT_EQ(s, std::string("\x00\x01\x02\x7f\x80\x01", 6));
}

// A generated bid request read back through avro-c with the shipped schema.
TEST(BidRequestEncoder, AvroCReadsTheFields) {
  const std::string path = temp_path("bid.avro");
  advx::gen::BidRequestEncoder enc(advx::gen::kBidRequestSchema);
  std::FILE* f = std::fopen(path.c_str(), "wb");
  {
    advx::avro::OcfWriter w(f, advx::gen::kBidRequestSchema, Codec::snappy, 1);
    advx::gen::BidRequestValues v;
    v.id = "a-1";
    v.timestamp_ms = 1793491200123;
    v.imp_count = 2;
    v.imps[0] = {"1", 0.5, "USD", 300, 250};
    v.imps[1] = {"2", 1.25, "", 0, 0};
    v.has_site = true;
    v.site_domain = "news.example.com";
    static const std::string_view cats[] = {"IAB1", "IAB12"};
    v.site_cat = cats;
    v.has_device = true;
    v.ua = "Mozilla/5.0";
    v.devicetype = 2;
    v.country = "US";
    v.has_user = true;
    v.user_id = "u-1";
    v.tmax = 120;
    std::string d;
    enc.encode(v, d);
    w.append(d);
  }
  std::fclose(f);
  avro_file_reader_t reader;
  ASSERT_EQ(avro_file_reader(path.c_str(), &reader), 0) << avro_strerror();
  avro_schema_t schema = avro_file_reader_get_writer_schema(reader);
  avro_value_iface_t* iface = avro_generic_class_from_schema(schema);
  avro_value_t rec, field, sub, branch, item;
  avro_generic_value_new(iface, &rec);
  ASSERT_EQ(avro_file_reader_read_value(reader, &rec), 0);
  const char* s;
  size_t len;
  int64_t ts;
  avro_value_get_by_name(&rec, "id", &field, nullptr);
  avro_value_get_string(&field, &s, &len);
  EXPECT_STREQ(s, "a-1");
  avro_value_get_by_name(&rec, "timestamp", &field, nullptr);
  avro_value_get_long(&field, &ts);
  EXPECT_EQ(ts, 1793491200123);
  size_t n;
  avro_value_get_by_name(&rec, "imp", &field, nullptr);
  avro_value_get_size(&field, &n);
  ASSERT_EQ(n, 2u);
  avro_value_get_by_index(&field, 1, &item, nullptr);
  double floor;
  avro_value_get_by_name(&item, "bidfloor", &sub, nullptr);
  avro_value_get_double(&sub, &floor);
  EXPECT_EQ(floor, 1.25);
  int disc;
  avro_value_get_by_name(&item, "banner", &sub, nullptr);
  avro_value_get_discriminant(&sub, &disc);
  EXPECT_EQ(disc, 0);
  avro_value_get_by_name(&rec, "app", &field, nullptr);
  avro_value_get_discriminant(&field, &disc);
  EXPECT_EQ(disc, 0);
  avro_value_get_by_name(&rec, "device", &field, nullptr);
  avro_value_get_current_branch(&field, &branch);
  avro_value_get_by_name(&branch, "geo", &sub, nullptr);
  avro_value_get_current_branch(&sub, &item);
  avro_value_get_by_name(&item, "country", &sub, nullptr);
  avro_value_get_current_branch(&sub, &item);
  avro_value_get_string(&item, &s, &len);
  EXPECT_STREQ(s, "US");
  int32_t tmax;
  avro_value_get_by_name(&rec, "tmax", &field, nullptr);
  avro_value_get_current_branch(&field, &branch);
  avro_value_get_int(&branch, &tmax);
  EXPECT_EQ(tmax, 120);
  EXPECT_NE(avro_file_reader_read_value(reader, &rec), 0);
  avro_value_decref(&rec);
  avro_value_iface_decref(iface);
  avro_schema_decref(schema);
  avro_file_reader_close(reader);
  std::filesystem::remove(path);
}

}  // namespace
