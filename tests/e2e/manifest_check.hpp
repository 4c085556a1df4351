// What `advx gen` promises in _manifest.json against what `advx ingest --json` reported: the same
// counts per stream and reason. Shared by the generated-data and the incident tests.
#pragma once
#include <gtest/gtest.h>
#include <simdjson.h>

#include <string>

namespace advx::test {

inline uint64_t count_at(simdjson::dom::element root, const std::string& pointer) {
  uint64_t v = ~0ull;
  if (root.at_pointer(pointer).get(v)) ADD_FAILURE() << "no count at " << pointer;
  return v;
}

inline void expect_matches_manifest(simdjson::dom::element summary, simdjson::dom::element manifest) {
  for (const char* stream : {"impressions", "clicks_conversions", "bid_requests"}) {
    const std::string s = std::string("/streams/") + stream;
    const std::string m = std::string("/") + stream;
    SCOPED_TRACE(stream);
    EXPECT_GT(count_at(manifest, m + "/read"), 0u);
    for (const char* key : {"read", "stored", "duplicates", "duplicate_conflicts"})
      EXPECT_EQ(count_at(summary, s + "/" + key), count_at(manifest, m + "/" + key)) << key;
    EXPECT_EQ(count_at(summary, s + "/rejected"), count_at(manifest, m + "/rejected_total"));
    EXPECT_EQ(count_at(summary, s + "/filtered"), count_at(manifest, m + "/filtered_total"));
    for (const char* group : {"rejected", "filtered"}) {
      simdjson::dom::object reasons;
      ASSERT_FALSE(manifest.at_pointer(m + "/" + group).get(reasons));
      for (auto [reason, value] : reasons) {
        uint64_t expected = 0;
        ASSERT_FALSE(value.get(expected));
        uint64_t got = 0;
        auto found = summary.at_pointer(s + "/" + group + "_by_reason/" + std::string(reason));
        if (!found.error()) {
          ASSERT_FALSE(found.get(got));
        }
        EXPECT_EQ(got, expected) << group << " " << reason;
      }
    }
  }
  EXPECT_EQ(count_at(summary, "/streams/clicks_conversions/stored_clicks"),
            count_at(manifest, "/clicks_conversions/stored_clicks"));
  EXPECT_EQ(count_at(summary, "/streams/clicks_conversions/stored_conversions"),
            count_at(manifest, "/clicks_conversions/stored_conversions"));
  EXPECT_EQ(count_at(summary, "/streams/impressions/unknown_creative"),
            count_at(manifest, "/impressions/unknown_creative"));
}

}  // namespace advx::test
