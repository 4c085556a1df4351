// `advx gen`: synthetic traffic for all three sources plus dimension files and an exact manifest (SPEC 4).
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <string>
#include <system_error>
#include <vector>

#include "cli/app.hpp"
#include "core/time_util.hpp"
#include "gen/generator.hpp"

namespace advx::cli {

namespace {

struct GenArgs {
  gen::GenOptions o;
  int64_t impressions = 100000;
  std::string codec = "snappy";
  std::vector<std::string> incidents;
  bool quiet = false;
};

// True when `dir` exists (or can be created) and a file can be written in it.
bool writable_dir(const std::string& dir, std::string& why) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) {
    why = ec.message();
    return false;
  }
  const auto probe = std::filesystem::path(dir) / ".advx-gen-probe";
  std::FILE* f = std::fopen(probe.c_str(), "wb");
  if (!f) {
    why = "not writable";
    return false;
  }
  std::fclose(f);
  std::filesystem::remove(probe, ec);
  return true;
}

}  // namespace

void add_gen_command(CLI::App& app, int& result) {
  auto args = std::make_shared<GenArgs>();
  auto* sub = app.add_subcommand(
      "gen",
      "Write deterministic synthetic impressions (JSONL), clicks/conversions (CSV), bid requests (Avro), "
      "dimension CSVs and _manifest.json with the exact counts an ingest must report");
  auto& o = args->o;
  sub->add_option("--out", o.out_dir, "Output folder (created if missing)")->required();
  sub->add_option("--impressions", args->impressions, "Impressions to generate (the funnel is built on them)")
      ->check(CLI::Range(int64_t(0), int64_t(1) << 40))
      ->capture_default_str();
  sub->add_option("--seed", o.seed, "Random seed: same options and seed give byte-identical files")
      ->capture_default_str();
  sub->add_option("--start", o.start_text, "First event time, ISO-8601 UTC")->capture_default_str();
  sub->add_option("--days", o.days, "Days of traffic")->check(CLI::Range(1, 3650))->capture_default_str();
  sub->add_option("--campaigns", o.campaigns, "Campaigns")
      ->check(CLI::Range(1, 10000))
      ->capture_default_str();
  const auto rate = CLI::Range(0.0, 1.0);
  sub->add_option("--duplicate-rate", o.duplicate_rate, "Share of good records written again later")
      ->check(rate)
      ->capture_default_str();
  sub->add_option(
         "--malformed-rate", o.malformed_rate,
         "Share of records rejected by validation (malformed, missing field, bad or future timestamp, ...)")
      ->check(rate)
      ->capture_default_str();
  sub->add_option("--bot-rate", o.bot_rate, "Share of impressions and bid requests with a bot user agent")
      ->check(rate)
      ->capture_default_str();
  sub->add_option("--late-rate", o.late_rate, "Share of events arriving hours late")
      ->check(rate)
      ->capture_default_str();
  sub->add_option("--out-of-order-rate", o.out_of_order_rate, "Share of events out of order within a file")
      ->check(rate)
      ->capture_default_str();
  sub->add_option("--unknown-creative-rate", o.unknown_creative_rate,
                  "Share of impressions of unknown creatives")
      ->check(rate)
      ->capture_default_str();
  sub->add_option("--files", o.files, "Files per stream (default: one per ~1M impressions)")
      ->check(CLI::Range(1, 255));
  sub->add_option("--codec", args->codec,
                  "Avro codec: snappy (default) is ~3x smaller than null at about the same wall time on 10M; "
                  "deflate is smallest and slowest")
      ->check(CLI::IsMember({"null", "deflate", "snappy"}))
      ->capture_default_str();
  sub->add_option("--schema", o.schema_path,
                  "Avro writer schema (default: embedded schemas/bid_request.avsc)")
      ->check(CLI::ExistingFile);
  sub->add_option(
         "--incident", args->incidents,
         "Inject an incident for the data-quality monitor to catch (repeatable); KIND and keys:\n"
         "silent,stream=S: S delivers nothing that arrives in the window\n"
         "delay,stream=S[,lag=20m][,share=0.5]: that share of S's events of the window arrive lag "
         "late\n"
         "ctr_spike[,campaign=ID][,factor=10]: the campaign (default: the first) gets factor x its "
         "clicks, attributed\n"
         "orphan_clicks[,share=0.3]: that share of the window's clicks come from users without "
         "impressions\n"
         "malformed,stream=S[,share=0.5]: that share of S's records of the window are undecodable\n"
         "S: impressions, clicks_conversions or bid_requests. START: HH:MM on the first day (UTC) or "
         "an ISO-8601 time; DURATION: 90s, 30m, 2h, 1h30m")
      ->type_name("KIND@START/DURATION[,KEY=VALUE...]")
      ->allow_extra_args(false);
  sub->add_flag("--quiet", args->quiet, "No summary line");
  sub->footer(
      "Incidents draw from random streams of their own: the streams an incident does not touch come out byte "
      "for byte as without it. _manifest.json lists each incident with its window and the records it "
      "dropped, "
      "delayed, added or corrupted; its counts stay exactly what advx ingest reports.\n"
      "Example: advx gen --out day --impressions 200000 --incident silent@10:00/30m,stream=impressions "
      "--incident ctr_spike@14:00/2h,campaign=1003,factor=10");

  sub->callback([args, &result] {
    auto& o = args->o;
    const double rates_sum = o.malformed_rate + o.bot_rate + o.unknown_creative_rate;
    if (rates_sum > 1.0) {
      std::fprintf(stderr,
                   "advx gen: --malformed-rate + --bot-rate + --unknown-creative-rate must be at most 1\n");
      result = kExitUsage;
      return;
    }
    if (!gen::parse_start_time(o.start_text, o.start_ms)) {
      std::fprintf(stderr, "advx gen: --start: not an ISO-8601 time: %s\n", o.start_text.c_str());
      result = kExitUsage;
      return;
    }
    if (args->incidents.size() > 64) {
      std::fprintf(stderr, "advx gen: --incident: at most 64\n");
      result = kExitUsage;
      return;
    }
    o.incidents.clear();
    for (const std::string& text : args->incidents) {
      gen::Incident incident;
      std::string error;
      if (!gen::parse_incident(text, o.start_ms, o.days, o.campaigns, incident, error)) {
        std::fprintf(stderr, "advx gen: --incident %s: %s\n", text.c_str(), error.c_str());
        result = kExitUsage;
        return;
      }
      o.incidents.push_back(std::move(incident));
    }
    std::string why;
    if (!writable_dir(o.out_dir, why)) {
      std::fprintf(stderr, "advx gen: cannot write to %s: %s\n", o.out_dir.c_str(), why.c_str());
      result = kExitUsage;
      return;
    }
    o.impressions = uint64_t(args->impressions);
    o.codec = args->codec == "null"      ? avro::Codec::null
              : args->codec == "deflate" ? avro::Codec::deflate
                                         : avro::Codec::snappy;
    gen::GenResult r;
    try {
      r = gen::generate(o);
    } catch (const std::exception& e) {
      std::fprintf(stderr, "advx gen: %s\n", e.what());
      result = kExitFailure;
      return;
    }
    const int64_t now_ms = wall_clock_us() / 1000;
    if (r.max_event_ms > now_ms)
      std::fprintf(
          stderr,
          "advx gen: warning: some events lie in the future; ingesting them before then rejects them as "
          "future_timestamp, which _manifest.json does not expect\n");
    if (!args->quiet)
      std::printf(
          "advx gen: wrote %llu+%llu+%llu files to %s in %.2f s: impressions %llu, clicks_conversions %llu, "
          "bid_requests %llu\n",
          (unsigned long long)r.impressions.files, (unsigned long long)r.clicks_conversions.files,
          (unsigned long long)r.bid_requests.files, o.out_dir.c_str(), r.seconds,
          (unsigned long long)r.impressions.read, (unsigned long long)r.clicks_conversions.read,
          (unsigned long long)r.bid_requests.read);
    result = kExitOk;
  });
}

}  // namespace advx::cli
