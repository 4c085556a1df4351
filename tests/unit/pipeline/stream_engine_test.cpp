// StreamEngine (advx serve's engine): exact counts per submission, answers only after the commit, Kafka
// positions in the same transaction, record numbers from record_base, backpressure, lateness, dedup across
// restarts and after a failed commit, attribution in the background.
#include "pipeline/stream_engine.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <future>
#include <mutex>
#include <string>
#include <thread>

#include "../../support/store_test_util.hpp"  // TempDb
#include "core/kafka_partition.hpp"
#include "core/time_util.hpp"
#include "store/duckdb/duckdb_store.hpp"

namespace advx {
namespace {

Dimensions test_dims() {
  Dimensions d;
  d.add_campaign({"c1", "adv1", "", "", "", ""});
  d.add_creative({"cr1", "c1", "", "", ""});
  return d;
}

std::string imp(const std::string& id, const std::string& ts, const std::string& user = "u1") {
  return R"({"impression_id":")" + id + R"(","ad_creative_id":"cr1","user_id":")" + user +
         R"(","timestamp":")" + ts + R"(","website":"a.com"})" + "\n";
}

Submission json(const std::string& body, const std::string& source = "test") {
  Submission s;
  s.stream = Stream::impressions;
  s.format = BodyFormat::json;
  s.body = body;
  s.source = source;
  return s;
}

class Engine : public ::testing::Test {
 protected:
  void SetUp() override { open(); }

  void open() {
    store = std::make_unique<DuckDbStore>(db.path());
    store->ensure_schema();
    options.validation.now_us = 0;
    engine = std::make_unique<StreamEngine>(*store, test_dims(), options);
    engine->start();
    reader = store->another_duckdb_connection();
  }
  void close() {
    engine.reset();
    reader.reset();
    store.reset();
  }

  // Submits and waits for the answer.
  SubmitResult run(Submission s) {
    auto promise = std::make_shared<std::promise<SubmitResult>>();
    std::future<SubmitResult> f = promise->get_future();
    s.done = [promise](const SubmitResult& r) { promise->set_value(r); };
    EXPECT_TRUE(engine->submit(std::move(s)));
    return f.get();
  }

  std::string sql(const std::string& q) {
    const test::TextResult r = test::text_result(reader->query(q));
    std::string out;
    for (size_t i = 0; i < r.rows.size(); i++) {
      for (size_t c = 0; c < r.rows[i].size(); c++)
        out += std::string(c ? "," : "") + (r.is_null[i][c] ? "NULL" : r.rows[i][c]);
      out += "\n";
    }
    return out;
  }

  test::TempDb db;
  StreamEngineOptions options;
  std::unique_ptr<DuckDbStore> store;
  std::unique_ptr<StreamEngine> engine;
  std::unique_ptr<DuckDbStore> reader;
};

TEST_F(Engine, CountsEveryRecordAndAnswersAfterTheCommit) {
  const std::string body =
      imp("i1", "2026-11-01T10:00:00Z") + imp("i2", "2026-11-01T10:00:01Z") + "{not json\n" +
      imp("i1", "2026-11-01T10:00:00Z") +  // a duplicate
      R"({"impression_id":"i3","ad_creative_id":"cr1","user_id":"u","timestamp":"2026-11-01T10:00:02Z","website":"a.com","user_agent":"Googlebot/2.1"})" +
      "\n" + R"({"impression_id":"i4","user_id":"u","timestamp":"2026-11-01T10:00:03Z","website":"a.com"})" +
      "\n";
  auto promise = std::make_shared<std::promise<std::string>>();
  Submission s = json(body);
  // The answer comes after the commit: another connection already sees the rows when it does.
  DuckDbStore* r = reader.get();
  SubmitResult got;
  s.done = [promise, r, &got](const SubmitResult& res) {
    got = res;
    promise->set_value(r->query("SELECT count(*) FROM impressions").text(0, 0));
  };
  ASSERT_TRUE(engine->submit(std::move(s)));
  EXPECT_EQ(promise->get_future().get(), "2");
  EXPECT_EQ(got.status, SubmitResult::Status::ok);
  EXPECT_EQ(got.read, 6u);
  EXPECT_EQ(got.stored, 2u);
  EXPECT_EQ(got.duplicates, 1u);
  EXPECT_EQ(got.by_reason[size_t(Reason::malformed_json)], 1u);
  EXPECT_EQ(got.by_reason[size_t(Reason::bot_user_agent)], 1u);
  EXPECT_EQ(got.by_reason[size_t(Reason::missing_field)], 1u);
  EXPECT_EQ(got.read, got.stored + got.rejected() + got.filtered() + got.duplicates);
  EXPECT_EQ(sql("SELECT reason, source, source_record FROM rejects ORDER BY source_record"),
            "malformed_json,test,3\nbot_user_agent,test,5\nmissing_field,test,6\n");
  const EngineStats st = engine->stats();
  EXPECT_EQ(st.streams[0].read, 6u);
  EXPECT_EQ(st.streams[0].stored, 2u);
  EXPECT_GE(st.commits, 1u);
}

TEST_F(Engine, KafkaPositionsAndRecordNumbersCommitWithTheRows) {
  Submission s = json(imp("k1", "2026-11-01T10:00:00Z") + "oops\n" + imp("k2", "2026-11-01T10:00:01Z"));
  s.source = "kafka:ad-impressions/2";
  s.record_base = 41;  // lines 1..3 are offsets 42..44
  s.kafka = KafkaPosition{"ad-impressions", 2, 45};
  EXPECT_EQ(run(std::move(s)).stored, 2u);
  EXPECT_EQ(engine->kafka_positions("ad-impressions"), (std::map<int32_t, int64_t>{{2, 45}}));
  EXPECT_TRUE(engine->kafka_positions("other").empty());
  EXPECT_EQ(sql("SELECT source_record FROM impressions ORDER BY 1"), "42\n44\n");
  EXPECT_EQ(sql("SELECT source_record FROM rejects"), "43\n");
  // The same messages again (a replay after a crash): nothing new, the reject included.
  Submission again = json(imp("k1", "2026-11-01T10:00:00Z") + "oops\n" + imp("k2", "2026-11-01T10:00:01Z"));
  again.source = "kafka:ad-impressions/2";
  again.record_base = 41;
  again.kafka = KafkaPosition{"ad-impressions", 2, 45};
  const SubmitResult r = run(std::move(again));
  EXPECT_EQ(r.stored, 0u);
  EXPECT_EQ(r.duplicates, 3u);
  EXPECT_EQ(sql("SELECT count(*) FROM rejects"), "1\n");
  // A later position overwrites the earlier one.
  Submission later = json(imp("k3", "2026-11-01T10:00:02Z"));
  later.kafka = KafkaPosition{"ad-impressions", 2, 46};
  run(std::move(later));
  EXPECT_EQ(engine->kafka_positions("ad-impressions"), (std::map<int32_t, int64_t>{{2, 46}}));
  EXPECT_EQ(sql("SELECT count(*) FROM advx_kafka_offsets"), "1\n");
}

// After a failed commit the consumer goes back: a submission that does not start where its partition stands
// is refused, so nothing is stored past a gap.
TEST_F(Engine, KafkaSubmissionsOutOfSequenceAreRefused) {
  Submission first = json(imp("q1", "2026-11-01T10:00:00Z"));
  first.kafka = KafkaPosition{"t", 1, 11, 10};
  EXPECT_EQ(run(std::move(first)).status, SubmitResult::Status::ok);
  Submission gap = json(imp("q3", "2026-11-01T10:00:00Z"));
  gap.kafka = KafkaPosition{"t", 1, 13, 12};  // offset 11 was never stored
  const SubmitResult r = run(std::move(gap));
  EXPECT_EQ(r.status, SubmitResult::Status::store_error);
  EXPECT_EQ(r.error, "out of sequence: t/1 stands at 11, the submission starts at 12");
  Submission next = json(imp("q2", "2026-11-01T10:00:00Z"));
  next.kafka = KafkaPosition{"t", 1, 12, 11};
  EXPECT_EQ(run(std::move(next)).status, SubmitResult::Status::ok);
  EXPECT_EQ(sql("SELECT string_agg(event_key, ' ' ORDER BY event_key) FROM impressions"), "q1 q2\n");
  EXPECT_EQ(engine->kafka_positions("t"), (std::map<int32_t, int64_t>{{1, 12}}));
  // A restarted engine knows the stored positions too.
  close();
  open();
  Submission again = json(imp("q9", "2026-11-01T10:00:00Z"));
  again.kafka = KafkaPosition{"t", 1, 20, 19};
  EXPECT_EQ(run(std::move(again)).status, SubmitResult::Status::store_error);
}

TEST_F(Engine, UndecodableBodyStoresNothing) {
  Submission s;
  s.stream = Stream::bid_requests;
  s.format = BodyFormat::avro_ocf;
  s.body = "this is not an avro file";
  const SubmitResult r = run(std::move(s));
  EXPECT_EQ(r.status, SubmitResult::Status::bad_input);
  EXPECT_FALSE(r.error.empty());
  EXPECT_EQ(sql("SELECT count(*) FROM rejects"), "0\n");
  // Datums without a schema are rejects with the reason given; a truncated length prefix is bad input.
  Submission d;
  d.stream = Stream::bid_requests;
  d.format = BodyFormat::avro_datums;
  d.error = "unknown schema id 7";
  d.body = std::string("\x02\x00\x00\x00xy\x01\x00\x00\x00z", 11);
  const SubmitResult rd = run(std::move(d));
  EXPECT_EQ(rd.status, SubmitResult::Status::ok);
  EXPECT_EQ(rd.by_reason[size_t(Reason::malformed_avro)], 2u);
  EXPECT_EQ(sql("SELECT detail, decode(raw), source_record FROM rejects ORDER BY source_record"),
            "unknown schema id 7,xy,1\nunknown schema id 7,z,2\n");
  Submission t;
  t.stream = Stream::bid_requests;
  t.format = BodyFormat::avro_datums;
  t.body = std::string("\x09\x00\x00\x00xy", 6);
  EXPECT_EQ(run(std::move(t)).status, SubmitResult::Status::bad_input);
}

TEST_F(Engine, QueueBoundRefusesThenRecovers) {
  close();
  options.max_queue_bytes = 1000;
  open();
  // The first answer blocks the engine thread, so the queue fills behind it.
  std::mutex m;
  std::condition_variable cv;
  bool release = false;
  Submission blocker = json(imp("b0", "2026-11-01T10:00:00Z"));
  blocker.done = [&](const SubmitResult&) {
    std::unique_lock lock(m);
    cv.wait(lock, [&] { return release; });
  };
  ASSERT_TRUE(engine->submit(std::move(blocker)));
  int accepted = 0;
  for (int i = 0; i < 100; i++) {
    if (!engine->submit(json(imp("q" + std::to_string(i), "2026-11-01T10:00:00Z")))) break;
    ++accepted;
  }
  EXPECT_GT(accepted, 0);
  EXPECT_LT(accepted, 100);  // ~110 bytes each against 1000
  EXPECT_LE(engine->stats().queue_bytes, 1000u);
  {
    std::lock_guard lock(m);
    release = true;
  }
  cv.notify_all();
  engine->flush();
  EXPECT_EQ(sql("SELECT count(*) FROM impressions"), std::to_string(accepted + 1) + "\n");
  EXPECT_TRUE(engine->submit(json(imp("after", "2026-11-01T10:00:00Z"))));
}

TEST_F(Engine, LateEventsAreStoredAndCounted) {
  close();
  options.allowed_lateness_us = 5 * 60 * 1'000'000LL;
  open();
  EXPECT_EQ(run(json(imp("a", "2026-11-01T10:00:00Z"))).late, 0u);
  // Watermark 09:55: 09:56 is on time, 09:54:59 is late, and both are stored.
  const SubmitResult r = run(json(imp("b", "2026-11-01T09:56:00Z") + imp("c", "2026-11-01T09:54:59Z")));
  EXPECT_EQ(r.stored, 2u);
  EXPECT_EQ(r.late, 1u);
  EXPECT_EQ(engine->stats().late[0], 1u);
}

// The wall clock less `ago` seconds, as an ISO-8601 timestamp.
std::string seconds_ago(int64_t ago) { return format_timestamp(wall_clock_us() - ago * 1'000'000); }

// The engine stamps a batch with the wall clock: event times a known distance before now fall in known lag
// buckets (each at least a second inside its bucket). Only stored events count, only committed batches.
TEST_F(Engine, EventLagHistogramCountsStoredEvents) {
  // A failed commit counts nothing.
  reader->execute("ALTER TABLE rejects RENAME TO rejects_away");
  EXPECT_EQ(run(json(imp("x1", seconds_ago(3)) + "{broken\n")).status, SubmitResult::Status::store_error);
  reader->execute("ALTER TABLE rejects_away RENAME TO rejects");
  EngineStats st = engine->stats();
  EXPECT_EQ(st.event_lag[0].count, 0u);
  EXPECT_EQ(st.batch_seconds.count, 0u);

  const SubmitResult r = run(json(imp("l1", seconds_ago(-60)) +  // 1 minute ahead (allowed skew): lag 0
                                  imp("l2", seconds_ago(10)) + imp("l3", seconds_ago(10)) +  // (5, 15]
                                  imp("l4", seconds_ago(630)) +                              // (600, 900]
                                  imp("l5", seconds_ago(3 * 3600)) +                         // (7200, 21600]
                                  imp("l6", "2026-10-01T10:00:00Z") +  // over a day: +Inf
                                  imp("l2", seconds_ago(10)) +         // a duplicate
                                  "{broken\n"));                       // a reject
  ASSERT_EQ(r.status, SubmitResult::Status::ok);
  ASSERT_EQ(r.stored, 6u);
  Submission clicks;
  clicks.stream = Stream::events;
  clicks.format = BodyFormat::csv;
  clicks.body = "event_id,event_timestamp,user_id,ad_campaign_id,event_type\nk1," + seconds_ago(20) +
                ",u7,c1,click\nk2," + seconds_ago(20) + ",u7,c1,click\n";
  clicks.source = "test";
  ASSERT_EQ(run(std::move(clicks)).stored, 2u);

  st = engine->stats();
  const LagHistogram& imps = st.event_lag[size_t(Stream::impressions)];
  EXPECT_EQ(imps.count, st.streams[size_t(Stream::impressions)].stored);
  std::array<uint64_t, LagHistogram::kBuckets> want{};
  want[lag_bucket(0)] = 1;
  want[lag_bucket(10.5)] = 2;
  want[lag_bucket(700)] = 1;
  want[lag_bucket(3 * 3600)] = 1;
  want[LagHistogram::kBuckets - 1] = 1;
  EXPECT_EQ(imps.counts, want);
  EXPECT_EQ(lag_bucket(10.5), 2u);  // le=15
  EXPECT_EQ(lag_bucket(700), 8u);   // le=900
  // The sum: each lag within a few seconds of its nominal value (event times are whole seconds).
  const double old = double(std::chrono::duration_cast<std::chrono::seconds>(
                                std::chrono::system_clock::now().time_since_epoch())
                                .count()) -
                     double(1790848800);  // 2026-10-01T10:00:00Z
  const double nominal = 0 + 10 + 10 + 630 + 3 * 3600 + old;
  EXPECT_GT(imps.sum, nominal - 10);
  EXPECT_LT(imps.sum, nominal + 10);
  const LagHistogram& events = st.event_lag[size_t(Stream::events)];
  EXPECT_EQ(events.count, 2u);
  EXPECT_EQ(events.counts[lag_bucket(25)], 2u);  // (15, 30]
  EXPECT_EQ(st.event_lag[size_t(Stream::bid_requests)].count, 0u);
  // One observation per committed micro-batch.
  EXPECT_EQ(st.batch_seconds.count, st.commits);
  EXPECT_EQ(st.commit_seconds.count, st.commits);
  EXPECT_GT(st.batch_seconds.sum, 0);
  EXPECT_LE(st.commit_seconds.sum, st.batch_seconds.sum);
}

TEST_F(Engine, StopCommitsEverythingQueuedAndRefusesMore) {
  for (int i = 0; i < 50; i++)
    ASSERT_TRUE(engine->submit(json(imp("s" + std::to_string(i), "2026-11-01T10:00:00Z"))));
  engine->stop();
  EXPECT_FALSE(engine->submit(json(imp("late", "2026-11-01T10:00:00Z"))));
  EXPECT_EQ(sql("SELECT count(*) FROM impressions"), "50\n");
}

TEST_F(Engine, DedupHoldsAcrossRestarts) {
  EXPECT_EQ(run(json(imp("r1", "2026-11-01T10:00:00Z"))).stored, 1u);
  close();
  open();
  const SubmitResult r = run(json(imp("r1", "2026-11-01T10:00:00Z")));
  EXPECT_EQ(r.stored, 0u);
  EXPECT_EQ(r.duplicates, 1u);
}

// With a dedup budget far below the keys seen, most keys spill to disk; duplicates of spilled keys are
// still found, in this run and after a restart that loads the state under the same budget.
TEST_F(Engine, DedupWithinAMemoryBudgetSpillsAndStillFindsEveryDuplicate) {
  close();
  options.dedup_spill.memory_budget_bytes = 64 << 10;  // ~2,400 keys
  open();
  auto body = [](int from, int to) {
    std::string b;
    for (int i = from; i < to; i++)
      b += imp("b" + std::to_string(i), "2026-11-01T" + std::to_string(10 + i % 10) + ":00:00Z");
    return b;
  };
  for (int part = 0; part < 10; part++)
    EXPECT_EQ(run(json(body(part * 2000, part * 2000 + 2000))).stored, 2000u);
  EXPECT_GT(engine->stats().dedup_spilled_keys, 10'000u);
  EXPECT_EQ(engine->stats().dedup_keys, 20'000u);
  EXPECT_LT(engine->stats().dedup_memory_bytes, size_t(64 << 10) + 20'000 * 2);
  SubmitResult again = run(json(body(0, 3000) + body(19'000, 21'000)));  // the oldest, the newest, 1,000 new
  EXPECT_EQ(again.stored, 1000u);
  EXPECT_EQ(again.duplicates, 4000u);
  close();
  open();
  again = run(json(body(0, 21'000) + body(21'000, 21'001)));
  EXPECT_EQ(again.stored, 1u);
  EXPECT_EQ(again.duplicates, 21'000u);
  EXPECT_GT(engine->stats().dedup_spilled_keys, 10'000u);
  EXPECT_EQ(sql("SELECT count(*), count(DISTINCT impression_id) FROM impressions"), "21001,21001\n");
}

// A dedup spill that cannot write (here: no such folder; in life a full disk) fails its micro-batch like a
// store error — nothing stored, the engine goes on — instead of ending the process.
TEST_F(Engine, ADedupSpillThatCannotWriteFailsTheBatchNotTheServer) {
  close();
  options.dedup_spill.memory_budget_bytes = 64 << 10;
  options.dedup_spill.dir = db.path() + ".no-such-folder";
  open();
  std::string big;
  for (int i = 0; i < 20'000; i++) big += imp("x" + std::to_string(i), "2026-11-01T10:00:00Z");
  const SubmitResult bad = run(json(big));
  EXPECT_EQ(bad.status, SubmitResult::Status::store_error);
  EXPECT_NE(bad.error.find("dedup spill"), std::string::npos) << bad.error;
  EXPECT_FALSE(engine->healthy());
  EXPECT_EQ(sql("SELECT count(*) FROM impressions"), "0\n");
  const SubmitResult good = run(json(imp("y1", "2026-11-01T10:00:00Z")));
  EXPECT_EQ(good.status, SubmitResult::Status::ok);
  EXPECT_EQ(good.stored, 1u);
  EXPECT_TRUE(engine->healthy());
}

// A failed commit answers store_error and forgets the keys it had taken: the same records sent again once
// the store works are stored, not counted as duplicates.
TEST_F(Engine, FailedCommitStoresNothingAndForgetsItsKeys) {
  reader->execute("ALTER TABLE rejects RENAME TO rejects_away");
  const SubmitResult bad = run(json(imp("f1", "2026-11-01T10:00:00Z") + "{broken\n"));
  EXPECT_EQ(bad.status, SubmitResult::Status::store_error);
  EXPECT_FALSE(engine->healthy());
  reader->execute("ALTER TABLE rejects_away RENAME TO rejects");
  EXPECT_EQ(sql("SELECT count(*) FROM impressions"), "0\n");
  const SubmitResult good = run(json(imp("f1", "2026-11-01T10:00:00Z") + "{broken\n"));
  EXPECT_EQ(good.status, SubmitResult::Status::ok);
  EXPECT_EQ(good.stored, 1u);
  EXPECT_EQ(good.duplicates, 0u);
  EXPECT_TRUE(engine->healthy());
}

// Nobody waits for a Kafka submission: after a failed commit it is tried again until it is stored, so no
// message is skipped; its position is stored with it.
TEST_F(Engine, KafkaSubmissionsAreRetriedAfterAFailedCommit) {
  reader->execute("ALTER TABLE rejects RENAME TO rejects_away");
  Submission s = json(imp("kr1", "2026-11-01T10:00:00Z") + "{broken\n");
  s.kafka = KafkaPosition{"t", 0, 2};
  ASSERT_TRUE(engine->submit(std::move(s)));
  for (int i = 0; i < 200 && engine->stats().store_errors == 0; i++)
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  ASSERT_GE(engine->stats().store_errors, 1u);
  // Until it is stored, more Kafka submissions are refused (the consumer pauses its partitions).
  Submission more = json(imp("kr2", "2026-11-01T10:00:00Z"));
  more.kafka = KafkaPosition{"t", 1, 1};
  EXPECT_FALSE(engine->submit(Submission(more)));
  reader->execute("ALTER TABLE rejects_away RENAME TO rejects");
  engine->flush();  // returns once the submission is committed
  EXPECT_TRUE(engine->submit(std::move(more)));
  engine->flush();
  EXPECT_EQ(sql("SELECT count(*) FROM impressions"), "2\n");
  EXPECT_EQ(sql("SELECT count(*) FROM rejects"), "1\n");
  EXPECT_EQ(engine->kafka_positions("t"), (std::map<int32_t, int64_t>{{0, 2}, {1, 1}}));
  EXPECT_TRUE(engine->healthy());
}

TEST_F(Engine, AttributesInTheBackground) {
  run(json(imp("i1", "2026-11-01T10:00:00Z", "u7")));
  Submission clicks;
  clicks.stream = Stream::events;
  clicks.format = BodyFormat::csv;
  clicks.body =
      "event_id,event_timestamp,user_id,ad_campaign_id,event_type\nk1,2026-11-01T10:30:00Z,u7,c1,click\n";
  clicks.source = "test";
  EXPECT_EQ(run(std::move(clicks)).stored, 1u);
  engine->stop();  // the last pass attributes everything committed
  EXPECT_EQ(sql("SELECT attribution, attributed_impression_key, seconds_from_impression FROM clicks"),
            "attributed,i1,1800.0\n");
  EXPECT_EQ(sql("SELECT impressions, clicks, attributed_clicks FROM campaign_hourly"), "1,1,1\n");
  EXPECT_GE(engine->stats().attribution_runs, 1u);
}

TEST_F(Engine, NewDimensionsApplyFromTheNextBatch) {
  EXPECT_EQ(
      run(json(
              R"({"impression_id":"d1","ad_creative_id":"cr9","user_id":"u","timestamp":"2026-11-01T10:00:00Z","website":"a.com"})"
              "\n"))
          .stored,
      1u);
  Dimensions d = test_dims();
  d.add_campaign({"c9", "adv9", "", "", "", ""});
  d.add_creative({"cr9", "c9", "", "", ""});
  engine->reload_dimensions(std::move(d));
  run(json(
      R"({"impression_id":"d2","ad_creative_id":"cr9","user_id":"u","timestamp":"2026-11-01T10:00:00Z","website":"a.com"})"
      "\n"));
  EXPECT_EQ(sql("SELECT event_key, campaign_id, unknown_creative FROM impressions ORDER BY 1"),
            "d1,NULL,true\nd2,c9,false\n");
  EXPECT_EQ(sql("SELECT count(*) FROM creatives WHERE creative_id = 'cr9'"), "1\n");
}

// ---- a fleet (docs/FLEET.md): fencing, partitions moving between workers, the attribution lead ------------

Submission kafka_imp(const std::string& id, int32_t partition, int64_t offset) {
  Submission s = json(imp(id, "2026-11-01T10:00:00Z"));
  s.source = "kafka:t/" + std::to_string(partition);
  s.record_base = offset - 1;  // line 1 is the message at `offset`
  s.kafka = KafkaPosition{"t", partition, offset + 1, offset};
  return s;
}

class Fleet : public Engine {
 protected:
  void SetUp() override {
    options.fleet_member = "w1";
    open();
    // A second worker on the same database (DuckDB: one process, two connections; on ClickHouse these are
    // two processes, tests/e2e/fleet_e2e_test.cpp).
    other_store = store->another_duckdb_connection();
    StreamEngineOptions o = options;
    o.fleet_member = "w2";
    other = std::make_unique<StreamEngine>(*other_store, test_dims(), o);
    other->start();
  }
  void TearDown() override {
    other.reset();
    other_store.reset();
  }
  static SubmitResult run_on(StreamEngine& e, Submission s) {
    auto promise = std::make_shared<std::promise<SubmitResult>>();
    std::future<SubmitResult> f = promise->get_future();
    s.done = [promise](const SubmitResult& r) { promise->set_value(r); };
    EXPECT_TRUE(e.submit(std::move(s)));
    return f.get();
  }
  std::unique_ptr<DuckDbStore> other_store;
  std::unique_ptr<StreamEngine> other;
};

// A partition moves from w1 to w2 and back. Each owner reads where it stands from the store and rebuilds
// its dedup keys from the store's: a duplicate of what the other stored meanwhile is found. A batch of
// the old owner after the new one claimed the partition is fenced: nothing of it is stored.
TEST_F(Fleet, PartitionsMoveBetweenWorkersWithExactPositionsDedupAndFencing) {
  engine->kafka_partitions_assigned({{"t", 0}});
  EXPECT_EQ(run(kafka_imp("a", 0, 0)).status, SubmitResult::Status::ok);
  EXPECT_EQ(run(kafka_imp("b", 0, 1)).status, SubmitResult::Status::ok);

  other->kafka_partitions_assigned({{"t", 0}});  // the rebalance: w2 claims t/0 (epoch 2)
  EXPECT_EQ(other->kafka_positions("t"), (std::map<int32_t, int64_t>{{0, 2}}));
  // w1 did not learn of it yet (a zombie): its next batch of t/0 is refused.
  const SubmitResult z = run(kafka_imp("z", 0, 2));
  EXPECT_EQ(z.status, SubmitResult::Status::fenced);
  EXPECT_EQ(engine->stats().fenced_batches, 1u);
  // The new owner stores from where the store stands; a copy of "a" (stored by w1) is a duplicate.
  const SubmitResult c = run_on(*other, kafka_imp("c", 0, 2));
  EXPECT_EQ(c.status, SubmitResult::Status::ok);
  EXPECT_EQ(c.stored, 1u);
  const SubmitResult dup = run_on(*other, kafka_imp("a", 0, 3));
  EXPECT_EQ(dup.duplicates, 1u);

  engine->kafka_partitions_assigned({{"t", 0}});  // and back to w1 (epoch 3)
  // Its engine stood at offset 2 (from its own last commit): it forgot that; the store says 4.
  EXPECT_EQ(engine->kafka_positions("t"), (std::map<int32_t, int64_t>{{0, 4}}));
  const SubmitResult c2 = run(kafka_imp("c", 0, 4));  // "c" was stored by w2: found in the store's keys
  EXPECT_EQ(c2.status, SubmitResult::Status::ok);
  EXPECT_EQ(c2.duplicates, 1u);
  EXPECT_EQ(c2.stored, 0u);
  EXPECT_EQ(run(kafka_imp("d", 0, 5)).stored, 1u);
  // w2 is the zombie now.
  EXPECT_EQ(run_on(*other, kafka_imp("y", 0, 4)).status, SubmitResult::Status::fenced);
  EXPECT_EQ(sql("SELECT event_key, source_record FROM impressions ORDER BY source_record"),
            "a,0\nb,1\nc,2\nd,5\n");
  EXPECT_EQ(sql("SELECT max(epoch), arg_max(member, epoch) FROM advx_kafka_claims"), "3,w1\n");
}

// A fenced batch holding submissions of other partitions stores those at once: only the fenced
// partition's are refused. An HTTP body in it is answered as a failed commit (503), to be sent again.
TEST_F(Fleet, AFencedBatchStoresItsOtherSubmissions) {
  engine->kafka_partitions_assigned({{"t", 0}, {"t", 1}});
  other_store->claim_kafka_partitions(std::vector<std::pair<std::string, int32_t>>{{"t", 1}}, "w2", 1);
  auto fenced = std::make_shared<std::promise<SubmitResult>>();
  auto kept = std::make_shared<std::promise<SubmitResult>>();
  auto http = std::make_shared<std::promise<SubmitResult>>();
  Submission s1 = kafka_imp("f", 1, 0);
  s1.done = [fenced](const SubmitResult& r) { fenced->set_value(r); };
  Submission s0 = kafka_imp("k", 0, 0);
  s0.done = [kept](const SubmitResult& r) { kept->set_value(r); };
  Submission h = json(imp("h", "2026-11-01T10:00:00Z"), "http:/v1/impressions");
  h.done = [http](const SubmitResult& r) { http->set_value(r); };
  // One batch: queued together before the engine takes them (the first may go alone; then the rest
  // still meet the fence in theirs).
  ASSERT_TRUE(engine->submit(std::move(s1)));
  ASSERT_TRUE(engine->submit(std::move(s0)));
  ASSERT_TRUE(engine->submit(std::move(h)));
  EXPECT_EQ(fenced->get_future().get().status, SubmitResult::Status::fenced);
  EXPECT_EQ(kept->get_future().get().stored, 1u);
  const SubmitResult hr = http->get_future().get();
  if (hr.status == SubmitResult::Status::ok) {  // it went in a batch of its own
    EXPECT_EQ(hr.stored, 1u);
    EXPECT_EQ(sql("SELECT event_key FROM impressions ORDER BY 1"), "h\nk\n");
  } else {
    EXPECT_EQ(hr.status, SubmitResult::Status::store_error);
    EXPECT_EQ(sql("SELECT event_key FROM impressions ORDER BY 1"), "k\n");
    Submission again = json(imp("h", "2026-11-01T10:00:00Z"), "http:/v1/impressions");
    EXPECT_EQ(run(std::move(again)).stored, 1u);
  }
}

// A worker that does not lead attribution runs no pass, not even at stop: its debts stay owed for the
// leader. Giving up the lead with a final pass attributes what is stored first.
TEST_F(Fleet, AttributionRunsOnlyWhileThisWorkerLeads) {
  other->set_attribution_enabled(false);
  engine->set_attribution_enabled(false);
  run(json(imp("i1", "2026-11-01T10:00:00Z", "u7")));
  Submission clicks;
  clicks.stream = Stream::events;
  clicks.format = BodyFormat::csv;
  clicks.body =
      "event_id,event_timestamp,user_id,ad_campaign_id,event_type\nk1,2026-11-01T10:30:00Z,u7,c1,click\n";
  clicks.source = "test";
  EXPECT_EQ(run(std::move(clicks)).stored, 1u);
  engine->stop();
  EXPECT_EQ(engine->stats().attribution_runs, 0u);
  EXPECT_EQ(sql("SELECT attribution FROM clicks"), "NULL\n");
  EXPECT_EQ(sql("SELECT count(*) > 0 FROM advx_attribution_pending"), "true\n");
  // The other worker takes the lead, then hands it over with a final pass.
  other->set_attribution_enabled(true);
  other->set_attribution_enabled(false, /*final_pass=*/true);
  EXPECT_GE(other->stats().attribution_runs, 1u);
  EXPECT_EQ(sql("SELECT attribution, attributed_impression_key FROM clicks"), "attributed,i1\n");
  EXPECT_EQ(sql("SELECT count(*) FROM advx_attribution_pending"), "0\n");
}

// The producer contract: a record whose user_id belongs to another partition is forwarded there (keyed by
// its user, with where it came from) before the batch commits, and not stored here; the others are.
TEST_F(Engine, RecordsOfAnotherPartitionsUserAreForwardedNotStored) {
  close();
  std::vector<ForwardedRecord> sent;
  std::vector<std::string> keys;  // a record's key points into the engine's buffers: copied
  int flushes = 0;
  size_t sent_at_flush = 0;
  options.forward = [&](const ForwardedRecord& f) {
    ForwardedRecord copy = f;
    keys.push_back(std::string(f.key));
    sent.push_back(std::move(copy));
  };
  options.flush_forwards = [&] {
    ++flushes;
    sent_at_flush = sent.size();
  };
  open();
  // Users of partition 1 of 4 and of others.
  std::string body;
  std::vector<std::string> home, away;
  for (int i = 0; home.size() < 3 || away.size() < 2; i++) {
    const std::string user = "u" + std::to_string(i);
    const bool here = kafka_partition_of(user, 4) == 1;
    if (here ? home.size() >= 3 : away.size() >= 2) continue;
    (here ? home : away).push_back(user);
    body += imp("e" + std::to_string(i), "2026-11-01T10:00:00Z", user);
  }
  // A JSON integer user_id is keyed in decimal, as advx publish keys it.
  int number = 1000;
  while (kafka_partition_of(std::to_string(number), 4) == 1) number++;
  std::string numeric = imp("n1", "2026-11-01T10:00:00Z", "NUMBER");
  numeric.replace(numeric.find("\"NUMBER\""), 8, std::to_string(number));
  body += numeric;
  Submission s = json(body);
  s.source = "kafka:t/1";
  s.record_base = 99;  // line 1 is offset 100
  s.kafka = KafkaPosition{"t", 1, 106, 100, 4};
  const SubmitResult r = run(std::move(s));
  EXPECT_EQ(r.status, SubmitResult::Status::ok);
  EXPECT_EQ(r.read, 3u);
  EXPECT_EQ(r.stored, 3u);
  EXPECT_EQ(r.forwarded, 3u);
  ASSERT_EQ(sent.size(), 3u);
  EXPECT_EQ(flushes, 1);
  EXPECT_EQ(sent_at_flush, 3u);  // every forward is queued before the flush that precedes the commit
  EXPECT_EQ(keys[2], std::to_string(number));
  EXPECT_EQ(sent[2].partition, kafka_partition_of(std::to_string(number), 4));
  EXPECT_NE(sent[2].value.find("\"user_id\":" + std::to_string(number) + ","), std::string::npos)
      << sent[2].value;
  for (size_t i = 0; i < away.size(); i++) {
    EXPECT_EQ(keys[i], away[i]);
    EXPECT_EQ(sent[i].topic, "t");
    EXPECT_EQ(sent[i].partition, kafka_partition_of(away[i], 4));
    EXPECT_NE(sent[i].value.find("\"user_id\":\"" + away[i] + "\""), std::string::npos) << sent[i].value;
    EXPECT_TRUE(sent[i].origin.starts_with("t/1/10")) << sent[i].origin;
  }
  EXPECT_EQ(sql("SELECT user_id FROM impressions ORDER BY source_record"),
            home[0] + "\n" + home[1] + "\n" + home[2] + "\n");
  EXPECT_EQ(engine->stats().forwarded[size_t(Stream::impressions)], 3u);
  EXPECT_EQ(engine->kafka_positions("t"), (std::map<int32_t, int64_t>{{1, 106}}));
  // Without the partition count (a topic whose metadata did not come), nothing is forwarded.
  Submission unknown = json(imp("x1", "2026-11-01T10:00:00Z", away[0]));
  unknown.kafka = KafkaPosition{"t", 1, 107, 106, 0};
  EXPECT_EQ(run(std::move(unknown)).stored, 1u);
  EXPECT_EQ(sent.size(), 3u);
}

}  // namespace
}  // namespace advx
