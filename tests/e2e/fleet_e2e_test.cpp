// A fleet (issue 13, docs/FLEET.md), every part a real process: advx_test_kafka (librdkafka's mock cluster
// over TCP, three 8-partition topics, a schema registry), `advx publish` as the producer, several
// `advx serve` workers in one consumer group on ClickHouse. Workers are killed with -9 mid-stream and
// restarted, added and stopped by SIGTERM while data flows; once every partition's lag is 0, every table
// and every report equals `advx ingest` of the same files into DuckDB (rejects: less the malformed records
// publish withheld). And a producer that breaks the keying contract for some records: they are forwarded
// to their user's partition and the tables are still exact.
#include <gtest/gtest.h>
#include <librdkafka/rdkafka.h>
#include <simdjson.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <map>
#include <memory>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "../support/eventually.hpp"
#include "../support/kafka_cluster_process.hpp"
#include "cli_runner.hpp"
#include "core/kafka_partition.hpp"
#include "core/table_schema.hpp"
#include "publish_runner.hpp"
#include "serve_runner.hpp"
#include "store_target.hpp"

namespace advx::test {
namespace {

using namespace std::chrono_literals;
using advx::testing::KafkaClusterOptions;
using advx::testing::KafkaClusterProcess;

// A table's rows as both stores print them, every column but where a row came from and when it arrived:
// timestamps as epoch microseconds, booleans as 0/1, versioned ClickHouse tables through FINAL.
std::string rows_sql(const TableDef& def, bool clickhouse, const StoreTarget* ch) {
  std::string cols;
  for (const ColumnDef& c : def.columns) {
    if (c.name == "source" || c.name == "source_record" || c.name == "ingested_at") continue;
    if (def.name == tables::kRejects.name && c.name == "raw") continue;  // a CSV line travels reordered
    if (!cols.empty()) cols += ", ";
    const std::string n(c.name);
    if (c.type == ColumnType::timestamp)
      cols += clickhouse ? n + "_us" : "epoch_us(" + n + ")";
    else if (c.type == ColumnType::boolean)
      cols += clickhouse ? "toInt32(" + n + ")" : "CAST(" + n + " AS INTEGER)";
    else
      cols += n;
  }
  return "SELECT " + cols + " FROM " +
         (clickhouse ? ch->table(std::string(def.name)) : std::string(def.name));
}

std::string csv_rows(const std::vector<std::string>& store_args, const std::string& sql,
                     const std::string& dir) {
  std::vector<std::string> args = {"sql"};
  args.insert(args.end(), store_args.begin(), store_args.end());
  args.insert(args.end(), {"--format", "csv", sql});
  const CommandResult r = run_advx(args, dir);
  EXPECT_EQ(r.exit_code, 0) << sql << "\n" << r.err;
  return r.out.substr(r.out.find('\n') + 1);
}

std::string report(const std::vector<std::string>& store_args, std::vector<std::string> args,
                   const std::string& dir) {
  args.insert(args.begin(), "report");
  args.insert(args.end(), store_args.begin(), store_args.end());
  args.insert(args.end(), {"--format", "csv"});
  const CommandResult r = run_advx(args, dir);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  return r.out;
}

// One worker's group state, from its /metrics.
struct WorkerState {
  bool up = false;
  int assigned = 0;
  bool rebalancing = true;
  long long lag = 0;  // summed over its partitions
  std::set<std::pair<std::string, int>> partitions;
  double fenced = 0, forwarded = 0, rebalances = 0, last_rebalance_seconds = 0;
};

WorkerState state_of(int port) {
  WorkerState w;
  const HttpAnswer a = http_request("GET", "http://127.0.0.1:" + std::to_string(port) + "/metrics", "");
  if (a.status != 200) return w;
  w.up = true;
  std::istringstream in(a.body);
  const std::regex labelled(R"re(^(\w+)\{topic="([^"]+)",partition="(\d+)"\} (\S+)$)re");
  for (std::string line; std::getline(in, line);) {
    std::smatch m;
    auto value = [&](const std::string& name) -> std::optional<double> {
      if (line.rfind(name + " ", 0) == 0) return std::stod(line.substr(name.size() + 1));
      if (line.rfind(name + "{", 0) == 0) return std::stod(line.substr(line.rfind(' ') + 1));
      return std::nullopt;
    };
    if (std::regex_match(line, m, labelled)) {
      if (m[1] == "advx_kafka_consumer_lag") w.lag += std::stoll(m[4]);
      if (m[1] == "advx_kafka_partition_position") w.partitions.insert({m[2], std::stoi(m[3])});
    }
    if (auto v = value("advx_kafka_assigned_partitions")) w.assigned = int(*v);
    if (auto v = value("advx_kafka_rebalancing")) w.rebalancing = *v != 0;
    if (auto v = value("advx_fenced_batches_total")) w.fenced += *v;
    if (auto v = value("advx_kafka_forwarded_records_total")) w.forwarded += *v;
    if (auto v = value("advx_kafka_rebalances_total")) w.rebalances = *v;
    if (auto v = value("advx_kafka_last_rebalance_seconds")) w.last_rebalance_seconds = *v;
  }
  return w;
}

class Fleet {
 public:
  Fleet(const TempDir& dir, const std::string& config, const std::string& dims,
        std::vector<std::string> store)
      : dir_(dir), config_(config), dims_(dims), store_(std::move(store)) {}

  // Starts a worker; its index.
  size_t start() {
    std::vector<std::string> args = {"--config", config_, "--dims", dims_, "--http", "127.0.0.1:0"};
    args.insert(args.end(), store_.begin(), store_.end());
    const std::string log = dir_.str("worker" + std::to_string(workers_.size()) + ".log");
    workers_.push_back(std::make_unique<ServeProcess>(args, log));
    logs_.push_back(log);
    EXPECT_TRUE(workers_.back()->started()) << slurp(log);
    return workers_.size() - 1;
  }
  ServeProcess& at(size_t i) { return *workers_[i]; }
  std::vector<size_t> live() const {
    std::vector<size_t> out;
    for (size_t i = 0; i < workers_.size(); i++)
      if (alive_.count(i) == 0) out.push_back(i);
    return out;
  }
  int stop(size_t i, int sig) {
    alive_.insert(i);  // (the set of stopped ones)
    return workers_[i]->kill(sig);
  }
  // Every partition of `partitions` held by exactly one live worker, none rebalancing, all read to the end.
  bool settled(int partitions, std::string* why) {
    int held = 0;
    long long lag = 0;
    for (size_t i : live()) {
      const WorkerState w = state_of(workers_[i]->port());
      if (!w.up || w.rebalancing) return *why = "worker " + std::to_string(i) + " rebalancing", false;
      held += w.assigned;
      lag += w.lag;
    }
    *why = std::to_string(held) + " partitions held, lag " + std::to_string(lag);
    return held == partitions && lag == 0;
  }
  std::string logs() const {
    std::string out;
    for (const std::string& l : logs_) out += "--- " + l + "\n" + slurp(l).substr(0, 4000) + "\n";
    return out;
  }

 private:
  const TempDir& dir_;
  std::string config_, dims_;
  std::vector<std::string> store_;
  std::vector<std::unique_ptr<ServeProcess>> workers_;
  std::vector<std::string> logs_;
  std::set<size_t> alive_;
};

// The rows of every event table and of rejects (less `withheld`): on ClickHouse one version a row.
std::string counts_sql(const StoreTarget* ch, uint64_t withheld) {
  std::string sql = "SELECT ";
  for (const char* t : {"impressions", "clicks", "conversions", "bid_requests"})
    sql += std::string("(SELECT count(*) FROM ") + (ch ? ch->table(t) : std::string(t)) + ") AS " + t + ", ";
  return sql + "(SELECT count(*) FROM rejects) - " + std::to_string(withheld) + " AS r";
}

void expect_tables_equal(const StoreTarget& ch, const std::vector<std::string>& fleet,
                         const std::vector<std::string>& batch, uint64_t withheld, const std::string& dir) {
  for (const TableDef* def :
       {&tables::kImpressions, &tables::kClicks, &tables::kConversions, &tables::kBidRequests}) {
    const std::string want = csv_rows(batch, rows_sql(*def, false, nullptr), dir);
    const std::string got = csv_rows(fleet, rows_sql(*def, true, &ch), dir);
    EXPECT_GT(want.size(), 0u) << def->name;
    EXPECT_EQ(line_diff(want, got), "") << def->name;
  }
  const std::string malformed = " WHERE reason IN ('malformed_json', 'malformed_csv', 'malformed_avro')";
  const std::string others = " WHERE reason NOT IN ('malformed_json', 'malformed_csv', 'malformed_avro')";
  const std::string rejects_ch = rows_sql(tables::kRejects, true, &ch);
  const std::string rejects_db = rows_sql(tables::kRejects, false, nullptr);
  EXPECT_EQ(line_diff(csv_rows(batch, rejects_db + others, dir), csv_rows(fleet, rejects_ch + others, dir)),
            "");
  // The malformed records: those publish withheld, and those a producer of the test's own sent.
  const uint64_t sent_malformed =
      std::stoull(csv_rows(fleet, "SELECT count(*) FROM " + ch.table("rejects") + malformed, dir));
  EXPECT_EQ(csv_rows(batch, "SELECT count(*) FROM rejects" + malformed, dir),
            std::to_string(withheld + sent_malformed) + "\n");
  for (const std::vector<std::string>& args : {std::vector<std::string>{"campaigns", "--by", "day"},
                                               {"campaigns", "--by", "creative"},
                                               {"funnel", "--by", "campaign"},
                                               {"latency"},
                                               {"frequency"}})
    EXPECT_EQ(report(fleet, args, dir), report(batch, args, dir)) << args[0];
}

std::string worker_config(const KafkaClusterProcess& kafka) {
  // A short session, so that a killed member leaves the group within seconds; small micro-batches, so
  // that a kill lands between the inserts of one.
  return "[kafka]\nenabled = true\ngroup_id = \"fleet\"\nbrokers = \"" + kafka.bootstrap() +
         "\"\nschema_registry = \"" + kafka.registry_url() +
         "\"\n[kafka.properties]\n\"session.timeout.ms\" = \"6000\"\n\"heartbeat.interval.ms\" = \"500\"\n"
         "[pipeline]\ncommit_events = 2000\ncommit_interval_ms = 200\nattribution_interval_ms = 500\n";
}

// `advx gen` of a data set with every defect into DIR/data, and `advx ingest` of it into DIR/batch.duckdb:
// what the fleet's tables must equal.
bool generate_and_ingest(const TempDir& dir, int impressions, int seed, int files) {
  const CommandResult gen =
      run_advx({"gen", "--out", dir.str("data"), "--impressions", std::to_string(impressions), "--seed",
                std::to_string(seed), "--files", std::to_string(files), "--quiet"},
               dir.str());
  EXPECT_EQ(gen.exit_code, 0) << gen.err;
  const CommandResult ingest =
      run_advx({"ingest", "-q", "--db", dir.str("batch.duckdb"), dir.str("data")}, dir.str());
  EXPECT_EQ(ingest.exit_code, 0) << ingest.err;
  return gen.exit_code == 0 && ingest.exit_code == 0;
}

KafkaClusterOptions with_registry() {
  KafkaClusterOptions o;
  o.registry = true;
  return o;
}

class FleetE2E : public ::testing::TestWithParam<int> {};

// Three workers; one killed with -9 mid-stream and restarted, a fourth joins, one leaves by SIGTERM.
TEST_P(FleetE2E, WorkersKilledAddedAndStoppedStoreEveryRecordOnce) {
  const int seed = GetParam();
  TempDir dir;
  const StoreTarget ch(StoreKind::clickhouse_cluster, dir);
  ASSERT_EQ(ch.error(), "");
  ASSERT_TRUE(generate_and_ingest(dir, 20000, seed, 4));
  KafkaClusterProcess kafka(with_registry());
  write_file(dir.path() / "advx.toml", worker_config(kafka));
  const std::vector<std::string> batch = {"--db", dir.str("batch.duckdb")};

  // Files of the given parts ("part-00000", ...) of every stream.
  auto publish = [&](std::vector<std::string> parts) {
    std::vector<std::string> args = {
        "publish", "-q", "--brokers", kafka.bootstrap(), "--schema-registry", kafka.registry_url()};
    // In file order, as ingest reads them: of two conflicting copies, the first to arrive is kept.
    for (const char* stream : {"impressions", "clicks_conversions", "bid_requests"}) {
      std::vector<std::string> files;
      for (const auto& e : std::filesystem::directory_iterator(dir.path() / "data" / stream))
        for (const std::string& part : parts)
          if (e.path().filename().string().starts_with(part)) files.push_back(e.path().string());
      std::sort(files.begin(), files.end());
      args.insert(args.end(), files.begin(), files.end());
    }
    return run_advx(args, dir.str());
  };
  const CommandResult early = publish({"part-00000", "part-00001"});
  ASSERT_EQ(early.exit_code, 0) << early.out << early.err;

  const std::vector<std::string> fleet_store = ch.args("fleet");
  Fleet fleet(dir, dir.str("advx.toml"), dir.str("data/dims"), fleet_store);
  for (int i = 0; i < 3; i++) fleet.start();
  const int w1 = 0, w2 = 1;
  // The rest is published while the workers consume; worker 1 is killed once rows are arriving.
  CommandResult late;
  std::thread producer([&] { late = publish({"part-00002", "part-00003"}); });
  EXPECT_TRUE(eventually(
      [&] {
        return std::atoll(csv_rows(fleet_store, "SELECT count(*) FROM impressions", dir.str()).c_str()) >=
               4000;
      },
      120s))
      << fleet.logs();
  EXPECT_EQ(fleet.stop(w1, SIGKILL), 128 + SIGKILL);
  // Mid-stream: the kill came before the impressions were all stored.
  const long long at_kill =
      std::atoll(csv_rows(fleet_store, "SELECT count(*) FROM impressions", dir.str()).c_str());
  EXPECT_LT(at_kill, std::atoll(csv_rows(batch, "SELECT count(*) FROM impressions", dir.str()).c_str()));
  fleet.start();                        // worker 1 again (index 3)
  const size_t joined = fleet.start();  // a fourth worker joins (index 4)
  // While it joins it holds no partition: /readyz 503, so a load balancer leaves it out.
  auto ready = [&](size_t i) {
    return http_request("GET", "http://127.0.0.1:" + std::to_string(fleet.at(i).port()) + "/readyz", "")
        .status;
  };
  const WorkerState joining = state_of(fleet.at(joined).port());
  EXPECT_TRUE(joining.rebalancing);  // a join into a group of three takes seconds on the mock
  EXPECT_EQ(joining.assigned, 0);
  EXPECT_EQ(ready(joined), 503);
  producer.join();
  ASSERT_EQ(late.exit_code, 0) << late.out << late.err;
  EXPECT_EQ(fleet.stop(w2, SIGTERM), 0) << fleet.logs();  // one leaves
  const uint64_t bad = sum_before(early.out + late.out, "bad");
  EXPECT_GT(bad, 0u);

  // Lag 0 on all 24 partitions, then the tables hold what ingest holds.
  std::string why;
  EXPECT_TRUE(eventually([&] { return fleet.settled(24, &why); }, 180s)) << why << "\n" << fleet.logs();
  for (size_t i : fleet.live()) EXPECT_EQ(ready(i), 200) << "worker " << i;
  const std::string want_counts = csv_rows(batch, counts_sql(nullptr, bad), dir.str());
  EXPECT_TRUE(
      eventually([&] { return csv_rows(fleet_store, counts_sql(&ch, 0), dir.str()) == want_counts; }, 120s))
      << csv_rows(fleet_store, counts_sql(&ch, 0), dir.str()) << " stored, want " << want_counts;
  // Stop them one by one: the last one holds every partition, leads attribution, and pays every debt
  // with its final pass.
  double fenced = 0, rebalance_s = 0;
  for (;;) {
    const std::vector<size_t> live = fleet.live();
    for (size_t i : live) {
      const WorkerState w = state_of(fleet.at(i).port());
      fenced += w.fenced;
      rebalance_s = std::max(rebalance_s, w.last_rebalance_seconds);
    }
    if (live.size() == 1) {
      EXPECT_TRUE(eventually([&] { return fleet.settled(24, &why); }, 60s)) << why;
      EXPECT_EQ(fleet.stop(live[0], SIGTERM), 0) << fleet.logs();
      break;
    }
    EXPECT_EQ(fleet.stop(live[0], SIGTERM), 0) << fleet.logs();
  }
  std::printf(
      "fleet seed %d: %lld impressions stored at the kill, fenced batches %.0f, longest last rebalance %.2f "
      "s, "
      "%llu withheld by publish\n",
      seed, at_kill, fenced, rebalance_s, (unsigned long long)bad);
  expect_tables_equal(ch, fleet_store, batch, bad, dir.str());
}

INSTANTIATE_TEST_SUITE_P(, FleetE2E, ::testing::Values(3, 17));

// A producer of our own, for what advx publish never does: sending a record to a partition its key does not
// name (the keying contract broken).
class RawProducer {
 public:
  explicit RawProducer(const std::string& brokers) {
    char err[256];
    rd_kafka_conf_t* conf = rd_kafka_conf_new();
    rd_kafka_conf_set(conf, "bootstrap.servers", brokers.c_str(), err, sizeof err);
    rd_kafka_conf_set(conf, "enable.idempotence", "true", err, sizeof err);
    rd_kafka_conf_set(conf, "log_level", "0", err, sizeof err);
    rk_ = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
  }
  ~RawProducer() {
    if (rk_) rd_kafka_destroy(rk_);
  }
  bool ok() const { return rk_ != nullptr; }
  void send(const std::string& topic, int32_t partition, const std::string& key, const std::string& value) {
    while (rd_kafka_producev(rk_, RD_KAFKA_V_TOPIC(topic.c_str()), RD_KAFKA_V_PARTITION(partition),
                             RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                             RD_KAFKA_V_KEY(const_cast<char*>(key.data()), key.size()),
                             RD_KAFKA_V_VALUE(const_cast<char*>(value.data()), value.size()),
                             RD_KAFKA_V_END) == RD_KAFKA_RESP_ERR__QUEUE_FULL)
      rd_kafka_poll(rk_, 10);
    rd_kafka_poll(rk_, 0);
  }
  bool flush() { return rd_kafka_flush(rk_, 30000) == RD_KAFKA_RESP_ERR_NO_ERROR; }

 private:
  rd_kafka_t* rk_ = nullptr;
};

// Every tenth impression of half the files goes to the partition after its user's: each is forwarded to
// its user's partition by the worker that reads it (counted), stored once there, and the tables equal
// ingest's all the same.
TEST(FleetE2EKeying, RecordsOnTheWrongPartitionAreForwardedAndStoredOnce) {
  TempDir dir;
  const StoreTarget ch(StoreKind::clickhouse, dir);
  ASSERT_EQ(ch.error(), "");
  ASSERT_TRUE(generate_and_ingest(dir, 8000, 29, 2));
  KafkaClusterProcess kafka(with_registry());
  write_file(dir.path() / "advx.toml", worker_config(kafka));
  const std::vector<std::string> batch = {"--db", dir.str("batch.duckdb")};
  const std::vector<std::string> fleet_store = ch.args("keying");
  Fleet fleet(dir, dir.str("advx.toml"), dir.str("data/dims"), fleet_store);
  fleet.start();
  fleet.start();
  std::string why;
  ASSERT_TRUE(eventually([&] { return fleet.settled(24, &why); }, 60s)) << why << "\n" << fleet.logs();

  // Everything but the second impressions file through advx publish; that one by hand.
  std::vector<std::string> args = {"publish",
                                   "-q",
                                   "--brokers",
                                   kafka.bootstrap(),
                                   "--schema-registry",
                                   kafka.registry_url(),
                                   dir.str("data/clicks_conversions"),
                                   dir.str("data/bid_requests"),
                                   dir.str("data/impressions/part-00000.jsonl")};
  const CommandResult published = run_advx(args, dir.str());
  ASSERT_EQ(published.exit_code, 0) << published.out << published.err;
  RawProducer producer(kafka.bootstrap());
  ASSERT_TRUE(producer.ok());
  std::istringstream lines(slurp(dir.str("data/impressions/part-00001.jsonl")));
  // The key advx publish would give: a string id trimmed, an integer id in decimal.
  const std::regex user(R"re("user_id"\s*:\s*(?:"\s*([^"]*?)\s*"|(-?[0-9]+)[,}\s]))re");
  // Only records whose impression_id is unique break the contract here: of two copies of one id, the one
  // kept is the first to arrive, and a detour through another partition may change which that is (so
  // may any producer's ordering across partitions: the contract is what makes copies meet in order).
  const std::regex id(R"re("impression_id"\s*:\s*"\s*([^"]*?)\s*")re");
  std::map<std::string, int> ids;
  for (const char* f : {"data/impressions/part-00000.jsonl", "data/impressions/part-00001.jsonl"}) {
    std::istringstream in(slurp(dir.str(f)));
    std::smatch m;
    for (std::string line; std::getline(in, line);)
      if (std::regex_search(line, m, id)) ids[m[1].str()]++;
  }
  simdjson::dom::parser json;
  uint64_t miskeyed = 0, line_no = 0;
  for (std::string line; std::getline(lines, line); line_no++) {
    std::smatch m;
    // A malformed line has no user nor id to send it by: a reject on whichever partition it is.
    simdjson::padded_string padded(line);
    simdjson::dom::element parsed;
    const bool valid = json.parse(padded).get(parsed) == simdjson::SUCCESS;
    std::smatch mi;
    const bool has_id = std::regex_search(line, mi, id);
    std::string key = std::regex_search(line, m, user) ? m[1].str() + m[2].str() : "";
    if (key.empty() && has_id) key = mi[1].str();  // no user: publish keys it by its impression_id
    if (!valid || key.empty()) {
      producer.send("ad-impressions", 0, "", line);
      continue;
    }
    int32_t p = kafka_partition_of(key, 8);
    const bool unique = has_id && ids[mi[1].str()] == 1;
    if (line_no % 10 == 3 && unique) {
      p = (p + 1) % 8;
      ++miskeyed;
    }
    producer.send("ad-impressions", p, key, line);
  }
  ASSERT_TRUE(producer.flush());
  ASSERT_GT(miskeyed, 300u);

  const uint64_t bad = sum_before(published.out, "bad");
  const std::string want_counts = csv_rows(batch, counts_sql(nullptr, bad), dir.str());
  EXPECT_TRUE(
      eventually([&] { return csv_rows(fleet_store, counts_sql(&ch, 0), dir.str()) == want_counts; }, 120s))
      << csv_rows(fleet_store, counts_sql(&ch, 0), dir.str()) << " stored, want " << want_counts
      << fleet.logs();
  EXPECT_TRUE(eventually([&] { return fleet.settled(24, &why); }, 60s)) << why;
  double forwarded = 0;
  for (size_t i : fleet.live()) forwarded += state_of(fleet.at(i).port()).forwarded;
  EXPECT_EQ(uint64_t(forwarded), miskeyed);
  EXPECT_EQ(fleet.stop(0, SIGTERM), 0) << fleet.logs();
  EXPECT_TRUE(eventually([&] { return fleet.settled(24, &why); }, 60s)) << why;
  EXPECT_EQ(fleet.stop(1, SIGTERM), 0) << fleet.logs();
  expect_tables_equal(ch, fleet_store, batch, bad, dir.str());
}

}  // namespace
}  // namespace advx::test
