#include "server/metrics.hpp"

#include <charconv>

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

void sample(std::string& out, const char* name, const std::string& labels, double value) {
  char buf[64];
  const auto r = std::to_chars(buf, buf + sizeof buf, value);  // the shortest text that reads back exactly
  *r.ptr = '\0';
  out += name;
  if (!labels.empty()) out += "{" + labels + "}";
  out += ' ';
  out += buf;
  out += '\n';
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
  header(out, "advx_commits_total", "counter", "Micro-batches committed.");
  sample(out, "advx_commits_total", "", double(e.commits));
  header(out, "advx_store_errors_total", "counter", "Micro-batches whose commit failed.");
  sample(out, "advx_store_errors_total", "", double(e.store_errors));
  header(out, "advx_attribution_runs_total", "counter", "Attribution passes completed.");
  sample(out, "advx_attribution_runs_total", "", double(e.attribution_runs));
  header(out, "advx_last_commit_seconds", "gauge",
         "Duration of the last micro-batch, first record to commit.");
  sample(out, "advx_last_commit_seconds", "", e.last_commit_seconds);
  header(out, "advx_http_requests_total", "counter", "HTTP requests answered, by endpoint and status.");
  for (const auto& h : m.http)
    sample(out, "advx_http_requests_total",
           "endpoint=\"" + label_value(h.endpoint) + "\",status=\"" + std::to_string(h.status) + "\"",
           double(h.count));
  header(out, "advx_kafka_consumer_lag", "gauge",
         "Messages of a partition not read yet: its high watermark less the next offset to read.");
  for (const auto& k : m.kafka) {
    if (k.next_offset < 0 || k.high_watermark < 0) continue;
    sample(out, "advx_kafka_consumer_lag",
           "topic=\"" + label_value(k.topic) + "\",partition=\"" + std::to_string(k.partition) + "\"",
           double(k.high_watermark - k.next_offset));
  }
  return out;
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
