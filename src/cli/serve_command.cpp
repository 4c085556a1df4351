// advx serve [--config FILE] [--db FILE] [--dims DIR] [--http HOST:PORT] [--kafka-brokers LIST] …: the
// real-time half (SPEC 4, 6) — HTTP collector, Kafka consumers and the query API on one StreamEngine.
// docs/SERVE.md describes the endpoints, the config and the delivery guarantees.
#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <memory>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include "cli/app.hpp"
#include "cli/serve_config.hpp"
#include "cli/store_setup.hpp"
#include "monitor/monitor.hpp"
#include "pipeline/stream_engine.hpp"
#include "server/http_server.hpp"
#include "server/metrics.hpp"
#include "server/query_pool.hpp"
#include "sources/kafka/kafka_consumer.hpp"
#include "sources/kafka/kafka_forwarder.hpp"
#include "sources/kafka/schema_registry.hpp"

namespace advx::cli {
namespace {

struct ServeArgs {
  std::string config;
  std::string db;
  std::string dims;
  std::string http;
  std::string kafka_brokers;
  std::string schema_registry;
  std::string token;
  double query_timeout_s = 0;  // 0: not given
  bool metrics_public = false;
  bool no_http = false;
};

// Every flag given overrides the config file.
bool apply_flags(const ServeArgs& a, ServeConfig& c, std::string* error) {
  if (!a.db.empty()) c.db = a.db;
  if (!a.dims.empty()) c.dims = a.dims;
  if (!a.http.empty() && !parse_listen(a.http, &c.http_host, &c.http_port)) {
    *error = "--http must be host:port, e.g. 127.0.0.1:8080 (got \"" + a.http + "\")";
    return false;
  }
  if (a.no_http) c.http_enabled = false;
  if (!a.kafka_brokers.empty()) {
    c.kafka_enabled = true;
    c.kafka_brokers = a.kafka_brokers;
  }
  if (!a.schema_registry.empty()) c.schema_registry = a.schema_registry;
  if (!a.token.empty()) c.token = a.token;
  if (a.metrics_public) c.metrics_public = true;
  if (a.query_timeout_s != 0) {
    if (!(a.query_timeout_s >= 0.001) || a.query_timeout_s > 1e9) {
      *error = "--query-timeout must be a number of seconds of at least 0.001";
      return false;
    }
    c.query_timeout_us = int64_t(a.query_timeout_s * 1e6);
  }
  if (!c.http_enabled && !c.kafka_enabled) {
    *error = "nothing to serve: HTTP is off and Kafka is not configured";
    return false;
  }
  return true;
}

// A fleet worker's member id in the store's claims (docs/FLEET.md): host, pid and a random part, so that a
// restarted worker (same host and pid after a reboot, say) is another member.
std::string fleet_member_id() {
  char host[256] = {};
  if (gethostname(host, sizeof host - 1) != 0) host[0] = '\0';
  std::random_device rd;
  char id[340];
  std::snprintf(id, sizeof id, "%s:%d:%08x%08x", host, int(getpid()), rd(), rd());
  return id;
}

int run_serve(const ServeArgs& a) {
  ServeConfig c;
  std::string error;
  if (!a.config.empty() && !load_serve_config(a.config, &c, &error)) {
    std::fprintf(stderr, "advx serve: %s\n", error.c_str());
    return kExitUsage;
  }
  if (!apply_flags(a, c, &error)) {
    std::fprintf(stderr, "advx serve: %s\n", error.c_str());
    return kExitUsage;
  }
  StreamEngineOptions options = c.engine;
  // With Kafka, a worker is a fleet member: it fences its batches by its claims and leads attribution only
  // while it holds partition 0 of the first topic it reads (docs/FLEET.md).
  std::unique_ptr<KafkaForwarder> forwarder;  // records of another partition's users go there (FLEET.md)
  if (c.kafka_enabled) {
    options.fleet_member = fleet_member_id();
    forwarder = std::make_unique<KafkaForwarder>(c.kafka_brokers, c.kafka_properties);
    if (!forwarder->start(&error)) {
      std::fprintf(stderr, "advx serve: kafka: %s\n", error.c_str());
      return kExitUsage;
    }
    if (c.forward_miskeyed) {
      options.forward = [f = forwarder.get()](const ForwardedRecord& r) { f->forward(r); };
      options.flush_forwards = [f = forwarder.get()] { f->flush(); };
    }
  }
  const std::string leader_topic = !c.impressions_topic.empty() ? c.impressions_topic
                                   : !c.events_topic.empty()    ? c.events_topic
                                                                : c.bid_requests_topic;
  std::unique_ptr<GeoIp> geoip;
  if (!set_traffic_rules(c.block_ips, c.block_sites, c.geoip, {"block site", "geoip"}, options.validation,
                         geoip, &error)) {
    std::fprintf(stderr, "advx serve: %s\n", error.c_str());
    return kExitUsage;
  }

  // Signals go to this thread alone (sigwait below): block them before any thread starts.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  std::unique_ptr<Store> store;
  Dimensions dims;
  try {
    store = open_store(c.db, StoreMode::read_write);
    store->ensure_schema();
    store->set_memory_limit(c.memory_limit);
    // DuckDB checkpoints when its WAL passes this: each checkpoint also rewrites the last, partly filled row
    // group, so with the 16 MB default a stream of small commits spends most of its time checkpointing
    // (1,000-event POSTs: 155k events/s at 16 MB, 251k at 128 MB; docs/BENCHMARKS.md).
    store->set_checkpoint_threshold_mb(c.checkpoint_mb);
    if (!load_dimensions(c.dims, *store, dims, &error)) {
      std::fprintf(stderr, "advx serve: %s\n", error.c_str());
      return kExitUsage;
    }
  } catch (const StoreError& e) {
    std::fprintf(stderr, "advx serve: %s: %s\n", c.db.c_str(), e.what());
    return kExitFailure;
  }

  StreamEngine engine(*store, std::move(dims), options);
  // The query API's own pool: a read connection per worker, so that one slow query holds one worker and
  // nothing else (docs/SERVE.md, "Queries").
  std::unique_ptr<QueryPool> queries;
  try {
    engine.start();
    if (c.kafka_enabled) engine.set_attribution_enabled(false);  // until this worker holds the lead
    std::vector<std::unique_ptr<Store>> connections;
    for (int i = 0; i < c.query_threads; i++) connections.push_back(store->another_connection());
    QueryPoolOptions qo;
    qo.timeout = std::chrono::milliseconds(std::max<int64_t>((c.query_timeout_us + 999) / 1000, 1));
    qo.timeout_setting = "([http] query_timeout_s)";
    queries = std::make_unique<QueryPool>(std::move(connections), qo);
    // POST /v1/sql must not reach files or the network: advx itself reads none through the store.
    store->forbid_external_access();
  } catch (const StoreError& e) {
    std::fprintf(stderr, "advx serve: %s: %s\n", c.db.c_str(), e.what());
    return kExitFailure;
  }

  // The data-quality monitor (docs/ALERTS.md) reads on a connection of its own.
  std::unique_ptr<monitor::Monitor> quality;
  if (c.monitor_enabled) {
    monitor::MonitorOptions mo;
    mo.rules = c.rules;
    mo.bucket_us = c.monitor_bucket_us;
    mo.repeat_interval_us = c.repeat_interval_us;
    mo.alertmanager_resend_us = c.alertmanager_resend_us;
    mo.notifier = c.notifier;
    if (mo.notifier.generator_url.empty() && c.http_enabled)
      mo.notifier.generator_url = "http://" + c.http_host + ":" + std::to_string(c.http_port) + "/v1/alerts";
    auto duplicates = [&engine] {
      std::array<uint64_t, kStreamCount> d{};
      const EngineStats st = engine.stats();
      for (int i = 0; i < kStreamCount; i++) d[size_t(i)] = st.streams[size_t(i)].duplicates;
      return d;
    };
    quality = std::make_unique<monitor::Monitor>(store->another_connection(), mo, duplicates);
    if (!quality->check_options(&error)) {
      std::fprintf(stderr, "advx serve: %s\n", error.c_str());
      return kExitUsage;
    }
  }

  std::unique_ptr<SchemaRegistry> registry;
  if (!c.schema_registry.empty()) registry = std::make_unique<SchemaRegistry>(c.schema_registry);

  std::atomic<const KafkaConsumer*> kafka_for_metrics{nullptr};  // set once the consumer runs
  std::unique_ptr<HttpServer> http;
  if (c.http_enabled) {
    HttpServerOptions ho;
    ho.host = c.http_host;
    ho.port = c.http_port;
    ho.max_body_bytes = c.max_body_mb << 20;
    ho.bearer_token = c.token;
    ho.metrics_public = c.metrics_public;
    ho.threads = c.http_threads;
    ServerHooks hooks;
    hooks.submit = [&engine](Submission s) { return engine.submit(std::move(s)); };
    hooks.schema_for_id = [&registry](int32_t id, std::string* err) -> std::shared_ptr<const std::string> {
      if (!registry) {
        *err = "no schema registry configured ([kafka] schema_registry)";
        return nullptr;
      }
      std::shared_ptr<const std::string> schema;
      const SchemaRegistry::Lookup found = registry->schema(id, &schema, err);
      if (found == SchemaRegistry::Lookup::unavailable) throw std::runtime_error(*err);  // 503: retry later
      return found == SchemaRegistry::Lookup::found ? schema : nullptr;
    };
    hooks.query = [&queries](const std::string& sql) { return queries->query_read_only(sql); };
    hooks.report = [&queries](const ReportRequest& q) { return queries->report(q); };
    // Not ready while the store fails, nor while a rebalance leaves this worker without its partitions.
    hooks.ready = [&engine, &kafka_for_metrics] {
      const KafkaConsumer* k = kafka_for_metrics.load();
      return engine.healthy() && !(k && k->group_stats().rebalancing);
    };
    hooks.metrics = [&engine, &kafka_for_metrics, &http, &quality, &queries] {
      MetricsSnapshot m;
      m.engine = engine.stats();
      const QueryPool::Stats qs = queries->stats();
      m.queries = {qs.running, qs.waiting, qs.succeeded, qs.failed, qs.timed_out, qs.refused};
      if (quality) {
        for (const monitor::Alert& a : quality->active())
          m.alerts.push_back(
              {a.rule, a.source, a.campaign, a.severity, std::string(alert_state_name(a.state))});
        const monitor::MonitorStats ms = quality->stats();
        for (const monitor::DeliveryStats& d : ms.deliveries)
          m.deliveries.push_back({d.receiver, d.sent, d.retried, d.failed, d.dropped});
        m.rule_evaluations = ms.evaluations;
        m.last_evaluation_seconds = ms.last_evaluation_seconds;
      }
      if (http)
        for (const auto& c : http->request_counts()) m.http.push_back({c.endpoint, c.status, c.count});
      if (const KafkaConsumer* k = kafka_for_metrics.load()) {
        for (const PartitionLag& p : k->lag())
          m.kafka.push_back({p.topic, p.partition, p.next_offset, p.high_watermark, p.paused});
        const KafkaGroupStats g = k->group_stats();
        m.kafka_group = {true,
                         g.rebalancing,
                         g.rebalances,
                         g.assigned,
                         g.last_rebalance_seconds,
                         g.offset_commits,
                         g.offset_commit_errors};
      }
      return prometheus_text(m);
    };
    if (quality) hooks.alerts = [&quality] { return quality->alerts_json(); };
    http = std::make_unique<HttpServer>(ho, hooks);
    if (!http->start(&error)) {
      std::fprintf(stderr, "advx serve: %s\n", error.c_str());
      return kExitFailure;
    }
  }

  std::unique_ptr<KafkaConsumer> kafka;
  if (c.kafka_enabled) {
    KafkaOptions ko;
    ko.brokers = c.kafka_brokers;
    ko.group_id = c.kafka_group;
    ko.impressions_topic = c.impressions_topic;
    ko.events_topic = c.events_topic;
    ko.bid_requests_topic = c.bid_requests_topic;
    ko.csv_columns = c.csv_columns;
    ko.schema_registry_url = c.schema_registry;
    ko.properties = c.kafka_properties;
    KafkaHooks kh;
    kh.submit = [&engine](Submission s) { return engine.submit(std::move(s)); };
    kh.flush = [&engine] { engine.flush(); };
    kh.positions = [&engine](const std::string& topic) { return engine.kafka_positions(topic); };
    kh.assigned = [&engine, leader_topic](const std::vector<std::pair<std::string, int32_t>>& partitions) {
      engine.kafka_partitions_assigned(partitions);
      const bool lead = std::any_of(partitions.begin(), partitions.end(),
                                    [&](const auto& p) { return p.first == leader_topic && p.second == 0; });
      engine.set_attribution_enabled(lead);
    };
    // Leaving the group (SIGTERM), the leader attributes what is stored before another worker leads.
    kh.revoked = [&engine](bool closing) { engine.set_attribution_enabled(false, closing); };
    kafka = std::make_unique<KafkaConsumer>(ko, kh, registry.get());
    if (!kafka->start(&error)) {
      std::fprintf(stderr, "advx serve: kafka: %s\n", error.c_str());
      if (http) http->stop();
      return kExitUsage;
    }
  }

  kafka_for_metrics = kafka.get();
  if (quality) quality->start();

  // The first line says where to reach it (tests read the port from it when they ask for port 0).
  if (http)
    std::printf("advx serve: listening on http://%s:%d", c.http_host.c_str(), http->port());
  else
    std::printf("advx serve: no HTTP");
  if (kafka) std::printf(", kafka %s (group %s)", c.kafka_brokers.c_str(), c.kafka_group.c_str());
  std::printf(", store %s\n", c.db.c_str());
  std::fflush(stdout);

  for (;;) {
    int sig = 0;
    if (sigwait(&signals, &sig) != 0) continue;
    if (sig == SIGHUP) {
      if (c.dims.empty()) {
        std::fprintf(stderr, "advx serve: SIGHUP: no dimension folder configured, nothing to reload\n");
        continue;
      }
      Dimensions fresh;
      if (!fresh.load_directory(c.dims, &error)) {
        std::fprintf(stderr, "advx serve: SIGHUP: kept the dimensions in use: %s\n", error.c_str());
        continue;
      }
      std::fprintf(stderr, "advx serve: SIGHUP: %zu campaigns, %zu creatives from %s\n",
                   fresh.campaign_count(), fresh.creative_count(), c.dims.c_str());
      engine.reload_dimensions(std::move(fresh));
      continue;
    }
    break;  // SIGTERM, SIGINT
  }
  // Stop the inputs first, so that everything they accepted is committed by the engine's last batch.
  std::fprintf(stderr, "advx serve: stopping: committing what was accepted\n");
  // Running queries are interrupted and their callers answered 503 at once: the HTTP server's stop waits
  // for every request in flight, and a query would otherwise hold it until it ends by itself.
  queries->stop();
  if (http) http->stop();  // first: /metrics reads the consumer
  kafka_for_metrics = nullptr;
  if (kafka) kafka->stop();
  engine.stop();
  if (quality) quality->stop();
  const EngineStats st = engine.stats();
  for (int i = 0; i < kStreamCount; i++) {
    const StreamSummary& s = st.streams[size_t(i)];
    std::fprintf(
        stderr, "advx serve: %s read %llu, stored %llu, rejected %llu, filtered %llu, duplicates %llu\n",
        std::string(stream_name(Stream(i))).c_str(), (unsigned long long)s.read, (unsigned long long)s.stored,
        (unsigned long long)s.rejected(), (unsigned long long)s.filtered(), (unsigned long long)s.duplicates);
  }
  return st.store_errors > 0 && !engine.healthy() ? kExitFailure : kExitOk;
}

}  // namespace

void add_serve_command(CLI::App& app, int& result) {
  auto args = std::make_shared<ServeArgs>();
  auto* sub = app.add_subcommand(
      "serve", "Real time: HTTP collector, Kafka consumers and the query API on one engine (docs/SERVE.md)");
  sub->add_option("--config", args->config, "TOML configuration file (example: advx.example.toml)")
      ->check(CLI::ExistingFile);
  auto* db =
      sub->add_option("--db", args->db, "DuckDB database file (default advx.duckdb; overrides [store])");
  sub->add_option(
         "--store", args->db,
         "The store as a URL: duckdb:PATH or clickhouse://[USER[:PASS]@]HOST:PORT/DB (overrides [store])")
      ->excludes(db);
  sub->add_option("--dims", args->dims, "Folder with campaigns.csv and creatives.csv, reloaded on SIGHUP")
      ->check(CLI::ExistingDirectory);
  sub->add_option("--http", args->http, "Listen address host:port (default 127.0.0.1:8080; port 0: any)");
  sub->add_flag("--no-http", args->no_http, "Do not serve HTTP (Kafka only)");
  sub->add_option("--kafka-brokers", args->kafka_brokers, "Consume from these Kafka brokers (host:port,…)");
  sub->add_option("--schema-registry", args->schema_registry, "Confluent schema registry URL for Avro");
  sub->add_option("--token", args->token, "Bearer token required by every endpoint but /healthz and /readyz");
  sub->add_flag("--metrics-public", args->metrics_public,
                "Serve /metrics without the token (overrides "
                "[http] metrics_public)");
  sub->add_option(
      "--query-timeout", args->query_timeout_s,
      "Seconds a query (/v1/sql, /v1/report/*) may take before it is interrupted and answered 504 "
      "(default 30; overrides [http] query_timeout_s)");
  sub->footer(
      "Endpoints: POST /v1/impressions (NDJSON or a JSON array), POST /v1/events (CSV), POST "
      "/v1/bid-requests\n"
      "(Avro OCF or one Confluent-framed datum), GET /v1/pixel, GET /v1/report/campaigns, POST /v1/sql,\n"
      "GET /healthz, GET /readyz, GET /metrics, GET /v1/alerts (data-quality alerts: docs/ALERTS.md).\n"
      "With --token, every endpoint but /healthz and /readyz needs \"Authorization: Bearer TOKEN\".\n"
      "SIGTERM commits everything accepted and exits 0 (running queries are interrupted); SIGHUP reloads "
      "--dims.");
  sub->callback([args, &result] { result = run_serve(*args); });
}

}  // namespace advx::cli
