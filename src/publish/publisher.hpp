// Publisher: files of the three formats -> Kafka messages in exactly the wire formats `advx serve` consumes
// (docs/PUBLISH.md, docs/SERVE.md "Kafka"), keyed by the record's user_id. Each file is read and delimited
// by the project's own decoders (formats/), the same ones `advx ingest` and `advx serve` use, so a record
// is whatever ingest calls a record:
//  - impressions (JSON): each NDJSON line or array element that decodes is one message, its bytes as read;
//  - clicks/conversions (CSV): each row that decodes is one CSV line in serve's csv_columns order, written
//    from the decoded fields (the file's own column order and header names, aliases included, do not
//    matter; a column csv_columns has and the file lacks is empty; a field is quoted when it holds a comma,
//    quote or line break);
//  - bid requests (Avro OCF): each datum that decodes is one Confluent-framed message (0x00, the schema id
//    big-endian, the datum bytes as written), after the file's writer schema is registered under
//    "<topic>-value".
// A record the decoder rejects (malformed_json, malformed_csv, malformed_avro) is not sent: it is counted by
// reason and reported with its file and line or record number. Every record that decodes is sent, also one
// that validation will reject: serve validates it exactly as ingest does and stores the reject.
#pragma once
#include <array>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "core/reason.hpp"
#include "core/stream.hpp"
#include "sinks/kafka/kafka_producer.hpp"

namespace advx {

struct PublishOptions {
  // Per Stream: impressions, clicks and conversions, bid requests (serve's defaults).
  std::array<std::string, kStreamCount> topics = {"ad-impressions", "clicks-conversions", "bid-requests"};
  std::string csv_columns =
      "event_id,event_timestamp,user_id,ad_campaign_id,ad_creative_id,event_type,conversion_type,"
      "conversion_value,currency";
  size_t block_bytes = 4 << 20;        // input read per decode
  size_t max_record_bytes = 64 << 20;  // a longer record fails its file, as in ingest
};

struct PublishStreamSummary {
  std::string topic;
  uint64_t files = 0;
  uint64_t read = 0;         // records: sent + bad
  uint64_t sent = 0;         // messages queued to the producer
  uint64_t keyed_by_id = 0;  // of them, keyed by their event id (no usable user_id)
  uint64_t without_key = 0;  // of them, sent without a key (no user_id, no id): a random partition
  std::array<uint64_t, kReasonCount> bad{};  // decoder rejects, not sent
  uint64_t bytes_read = 0;                   // decompressed input bytes
  uint64_t bytes_sent = 0;                   // message values
  std::set<int32_t> schema_ids;              // bid requests: the ids the writer schemas got

  uint64_t bad_total() const {
    uint64_t n = 0;
    for (uint64_t b : bad) n += b;
    return n;
  }
};

struct PublishFailure {
  std::string path;
  std::string message;  // one line, naming the file
};

struct PublishSummary {
  std::array<PublishStreamSummary, kStreamCount> streams;
  size_t files_ok = 0;
  std::vector<PublishFailure> failures;           // files that could not be read (the others were published)
  std::string fatal;                              // a Kafka or schema registry failure that stopped the run
  std::map<std::string, TopicDelivery> delivery;  // per topic, after the producer's flush
  std::string delivery_error;                     // the first failed delivery
  double seconds = 0;
};

// Registers an Avro writer schema under `subject` and gives its id (SchemaRegistry::register_schema).
using RegisterSchema = std::function<bool(const std::string& subject, const std::string& schema, int32_t* id,
                                          std::string* error)>;

class Publisher {
 public:
  Publisher(KafkaProducer& producer, RegisterSchema register_schema, PublishOptions options);
  ~Publisher();

  // csv_columns must be a header the CSV decoder reads (as serve checks it); false with a one-line error.
  bool check_options(std::string* error) const;

  // Publishes one file. False when it could not be read to its end (recorded in failures; what was decoded
  // before the error is sent, as ingest keeps it) or when the run must stop (summary().fatal). `progress`
  // gets the file position in bytes.
  bool publish_file(const std::string& path, const std::function<void(uint64_t)>& progress = {});

  // The first bad records: called with "PATH: line 7: ... (malformed_json)".
  std::function<void(const std::string& line)> on_bad;
  size_t bad_to_report = 5;

  PublishSummary& summary() { return summary_; }

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
  PublishSummary summary_;
};

// The summary as text: per stream and topic, read = sent + bad (by reason), bytes; then deliveries and
// messages per second.
std::string format_publish_summary(const PublishSummary& s);

}  // namespace advx
