#include <unistd.h>

// `advx gen`: determinism, an exact manifest, and the funnel the SPEC describes.
#include <avro.h>
#include <gtest/gtest.h>
#include <simdjson.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "gen/generator.hpp"

namespace {

namespace fs = std::filesystem;

std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::vector<fs::path> files_in(const fs::path& dir) {
  std::vector<fs::path> v;
  for (const auto& e : fs::directory_iterator(dir)) v.push_back(e.path());
  std::sort(v.begin(), v.end());
  return v;
}

advx::gen::GenResult run_gen(const fs::path& dir, uint64_t n, int files, uint64_t seed = 42) {
  fs::remove_all(dir);
  advx::gen::GenOptions o;
  o.out_dir = dir.string();
  o.impressions = n;
  o.files = files;
  o.seed = seed;
  return advx::gen::generate(o);
}

// RFC 4180 records after the header; an unterminated quote at the end counts as one (malformed) record.
uint64_t csv_records(std::string_view s) {
  if (s.starts_with("\xEF\xBB\xBF")) s.remove_prefix(3);
  uint64_t records = 0;
  bool in_quotes = false, any = false;
  for (size_t i = 0; i < s.size(); ++i) {
    const char c = s[i];
    if (in_quotes) {
      if (c == '"') in_quotes = false;  // a doubled quote re-enters at once
      continue;
    }
    if (c == '"') {
      in_quotes = true;
      any = true;
    } else if (c == '\n') {
      records += 1;
      any = false;
    } else if (c != '\r') {
      any = true;
    }
  }
  if (any || in_quotes) ++records;
  return records - 1;  // the header
}

struct AvroStats {
  uint64_t records = 0, bots = 0, future = 0;
};

AvroStats read_avro(const fs::path& p) {
  AvroStats st;
  avro_file_reader_t reader;
  EXPECT_EQ(avro_file_reader(p.c_str(), &reader), 0) << avro_strerror();
  avro_schema_t schema = avro_file_reader_get_writer_schema(reader);
  avro_value_iface_t* iface = avro_generic_class_from_schema(schema);
  avro_value_t rec, field, branch, ua;
  avro_generic_value_new(iface, &rec);
  while (avro_file_reader_read_value(reader, &rec) == 0) {
    ++st.records;
    int64_t ts;
    avro_value_get_by_name(&rec, "timestamp", &field, nullptr);
    avro_value_get_long(&field, &ts);
    if (ts > 4000000000000) ++st.future;
    avro_value_get_by_name(&rec, "device", &field, nullptr);
    avro_value_get_current_branch(&field, &branch);
    avro_value_get_by_name(&branch, "ua", &field, nullptr);
    avro_value_get_current_branch(&field, &ua);
    const char* s;
    size_t len;
    avro_value_get_string(&ua, &s, &len);
    const std::string_view v(s, len - 1);
    if (v.find("bot") != v.npos || v.find("Bot") != v.npos || v.find("spider") != v.npos) ++st.bots;
  }
  avro_value_decref(&rec);
  avro_value_iface_decref(iface);
  avro_schema_decref(schema);
  avro_file_reader_close(reader);
  return st;
}

class GenRun : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new fs::path(fs::temp_directory_path() / ("advx_gen_test_50k_" + std::to_string(getpid())));
    result_ = new advx::gen::GenResult(run_gen(*dir_, 50000, 3));
    const std::string m = slurp(*dir_ / "_manifest.json");
    manifest_ = new simdjson::padded_string(m);
    parser_ = new simdjson::dom::parser;
    ASSERT_EQ(parser_->parse(*manifest_).get(doc_), simdjson::SUCCESS);
  }
  static void TearDownTestSuite() {
    fs::remove_all(*dir_);
    delete parser_;
    delete manifest_;
    delete result_;
    delete dir_;
  }
  static uint64_t get(std::string_view stream, std::string_view key) {
    uint64_t v = 0;
    EXPECT_EQ(doc_[stream][key].get_uint64().get(v), simdjson::SUCCESS) << stream << "." << key;
    return v;
  }
  static uint64_t sum(std::string_view stream, std::string_view group) {
    uint64_t total = 0;
    simdjson::dom::object obj;
    EXPECT_EQ(doc_[stream][group].get(obj), simdjson::SUCCESS);
    for (auto field : obj) total += field.value.get_uint64().value();
    return total;
  }
  static inline fs::path* dir_;
  static inline advx::gen::GenResult* result_;
  static inline simdjson::padded_string* manifest_;
  static inline simdjson::dom::parser* parser_;
  static inline simdjson::dom::element doc_;
};

TEST_F(GenRun, ManifestAddsUp) {
  for (std::string_view s : {"impressions", "clicks_conversions", "bid_requests"}) {
    const uint64_t rejected = sum(s, "rejected"), filtered = sum(s, "filtered");
    EXPECT_EQ(get(s, "read"), get(s, "stored") + rejected + filtered + get(s, "duplicates")) << s;
    EXPECT_EQ(rejected, get(s, "rejected_total")) << s;
    EXPECT_EQ(filtered, get(s, "filtered_total")) << s;
    EXPECT_LE(get(s, "duplicate_conflicts"), get(s, "duplicates")) << s;
    EXPECT_GT(get(s, "duplicates"), 0u) << s;
  }
  EXPECT_EQ(get("clicks_conversions", "stored"),
            get("clicks_conversions", "stored_clicks") + get("clicks_conversions", "stored_conversions"));
  EXPECT_GT(get("impressions", "unknown_creative"), 0u);
  uint64_t seed = 0;
  EXPECT_EQ(doc_["seed"].get_uint64().get(seed), simdjson::SUCCESS);
  EXPECT_EQ(seed, 42u);
}

TEST_F(GenRun, FilesHoldExactlyTheReadCounts) {
  uint64_t lines = 0, bad_json = 0, bots = 0, future = 0, dup_ids = 0, dup_lines = 0;
  std::set<std::string> ids, lines_seen;
  simdjson::dom::parser p;
  auto imp_files = files_in(*dir_ / "impressions");
  EXPECT_EQ(imp_files.size(), 3u);
  for (const auto& f : imp_files) {
    std::istringstream in(slurp(f));
    std::string line;
    while (std::getline(in, line)) {
      if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
      ++lines;
      simdjson::dom::element e;
      if (p.parse(line).get(e) != simdjson::SUCCESS) {
        ++bad_json;
        continue;
      }
      if (line.find("bot") != line.npos || line.find("Bot") != line.npos || line.find("spider") != line.npos)
        ++bots;
      if (line.find("\"2099-") != line.npos) ++future;
      std::string_view id;
      if (e["impression_id"].get_string().get(id) == simdjson::SUCCESS) {
        if (!ids.insert(std::string(id)).second) ++dup_ids;
      } else if (!lines_seen.insert(line).second) {
        ++dup_lines;
      }
    }
  }
  EXPECT_EQ(lines, get("impressions", "read"));
  EXPECT_EQ(bad_json, doc_["impressions"]["rejected"]["malformed_json"].get_uint64().value());
  EXPECT_EQ(bots, doc_["impressions"]["filtered"]["bot_user_agent"].get_uint64().value());
  EXPECT_EQ(future, doc_["impressions"]["rejected"]["future_timestamp"].get_uint64().value());
  EXPECT_EQ(dup_ids + dup_lines, get("impressions", "duplicates"));

  uint64_t rows = 0;
  for (const auto& f : files_in(*dir_ / "clicks_conversions")) rows += csv_records(slurp(f));
  EXPECT_EQ(rows, get("clicks_conversions", "read"));

  AvroStats total;
  for (const auto& f : files_in(*dir_ / "bid_requests")) {
    const AvroStats st = read_avro(f);
    total.records += st.records;
    total.bots += st.bots;
    total.future += st.future;
  }
  EXPECT_EQ(total.records, get("bid_requests", "read"));
  EXPECT_EQ(total.bots, doc_["bid_requests"]["filtered"]["bot_user_agent"].get_uint64().value());
  EXPECT_EQ(total.future, doc_["bid_requests"]["rejected"]["future_timestamp"].get_uint64().value());
}

TEST_F(GenRun, FunnelIsRealistic) {
  const auto& r = *result_;
  const double win = double(r.funnel_bids_won) / double(r.funnel_bid_requests);
  EXPECT_GT(win, 0.30);
  EXPECT_LT(win, 0.50);
  const double ctr = double(r.funnel_clicks) / double(r.impressions.stored);
  EXPECT_GT(ctr, 0.005);
  EXPECT_LT(ctr, 0.03);
  const double cvr = double(r.funnel_conversions_click_through) / double(r.funnel_clicks);
  EXPECT_GT(cvr, 0.04);
  EXPECT_LT(cvr, 0.16);
  EXPECT_GT(r.funnel_conversions_view_through, 0u);
  const double users = double(r.distinct_users) / double(r.funnel_impressions);
  EXPECT_GT(users, 0.25);
  EXPECT_LT(users, 0.45);
  // Rates of injected defects near what was asked.
  const double bots = double(r.impressions.by_reason[size_t(advx::Reason::bot_user_agent)]) / 50000.0;
  EXPECT_NEAR(bots, 0.02, 0.005);
  EXPECT_NEAR(double(r.impressions.duplicates) / 50000.0, 0.02, 0.005);
}

TEST_F(GenRun, DimensionsCoverTheCreatives) {
  const std::string creatives = slurp(*dir_ / "dims" / "creatives.csv");
  EXPECT_TRUE(creatives.starts_with("creative_id,campaign_id,format,width,height\n"));
  const std::string campaigns = slurp(*dir_ / "dims" / "campaigns.csv");
  EXPECT_TRUE(
      campaigns.starts_with("campaign_id,advertiser_id,campaign_name,start_date,end_date,currency\n"));
  EXPECT_NE(campaigns.find("\"Black Friday, Mobile\""), std::string::npos);
  EXPECT_EQ(csv_records(campaigns), 40u);
}

TEST(Gen, SameSeedSameBytes) {
  const fs::path a = fs::temp_directory_path() / ("advx_gen_test_det_a_" + std::to_string(getpid()));
  const fs::path b = fs::temp_directory_path() / ("advx_gen_test_det_b_" + std::to_string(getpid()));
  run_gen(a, 3000, 2);
  run_gen(b, 3000, 2);
  for (const char* sub : {"impressions", "clicks_conversions", "bid_requests", "dims"}) {
    const auto fa = files_in(a / sub), fb = files_in(b / sub);
    ASSERT_EQ(fa.size(), fb.size()) << sub;
    for (size_t i = 0; i < fa.size(); ++i) EXPECT_TRUE(slurp(fa[i]) == slurp(fb[i])) << fa[i];
  }
  EXPECT_EQ(slurp(a / "_manifest.json"), slurp(b / "_manifest.json"));
  const fs::path c = fs::temp_directory_path() / ("advx_gen_test_det_c_" + std::to_string(getpid()));
  run_gen(c, 3000, 2, 43);
  EXPECT_NE(slurp(a / "impressions" / "part-00000.jsonl"), slurp(c / "impressions" / "part-00000.jsonl"));
  fs::remove_all(a);
  fs::remove_all(b);
  fs::remove_all(c);
}

TEST(Gen, StartTimeParsing) {
  int64_t ms = 0;
  EXPECT_TRUE(advx::gen::parse_start_time("2026-11-01T00:00:00Z", ms));
  EXPECT_EQ(ms, 1793491200000);
  EXPECT_TRUE(advx::gen::parse_start_time("2026-11-01", ms));
  EXPECT_EQ(ms, 1793491200000);
  EXPECT_TRUE(advx::gen::parse_start_time("2026-11-01T02:00:00.5+02:00", ms));
  EXPECT_EQ(ms, 1793491200500);
  EXPECT_FALSE(advx::gen::parse_start_time("yesterday", ms));
  EXPECT_FALSE(advx::gen::parse_start_time("2026-13-01", ms));
}

TEST(Gen, ZeroImpressionsStillWritesEveryStream) {
  const fs::path d = fs::temp_directory_path() / ("advx_gen_test_zero_" + std::to_string(getpid()));
  const auto r = run_gen(d, 0, 0);
  EXPECT_EQ(r.impressions.read, 0u);
  EXPECT_TRUE(fs::exists(d / "impressions" / "part-00000.jsonl"));
  EXPECT_TRUE(fs::exists(d / "bid_requests" / "part-00000.avro"));
  EXPECT_TRUE(fs::exists(d / "clicks_conversions" / "part-00000.csv"));
  fs::remove_all(d);
}

}  // namespace
