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
  };
  std::vector<KafkaLag> kafka;
  struct HttpRequests {
    std::string endpoint;
    int status = 0;
    uint64_t count = 0;
  };
  std::vector<HttpRequests> http;
};

// Every metric with HELP and TYPE lines, one sample per stream (and reason) even when zero, so that
// dashboards and alert rules see a series from the start.
std::string prometheus_text(const MetricsSnapshot& snapshot);

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
