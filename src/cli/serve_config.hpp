// The configuration of `advx serve` (docs/SERVE.md, example: advx.example.toml): one TOML file, the
// essentials also as flags that override it. Every key is known: a misspelt key is an error, not a silent
// default.
#pragma once
#include <string>
#include <string_view>
#include <vector>

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
  std::string token;  // bearer token for the ingest endpoints; empty: none
  int http_threads = 64;

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

  // [pipeline]
  StreamEngineOptions engine;
  std::vector<std::string> block_ips;
  std::vector<std::string> block_sites;
};

// Reads `path` into `config` (keys absent keep their defaults). False with a one-line message naming the
// file and the key on any error: unreadable file, TOML syntax, unknown key, wrong type, bad value.
bool load_serve_config(const std::string& path, ServeConfig* config, std::string* error);

// "host:port" (port 0: any free port). False when it is not one.
bool parse_listen(std::string_view text, std::string* host, int* port);

}  // namespace advx::cli
