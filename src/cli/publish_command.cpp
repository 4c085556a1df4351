// advx publish [--brokers LIST] [--schema-registry URL] [--config advx.toml] [--…-topic T] PATH… : files of
// the three formats to their Kafka topics, in the wire formats advx serve consumes, keyed by user_id
// (SPEC 4; docs/PUBLISH.md).
#include "cli/publish_command.hpp"

#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <memory>

#include "cli/app.hpp"
#include "cli/progress_bar.hpp"
#include "cli/serve_config.hpp"
#include "formats/format_detect.hpp"
#include "pipeline/batch_run.hpp"
#include "publish/publisher.hpp"
#include "sinks/kafka/kafka_producer.hpp"
#include "sources/kafka/schema_registry.hpp"

namespace advx::cli {
namespace {

namespace fs = std::filesystem;

struct PublishArgs {
  std::string config;
  std::string brokers;
  std::string schema_registry;
  std::string impressions_topic, events_topic, bid_requests_topic;
  bool impressions_topic_set = false, events_topic_set = false, bid_requests_topic_set = false;
  double timeout_s = 30;
  std::vector<std::string> paths;
  bool quiet = false;
};

int run_publish(const PublishArgs& a) {
  const auto t0 = std::chrono::steady_clock::now();
  // The [kafka] section of serve's config, so a publisher and its workers share one file; flags override.
  ServeConfig config;
  std::string error;
  if (!a.config.empty() && !load_serve_config(a.config, &config, &error)) {
    std::fprintf(stderr, "advx publish: %s\n", error.c_str());
    return kExitUsage;
  }
  if (!a.brokers.empty()) config.kafka_brokers = a.brokers;
  if (!a.schema_registry.empty()) config.schema_registry = a.schema_registry;
  if (a.impressions_topic_set) config.impressions_topic = a.impressions_topic;
  if (a.events_topic_set) config.events_topic = a.events_topic;
  if (a.bid_requests_topic_set) config.bid_requests_topic = a.bid_requests_topic;
  if (config.kafka_brokers.empty()) {
    std::fprintf(stderr,
                 "advx publish: no brokers: give --brokers HOST:PORT,… or [kafka] brokers in --config\n");
    return kExitUsage;
  }

  // The files as ingest lists them, the dimension folder of a generated data set left out.
  std::string skip_dir;
  for (const std::string& p : a.paths) {
    std::error_code ec;
    if (skip_dir.empty() && fs::is_directory(p, ec) && fs::exists(fs::path(p) / "dims" / "campaigns.csv", ec))
      skip_dir = (fs::path(p) / "dims").string();
  }
  const std::vector<std::string> files = expand_inputs(a.paths, skip_dir, &error);
  if (!error.empty()) {
    std::fprintf(stderr, "advx publish: %s\n", error.c_str());
    return kExitFailure;
  }

  PublishOptions options;
  options.topics = {config.impressions_topic, config.events_topic, config.bid_requests_topic};
  options.csv_columns = config.csv_columns;
  // The streams the files feed: by name, and all three for a file whose name does not tell.
  std::array<bool, kStreamCount> needed{};
  for (const std::string& f : files) {
    if (const std::optional<Format> format = format_from_name(f))
      needed[size_t(stream_of(*format))] = true;
    else
      needed.fill(true);
  }
  static constexpr std::array<const char*, kStreamCount> kTopicFlags = {
      "--impressions-topic", "--events-topic", "--bid-requests-topic"};
  for (int s = 0; s < kStreamCount; s++) {
    if (needed[size_t(s)] && options.topics[size_t(s)].empty()) {
      std::fprintf(stderr, "advx publish: %s files need a topic (%s)\n",
                   std::string(stream_name(Stream(s))).c_str(), kTopicFlags[size_t(s)]);
      return kExitUsage;
    }
  }
  const bool bids = needed[size_t(Stream::bid_requests)];
  if (bids && config.schema_registry.empty()) {
    std::fprintf(stderr,
                 "advx publish: bid request files need a schema registry: --schema-registry URL or [kafka] "
                 "schema_registry in --config\n");
    return kExitUsage;
  }

  KafkaProducerOptions producer_options;
  producer_options.brokers = config.kafka_brokers;
  producer_options.timeout_ms = int(a.timeout_s * 1000);
  producer_options.properties = config.kafka_properties;
  std::unique_ptr<KafkaProducer> producer = KafkaProducer::create(producer_options, &error);
  if (!producer) {
    std::fprintf(stderr, "advx publish: %s\n", error.c_str());
    return kExitUsage;
  }
  std::unique_ptr<SchemaRegistry> registry;
  if (!config.schema_registry.empty())
    registry = std::make_unique<SchemaRegistry>(config.schema_registry, producer_options.timeout_ms);
  Publisher publisher(
      *producer,
      [&registry](const std::string& subject, const std::string& schema, int32_t* id, std::string* why) {
        if (!registry) return *why = "no schema registry given", false;
        return registry->register_schema(subject, schema, id, why);
      },
      options);
  if (!publisher.check_options(&error)) {
    std::fprintf(stderr, "advx publish: %s\n", error.c_str());
    return kExitUsage;
  }
  // The cluster answers, and every topic the files need exists, before anything is read.
  for (int s = 0; s < kStreamCount; s++) {
    int partitions = 0;
    if (needed[size_t(s)] && !producer->check_topic(options.topics[size_t(s)], &partitions, &error)) {
      std::fprintf(stderr, "advx publish: %s\n", error.c_str());
      return kExitFailure;
    }
  }

  publisher.on_bad = [](const std::string& line) {
    std::fprintf(stderr, "advx publish: bad record: %s\n", line.c_str());
  };
  ProgressBar bar(!a.quiet && isatty(STDERR_FILENO), total_bytes(files));
  uint64_t done_before = 0;
  for (size_t i = 0; i < files.size(); i++) {
    publisher.publish_file(files[i],
                           [&](uint64_t pos) { bar.update(done_before + pos, i + 1, files.size()); });
    if (!publisher.summary().fatal.empty()) break;
    std::error_code ec;
    const auto size = fs::file_size(files[i], ec);
    if (!ec) done_before += size;
  }
  // Everything queued is delivered (or has failed) before the summary.
  producer->flush();
  bar.finish();
  PublishSummary& s = publisher.summary();
  s.delivery = producer->delivery();
  s.delivery_error = producer->first_error();
  s.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::fputs(format_publish_summary(s).c_str(), stdout);
  std::fflush(stdout);
  for (const PublishFailure& f : s.failures) std::fprintf(stderr, "advx publish: %s\n", f.message.c_str());
  if (!s.fatal.empty()) {
    std::fprintf(stderr, "advx publish: %s\n", s.fatal.c_str());
    return kExitFailure;
  }
  uint64_t failed = 0;
  for (const auto& [topic, d] : s.delivery) failed += d.failed;
  if (failed > 0) {
    std::fprintf(stderr, "advx publish: %llu messages not delivered: %s\n",
                 static_cast<unsigned long long>(failed), s.delivery_error.c_str());
    return kExitFailure;
  }
  return s.failures.empty() ? kExitOk : kExitFailure;
}

}  // namespace

void add_publish_command(CLI::App& app, int& result) {
  auto args = std::make_shared<PublishArgs>();
  CLI::App* sub =
      app.add_subcommand("publish",
                         "Send files of impressions (JSON), clicks/conversions (CSV) and bid requests (Avro) "
                         "to their Kafka topics "
                         "in the wire formats advx serve consumes, keyed by user_id (backfills, load tests)");
  sub->add_option("paths", args->paths,
                  "Files or folders (.jsonl .ndjson .json .csv .avro, optionally .gz/.zst)")
      ->required();
  sub->add_option("--config", args->config,
                  "advx serve's TOML file: its [kafka] section gives brokers, topics, schema_registry, "
                  "csv_columns and [kafka.properties]");
  sub->add_option("--brokers", args->brokers, "Kafka bootstrap servers (host:port,…)");
  sub->add_option("--schema-registry", args->schema_registry,
                  "Confluent-compatible schema registry URL (needed for bid requests)");
  sub->add_option("--impressions-topic", args->impressions_topic,
                  "Topic of impressions (default ad-impressions)")
      ->each([a = args.get()](const std::string&) { a->impressions_topic_set = true; });
  sub->add_option("--events-topic", args->events_topic,
                  "Topic of clicks and conversions (default clicks-conversions)")
      ->each([a = args.get()](const std::string&) { a->events_topic_set = true; });
  sub->add_option("--bid-requests-topic", args->bid_requests_topic,
                  "Topic of bid requests (default bid-requests)")
      ->each([a = args.get()](const std::string&) { a->bid_requests_topic_set = true; });
  sub->add_option("--timeout", args->timeout_s,
                  "Seconds to reach the brokers and the registry, and for each message's delivery")
      ->capture_default_str()
      ->check(CLI::Range(0.1, 3600.0));
  sub->add_flag("-q,--quiet", args->quiet, "No progress bar");
  sub->callback([args, &result] { result = run_publish(*args); });
}

}  // namespace advx::cli
