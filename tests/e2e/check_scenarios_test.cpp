// advx check over generated days (SPEC 5): a normal day fires nothing; a day with five injected incidents
// (advx gen --incident) fires each incident's alert within its stated time and resolves it after the
// incident ends, and nothing fires outside the incidents. 300,000 impressions over 10 campaigns: enough
// traffic for every rule to judge (docs/ALERTS.md, "the rules judge only what volume allows").
#include <gtest/gtest.h>

#include <vector>

#include "cli_runner.hpp"
#include "core/time_util.hpp"

namespace advx::test {
namespace {

struct Fired {
  std::string rule, source, campaign, state;
  int64_t fired_at = 0, resolved_at = 0;  // µs
};

std::string field(const std::string& line, const std::string& key) {
  const std::string k = "\"" + key + "\": ";
  const size_t at = line.find(k);
  if (at == std::string::npos) return "";
  const size_t v = at + k.size();
  if (line.compare(v, 4, "null") == 0) return "";
  if (line[v] != '"') return line.substr(v, line.find_first_of(",}", v) - v);
  return line.substr(v + 1, line.find('"', v + 1) - v - 1);
}

// Generates a day, ingests it, runs advx check --format json; exit code in *exit_code.
std::vector<Fired> check_day(const TempDir& dir, const std::vector<std::string>& incidents, int* exit_code) {
  std::vector<std::string> gen = {"gen",    "--out",       dir.str("day"), "--impressions",
                                  "300000", "--campaigns", "10",           "--quiet"};
  for (const std::string& i : incidents) gen.insert(gen.end(), {"--incident", i});
  CommandResult r = run_advx(gen, dir.str());
  EXPECT_EQ(r.exit_code, 0) << r.err;
  r = run_advx({"ingest", "--db", dir.str("day.duckdb"), "--dims", dir.str("day/dims"), dir.str("day")},
               dir.str());
  EXPECT_EQ(r.exit_code, 0) << r.err;
  r = run_advx({"check", "--db", dir.str("day.duckdb"), "--format", "json"}, dir.str());
  *exit_code = r.exit_code;
  EXPECT_NE(r.err.find("1439 evaluations"), std::string::npos) << r.err;  // the whole day, minute by minute
  std::vector<Fired> out;
  size_t pos = 0;
  while ((pos = r.out.find("{\"rule\"", pos)) != std::string::npos) {
    const std::string line = r.out.substr(pos, r.out.find('\n', pos) - pos);
    Fired f{field(line, "rule"), field(line, "source"), field(line, "campaign"), field(line, "state")};
    EXPECT_TRUE(parse_timestamp_text(field(line, "fired_at"), &f.fired_at)) << line;
    if (!field(line, "resolved_at").empty()) {
      EXPECT_TRUE(parse_timestamp_text(field(line, "resolved_at"), &f.resolved_at)) << line;
    }
    out.push_back(f);
    pos += line.size();
  }
  return out;
}

int64_t at(const char* hhmm) {
  int64_t us = 0;
  EXPECT_TRUE(parse_timestamp_text(std::string("2026-11-01T") + hhmm + ":00Z", &us));
  return us;
}

std::string describe(const std::vector<Fired>& fired) {
  std::string s;
  for (const Fired& f : fired)
    s += f.rule + " " + f.source + " " + f.campaign + " " + format_timestamp(f.fired_at) + " .. " +
         (f.resolved_at ? format_timestamp(f.resolved_at) : "firing") + "\n";
  return s;
}

TEST(CheckScenarios, ANormalDayFiresNothing) {
  TempDir dir;
  int exit_code = -1;
  const std::vector<Fired> fired = check_day(dir, {}, &exit_code);
  EXPECT_TRUE(fired.empty()) << describe(fired);
  EXPECT_EQ(exit_code, 0);
}

TEST(CheckScenarios, EachIncidentFiresItsAlertInTimeAndResolvesAfterIt) {
  TempDir dir;
  int exit_code = -1;
  const std::vector<Fired> fired =
      check_day(dir,
                {"silent@03:00/30m,stream=impressions", "delay@07:00/30m,stream=impressions,lag=20m",
                 "ctr_spike@11:00/30m,campaign=1003,factor=10", "orphan_clicks@15:00/30m,share=0.3",
                 "malformed@19:00/10m,stream=impressions,share=0.5"},
                &exit_code);
  EXPECT_EQ(exit_code, 1);
  // Each incident: the alert it must raise, the latest it may fire (its stated time: docs/ALERTS.md) and
  // the window in which it must resolve (not before the incident's effect ends, not long after).
  struct Expect {
    const char* rule;
    const char* source;
    const char* campaign;
    int64_t start, fire_by, resolve_from, resolve_by;
  };
  const Expect expected[] = {
      // Silent from 03:00: freshness at 10 minutes without data, resolved when data is back at 03:30.
      {"freshness", "impressions", "", at("03:00"), at("03:13"), at("03:30"), at("03:33")},
      // Half of 07:00-07:30 arrives 20 minutes late, from 07:20 to 07:50: p95 lag over 10 minutes within
      // 2 minutes plus for: 2m, resolved once the 10-minute window has no late rows.
      {"delay", "impressions", "", at("07:00"), at("07:26"), at("07:50"), at("08:02")},
      // 10x CTR on campaign 1003: 3x over the 15-minute window within ~4 minutes, plus for: 2m.
      {"ctr", "clicks_conversions", "1003", at("11:00"), at("11:12"), at("11:30"), at("11:45")},
      // 30 % orphans: 10 % over the 15-minute window within ~5 minutes, plus for: 2m.
      {"orphan_clicks", "clicks_conversions", "", at("15:00"), at("15:10"), at("15:30"), at("15:45")},
      // Half the impressions malformed for 10 minutes: 10 % over the 10-minute window within ~2 minutes
      // plus for: 2m; resolved once the window holds less than 10 %.
      {"reject_rate", "impressions", "", at("19:00"), at("19:06"), at("19:10"), at("19:20")},
  };
  for (const Expect& e : expected) {
    bool found = false;
    for (const Fired& f : fired) {
      if (f.rule != e.rule || f.source != e.source || f.campaign != e.campaign) continue;
      if (f.fired_at < e.start || f.fired_at > e.resolve_by) continue;
      found = true;
      EXPECT_LE(f.fired_at, e.fire_by) << e.rule << "\n" << describe(fired);
      EXPECT_EQ(f.state, "resolved") << e.rule;
      EXPECT_GE(f.resolved_at, e.resolve_from) << e.rule << "\n" << describe(fired);
      EXPECT_LE(f.resolved_at, e.resolve_by) << e.rule << "\n" << describe(fired);
    }
    EXPECT_TRUE(found) << e.rule << " did not fire\n" << describe(fired);
  }
  // Nothing fires outside the incidents. Their side effects may (docs/ALERTS.md): a silent or malformed
  // source leaves orphan clicks and a traffic drop, a delay a drop and then a catch-up spike.
  for (const Fired& f : fired) {
    bool during_incident = false;
    for (const Expect& e : expected) during_incident |= f.fired_at >= e.start && f.fired_at <= e.resolve_by;
    EXPECT_TRUE(during_incident) << f.rule << " fired outside every incident\n" << describe(fired);
  }
}

TEST(CheckScenarios, UsageAndEmptyStores) {
  TempDir dir;
  CommandResult r = run_advx({"check", "--db", dir.str("none.duckdb"), "--from", "yesterday"}, dir.str());
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_NE(r.err.find("not a timestamp: yesterday"), std::string::npos) << r.err;
  r = run_advx({"check", "--db", dir.str("none.duckdb")}, dir.str());
  EXPECT_EQ(r.exit_code, 1) << r.err;  // no such database: the store failed
  r = run_advx({"ingest", "--db", dir.str("empty.duckdb"), dir.str()}, dir.str());
  r = run_advx({"check", "--db", dir.str("empty.duckdb")}, dir.str());
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("the store holds no events"), std::string::npos) << r.err;
}

// A result that cannot be written (here a full device) is a failure with a message, not exit 0 with the
// output cut short — for check as for sql and report.
TEST(CheckScenarios, AnUnwritableResultIsAFailure) {
  TempDir dir;
  write_file(
      dir.str("imps.jsonl"),
      R"({"impression_id":"i1","ad_creative_id":"cr1","user_id":"u1","timestamp":"2026-11-01T10:00:00Z","website":"a.com"})"
      "\n");
  ASSERT_EQ(run_advx({"ingest", "--db", dir.str("s.duckdb"), dir.str("imps.jsonl")}, dir.str()).exit_code, 0);
  for (const std::string args : {"check --signals", "check", "sql 'SELECT 1'", "report campaigns"}) {
    const std::string cmd = shell_quote(ADVX_BINARY) + " " + args + " --db " +
                            shell_quote(dir.str("s.duckdb")) + " >/dev/full 2>" + shell_quote(dir.str("err"));
    const int status = std::system(cmd.c_str());
    EXPECT_EQ(WEXITSTATUS(status), 1) << args;
    EXPECT_NE(slurp(dir.str("err")).find("cannot write the result to standard output"), std::string::npos)
        << args << ": " << slurp(dir.str("err"));
  }
}

}  // namespace
}  // namespace advx::test
