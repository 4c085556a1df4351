// KafkaBatcher: consecutive Kafka messages of one partition -> one engine Submission, so that the engine
// decodes a run of messages as one body and stores each record with its message's offset as source_record.
// No librdkafka here: the consumer feeds it (offset, value) pairs, which keeps the encoding rules testable
// on their own.
//
// One message is one record:
//  - impressions (JSON): the values joined with '\n'; record_base = first offset - 1 (the JSON decoder
//    numbers lines from 1).
//  - clicks and conversions (CSV): csv_columns as the header line, then the values joined with '\n';
//    record_base = first offset - 2 (the header is line 1).
//  - bid requests (Avro, Confluent framing): BodyFormat::avro_datums, each datum preceded by its length
//    (4 bytes, little-endian), one submission per run of messages with the same schema id; record_base =
//    first offset - 1 (datums are numbered from 1). A message not in the framing, or whose schema id the
//    registry does not know, goes into a submission without a schema whose `error` says why, its whole value
//    as the datum: the engine stores it as a malformed_avro reject with those bytes.
//
// Text values are made into one line: a line terminator at the very end of a value ("\n", "\r\n", "\r", as
// a producer writing lines leaves it) is dropped, as reading a file drops it; any other '\n' or '\r' becomes
// a space. In valid JSON a raw newline can only be whitespace, so JSON loses nothing; in CSV a quoted field's
// embedded newline becomes a space. An empty value (a tombstone) is an empty line, which both decoders skip:
// it is neither stored nor rejected, but its offset is committed like any other.
//
// A submission breaks at a change of topic or partition, at max_messages, at max_bytes of body, and at a
// gap in offsets that numbering cannot bridge. Offsets are not always consecutive (transaction markers,
// aborted transactions under read_committed, compacted topics): JSON and CSV bridge a gap of up to
// kMaxPaddedGap offsets with empty lines, which both decoders count as lines but not as records; Avro
// datums cannot be padded, so a gap starts a new submission there.
//
// Two kinds of message always travel alone, because in company they would change how the rest of the body
// is read:
//  - JSON: a value whose first byte after blanks is '[' (or that starts with a UTF-8 BOM). The JSON decoder
//    picks NDJSON or array mode from the first byte of the body, so such a value first in a body would turn
//    the whole body into "one array + trailing garbage". Alone, it is read as a body is over HTTP: a JSON
//    array of impressions, its elements numbered from the message's offset.
//  - CSV: a value that leaves a quoted field open at its end. In company it would swallow the following
//    messages up to the next quote; alone, it is one "unterminated quoted field" reject.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "pipeline/stream_engine.hpp"

namespace advx {

enum class KafkaTopicKind : uint8_t { impressions = 0, events = 1, bid_requests = 2 };
inline constexpr int kKafkaTopicKinds = 3;

constexpr Stream stream_of(KafkaTopicKind k) {
  return k == KafkaTopicKind::impressions ? Stream::impressions
         : k == KafkaTopicKind::events    ? Stream::events
                                          : Stream::bid_requests;
}

constexpr BodyFormat format_of(KafkaTopicKind k) {
  return k == KafkaTopicKind::impressions ? BodyFormat::json
         : k == KafkaTopicKind::events    ? BodyFormat::csv
                                          : BodyFormat::avro_datums;
}

// The Confluent wire format: magic byte 0, the schema id (4 bytes, big-endian), the binary Avro datum.
// False when `value` is not in it (shorter than 5 bytes, or another magic byte).
bool parse_confluent_frame(std::string_view value, int32_t* schema_id, std::string_view* datum);

// What the consumer found out about a bid request's writer schema.
struct AvroSchemaInfo {
  int32_t id = -1;                            // from the frame; -1 when not framed
  std::shared_ptr<const std::string> schema;  // null: the message is a reject...
  std::string error;                          // ...for this reason
};

// The error texts of AvroSchemaInfo (stored as the reject's detail).
inline constexpr std::string_view kNotConfluentFramed = "not in the Confluent wire format";
std::string unknown_schema_error(int32_t id);

// True when a CSV line (no '\n' in it) ends inside a quoted field, as csv_parser.hpp reads quotes.
bool csv_leaves_quote_open(std::string_view line);

class KafkaBatcher {
 public:
  static constexpr int64_t kMaxPaddedGap = 64;

  // `csv_header` is the header line put before every CSV body (no line terminator).
  KafkaBatcher(std::string csv_header, size_t max_messages, size_t max_bytes);

  // Adds a message; submissions it completes are appended to `out`, oldest first. `topic` is the topic's
  // name (the submission's source is "kafka:<topic>/<partition>"). For bid requests `avro` is required.
  void add(KafkaTopicKind kind, const std::string& topic, int32_t partition, int64_t offset,
           std::string_view value, const AvroSchemaInfo* avro, std::vector<Submission>& out);

  // Appends the open submission, if any, to `out`.
  void flush(std::vector<Submission>& out);

  // Drops the open submission when it holds messages of (topic, partition).
  void discard(const std::string& topic, int32_t partition);
  void discard_all();

  bool empty() const { return count_ == 0; }

 private:
  bool fits(KafkaTopicKind kind, const std::string& topic, int32_t partition, int64_t offset,
            const AvroSchemaInfo* avro) const;
  void open(KafkaTopicKind kind, const std::string& topic, int32_t partition, int64_t offset,
            const AvroSchemaInfo* avro);
  void append_text(std::string_view value);

  std::string csv_header_;
  size_t max_messages_;
  size_t max_bytes_;

  Submission open_;  // valid while count_ > 0
  KafkaTopicKind kind_ = KafkaTopicKind::impressions;
  std::string topic_;
  int32_t partition_ = -1;
  int64_t first_offset_ = -1;
  int64_t last_offset_ = -1;
  size_t count_ = 0;
  bool alone_ = false;    // the open submission takes no more messages
  size_t body_hint_ = 0;  // the size of the last body made: what the next one reserves
};

}  // namespace advx
