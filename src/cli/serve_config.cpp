#include "cli/serve_config.hpp"

#include <charconv>
#include <functional>
#include <map>
#include <toml.hpp>

namespace advx::cli {

namespace {

// One setter per known key of a table; it returns an error text or "".
using Setter = std::function<std::string(const toml::value&)>;

std::string set_string(const toml::value& v, std::string* out) {
  if (!v.is_string()) return "must be a string";
  *out = v.as_string().str;
  return "";
}

std::string set_bool(const toml::value& v, bool* out) {
  if (!v.is_boolean()) return "must be true or false";
  *out = v.as_boolean();
  return "";
}

template <class Int>
std::string set_int(const toml::value& v, Int* out, int64_t min, int64_t max) {
  if (!v.is_integer()) return "must be an integer";
  const int64_t n = v.as_integer();
  if (n < min || n > max) return "must be between " + std::to_string(min) + " and " + std::to_string(max);
  *out = Int(n);
  return "";
}

// Seconds as an integer or a float, into microseconds.
std::string set_seconds(const toml::value& v, int64_t* out_us) {
  double s = 0;
  if (v.is_integer())
    s = double(v.as_integer());
  else if (v.is_floating())
    s = v.as_floating();
  else
    return "must be a number of seconds";
  if (!(s >= 0) || s > 1e9) return "must be a number of seconds >= 0";
  *out_us = int64_t(s * 1e6);
  return "";
}

std::string set_strings(const toml::value& v, std::vector<std::string>* out) {
  if (!v.is_array()) return "must be an array of strings";
  out->clear();
  for (const toml::value& item : v.as_array()) {
    if (!item.is_string()) return "must be an array of strings";
    out->push_back(item.as_string().str);
  }
  return "";
}

// A duration as text ("90s", "10m", "2h") or a number of seconds, into microseconds.
std::string set_duration(const toml::value& v, int64_t* out_us) {
  if (v.is_string()) {
    if (!monitor::parse_duration(v.as_string().str, out_us))
      return "must be a duration such as \"90s\", \"10m\" or \"2h\"";
    return "";
  }
  return set_seconds(v, out_us);
}

std::string set_number(const toml::value& v, double* out) {
  if (v.is_integer())
    *out = double(v.as_integer());
  else if (v.is_floating())
    *out = v.as_floating();
  else
    return "must be a number";
  if (!(*out >= 0)) return "must be a number >= 0";
  return "";
}

// [rules.NAME]: overrides a default rule, or adds one (with `kind`).
std::string load_rule(const std::string& name, const toml::value& table, std::vector<monitor::Rule>& rules) {
  if (!table.is_table()) return "must be a section ([rules." + name + "])";
  monitor::RuleKind kind{};
  std::string kind_name = name;
  if (table.contains("kind")) {
    if (!table.at("kind").is_string()) return "kind must be a string";
    kind_name = table.at("kind").as_string().str;
  }
  if (!monitor::parse_rule_kind(kind_name, &kind)) {
    std::string known;
    for (int i = 0; i < monitor::kRuleKindCount; i++)
      known += (i ? ", " : "") + std::string(monitor::rule_kind_name(monitor::RuleKind(i)));
    return "unknown rule kind \"" + kind_name + "\" (known: " + known + ")";
  }
  monitor::Rule* rule = nullptr;
  for (monitor::Rule& r : rules)
    if (r.name == name) rule = &r;
  if (rule && rule->kind != kind)
    return "kind " + kind_name + " differs from the rule's " +
           std::string(monitor::rule_kind_name(rule->kind));
  if (!rule) {  // a new rule starts from its kind's defaults
    for (const monitor::Rule& d : monitor::default_rules())
      if (d.kind == kind) rules.push_back(d);
    rule = &rules.back();
    rule->name = name;
  }
  const std::map<std::string, Setter> keys = {
      {"kind", [](const toml::value&) { return std::string(); }},
      {"enabled", [&](const toml::value& v) { return set_bool(v, &rule->enabled); }},
      {"threshold", [&](const toml::value& v) { return set_number(v, &rule->threshold); }},
      {"window", [&](const toml::value& v) { return set_duration(v, &rule->window_us); }},
      {"for", [&](const toml::value& v) { return set_duration(v, &rule->for_us); }},
      {"baseline", [&](const toml::value& v) { return set_duration(v, &rule->baseline_us); }},
      {"min_count", [&](const toml::value& v) { return set_number(v, &rule->min_count); }},
      {"min_change", [&](const toml::value& v) { return set_number(v, &rule->min_change); }},
      {"severity",
       [&](const toml::value& v) -> std::string {
         std::string e = set_string(v, &rule->severity);
         if (e.empty() && rule->severity != "critical" && rule->severity != "warning" &&
             rule->severity != "info")
           return "must be critical, warning or info";
         return e;
       }},
  };
  for (const auto& [key, v] : table.as_table()) {
    auto k = keys.find(key);
    if (k == keys.end()) return "unknown key " + key;
    const std::string problem = k->second(v);
    if (!problem.empty()) return key + " " + problem;
  }
  return "";
}

}  // namespace

bool parse_listen(std::string_view text, std::string* host, int* port) {
  const size_t colon = text.rfind(':');
  if (colon == std::string_view::npos || colon == 0) return false;
  int p = -1;
  const std::string_view digits = text.substr(colon + 1);
  auto r = std::from_chars(digits.data(), digits.data() + digits.size(), p);
  if (r.ec != std::errc() || r.ptr != digits.data() + digits.size() || p < 0 || p > 65535) return false;
  *host = std::string(text.substr(0, colon));
  *port = p;
  return true;
}

bool load_serve_config(const std::string& path, ServeConfig* c, std::string* error) {
  toml::value data;
  try {
    data = toml::parse(path);
  } catch (const std::exception& e) {
    // toml11 explains with a multi-line excerpt: the first line names the problem.
    std::string what = e.what();
    const size_t nl = what.find('\n');
    *error = path + ": " + (nl == std::string::npos ? what : what.substr(0, nl));
    return false;
  }
  StreamEngineOptions& eng = c->engine;
  std::string listen;
  bool listen_set = false;
  const std::map<std::string, std::map<std::string, Setter>> schema = {
      {"store",
       {
           {"db", [&](const toml::value& v) { return set_string(v, &c->db); }},
           // The store as a URL (docs/STORES.md); `db` is the same for a DuckDB file.
           {"url", [&](const toml::value& v) { return set_string(v, &c->db); }},
           {"dims", [&](const toml::value& v) { return set_string(v, &c->dims); }},
           {"memory_limit", [&](const toml::value& v) { return set_string(v, &c->memory_limit); }},
           {"checkpoint_mb", [&](const toml::value& v) { return set_int(v, &c->checkpoint_mb, 1, 65536); }},
       }},
      {"http",
       {
           {"enabled", [&](const toml::value& v) { return set_bool(v, &c->http_enabled); }},
           {"listen",
            [&](const toml::value& v) {
              listen_set = true;
              return set_string(v, &listen);
            }},
           {"max_body_mb", [&](const toml::value& v) { return set_int(v, &c->max_body_mb, 1, 4096); }},
           {"token", [&](const toml::value& v) { return set_string(v, &c->token); }},
           {"threads", [&](const toml::value& v) { return set_int(v, &c->http_threads, 1, 4096); }},
           {"metrics_public", [&](const toml::value& v) { return set_bool(v, &c->metrics_public); }},
           {"query_timeout_s",
            [&](const toml::value& v) -> std::string {
              std::string e = set_seconds(v, &c->query_timeout_us);
              if (e.empty() && c->query_timeout_us < 1000) return "must be at least 0.001 (seconds)";
              return e;
            }},
           {"query_threads", [&](const toml::value& v) { return set_int(v, &c->query_threads, 1, 256); }},
       }},
      {"kafka",
       {
           {"enabled", [&](const toml::value& v) { return set_bool(v, &c->kafka_enabled); }},
           {"brokers", [&](const toml::value& v) { return set_string(v, &c->kafka_brokers); }},
           {"group_id", [&](const toml::value& v) { return set_string(v, &c->kafka_group); }},
           {"impressions_topic", [&](const toml::value& v) { return set_string(v, &c->impressions_topic); }},
           {"events_topic", [&](const toml::value& v) { return set_string(v, &c->events_topic); }},
           {"bid_requests_topic",
            [&](const toml::value& v) { return set_string(v, &c->bid_requests_topic); }},
           {"csv_columns", [&](const toml::value& v) { return set_string(v, &c->csv_columns); }},
           {"schema_registry", [&](const toml::value& v) { return set_string(v, &c->schema_registry); }},
           {"forward_miskeyed", [&](const toml::value& v) { return set_bool(v, &c->forward_miskeyed); }},
           {"properties",
            [&](const toml::value& v) -> std::string {
              if (!v.is_table()) return "must be a table of librdkafka properties";
              for (const auto& [k, p] : v.as_table()) {
                if (!p.is_string()) return "values must be strings (" + k + ")";
                c->kafka_properties.emplace_back(k, p.as_string().str);
              }
              return "";
            }},
       }},
      {"pipeline",
       {
           {"commit_interval_ms",
            [&](const toml::value& v) { return set_int(v, &eng.commit_interval_ms, 1, 3'600'000); }},
           {"commit_events",
            [&](const toml::value& v) { return set_int(v, &eng.commit_events, 1, 100'000'000); }},
           {"max_queue_mb",
            [&](const toml::value& v) {
              size_t mb = 0;
              std::string e = set_int(v, &mb, 1, 65536);
              if (e.empty()) eng.max_queue_bytes = mb << 20;
              return e;
            }},
           {"allowed_lateness_s",
            [&](const toml::value& v) { return set_seconds(v, &eng.allowed_lateness_us); }},
           {"dedup_window_s", [&](const toml::value& v) { return set_seconds(v, &eng.dedup_window_us); }},
           {"dedup_memory_mb",
            [&](const toml::value& v) {
              size_t mb = 0;
              std::string e = set_int(v, &mb, 0, 1 << 20);
              if (e.empty()) eng.dedup_spill.memory_budget_bytes = mb << 20;
              return e;
            }},
           {"future_skew_s",
            [&](const toml::value& v) { return set_seconds(v, &eng.validation.max_future_skew_us); }},
           {"attribution_interval_ms",
            [&](const toml::value& v) { return set_int(v, &eng.attribution_interval_ms, 10, 3'600'000); }},
           {"attribution_memory_limit",
            [&](const toml::value& v) { return set_string(v, &eng.attribution_memory_limit); }},
           {"click_window_s", [&](const toml::value& v) { return set_seconds(v, &eng.windows.click_us); }},
           {"click_through_window_s",
            [&](const toml::value& v) { return set_seconds(v, &eng.windows.click_through_us); }},
           {"view_through_window_s",
            [&](const toml::value& v) { return set_seconds(v, &eng.windows.view_through_us); }},
           {"block_ips", [&](const toml::value& v) { return set_strings(v, &c->block_ips); }},
           {"geoip", [&](const toml::value& v) { return set_string(v, &c->geoip); }},
           {"block_sites", [&](const toml::value& v) { return set_strings(v, &c->block_sites); }},
       }},
      {"monitor",
       {
           {"enabled", [&](const toml::value& v) { return set_bool(v, &c->monitor_enabled); }},
           {"bucket",
            [&](const toml::value& v) -> std::string {
              std::string e = set_duration(v, &c->monitor_bucket_us);
              if (e.empty() && (c->monitor_bucket_us < 1'000'000 || 60'000'000 % c->monitor_bucket_us != 0))
                return "must divide a minute and be at least 1s (e.g. \"1m\", \"10s\")";
              return e;
            }},
           {"repeat_interval", [&](const toml::value& v) { return set_duration(v, &c->repeat_interval_us); }},
           {"alertmanager_resend",
            [&](const toml::value& v) { return set_duration(v, &c->alertmanager_resend_us); }},
           {"webhook_url", [&](const toml::value& v) { return set_string(v, &c->notifier.webhook_url); }},
           {"alertmanager_url",
            [&](const toml::value& v) { return set_string(v, &c->notifier.alertmanager_url); }},
           {"log", [&](const toml::value& v) { return set_bool(v, &c->notifier.log); }},
       }},
  };
  if (!data.is_table()) {
    *error = path + ": not a TOML table";
    return false;
  }
  for (const auto& [table, value] : data.as_table()) {
    if (table == "rules" && value.is_table()) {
      for (const auto& [name, rule] : value.as_table()) {
        const std::string problem = load_rule(name, rule, c->rules);
        if (!problem.empty()) {
          *error = path + ": [rules." + name + "] " + problem;
          return false;
        }
      }
      continue;
    }
    auto t = schema.find(table);
    if (t == schema.end()) {
      *error =
          path + ": unknown section [" + table + "] (known: store, http, kafka, pipeline, monitor, rules)";
      return false;
    }
    if (!value.is_table()) {
      *error = path + ": " + table + " must be a section ([" + table + "])";
      return false;
    }
    for (const auto& [key, v] : value.as_table()) {
      auto k = t->second.find(key);
      if (k == t->second.end()) {
        *error = path + ": unknown key " + key + " in [" + table + "]";
        return false;
      }
      const std::string problem = k->second(v);
      if (!problem.empty()) {
        *error = path + ": [" + table + "] " + key + " " + problem;
        return false;
      }
    }
  }
  if (listen_set && !parse_listen(listen, &c->http_host, &c->http_port)) {
    *error = path + ": [http] listen must be host:port, e.g. 127.0.0.1:8080 (got \"" + listen + "\")";
    return false;
  }
  if (c->kafka_enabled && c->kafka_brokers.empty()) {
    *error = path + ": [kafka] enabled needs brokers";
    return false;
  }
  return true;
}

}  // namespace advx::cli
