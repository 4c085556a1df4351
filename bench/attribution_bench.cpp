// Attribution (SPEC 2.6) on a store that advx ingest wrote, beside DuckDB's ASOF JOIN doing the same on
// the same tables: `attribution_bench DB [memory_limit]`.
//
// Each side runs in its own child process on its own copy of DB (so peak memory is its own), with the
// same DuckDB memory limit (default 1GB, as advx ingest). advx: attribute() for the newest run as if every
// row had just arrived (the first-run case: every pair, every auction, every hour of the rollup). Peer:
// ASOF JOINs for clicks and conversions, the won flags and the same hourly rollup, written as a user of
// DuckDB would. The peer's attribution counts are checked against advx's and printed beside them.
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <stdexcept>
#include <string>

#include "correlate/attribution.hpp"
#include "store/duckdb/duckdb_store.hpp"

namespace {

using advx::DuckDbStore;

std::string one(DuckDbStore& store, const std::string& sql) {
  const advx::ResultTable r = store.query(sql);
  return r.rows() == 0 ? "" : r.text(0, 0);
}

// The attribution outcome, for comparing the two sides.
constexpr const char* kOutcome =
    "SELECT (SELECT count(*) FILTER (attribution = 'attributed') || ' attributed / ' || "
    "count(*) FILTER (attribution = 'orphan') || ' orphan clicks' FROM clicks) || ', ' || "
    "(SELECT count(*) FILTER (attribution = 'click_through') || ' ct / ' || count(*) FILTER (attribution = "
    "'view_through') || ' vt / ' || count(*) FILTER (attribution = 'unattributed') || ' unattributed' FROM "
    "conversions) || ', ' || (SELECT count(*) FILTER (won) FROM bid_requests) || ' won'";

// SPEC 2.6 with ASOF JOIN: the latest impression (click) at or before, then the window checked. Ties on
// time are not broken by key (ASOF has no such order): a difference shows in the outcome line.
constexpr const char* kAsof = R"sql(
CREATE TEMP TABLE imps AS SELECT event_key, user_id, campaign_id, creative_id, event_time FROM impressions
  WHERE NOT unknown_creative;
CREATE TEMP TABLE click_attr AS
SELECT c.event_key, i.event_key AS imp_key, i.event_time AS imp_time, c.event_time FROM
  (SELECT * FROM clicks WHERE creative_id IS NULL OR creative_id = '') c
  ASOF LEFT JOIN imps i ON i.user_id = c.user_id AND i.campaign_id = c.campaign_id AND i.event_time <= c.event_time
UNION ALL
SELECT c.event_key, i.event_key, i.event_time, c.event_time FROM
  (SELECT * FROM clicks WHERE creative_id IS NOT NULL AND creative_id <> '') c
  ASOF LEFT JOIN imps i ON i.user_id = c.user_id AND i.campaign_id = c.campaign_id
    AND i.creative_id = c.creative_id AND i.event_time <= c.event_time;
UPDATE clicks SET
  attribution = CASE WHEN a.imp_time IS NOT NULL AND a.event_time - a.imp_time <= INTERVAL 1 HOUR
                     THEN 'attributed' ELSE 'orphan' END,
  attributed_impression_key = CASE WHEN a.event_time - a.imp_time <= INTERVAL 1 HOUR THEN a.imp_key END
FROM click_attr a WHERE clicks.event_key = a.event_key;
UPDATE conversions SET attribution = a.kind FROM (
  SELECT v.event_key, CASE WHEN k.event_time IS NOT NULL AND v.event_time - k.event_time <= INTERVAL 7 DAY
                             THEN 'click_through'
                           WHEN i.event_time IS NOT NULL AND v.event_time - i.event_time <= INTERVAL 1 DAY
                             THEN 'view_through' ELSE 'unattributed' END AS kind
  FROM conversions v
  ASOF LEFT JOIN clicks k ON k.user_id = v.user_id AND k.campaign_id = v.campaign_id AND k.event_time <= v.event_time
  ASOF LEFT JOIN imps i ON i.user_id = v.user_id AND i.campaign_id = v.campaign_id AND i.event_time <= v.event_time
) a WHERE conversions.event_key = a.event_key;
UPDATE bid_requests SET won = true WHERE auction_id IN (SELECT auction_id FROM impressions);
DELETE FROM campaign_hourly;
INSERT INTO campaign_hourly BY NAME
WITH win AS (SELECT auction_id, arg_min(campaign_id, event_key) AS campaign_id FROM impressions
             WHERE auction_id IS NOT NULL GROUP BY ALL),
e AS (
  SELECT event_time AS t, campaign_id, 1 AS impressions, win_price_cpm::DECIMAL(38,9) * 0.001 AS spend FROM impressions
  UNION ALL BY NAME
  SELECT event_time AS t, campaign_id, 1 AS clicks, (attribution = 'attributed')::INT AS attributed_clicks,
         (attribution = 'orphan')::INT AS orphan_clicks FROM clicks
  UNION ALL BY NAME
  SELECT event_time AS t, campaign_id, 1 AS conversions, (attribution = 'click_through')::INT AS click_through_conversions,
         (attribution = 'view_through')::INT AS view_through_conversions,
         (attribution = 'unattributed')::INT AS unattributed_conversions, conversion_value::DECIMAL(38,9) AS conversion_value FROM conversions
  UNION ALL BY NAME
  SELECT b.event_time AS t, w.campaign_id, 1 AS bid_requests_won FROM bid_requests b JOIN win w USING (auction_id)
  WHERE b.won)
SELECT date_trunc('hour', t) AS hour, campaign_id, coalesce(sum(bid_requests_won), 0) AS bid_requests_won,
       coalesce(sum(impressions), 0) AS impressions, coalesce(sum(spend), 0) AS spend,
       coalesce(sum(clicks), 0) AS clicks, coalesce(sum(attributed_clicks), 0) AS attributed_clicks,
       coalesce(sum(orphan_clicks), 0) AS orphan_clicks, coalesce(sum(conversions), 0) AS conversions,
       coalesce(sum(click_through_conversions), 0) AS click_through_conversions,
       coalesce(sum(view_through_conversions), 0) AS view_through_conversions,
       coalesce(sum(unattributed_conversions), 0) AS unattributed_conversions,
       coalesce(sum(conversion_value), 0) AS conversion_value
FROM e GROUP BY ALL;
)sql";

struct Side {
  double seconds = -1;  // -1: failed
  long peak_kb = 0;
  char outcome[256] = {};
};

// Runs `prepare` then, timed, `work` on a fresh copy of `db` in a child process; seconds and outcome come
// back through a pipe.
template <typename Prepare, typename Work>
Side run_side(const std::string& db, const std::string& memory_limit, const char* name, Prepare prepare,
              Work work) {
  const std::string copy = db + "." + name + ".bench-copy";
  std::filesystem::copy_file(db, copy, std::filesystem::copy_options::overwrite_existing);
  int fds[2];
  if (pipe(fds) != 0) return {};
  const pid_t pid = fork();
  if (pid == 0) {
    close(fds[0]);
    Side s;
    try {
      DuckDbStore store(copy);
      store.execute("SET memory_limit = '" + memory_limit + "'");
      prepare(store);
      const auto t0 = std::chrono::steady_clock::now();
      work(store);
      s.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      std::snprintf(s.outcome, sizeof s.outcome, "%s", one(store, kOutcome).c_str());
    } catch (const std::exception& e) {
      std::snprintf(s.outcome, sizeof s.outcome, "FAILED: %s", e.what());
    }
    if (write(fds[1], &s, sizeof s) != ssize_t(sizeof s)) _exit(1);
    _exit(0);
  }
  close(fds[1]);
  Side s;
  if (read(fds[0], &s, sizeof s) != ssize_t(sizeof s)) s.seconds = -1;
  close(fds[0]);
  int status = 0;
  rusage ru{};
  wait4(pid, &status, 0, &ru);
  s.peak_kb = ru.ru_maxrss;
  std::filesystem::remove(copy);
  std::filesystem::remove(copy + ".wal");
  return s;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s DB [memory_limit=1GB]\n", argv[0]);
    return 2;
  }
  const std::string db = argv[1];
  const std::string memory_limit = argc > 2 ? argv[2] : "1GB";
  int64_t run_us = 0;
  std::string events;
  {
    DuckDbStore store(db, advx::StoreMode::read_only);
    run_us = std::stoll(one(store, "SELECT epoch_us(max(ingested_at)) FROM impressions"));
    events = one(store,
                 "SELECT (SELECT count(*) FROM impressions) + (SELECT count(*) FROM clicks) + "
                 "(SELECT count(*) FROM conversions) + (SELECT count(*) FROM bid_requests)");
    std::printf("store: %s events (%s impressions, %s clicks, %s conversions, %s bid requests)\n",
                events.c_str(), one(store, "SELECT count(*) FROM impressions").c_str(),
                one(store, "SELECT count(*) FROM clicks").c_str(),
                one(store, "SELECT count(*) FROM conversions").c_str(),
                one(store, "SELECT count(*) FROM bid_requests").c_str());
  }
  const double n = std::stod(events);
  // Every row as if it came in the newest run: attribution then covers the whole store.
  const std::string run = "make_timestamp(" + std::to_string(run_us) + ")";
  const std::string all_new = "UPDATE {} SET ingested_at = " + run + " WHERE ingested_at <> " + run;
  auto mark_all_new = [&](DuckDbStore& store) {
    store.ensure_schema();  // a store from an older advx has no rollup table yet
    for (const char* t : {"impressions", "clicks", "conversions", "bid_requests"}) {
      std::string sql = all_new;
      sql.replace(sql.find("{}"), 2, t);
      store.execute(sql);
    }
    store.execute("UPDATE bid_requests SET won = false WHERE won");
    store.execute("CHECKPOINT");
  };
  auto print = [&](const char* name, const Side& s) {
    if (s.seconds < 0) {
      std::printf("%-28s %s\n", name, s.outcome);
      return;
    }
    std::printf("%-28s %7.2f s  %10.0f events/s  peak %5.0f MB   %s\n", name, s.seconds, n / s.seconds,
                s.peak_kb / 1024.0, s.outcome);
  };
  const Side advx_side = run_side(db, memory_limit, "advx", mark_all_new, [&](DuckDbStore& store) {
    advx::owe_attribution(store, run_us);
    const advx::AttributionResult r = advx::attribute_pending(store, advx::AttributionWindows{});
    if (r.pairs == 0) throw std::runtime_error("no pairs attributed");
  });
  const Side peer = run_side(db, memory_limit, "asof", mark_all_new, [&](DuckDbStore& store) {
    store.begin();
    store.execute(kAsof);
    store.commit();
  });
  std::printf("memory limit %s; times exclude preparing the copies\n", memory_limit.c_str());
  print("advx attribute() + rollup", advx_side);
  print("DuckDB ASOF JOIN SQL", peer);
  if (advx_side.seconds > 0 && peer.seconds > 0)
    std::printf("ratio (peer time / advx time): %.2fx\n", peer.seconds / advx_side.seconds);
  return advx_side.seconds > 0 ? 0 : 1;
}
