// The configuration of `advx serve` (docs/SERVE.md, example: advx.example.toml): one TOML file, the
// essentials also as flags that override it. Every key is known: a misspelt key is an error, not a silent
// default.
#pragma once
#include <string>
#include <string_view>
#include <vector>

#include "monitor/notifier.hpp"
#include "monitor/rules.hpp"
#include "pipeline/stream_engine.hpp"

namespace advx::cli {

struct ServeConfig {
  // [store]
  std::string db = "advx.duckdb";
  std::string dims;  // folder with campaigns.csv and creatives.csv; reloaded on SIGHUP
  std::string memory_limit = "1GB";
  size_t checkpoint_mb = 128;  // DuckDB's checkpoint_threshold: WAL size that triggers a checkpoint

  // [http]
  bool http_enabled = true;
  std::string http_host = "127.0.0.1";  // loopback unless told otherwise
  int http_port = 8080;
  size_t max_body_mb = 16;
  std::string token;            // bearer token for every endpoint but /healthz and /readyz; empty: none
  bool metrics_public = false;  // /metrics without the token (a Prometheus without credentials)
  int http_threads = 64;
  int64_t query_timeout_us = 30'000'000;  // query_timeout_s: a query past it is interrupted, 504
  int query_threads = 4;                  // queries run at once, each on a read connection of its own

  // [kafka]
  bool kafka_enabled = false;
  std::string kafka_brokers;
  std::string kafka_group = "advx";
  std::string impressions_topic = "ad-impressions";
  std::string events_topic = "clicks-conversions";
  std::string bid_requests_topic = "bid-requests";
  std::string csv_columns =
      "event_id,event_timestamp,user_id,ad_campaign_id,ad_creative_id,event_type,conversion_type,"
      "conversion_value,currency";
  std::string schema_registry;
  std::vector<std::pair<std::string, std::string>> kafka_properties;  // [kafka.properties]
  // A record whose user_id belongs to another partition is sent on to it (docs/FLEET.md, "The producer
  // contract"). false: stored where it arrives — only right for one worker reading every partition.
  bool forward_miskeyed = true;

  // [pipeline]
  StreamEngineOptions engine;
  std::vector<std::string> block_ips;
  std::string geoip;  // a MaxMind database: the country of events that name an IP but no country
  std::vector<std::string> block_sites;

  // [monitor] (docs/ALERTS.md)
  bool monitor_enabled = true;
  int64_t monitor_bucket_us = 60'000'000;           // the rules' "minute": evaluated once per bucket
  int64_t repeat_interval_us = 4 * 3600'000'000LL;  // a firing alert is notified again after this
  int64_t alertmanager_resend_us = 60'000'000;      // firing alerts re-sent to Alertmanager this often
  monitor::NotifierOptions notifier;                // webhook_url, alertmanager_url, log
  // [rules.NAME]: a table per rule; NAME is a rule kind (overriding its defaults) or a new name with
  // `kind = "..."` (an extra rule).
  std::vector<monitor::Rule> rules = monitor::default_rules();
};

// Reads `path` into `config` (keys absent keep their defaults). False with a one-line message naming the
// file and the key on any error: unreadable file, TOML syntax, unknown key, wrong type, bad value.
bool load_serve_config(const std::string& path, ServeConfig* config, std::string* error);

// "host:port" (port 0: any free port). False when it is not one.
bool parse_listen(std::string_view text, std::string* host, int* port);

}  // namespace advx::cli
