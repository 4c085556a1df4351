// GET /metrics of advx serve: the engine's counters and the Kafka consumer lag in the Prometheus text
// exposition format (version 0.0.4). Names and labels are the contract in docs/METRICS.md.
#pragma once
#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "pipeline/stream_engine.hpp"

namespace advx {

struct MetricsSnapshot {
  EngineStats engine;
  struct KafkaLag {
    std::string topic;
    int32_t partition = 0;
    int64_t next_offset = -1;     // -1: not known yet
    int64_t high_watermark = -1;  // -1: not known yet
    bool paused = false;          // fetching held while the pipeline refuses batches
  };
  std::vector<KafkaLag> kafka;
  // The consumer's part in its group (a fleet worker: docs/FLEET.md); present only with Kafka.
  struct KafkaGroup {
    bool present = false;
    bool rebalancing = false;
    uint64_t rebalances = 0;
    size_t assigned = 0;
    double last_rebalance_seconds = 0;
    uint64_t offset_commits = 0, offset_commit_errors = 0;
  };
  KafkaGroup kafka_group;
  struct HttpRequests {
    std::string endpoint;
    int status = 0;
    uint64_t count = 0;
  };
  std::vector<HttpRequests> http;
  // The query pool of /v1/sql and the reports (server/query_pool.hpp).
  struct Queries {
    int running = 0, waiting = 0;                           // now
    uint64_t ok = 0, failed = 0, timeout = 0, refused = 0;  // answered so far, by outcome
  };
  Queries queries;
  // The data-quality monitor (src/monitor, docs/ALERTS.md): filled by whoever runs the rules; empty without.
  struct AlertSample {
    std::string rule, source, campaign, severity, state;  // state "pending" | "firing"
  };
  std::vector<AlertSample> alerts;  // the active alerts: one advx_alerts series each
  struct DeliverySample {
    std::string receiver;
    uint64_t sent = 0, retried = 0, failed = 0, dropped = 0;
  };
  std::vector<DeliverySample> deliveries;
  uint64_t rule_evaluations = 0;
  double last_evaluation_seconds = 0;
};

// Every metric with HELP and TYPE lines, one sample per stream (and reason) even when zero, so that
// dashboards and alert rules see a series from the start. Histograms (advx_batch_seconds,
// advx_commit_seconds, advx_event_lag_seconds) as Prometheus writes them: cumulative _bucket{le=...}
// series ending with le="+Inf", then _sum and _count. Alert label values that are empty are left out.
std::string prometheus_text(const MetricsSnapshot& snapshot);

// A float as Prometheus' client libraries write it (Go's strconv 'g' with the shortest precision): "0.005",
// "1", "86400", "1e+06", "+Inf". Used for `le` label values, which must match across sources.
std::string prometheus_float(double v);

// advx ingest --metrics-file: the per-stream counters of one batch run (the same names as above), plus
// advx_ingest_seconds, advx_ingest_failed_files and advx_ingest_last_run_timestamp_seconds, for node
// exporter's textfile collector.
struct BatchRunMetrics {
  std::array<StreamSummary, kStreamCount> streams;
  double seconds = 0;
  uint64_t failed_files = 0;
  int64_t finished_at_us = 0;
};
std::string prometheus_text(const BatchRunMetrics& run);

}  // namespace advx
