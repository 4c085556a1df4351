#include "server/metrics.hpp"

#include <charconv>
#include <cmath>
#include <span>
#include <string_view>
#include <utility>

namespace advx {

namespace {

void header(std::string& out, const char* name, const char* type, const char* help) {
  out += "# HELP ";
  out += name;
  out += ' ';
  out += help;
  out += "\n# TYPE ";
  out += name;
  out += ' ';
  out += type;
  out += '\n';
}

// Label values here are stream, reason and topic names: escape what the format requires anyway.
std::string label_value(std::string_view v) {
  std::string s;
  for (char c : v) {
    if (c == '\\' || c == '"') s += '\\';
    if (c == '\n') {
      s += "\\n";
      continue;
    }
    s += c;
  }
  return s;
}

void append_number(std::string& out, double value) {
  char buf[64];
  const auto r = std::to_chars(buf, buf + sizeof buf, value);  // the shortest text that reads back exactly
  out.append(buf, r.ptr);
}

void sample(std::string& out, std::string_view name, std::string_view labels, double value) {
  out += name;
  if (!labels.empty()) {
    out += '{';
    out += labels;
    out += '}';
  }
  out += ' ';
  append_number(out, value);
  out += '\n';
}

// `name{labels,le="…"} cumulative count` per bound, then +Inf, _sum and _count.
void histogram(std::string& out, std::string_view name, std::string_view labels, const HistogramView& h,
               const std::vector<std::string>& le) {
  uint64_t cumulative = 0;
  for (size_t i = 0; i < h.counts.size(); i++) {
    cumulative += h.counts[i];
    out += name;
    out += "_bucket{";
    if (!labels.empty()) {
      out += labels;
      out += ',';
    }
    out += "le=\"";
    out += i < le.size() ? std::string_view(le[i]) : std::string_view("+Inf");
    out += "\"} ";
    append_number(out, double(cumulative));
    out += '\n';
  }
  const std::string base(name);
  sample(out, base + "_sum", labels, h.sum);
  sample(out, base + "_count", labels, double(h.count));
}

std::vector<std::string> le_values(std::span<const double> bounds) {
  std::vector<std::string> le;
  le.reserve(bounds.size());
  for (double b : bounds) le.push_back(prometheus_float(b));
  return le;
}

// `,name="value"` (no comma first when `labels` is empty); nothing for an empty value.
void add_label(std::string& labels, std::string_view name, std::string_view value) {
  if (value.empty()) return;
  if (!labels.empty()) labels += ',';
  labels += name;
  labels += "=\"";
  labels += label_value(value);
  labels += '"';
}

std::string stream_label(int i) { return "stream=\"" + std::string(stream_name(Stream(i))) + "\""; }

// The counters per stream and reason that advx serve and advx ingest share.
void stream_counters(const EngineStats& e, std::string& out) {
  struct PerStream {
    const char* name;
    const char* help;
    uint64_t (*get)(const EngineStats&, int);
  };
  const PerStream counters[] = {
      {"advx_events_read_total", "Records read, per stream (committed micro-batches).",
       [](const EngineStats& s, int i) { return s.streams[size_t(i)].read; }},
      {"advx_events_stored_total", "Records stored as events.",
       [](const EngineStats& s, int i) { return s.streams[size_t(i)].stored; }},
      {"advx_events_duplicates_total", "Records dropped as duplicates (SPEC 2.4).",
       [](const EngineStats& s, int i) { return s.streams[size_t(i)].duplicates; }},
      {"advx_events_late_total", "Stored records older than the watermark when they arrived (SPEC 2.6).",
       [](const EngineStats& s, int i) { return s.late[size_t(i)]; }},
      {"advx_input_bytes_total", "Bytes decoded.",
       [](const EngineStats& s, int i) { return s.streams[size_t(i)].bytes; }},
  };
  for (const PerStream& c : counters) {
    header(out, c.name, "counter", c.help);
    for (int i = 0; i < kStreamCount; i++) sample(out, c.name, stream_label(i), double(c.get(e, i)));
  }
  for (const bool filtered : {false, true}) {
    const char* name = filtered ? "advx_events_filtered_total" : "advx_events_rejected_total";
    header(out, name, "counter",
           filtered ? "Records filtered as invalid traffic, by reason (SPEC 2.3)."
                    : "Records rejected, by reason (SPEC 2.1).");
    for (int i = 0; i < kStreamCount; i++) {
      for (int r = 0; r < kReasonCount; r++) {
        if (is_filter_reason(Reason(r)) != filtered) continue;
        sample(out, name, stream_label(i) + ",reason=\"" + std::string(reason_name(Reason(r))) + "\"",
               double(e.streams[size_t(i)].by_reason[size_t(r)]));
      }
    }
  }
}

}  // namespace

std::string prometheus_text(const MetricsSnapshot& m) {
  const EngineStats& e = m.engine;
  std::string out;
  out.reserve(16384 + 160 * (m.alerts.size() + m.http.size() + m.kafka.size()) + 400 * m.deliveries.size());
  header(out, "advx_up", "gauge", "1 while advx serve runs.");
  sample(out, "advx_up", "", 1);
  stream_counters(e, out);
  header(out, "advx_watermark_seconds", "gauge",
         "Latest event time stored less the allowed lateness, Unix seconds (0 before any data).");
  for (int i = 0; i < kStreamCount; i++)
    sample(out, "advx_watermark_seconds", stream_label(i), double(e.watermark_us[size_t(i)]) / 1e6);
  header(out, "advx_queue_bytes", "gauge", "Accepted input waiting for the engine.");
  sample(out, "advx_queue_bytes", "", double(e.queue_bytes));
  header(out, "advx_queue_submissions", "gauge", "Submissions waiting for the engine.");
  sample(out, "advx_queue_submissions", "", double(e.queue_submissions));
  header(out, "advx_dedup_keys", "gauge", "Dedup keys held, by where: memory, or spilled to disk.");
  sample(out, "advx_dedup_keys", "tier=\"memory\"", double(e.dedup_keys - e.dedup_spilled_keys));
  sample(out, "advx_dedup_keys", "tier=\"disk\"", double(e.dedup_spilled_keys));
  header(out, "advx_dedup_memory_bytes", "gauge", "Memory of the dedup index and its spilled runs' filters.");
  sample(out, "advx_dedup_memory_bytes", "", double(e.dedup_memory_bytes));
  header(out, "advx_commits_total", "counter", "Micro-batches committed.");
  sample(out, "advx_commits_total", "", double(e.commits));
  header(out, "advx_store_errors_total", "counter", "Micro-batches whose commit failed.");
  sample(out, "advx_store_errors_total", "", double(e.store_errors));
  header(out, "advx_attribution_runs_total", "counter", "Attribution passes completed.");
  sample(out, "advx_attribution_runs_total", "", double(e.attribution_runs));
  header(out, "advx_last_commit_seconds", "gauge",
         "Duration of the last micro-batch, first record to commit.");
  sample(out, "advx_last_commit_seconds", "", e.last_commit_seconds);
  const std::vector<std::string> latency_le = le_values(e.batch_seconds.bounds());
  header(out, "advx_batch_seconds", "histogram",
         "Duration of committed micro-batches, first submission taken to commit done.");
  histogram(out, "advx_batch_seconds", "", e.batch_seconds.view(), latency_le);
  header(out, "advx_commit_seconds", "histogram", "Duration of the store's COMMIT of each micro-batch.");
  histogram(out, "advx_commit_seconds", "", e.commit_seconds.view(), latency_le);
  header(out, "advx_event_lag_seconds", "histogram",
         "Processing time less event time of stored events, per stream (at least 0).");
  const std::vector<std::string> lag_le = le_values(LagHistogram::bounds());
  for (int i = 0; i < kStreamCount; i++)
    histogram(out, "advx_event_lag_seconds", stream_label(i), e.event_lag[size_t(i)].view(), lag_le);
  header(out, "advx_http_requests_total", "counter", "HTTP requests answered, by endpoint and status.");
  for (const auto& h : m.http)
    sample(out, "advx_http_requests_total",
           "endpoint=\"" + label_value(h.endpoint) + "\",status=\"" + std::to_string(h.status) + "\"",
           double(h.count));
  header(out, "advx_queries_running", "gauge",
         "Queries (/v1/sql, /v1/report/*) on a worker of the query pool, an interrupted one until it ends.");
  sample(out, "advx_queries_running", "", double(m.queries.running));
  header(out, "advx_queries_waiting", "gauge", "Queries waiting for a free worker of the query pool.");
  sample(out, "advx_queries_waiting", "", double(m.queries.waiting));
  header(out, "advx_queries_total", "counter",
         "Queries answered, by outcome: ok, failed (refused or failing SQL), timeout (504), refused "
         "(stopping).");
  const std::pair<const char*, uint64_t> outcomes[] = {{"ok", m.queries.ok},
                                                       {"failed", m.queries.failed},
                                                       {"timeout", m.queries.timeout},
                                                       {"refused", m.queries.refused}};
  for (const auto& [outcome, n] : outcomes)
    sample(out, "advx_queries_total", std::string("outcome=\"") + outcome + '"', double(n));
  header(out, "advx_kafka_consumer_lag", "gauge",
         "Messages of a partition not read yet: its high watermark less the next offset to read.");
  for (const auto& k : m.kafka) {
    if (k.next_offset < 0 || k.high_watermark < 0) continue;
    sample(out, "advx_kafka_consumer_lag",
           "topic=\"" + label_value(k.topic) + "\",partition=\"" + std::to_string(k.partition) + "\"",
           double(k.high_watermark - k.next_offset));
  }
  header(out, "advx_kafka_partition_paused", "gauge",
         "1 while the consumer holds a partition's fetching because the pipeline refuses batches (the store "
         "is down or the queue full): nothing is lost, it resumes by itself.");
  for (const auto& k : m.kafka)
    sample(out, "advx_kafka_partition_paused",
           "topic=\"" + label_value(k.topic) + "\",partition=\"" + std::to_string(k.partition) + "\"",
           k.paused ? 1.0 : 0.0);
  header(out, "advx_kafka_partition_position", "gauge",
         "The next offset the consumer reads of an assigned partition: every message before it is stored.");
  for (const auto& k : m.kafka) {
    if (k.next_offset < 0) continue;
    sample(out, "advx_kafka_partition_position",
           "topic=\"" + label_value(k.topic) + "\",partition=\"" + std::to_string(k.partition) + "\"",
           double(k.next_offset));
  }
  header(
      out, "advx_fenced_batches_total", "counter",
      "Micro-batches not stored because another worker claimed a Kafka partition of them (docs/FLEET.md).");
  sample(out, "advx_fenced_batches_total", "", double(m.engine.fenced_batches));
  header(out, "advx_kafka_forwarded_records_total", "counter",
         "Kafka records whose user_id belongs to another partition, sent on to it instead of stored here "
         "(docs/FLEET.md, the producer contract).");
  for (int i = 0; i < kStreamCount; i++)
    sample(out, "advx_kafka_forwarded_records_total", stream_label(i), double(m.engine.forwarded[size_t(i)]));
  if (m.kafka_group.present) {
    const MetricsSnapshot::KafkaGroup& g = m.kafka_group;
    header(out, "advx_kafka_assigned_partitions", "gauge", "Partitions this worker is assigned now.");
    sample(out, "advx_kafka_assigned_partitions", "", double(g.assigned));
    header(out, "advx_kafka_rebalancing", "gauge",
           "1 from joining the group or a revocation until the next assignment (/readyz is 503 meanwhile).");
    sample(out, "advx_kafka_rebalancing", "", g.rebalancing ? 1.0 : 0.0);
    header(out, "advx_kafka_rebalances_total", "counter", "Assignments received from the consumer group.");
    sample(out, "advx_kafka_rebalances_total", "", double(g.rebalances));
    header(
        out, "advx_kafka_last_rebalance_seconds", "gauge",
        "The last rebalance, from the revocation (or the start) to the assignment with its positions read.");
    sample(out, "advx_kafka_last_rebalance_seconds", "", g.last_rebalance_seconds);
    header(out, "advx_kafka_offset_commits_total", "counter",
           "Commits of stored offsets to Kafka (for the group's tools; the store is the truth), by result.");
    sample(out, "advx_kafka_offset_commits_total", "result=\"ok\"", double(g.offset_commits));
    sample(out, "advx_kafka_offset_commits_total", "result=\"error\"", double(g.offset_commit_errors));
  }
  header(out, "advx_alerts", "gauge",
         "1 per active alert of the data-quality monitor (pending or firing), as Prometheus' ALERTS series.");
  std::string labels;
  for (const auto& a : m.alerts) {
    labels.clear();
    add_label(labels, "alertname", a.rule);
    add_label(labels, "source", a.source);
    add_label(labels, "campaign", a.campaign);
    add_label(labels, "severity", a.severity);
    add_label(labels, "alertstate", a.state);
    sample(out, "advx_alerts", labels, 1);
  }
  header(out, "advx_alert_deliveries_total", "counter",
         "Alert notifications, by receiver and result (sent, retried, failed, dropped).");
  for (const auto& d : m.deliveries) {
    const std::pair<const char*, uint64_t> results[] = {
        {"sent", d.sent}, {"retried", d.retried}, {"failed", d.failed}, {"dropped", d.dropped}};
    for (const auto& [result, n] : results) {
      labels = "receiver=\"" + label_value(d.receiver) + "\",result=\"" + result + '"';
      sample(out, "advx_alert_deliveries_total", labels, double(n));
    }
  }
  header(out, "advx_rule_evaluations_total", "counter", "Evaluations of the data-quality rules.");
  sample(out, "advx_rule_evaluations_total", "", double(m.rule_evaluations));
  header(out, "advx_rule_evaluation_seconds", "gauge", "Duration of the last evaluation of the rules.");
  sample(out, "advx_rule_evaluation_seconds", "", m.last_evaluation_seconds);
  return out;
}

std::string prometheus_float(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  // Go's %g with the shortest digits: exponent form below 1e-4 and from 1e+06 on, else plain decimals.
  char buf[64];
  auto r = std::to_chars(buf, buf + sizeof buf, v, std::chars_format::scientific);
  const std::string_view sci(buf, size_t(r.ptr - buf));
  int exp = 0;
  const size_t e = sci.find('e');
  const char* from = sci.data() + e + 1;
  if (*from == '+') ++from;
  std::from_chars(from, sci.data() + sci.size(), exp);
  if (exp < -4 || exp >= 6) return std::string(sci);  // "1e+06", "1.5e-05": as Go writes them
  r = std::to_chars(buf, buf + sizeof buf, v, std::chars_format::fixed);
  return std::string(buf, r.ptr);
}

std::string prometheus_text(const BatchRunMetrics& run) {
  EngineStats e;
  e.streams = run.streams;
  std::string out;
  stream_counters(e, out);
  header(out, "advx_ingest_seconds", "gauge", "Duration of the last advx ingest run.");
  sample(out, "advx_ingest_seconds", "", run.seconds);
  header(out, "advx_ingest_failed_files", "gauge", "Files of the last run that could not be read.");
  sample(out, "advx_ingest_failed_files", "", double(run.failed_files));
  header(out, "advx_ingest_last_run_timestamp_seconds", "gauge", "When the last run ended (Unix seconds).");
  sample(out, "advx_ingest_last_run_timestamp_seconds", "", double(run.finished_at_us) / 1e6);
  return out;
}

}  // namespace advx
