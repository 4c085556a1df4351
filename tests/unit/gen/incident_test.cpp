#include <unistd.h>

// `advx gen --incident`: the syntax, and that an incident changes its own stream only, deterministically,
// with a manifest that still adds up. What the incidents do to the stored data:
// tests/e2e/gen_incident_test.cpp.
#include <gtest/gtest.h>
#include <simdjson.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "gen/generator.hpp"

namespace {

namespace fs = std::filesystem;
using advx::gen::GenStream;
using advx::gen::Incident;
using advx::gen::IncidentKind;

constexpr int64_t kStart = 1793491200000;  // 2026-11-01T00:00:00Z
constexpr int64_t kMinute = 60000, kHour = 60 * kMinute;

std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

Incident parse_ok(const std::string& text, int days = 1) {
  Incident in;
  std::string error;
  EXPECT_TRUE(advx::gen::parse_incident(text, kStart, days, 40, in, error)) << text << ": " << error;
  return in;
}

std::string parse_error(const std::string& text) {
  Incident in;
  std::string error;
  EXPECT_FALSE(advx::gen::parse_incident(text, kStart, 1, 40, in, error)) << text;
  EXPECT_EQ(error.find('\n'), std::string::npos) << error;
  return error;
}

TEST(IncidentSyntax, EveryKindWithItsDefaults) {
  Incident s = parse_ok("silent@10:00/30m,stream=impressions");
  EXPECT_EQ(s.kind, IncidentKind::silent);
  EXPECT_EQ(s.stream, GenStream::impressions);
  EXPECT_EQ(s.start_ms, kStart + 10 * kHour);
  EXPECT_EQ(s.end_ms, kStart + 10 * kHour + 30 * kMinute);
  EXPECT_EQ(s.spec, "silent@10:00/30m,stream=impressions");

  Incident d = parse_ok("delay@23:00/1h,stream=bid_requests");
  EXPECT_EQ(d.kind, IncidentKind::delay);
  EXPECT_EQ(d.stream, GenStream::bid_requests);
  EXPECT_EQ(d.lag_ms, 20 * kMinute);
  EXPECT_EQ(d.share, 0.5);
  d = parse_ok("delay@00:00:30/90s,stream=clicks_conversions,share=1,lag=1h30m");
  EXPECT_EQ(d.start_ms, kStart + 30000);
  EXPECT_EQ(d.end_ms, kStart + 120000);
  EXPECT_EQ(d.lag_ms, 90 * kMinute);
  EXPECT_EQ(d.share, 1.0);

  Incident c = parse_ok("ctr_spike@06:00/2h");
  EXPECT_EQ(c.kind, IncidentKind::ctr_spike);
  EXPECT_EQ(c.campaign_id, 0);  // the first campaign
  EXPECT_EQ(c.factor, 10.0);
  c = parse_ok("ctr_spike@06:00/2h,campaign=1040,factor=2.5");
  EXPECT_EQ(c.campaign_id, 1040);
  EXPECT_EQ(c.factor, 2.5);

  Incident o = parse_ok("orphan_clicks@2026-11-01T08:00:00Z/2h");
  EXPECT_EQ(o.kind, IncidentKind::orphan_clicks);
  EXPECT_EQ(o.start_ms, kStart + 8 * kHour);
  EXPECT_EQ(o.share, 0.3);
  o = parse_ok("orphan_clicks@2026-11-01T10:00:00+02:00/2h,share=0.25");
  EXPECT_EQ(o.start_ms, kStart + 8 * kHour);
  EXPECT_EQ(o.share, 0.25);

  Incident m = parse_ok("malformed@12:00/1h,stream=clicks_conversions");
  EXPECT_EQ(m.kind, IncidentKind::malformed);
  EXPECT_EQ(m.stream, GenStream::clicks_conversions);
  EXPECT_EQ(m.share, 0.5);

  // HH:MM is on the first day; a later day needs the full time.
  EXPECT_EQ(parse_ok("silent@2026-11-02T23:00:00Z/1h,stream=bid_requests", 2).end_ms, kStart + 48 * kHour);
}

TEST(IncidentSyntax, ClearErrors) {
  EXPECT_NE(parse_error("silent").find("expected KIND@START/DURATION"), std::string::npos);
  EXPECT_NE(parse_error("flood@10:00/1h").find("unknown kind 'flood'"), std::string::npos);
  EXPECT_NE(parse_error("silent@10:00/1h").find("needs stream="), std::string::npos);
  EXPECT_NE(parse_error("silent@10:00/1h,stream=logs").find("stream must be"), std::string::npos);
  EXPECT_NE(parse_error("silent@24:00/1h,stream=impressions").find("bad time of day"), std::string::npos);
  EXPECT_NE(parse_error("silent@noon/1h,stream=impressions").find("START must be"), std::string::npos);
  EXPECT_NE(parse_error("silent@10:00/1y,stream=impressions").find("DURATION must be"), std::string::npos);
  EXPECT_NE(parse_error("silent@10:00/0m,stream=impressions").find("DURATION must be"), std::string::npos);
  EXPECT_NE(parse_error("silent@10:00/1h,stream=impressions,share=0.5").find("unknown key 'share'"),
            std::string::npos);
  EXPECT_NE(parse_error("silent@10:00/1h,stream=impressions,stream=impressions").find("given twice"),
            std::string::npos);
  EXPECT_NE(parse_error("delay@10:00/1h,stream=impressions,lag").find("expected key=value"),
            std::string::npos);
  EXPECT_NE(parse_error("delay@10:00/1h,stream=impressions,lag=soon").find("lag must be"), std::string::npos);
  for (const char* share : {"0", "-0.1", "1.01", "x", "0.5x"})
    EXPECT_NE(parse_error(std::string("malformed@10:00/1h,stream=impressions,share=") + share)
                  .find("share must be"),
              std::string::npos)
        << share;
  EXPECT_NE(parse_error("ctr_spike@10:00/1h,factor=1").find("factor must be"), std::string::npos);
  EXPECT_NE(parse_error("ctr_spike@10:00/1h,campaign=1041").find("1001..1040"), std::string::npos);
  EXPECT_NE(parse_error("ctr_spike@10:00/1h,stream=impressions").find("unknown key 'stream'"),
            std::string::npos);
  // Windows outside the generated day.
  EXPECT_NE(parse_error("silent@23:30/1h,stream=impressions").find("outside the generated range"),
            std::string::npos);
  EXPECT_NE(parse_error("silent@2026-10-31T23:00:00Z/2h,stream=impressions").find("outside"),
            std::string::npos);
  EXPECT_NE(parse_error("silent@2026-11-02T01:00:00Z/1h,stream=impressions").find("outside"),
            std::string::npos);
}

advx::gen::GenResult run_gen(const fs::path& dir, const std::vector<std::string>& incidents) {
  fs::remove_all(dir);
  advx::gen::GenOptions o;
  o.out_dir = dir.string();
  o.impressions = 30000;
  o.seed = 9;
  for (const auto& text : incidents) {
    Incident in;
    std::string error;
    EXPECT_TRUE(advx::gen::parse_incident(text, o.start_ms, o.days, o.campaigns, in, error)) << error;
    o.incidents.push_back(in);
  }
  return advx::gen::generate(o);
}

fs::path tmp(const std::string& name) {
  return fs::temp_directory_path() / ("advx_gen_incident_" + name + "_" + std::to_string(getpid()));
}

std::string stream_dir(GenStream s) {
  return s == GenStream::impressions    ? "impressions"
         : s == GenStream::bid_requests ? "bid_requests"
                                        : "clicks_conversions";
}
std::string stream_file(GenStream s) {
  return stream_dir(s) + (s == GenStream::impressions    ? "/part-00000.jsonl"
                          : s == GenStream::bid_requests ? "/part-00000.avro"
                                                         : "/part-00000.csv");
}

// Incidents draw from random streams of their own: the streams an incident does not touch come out byte for
// byte as without it, and the one it touches differs.
TEST(Incidents, TouchTheirOwnStreamOnly) {
  const fs::path base = tmp("base");
  run_gen(base, {});
  struct Case {
    std::string spec;
    GenStream touched;
  };
  const std::vector<Case> cases = {
      {"silent@10:00/30m,stream=impressions", GenStream::impressions},
      {"silent@10:00/30m,stream=clicks_conversions", GenStream::clicks_conversions},
      {"silent@10:00/30m,stream=bid_requests", GenStream::bid_requests},
      {"delay@10:00/1h,stream=impressions", GenStream::impressions},
      {"delay@10:00/1h,stream=clicks_conversions", GenStream::clicks_conversions},
      {"delay@10:00/1h,stream=bid_requests", GenStream::bid_requests},
      {"malformed@10:00/1h,stream=impressions", GenStream::impressions},
      {"malformed@10:00/1h,stream=clicks_conversions", GenStream::clicks_conversions},
      {"malformed@10:00/1h,stream=bid_requests", GenStream::bid_requests},
      {"ctr_spike@06:00/6h", GenStream::clicks_conversions},
      {"orphan_clicks@06:00/6h", GenStream::clicks_conversions},
  };
  const fs::path dir = tmp("one");
  for (const Case& c : cases) {
    SCOPED_TRACE(c.spec);
    run_gen(dir, {c.spec});
    for (GenStream s : {GenStream::impressions, GenStream::clicks_conversions, GenStream::bid_requests}) {
      const bool same = slurp(base / stream_file(s)) == slurp(dir / stream_file(s));
      EXPECT_EQ(same, s != c.touched) << stream_dir(s);
    }
    EXPECT_EQ(slurp(base / "dims/campaigns.csv"), slurp(dir / "dims/campaigns.csv"));
  }
  fs::remove_all(base);
  fs::remove_all(dir);
}

TEST(Incidents, SameOptionsSameBytes) {
  const std::vector<std::string> all = {"silent@01:00/30m,stream=impressions",
                                        "silent@02:00/30m,stream=clicks_conversions",
                                        "silent@03:00/30m,stream=bid_requests",
                                        "delay@04:00/1h,stream=impressions",
                                        "delay@04:00/1h,stream=clicks_conversions",
                                        "delay@04:00/1h,stream=bid_requests",
                                        "ctr_spike@06:00/2h,factor=20",
                                        "orphan_clicks@08:00/2h",
                                        "malformed@10:00/1h,stream=impressions",
                                        "malformed@11:00/1h,stream=clicks_conversions",
                                        "malformed@12:00/1h,stream=bid_requests"};
  const fs::path a = tmp("det_a"), b = tmp("det_b");
  run_gen(a, all);
  run_gen(b, all);
  for (GenStream s : {GenStream::impressions, GenStream::clicks_conversions, GenStream::bid_requests})
    EXPECT_TRUE(slurp(a / stream_file(s)) == slurp(b / stream_file(s))) << stream_dir(s);
  EXPECT_EQ(slurp(a / "_manifest.json"), slurp(b / "_manifest.json"));
  fs::remove_all(a);
  fs::remove_all(b);
}

// The manifest lists each incident with what it did, and every stream still adds up; the JSON lines hold
// exactly the counts it gives, the corrupted ones included.
TEST(Incidents, ManifestListsThemAndStillAddsUp) {
  const fs::path dir = tmp("manifest");
  const auto r =
      run_gen(dir, {"silent@01:00/30m,stream=impressions", "delay@04:00/1h,stream=clicks_conversions",
                    "ctr_spike@06:00/2h,campaign=1003,factor=20", "orphan_clicks@08:00/2h",
                    "malformed@10:00/1h,stream=impressions,share=0.4"});
  ASSERT_EQ(r.incidents.size(), 5u);
  EXPECT_GT(r.incidents[0].dropped, 0u);
  EXPECT_GT(r.incidents[1].delayed, 0u);
  EXPECT_GT(r.incidents[2].extra_clicks, 0u);
  EXPECT_GT(r.incidents[3].orphan_clicks, 0u);
  EXPECT_GT(r.incidents[4].malformed, 0u);
  const std::string text = slurp(dir / "_manifest.json");
  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  ASSERT_EQ(parser.parse(text).get(doc), simdjson::SUCCESS) << text;
  simdjson::dom::array list;
  ASSERT_EQ(doc["incidents"].get(list), simdjson::SUCCESS);
  ASSERT_EQ(list.size(), 5u);
  std::string_view v;
  EXPECT_EQ(doc.at_pointer("/incidents/0/kind").get(v), simdjson::SUCCESS);
  EXPECT_EQ(v, "silent");
  EXPECT_EQ(doc.at_pointer("/incidents/0/stream").get(v), simdjson::SUCCESS);
  EXPECT_EQ(v, "impressions");
  EXPECT_EQ(doc.at_pointer("/incidents/0/start").get(v), simdjson::SUCCESS);
  EXPECT_EQ(v, "2026-11-01T01:00:00Z");
  EXPECT_EQ(doc.at_pointer("/incidents/0/end").get(v), simdjson::SUCCESS);
  EXPECT_EQ(v, "2026-11-01T01:30:00Z");
  EXPECT_EQ(doc.at_pointer("/incidents/0/dropped").get_uint64().value(), r.incidents[0].dropped);
  EXPECT_EQ(doc.at_pointer("/incidents/1/lag_seconds").get_uint64().value(), 1200u);
  EXPECT_EQ(doc.at_pointer("/incidents/1/delayed").get_uint64().value(), r.incidents[1].delayed);
  EXPECT_EQ(doc.at_pointer("/incidents/2/campaign_id").get_uint64().value(), 1003u);
  EXPECT_EQ(doc.at_pointer("/incidents/2/stream").get(v), simdjson::SUCCESS);
  EXPECT_EQ(v, "clicks_conversions");
  EXPECT_EQ(doc.at_pointer("/incidents/2/extra_clicks").get_uint64().value(), r.incidents[2].extra_clicks);
  EXPECT_EQ(doc.at_pointer("/incidents/3/orphan_clicks").get_uint64().value(), r.incidents[3].orphan_clicks);
  EXPECT_EQ(doc.at_pointer("/incidents/4/share").get_double().value(), 0.4);
  EXPECT_EQ(doc.at_pointer("/incidents/4/malformed").get_uint64().value(), r.incidents[4].malformed);

  for (const auto* s : {&r.impressions, &r.clicks_conversions, &r.bid_requests})
    EXPECT_EQ(s->read, s->stored + s->rejected() + s->filtered() + s->duplicates);
  EXPECT_EQ(r.clicks_conversions.stored, r.stored_clicks + r.stored_conversions);

  uint64_t lines = 0, bad = 0;
  simdjson::dom::parser p;
  std::istringstream in(slurp(dir / "impressions/part-00000.jsonl"));
  std::string line;
  while (std::getline(in, line)) {
    ++lines;
    simdjson::dom::element e;
    if (p.parse(line).get(e) != simdjson::SUCCESS) ++bad;
  }
  EXPECT_EQ(lines, r.impressions.read);
  EXPECT_EQ(bad, r.impressions.by_reason[size_t(advx::Reason::malformed_json)]);
  // Roughly 40 % of an hour (1/24 of 30000 records), on top of the usual 0.1 %.
  EXPECT_NEAR(double(r.incidents[4].malformed), 0.4 * 30000 / 24, 100);
  EXPECT_NEAR(double(r.incidents[0].dropped), 30000.0 / 48, 100);
  fs::remove_all(dir);
}

TEST(Incidents, InvalidOnesThrowFromGenerate) {
  advx::gen::GenOptions o;
  o.out_dir = tmp("invalid").string();
  o.impressions = 100;
  Incident in;
  in.kind = IncidentKind::silent;
  in.spec = "by hand";
  in.start_ms = o.start_ms - kHour;
  in.end_ms = o.start_ms + kHour;
  o.incidents.push_back(in);
  EXPECT_THROW(advx::gen::generate(o), std::runtime_error);
  fs::remove_all(o.out_dir);
}

}  // namespace
