// advx report through the binary: `report campaigns` on generated data against numbers computed here with
// other SQL (ASOF JOIN for click attribution, plain aggregates for the rest), and the CLI's usage errors.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "cli_runner.hpp"

namespace advx::test {
namespace {

using Row = std::vector<std::string>;

// Simple CSV (no quoted fields in these reports): header, then rows.
std::vector<Row> parse_csv(const std::string& text) {
  std::vector<Row> rows;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    Row row;
    size_t start = 0;
    for (;;) {
      const size_t comma = line.find(',', start);
      row.push_back(line.substr(start, comma == std::string::npos ? std::string::npos : comma - start));
      if (comma == std::string::npos) break;
      start = comma + 1;
    }
    rows.push_back(row);
  }
  return rows;
}

class Report : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir = new TempDir();
    CommandResult g = run_advx(
        {"gen", "--out", dir->str("data"), "--impressions", "20000", "--seed", "9", "--quiet"}, dir->str());
    ASSERT_EQ(g.exit_code, 0) << g.err;
    CommandResult i = run_advx({"ingest", "--db", db(), "-q", dir->str("data")}, dir->str());
    ASSERT_EQ(i.exit_code, 0) << i.err;
  }
  static void TearDownTestSuite() {
    delete dir;
    dir = nullptr;
  }
  static std::string db() { return dir->str("r.duckdb"); }

  // CSV rows (without the header) of a query, keyed by the first column.
  static std::map<std::string, Row> sql_by_key(const std::string& q) {
    CommandResult r = run_advx({"sql", "--db", db(), "--format", "csv", q}, dir->str());
    EXPECT_EQ(r.exit_code, 0) << r.err << q;
    std::vector<Row> rows = parse_csv(r.out);
    std::map<std::string, Row> by_key;
    for (size_t i = 1; i < rows.size(); ++i) by_key[rows[i][0]] = rows[i];
    return by_key;
  }

  static TempDir* dir;
};

TempDir* Report::dir = nullptr;

double num(const std::string& s) { return s.empty() ? 0.0 : std::strtod(s.c_str(), nullptr); }

// "" for NULL (a zero denominator), else the ratio.
std::string ratio_text(double num_value, double den) {
  if (den == 0) return "";
  std::ostringstream out;
  out.precision(17);
  out << num_value / den;
  return out.str();
}

void expect_money(const std::string& actual, const std::string& expected, const std::string& what) {
  ASSERT_EQ(actual.empty(), expected.empty()) << what << ": " << actual << " vs " << expected;
  if (actual.empty()) return;
  const double a = num(actual), e = num(expected);
  EXPECT_NEAR(a, e, 1e-6 * std::max(1.0, std::fabs(e))) << what;
}

TEST_F(Report, CampaignsMatchIndependentSql) {
  CommandResult r = run_advx({"report", "campaigns", "--db", db(), "--format", "csv"}, dir->str());
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::vector<Row> report = parse_csv(r.out);
  ASSERT_GE(report.size(), 2u);
  const Row header = report[0];
  ASSERT_EQ(header, (Row{"campaign_id", "advertiser_id", "bid_requests_won", "impressions", "clicks",
                         "attributed_clicks", "orphan_clicks", "ctr", "conversions",
                         "click_through_conversions", "view_through_conversions", "unattributed_conversions",
                         "conversion_rate", "conversion_value", "spend", "cpc", "cpa", "roas"}));

  // Every campaign of the dims and of the events, with its advertiser from the dims; impressions of unknown
  // creatives have no campaign: a row with campaign_id NULL (an empty key here), last.
  auto campaigns = sql_by_key(
      "SELECT e.campaign_id, d.advertiser_id FROM (SELECT campaign_id FROM campaigns UNION SELECT "
      "campaign_id "
      "FROM impressions UNION SELECT campaign_id FROM clicks UNION SELECT campaign_id FROM conversions) e "
      "LEFT JOIN campaigns d USING (campaign_id)");
  auto imps = sql_by_key("SELECT campaign_id, count(*), sum(win_price_cpm) FROM impressions GROUP BY 1");
  auto won = sql_by_key(
      "SELECT i.campaign_id, count(DISTINCT b.auction_id) FROM bid_requests b JOIN impressions i "
      "ON i.auction_id = b.auction_id WHERE b.won GROUP BY 1");
  // Attribution again, by ASOF JOIN: the latest impression of the user and campaign (and creative, when the
  // click names one) at or before the click, at most an hour before it; unknown creatives attribute nothing.
  auto clicks = sql_by_key(
      "WITH imps AS (SELECT user_id, campaign_id, creative_id, event_time FROM impressions "
      "WHERE NOT unknown_creative), "
      "a AS (SELECT c.campaign_id, c.event_time - i.event_time <= INTERVAL 3600 SECOND AS hit FROM clicks c "
      "ASOF LEFT JOIN imps i ON c.user_id = i.user_id AND c.campaign_id = i.campaign_id "
      "AND c.event_time >= i.event_time WHERE c.creative_id IS NULL OR c.creative_id = '' "
      "UNION ALL SELECT c.campaign_id, c.event_time - i.event_time <= INTERVAL 3600 SECOND FROM clicks c "
      "ASOF LEFT JOIN imps i ON c.user_id = i.user_id AND c.campaign_id = i.campaign_id "
      "AND c.creative_id = i.creative_id AND c.event_time >= i.event_time "
      "WHERE c.creative_id IS NOT NULL AND c.creative_id <> '') "
      "SELECT campaign_id, count(*), count(*) FILTER (WHERE hit) FROM a GROUP BY 1");
  auto convs = sql_by_key(
      "SELECT campaign_id, count(*), count(*) FILTER (WHERE attribution = 'click_through'), "
      "count(*) FILTER (WHERE attribution = 'view_through'), count(*) FILTER (WHERE attribution = "
      "'unattributed'), sum(conversion_value) FROM conversions GROUP BY 1");

  ASSERT_EQ(report.size() - 1, campaigns.size());
  int64_t total_attributed = 0;
  std::string previous;
  for (size_t i = 1; i < report.size(); ++i) {
    const Row& row = report[i];
    ASSERT_EQ(row.size(), header.size());
    const std::string& id = row[0];
    SCOPED_TRACE("campaign " + id);
    if (id.empty())
      EXPECT_EQ(i, report.size() - 1);  // NULL last
    else
      EXPECT_LT(previous, id);  // ordered by campaign_id
    previous = id;
    ASSERT_TRUE(campaigns.count(id));
    auto get = [](std::map<std::string, Row>& m, const std::string& key, size_t col) {
      auto it = m.find(key);
      return it == m.end() ? std::string("0") : it->second[col].empty() ? std::string("0") : it->second[col];
    };
    const std::string n_imp = get(imps, id, 1), n_click = get(clicks, id, 1), n_attr = get(clicks, id, 2),
                      n_conv = get(convs, id, 1);
    const int64_t orphan = std::stoll(n_click) - std::stoll(n_attr);
    total_attributed += std::stoll(n_attr);
    const double spend = num(get(imps, id, 2)) / 1000, value = num(get(convs, id, 5));
    EXPECT_EQ(row[1], campaigns[id][1]);
    EXPECT_EQ(row[2], get(won, id, 1));
    EXPECT_EQ(row[3], n_imp);
    EXPECT_EQ(row[4], n_click);
    EXPECT_EQ(row[5], n_attr);
    EXPECT_EQ(row[6], std::to_string(orphan));
    expect_money(row[7], ratio_text(num(n_click), num(n_imp)), "ctr");
    EXPECT_EQ(row[8], n_conv);
    EXPECT_EQ(row[9], get(convs, id, 2));
    EXPECT_EQ(row[10], get(convs, id, 3));
    EXPECT_EQ(row[11], get(convs, id, 4));
    expect_money(row[12], ratio_text(num(n_conv), num(n_click)), "conversion_rate");
    expect_money(row[13], ratio_text(value, 1), "conversion_value");
    expect_money(row[14], ratio_text(spend, 1), "spend");
    expect_money(row[15], ratio_text(spend, num(n_click)), "cpc");
    expect_money(row[16], ratio_text(spend, num(n_conv)), "cpa");
    expect_money(row[17], ratio_text(value, spend), "roas");
  }
  EXPECT_GT(total_attributed, 100);  // the data has attributed clicks at all
}

// A day and an hour window: the per-day rows add up to the whole, and --from/--to count what SQL counts.
TEST_F(Report, ByDayAndTimeWindow) {
  CommandResult r =
      run_advx({"report", "campaigns", "--db", db(), "--by", "day", "--format", "csv"}, dir->str());
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::vector<Row> rows = parse_csv(r.out);
  ASSERT_EQ(rows[0][0], "day");
  ASSERT_EQ(rows[0][1], "campaign_id");
  int64_t impressions = 0, clicks = 0;
  for (size_t i = 1; i < rows.size(); ++i) {
    impressions += std::stoll(rows[i][4]);
    clicks += std::stoll(rows[i][5]);
  }
  auto totals = sql_by_key("SELECT 'all', (SELECT count(*) FROM impressions), (SELECT count(*) FROM clicks)");
  EXPECT_EQ(std::to_string(impressions), totals["all"][1]);
  EXPECT_EQ(std::to_string(clicks), totals["all"][2]);

  // The hour starting at the earliest impression's hour + 1.
  auto hour = sql_by_key(
      "SELECT 'h', strftime(date_trunc('hour', min(event_time)) + INTERVAL 1 HOUR, '%Y-%m-%dT%H:%M:%SZ'), "
      "strftime(date_trunc('hour', min(event_time)) + INTERVAL 2 HOUR, '%Y-%m-%dT%H:%M:%SZ') FROM "
      "impressions");
  const std::string from = hour["h"][1], to = hour["h"][2];
  auto expected = sql_by_key("SELECT 'n', count(*) FROM impressions WHERE event_time >= TIMESTAMP '" +
                             from.substr(0, 19) + "' AND event_time < TIMESTAMP '" + to.substr(0, 19) + "'");
  r = run_advx({"report", "funnel", "--db", db(), "--from", from, "--to", to, "--format", "csv"}, dir->str());
  ASSERT_EQ(r.exit_code, 0) << r.err;
  rows = parse_csv(r.out);
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[0][2], "impressions");
  EXPECT_EQ(rows[1][2], expected["n"][1]);
  EXPECT_NE(rows[1][2], "0");
}

TEST_F(Report, TableIsForPeople) {
  CommandResult r = run_advx({"report", "campaigns", "--db", db()}, dir->str());
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find(" campaign_id | advertiser_id | bid_requests_won"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("%"), std::string::npos);
  EXPECT_NE(r.out.find("1,"), std::string::npos);  // thousands separators in the impression counts
  for (const char* sub : {"funnel", "latency", "frequency"}) {
    r = run_advx({"report", sub, "--db", db(), "--format", "json", "--by", "campaign"}, dir->str());
    EXPECT_EQ(r.exit_code, 0) << sub << r.err;
    EXPECT_EQ(r.out.substr(0, 1), "[") << sub;
    EXPECT_NE(r.out.find("{\"campaign_id\": "), std::string::npos) << sub;
  }
}

TEST(ReportCli, UsageErrorsAndMissingDatabase) {
  TempDir dir;
  for (const char* sub : {"campaigns", "funnel", "latency", "frequency"}) {
    CommandResult r = run_advx({"report", sub, "--help"}, dir.str());
    EXPECT_EQ(r.exit_code, 0) << sub;
    EXPECT_NE(r.out.find("--from"), std::string::npos) << sub;
  }
  const std::string db = dir.str("none.duckdb");
  CommandResult r = run_advx({"report", "campaigns", "--db", db}, dir.str());
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(r.err, "advx report campaigns: no database at " + db + " (run advx ingest first)\n");
  EXPECT_FALSE(std::filesystem::exists(db));  // not created by the attempt

  const std::vector<std::vector<std::string>> bad = {
      {"report", "campaigns", "--by", "campaign,weekday"},
      {"report", "campaigns", "--from", "yesterday"},
      {"report", "campaigns", "--format", "xml"},
      {"report", "campaigns", "--from", "2026-11-02", "--to", "2026-11-01"},
      {"report", "funnel", "--by", "site"},
      {"report", "latency", "--bogus"},
      {"report"},
  };
  for (const auto& args : bad) {
    std::vector<std::string> with_db = args;
    with_db.insert(with_db.end(), {"--db", db});
    if (args.size() == 1) with_db = args;
    r = run_advx(with_db, dir.str());
    EXPECT_EQ(r.exit_code, 2) << args.back() << r.err;
    EXPECT_EQ(r.err.substr(r.err.find('\n') + 1), "Run with --help for usage.\n") << r.err;  // one line
  }
}

}  // namespace
}  // namespace advx::test
