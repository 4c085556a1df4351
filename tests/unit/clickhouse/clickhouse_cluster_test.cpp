// ClickHouseClusterStore against two real clickhouse-server 18.16 processes as the two shards of cluster
// `advx` (tests/support/clickhouse_server.hpp): the shard hash is the server's sipHash64, rows land on the
// shard of their user (as the Distributed tables' key says), dedup keys on the shard of their source with
// exact Kafka positions, a failure between two shards' inserts replays to each row once, a bid request
// is won by an impression of another shard, and a URL that disagrees with <remote_servers> is refused.
#include "store/clickhouse/clickhouse_cluster.hpp"

#include <gtest/gtest.h>

#include <map>
#include <memory>
#include <set>
#include <string>

#include "clickhouse_fixture.hpp"
#include "core/table_buffer.hpp"
#include "core/time_util.hpp"
#include "store/clickhouse/clickhouse_schema.hpp"

namespace advx::test {
namespace {

using Code = StoreErrorCode;
constexpr int64_t kDec3 = 20425 * kMicrosPerDay;  // 2025-12-03 00:00:00 UTC

class ClickHouseClusterTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    try {
      cluster_ = new ClickHouseCluster();
      cluster_->start();
    } catch (const std::exception& e) {
      start_error_ = e.what();
    }
  }
  static void TearDownTestSuite() {
    delete cluster_;
    cluster_ = nullptr;
  }
  void SetUp() override { ASSERT_TRUE(start_error_.empty()) << start_error_; }

  static std::unique_ptr<ClickHouseClusterStore> open(const std::string& db) {
    auto s = std::make_unique<ClickHouseClusterStore>(cluster_->url(db));
    s->ensure_schema();
    return s;
  }
  static int64_t scalar(ClickHouseStore& s, const std::string& sql) {
    return s.query(sql).columns.at(0).int_at(0);
  }

  inline static ClickHouseCluster* cluster_ = nullptr;
  inline static std::string start_error_;
};

// Events of many users, one record each, as an ingest of `source` writes them: an impression, a click and
// a dedup key per record; every 7th record has no user (its rows go by source).
struct UserRows {
  TableBuffer impressions{tables::kImpressions};
  TableBuffer clicks{tables::kClicks};
  TableBuffer dedup{tables::kDedupState};

  void add(const std::string& source, uint64_t first, size_t n) {
    using namespace col;
    for (uint64_t rec = first; rec < first + n; rec++) {
      const int64_t t = kDec3 + int64_t(rec) * 1'000'000;
      const std::string key = "k" + std::to_string(rec), user = "user-" + std::to_string(rec * 31);
      const bool has_user = rec % 7 != 0;
      size_t r = impressions.add_row();
      impressions.set_owned_str(imp_event_key, r, key);
      impressions.set_i64(imp_event_time, r, t);
      impressions.set_i32(imp_event_date, r, date_of(t));
      impressions.set_u8(imp_event_hour, r, hour_of(t));
      impressions.set_owned_str(imp_campaign_id, r, "camp-" + std::to_string(rec % 3));
      if (has_user) impressions.set_owned_str(imp_user_id, r, user);
      impressions.set_owned_str(imp_source, r, source);
      impressions.set_u64(imp_source_record, r, rec);
      impressions.set_i64(imp_ingested_at, r, kDec3);

      r = clicks.add_row();
      clicks.set_owned_str(ev_event_key, r, key);
      clicks.set_i64(ev_event_time, r, t);
      clicks.set_i32(ev_event_date, r, date_of(t));
      clicks.set_u8(ev_event_hour, r, hour_of(t));
      if (has_user) clicks.set_owned_str(ev_user_id, r, user);
      clicks.set_owned_str(clk_source, r, source);
      clicks.set_u64(clk_source_record, r, rec);
      clicks.set_i64(clk_ingested_at, r, kDec3);

      r = dedup.add_row();
      dedup.set_u8(dd_stream, r, 0);
      dedup.set_u64(dd_key_hi, r, 0x9e3779b97f4a7c15ULL * (rec + 1));
      dedup.set_u64(dd_key_lo, r, rec);
      dedup.set_i64(dd_event_time, r, t);
      dedup.set_u64(dd_payload_hash, r, rec * 7);
      dedup.set_owned_str(dd_source, r, source);
      dedup.set_u64(dd_source_record, r, rec);
    }
  }
  void commit_all(Store& s) {
    s.begin();
    s.append(impressions.slice());
    s.append(clicks.slice());
    s.append(dedup.slice());
    s.commit();
  }
};

// The hex of `bytes`, for unhex() in SQL: any byte reaches the server as it is.
std::string hex(std::string_view bytes) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (const unsigned char c : bytes) out.append(1, kHex[c >> 4]).append(1, kHex[c & 15]);
  return out;
}

TEST_F(ClickHouseClusterTest, ShardHashIsTheServersSipHash64) {
  std::vector<std::string> texts = {"",
                                    "a",
                                    "ab",
                                    "abc",
                                    "user-1",
                                    "héllo",
                                    "☃ snowman",
                                    "日本語のユーザー",
                                    std::string("\0x\0", 3),
                                    "\xff\xfe\x80",
                                    "kafka:imps/0",
                                    "u-0123456789ab"};
  uint64_t x = 0x243f6a8885a308d3ULL;
  for (size_t len = 0; len < 70; len++) {  // every tail length 0-7, several 8-byte blocks
    std::string s;
    for (size_t i = 0; i < len; i++) {
      x = x * 6364136223846793005ULL + 1442695040888963407ULL;
      s += char(x >> 56);
    }
    texts.push_back(s);
  }
  for (int i = 0; i < 300; i++) texts.push_back(std::to_string(uint64_t(i) * 2654435761ULL));
  std::string list;
  for (const std::string& t : texts) list += (list.empty() ? "'" : ", '") + hex(t) + "'";
  clickhouse::HttpClient client(clickhouse::parse_url(cluster_->server(0).url()));
  const ResultTable r = client.query("SELECT h, toString(sipHash64(unhex(h))) AS v FROM (SELECT arrayJoin([" +
                                     list + "]) AS h)");
  ASSERT_EQ(r.rows(), texts.size());
  std::map<std::string, std::string> server;
  for (size_t i = 0; i < r.rows(); i++) server[r.column("h").texts[i]] = r.column("v").texts[i];
  for (const std::string& t : texts)
    EXPECT_EQ(std::to_string(clickhouse::sip_hash64(t)), server[hex(t)])
        << "text of " << t.size() << " bytes";
}

TEST_F(ClickHouseClusterTest, RowsLandOnTheShardOfTheirUserAsTheDistributedKeySays) {
  auto s = open("cl_rows");
  EXPECT_EQ(s->url(), cluster_->url("cl_rows"));
  UserRows batch;
  batch.add("a.jsonl", 1, 200);
  batch.commit_all(*s);
  int64_t total = 0;
  for (size_t i = 0; i < 2; i++) {
    SCOPED_TRACE(i);
    ClickHouseStore& shard = s->shard(i);
    EXPECT_EQ(shard.database(), "cl_rows_shard");
    for (const char* table : {"impressions", "clicks"}) {
      const int64_t n = scalar(shard, std::string("SELECT count() FROM cl_rows_shard.") + table);
      EXPECT_GT(n, 40);  // both shards hold a share
      // The server's own sharding expression puts each of them here.
      EXPECT_EQ(scalar(shard, std::string("SELECT count() FROM cl_rows_shard.") + table +
                                  " WHERE sipHash64(ifNull(user_id, ifNull(source, ''))) % 2 != " +
                                  std::to_string(i)),
                0);
      if (std::string_view(table) == "impressions") total += n;
    }
    // A user's impressions and clicks are on one shard.
    EXPECT_EQ(scalar(shard,
                     "SELECT count() FROM cl_rows_shard.clicks WHERE user_id IS NOT NULL AND user_id NOT IN "
                     "(SELECT user_id FROM cl_rows_shard.impressions WHERE user_id IS NOT NULL)"),
              0);
  }
  EXPECT_EQ(total, 200);
  EXPECT_EQ(scalar(s->entry(), "SELECT count() FROM cl_rows.impressions"), 200);
  // A row inserted through the Distributed table (synchronously) goes where advx would send it.
  for (const std::string user : {"someone", "someone else", "x"}) {
    s->entry().client().execute(
        "INSERT INTO cl_rows.impressions (event_key, event_time_us, event_date, user_id) VALUES ('d-" + user +
            "', 0, '1970-01-01', '" + user + "')",
        {{"insert_distributed_sync", "1"}});
    const size_t want = clickhouse::sip_hash64(user) % 2;
    EXPECT_EQ(scalar(s->shard(want),
                     "SELECT count() FROM cl_rows_shard.impressions WHERE user_id = '" + user + "'"),
              1)
        << user;
  }
}

TEST_F(ClickHouseClusterTest, DedupKeysGoToTheShardOfTheirSourceAndKafkaPositionsAreExact) {
  auto s = open("cl_dedup");
  std::map<std::string, uint64_t> last;
  for (int p = 0; p < 6; p++) {
    UserRows batch;
    const std::string source = "kafka:imps/" + std::to_string(p);
    batch.add(source, 100 * uint64_t(p), 10 + size_t(p));
    batch.commit_all(*s);
    last[source] = 100 * uint64_t(p) + 10 + uint64_t(p) - 1;
  }
  std::set<size_t> used;
  for (const auto& [source, record] : last) {
    const size_t home = clickhouse::sip_hash64(source) % 2;
    used.insert(home);
    EXPECT_EQ(scalar(s->shard(home),
                     "SELECT count() FROM cl_dedup_shard.advx_dedup_state WHERE source = '" + source + "'"),
              int64_t(record % 100 + 1))
        << source;
    EXPECT_EQ(scalar(s->shard(1 - home),
                     "SELECT count() FROM cl_dedup_shard.advx_dedup_state WHERE source = '" + source + "'"),
              0)
        << source;
  }
  EXPECT_EQ(used.size(), 2u);  // the six partitions are not all on one shard
  const std::vector<StoredKafkaOffset> pos = s->kafka_positions();
  ASSERT_EQ(pos.size(), 6u);
  for (const StoredKafkaOffset& k : pos)
    EXPECT_EQ(uint64_t(k.next_offset), last["kafka:" + k.topic + "/" + std::to_string(k.partition)] + 1);
  // Every key once, from both shards; a fleet worker's scope reads its partitions' keys only.
  size_t keys = 0;
  s->scan_dedup_state([&](uint8_t, uint64_t, uint64_t, int64_t, uint64_t) { keys++; });
  EXPECT_EQ(keys, size_t(10 + 11 + 12 + 13 + 14 + 15));
  keys = 0;
  s->scan_dedup_state(DedupScope::of_kafka_sources({"kafka:imps/2", "kafka:imps/5"}),
                      [&](uint8_t, uint64_t, uint64_t, int64_t, uint64_t) { keys++; });
  EXPECT_EQ(keys, size_t(12 + 15));
  // Claims live on the first shard.
  const std::pair<std::string, int32_t> parts[] = {{"imps", 0}, {"imps", 1}};
  s->claim_kafka_partitions(parts, "w1", 1);
  const std::vector<KafkaClaim> claims = s->claim_kafka_partitions(parts, "w2", 2);
  EXPECT_EQ(claims.at(0).epoch, 2);
  EXPECT_EQ(s->kafka_claims().size(), 2u);
  EXPECT_EQ(s->kafka_claims().at(1).member, "w2");
}

// A failed insert leaves what a crash at that moment would (the inserts before it stored, none after);
// a restarted store replays the whole batch and every row is stored once.
TEST_F(ClickHouseClusterTest, FailureBetweenShardInsertsThenReplayStoresEachRowOnce) {
  struct Point {
    const char* name;
    size_t shard;
    const char* table;
  };
  const Point points[] = {{"before shard 2's rows", 1, "impressions"},
                          {"between shard 2's tables", 1, "clicks"},
                          {"before the dedup keys", 0, "advx_dedup_state"},
                          {"between the shards' dedup keys", 1, "advx_dedup_state"}};
  int n = 0;
  for (const Point& p : points) {
    SCOPED_TRACE(p.name);
    const std::string db = "cl_fail" + std::to_string(n++);
    // Two Kafka partitions, one a shard: dedup keys on both.
    std::string on[2];
    for (int k = 0; on[0].empty() || on[1].empty(); k++) {
      const std::string source = "kafka:imps/" + std::to_string(k);
      std::string& slot = on[clickhouse::sip_hash64(source) % 2];
      if (slot.empty()) slot = source;
    }
    UserRows batch;
    batch.add(on[0], 1, 60);
    batch.add(on[1], 61, 60);
    {
      auto s = open(db);
      s->shard(p.shard).execute("DROP TABLE " + db + "_shard." + p.table);
      EXPECT_EQ(code_of([&] { batch.commit_all(*s); }), Code::not_found);
    }
    auto s = open(db);  // the restart (ensure_schema makes the table again)
    batch.commit_all(*s);
    for (const char* table : {"impressions", "clicks", "advx_dedup_state"}) {
      SCOPED_TRACE(table);
      EXPECT_EQ(scalar(s->entry(), "SELECT count() FROM " + db + "." + table), 120);
      EXPECT_EQ(scalar(s->entry(), "SELECT uniqExact(source, source_record) FROM " + db + "." + table), 120);
    }
    const std::vector<StoredKafkaOffset> pos = s->kafka_positions();
    ASSERT_EQ(pos.size(), 2u);
    for (const StoredKafkaOffset& k : pos)
      EXPECT_EQ(k.next_offset, "kafka:imps/" + std::to_string(k.partition) == on[0] ? 61 : 121);
  }
}

// A bid request without a user_id goes by its source; the impression naming its auction by its user, to
// the other shard here: the bid request's shard finds it through the Distributed impressions.
TEST_F(ClickHouseClusterTest, BidRequestWonByAnImpressionOnTheOtherShard) {
  auto s = open("cl_won");
  using namespace col;
  std::string user, source;
  for (int i = 0; user.empty() || clickhouse::sip_hash64(user) % 2 == clickhouse::sip_hash64(source) % 2;
       i++) {
    user = "u" + std::to_string(i);
    source = "bids-" + std::to_string(i * 7) + ".avro";
  }
  const int64_t t = kDec3 + 3600LL * 1'000'000;
  TableBuffer bids(tables::kBidRequests), imps(tables::kImpressions);
  size_t r = bids.add_row();
  bids.set_str(bid_auction_id, r, "auction-1");
  bids.set_i64(bid_event_time, r, t - 1000);
  bids.set_i32(bid_event_date, r, date_of(t));
  bids.set_u8(bid_event_hour, r, hour_of(t));
  bids.set_str(bid_source, r, source);
  bids.set_u64(bid_source_record, r, 1);
  bids.set_i64(bid_ingested_at, r, kDec3);
  bids.set_bool(bid_won, r, false);
  r = imps.add_row();
  imps.set_str(imp_event_key, r, "imp-1");
  imps.set_i64(imp_event_time, r, t);
  imps.set_i32(imp_event_date, r, date_of(t));
  imps.set_u8(imp_event_hour, r, hour_of(t));
  imps.set_str(imp_campaign_id, r, "camp-w");
  imps.set_str(imp_user_id, r, user);
  imps.set_str(imp_auction_id, r, "auction-1");
  imps.set_str(imp_source, r, "imps.jsonl");
  imps.set_u64(imp_source_record, r, 1);
  imps.set_i64(imp_ingested_at, r, kDec3 + 1);
  s->begin();
  s->append(bids.slice());
  s->owe_attribution(kDec3);
  s->commit();
  s->begin();
  s->append(imps.slice());
  s->owe_attribution(kDec3 + 1);
  s->commit();
  s->attribute_pending(AttributionWindows{});
  EXPECT_EQ(scalar(s->entry(), "SELECT toInt64(sum(won)) FROM (SELECT won FROM cl_won.bid_requests FINAL)"),
            1);
  EXPECT_EQ(scalar(s->entry(),
                   "SELECT toInt64(sum(bid_requests_won)) FROM (SELECT bid_requests_won FROM "
                   "cl_won.campaign_hourly FINAL WHERE campaign_id = 'camp-w')"),
            1);
}

TEST_F(ClickHouseClusterTest, AUrlThatDisagreesWithRemoteServersIsRefusedInOneLine) {
  const std::string a = "127.0.0.1:" + std::to_string(cluster_->server(0).http_port());
  const std::string b = "127.0.0.1:" + std::to_string(cluster_->server(1).http_port());
  auto e =
      store_error([&] { ClickHouseClusterStore("clickhouse://" + b + "," + a + "/cl_bad?cluster=advx"); });
  ASSERT_TRUE(e);
  EXPECT_EQ(e->code(), Code::invalid);
  EXPECT_EQ(std::string(e->what()), "ClickHouse at " + b +
                                        " is shard 2 of cluster advx, the URL lists it as shard 1: list the "
                                        "hosts in <remote_servers> order");
  e = store_error([&] { ClickHouseClusterStore("clickhouse://" + a + "/cl_bad?cluster=advx"); });
  ASSERT_TRUE(e);
  EXPECT_EQ(std::string(e->what()),
            "cluster advx has 2 shards in the <remote_servers> of " + a + ", the URL lists 1");
  e = store_error([&] { ClickHouseClusterStore("clickhouse://" + a + "," + b + "/cl_bad?cluster=other"); });
  ASSERT_TRUE(e);
  EXPECT_EQ(std::string(e->what()), "ClickHouse at " + a + " has no cluster other in its <remote_servers>");
  // A database holding a single-server store is not taken for the Distributed one.
  ClickHouseStore single(cluster_->server(1).url("cl_single"));
  single.ensure_schema();
  e = store_error([&] {
    ClickHouseClusterStore s("clickhouse://" + a + "," + b + "/cl_single?cluster=advx");
    s.ensure_schema();
  });
  ASSERT_TRUE(e);
  EXPECT_NE(std::string(e->what()).find("cl_single holds a single-server store"), std::string::npos)
      << e->what();
}

TEST(ClickHouseClusterUrl, ParsesTheShardsInOrder) {
  const clickhouse::ClusterEndpoints c =
      clickhouse::parse_cluster_url("clickhouse://me:p%40ss@h1:9001,[::1]:9002,h3/db?cluster=two_shards");
  ASSERT_EQ(c.shards.size(), 3u);
  EXPECT_EQ(c.cluster, "two_shards");
  EXPECT_EQ(c.shards[0].host, "h1");
  EXPECT_EQ(c.shards[1].host, "::1");
  EXPECT_EQ(c.shards[1].port, 9002);
  EXPECT_EQ(c.shards[2].port, 8123);
  for (const auto& ep : c.shards) {
    EXPECT_EQ(ep.user, "me");
    EXPECT_EQ(ep.password, "p@ss");
    EXPECT_EQ(ep.database, "db");
  }
  EXPECT_TRUE(clickhouse::is_cluster_url("clickhouse://a:1,b:2/db?cluster=x"));
  EXPECT_FALSE(clickhouse::is_cluster_url("clickhouse://a:1/db"));
  for (const char* bad :
       {"clickhouse://a:1,b:2/db", "clickhouse://a:1,,b:2/db?cluster=x", "clickhouse://a:1,a:1/db?cluster=x",
        "clickhouse://a:1/db?cluster=x&y=1", "clickhouse://a:1/db?cluster=bad-name"})
    EXPECT_EQ(code_of([&] { clickhouse::parse_cluster_url(bad); }), Code::invalid) << bad;
}

}  // namespace
}  // namespace advx::test
