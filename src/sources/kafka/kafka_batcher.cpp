#include "sources/kafka/kafka_batcher.hpp"

#include <algorithm>
#include <cstring>

namespace advx {

namespace {

constexpr std::string_view kBom = "\xEF\xBB\xBF";

// The value without the line terminator a producer writing lines leaves at its end.
std::string_view strip_terminator(std::string_view v) {
  if (!v.empty() && v.back() == '\n') v.remove_suffix(1);
  if (!v.empty() && v.back() == '\r') v.remove_suffix(1);
  return v;
}

// JSON that would put the decoder into array mode (or make it skip a BOM) if it began a body.
bool json_needs_own_body(std::string_view v) {
  if (v.starts_with(kBom)) return true;
  for (char c : v) {
    if (c == ' ' || c == '\t' || c == '\n' || c == '\r') continue;
    return c == '[';
  }
  return false;
}

void put_u32_le(std::string& out, uint32_t n) {
  const char b[4] = {char(n & 0xff), char((n >> 8) & 0xff), char((n >> 16) & 0xff), char((n >> 24) & 0xff)};
  out.append(b, 4);
}

}  // namespace

bool parse_confluent_frame(std::string_view value, int32_t* schema_id, std::string_view* datum) {
  if (value.size() < 5 || value[0] != 0) return false;
  const auto* p = reinterpret_cast<const unsigned char*>(value.data());
  *schema_id = int32_t(uint32_t(p[1]) << 24 | uint32_t(p[2]) << 16 | uint32_t(p[3]) << 8 | uint32_t(p[4]));
  *datum = value.substr(5);
  return true;
}

std::string unknown_schema_error(int32_t id) { return "unknown schema id " + std::to_string(id); }

bool csv_leaves_quote_open(std::string_view line) {
  // Mirrors csv_parser.hpp. '\n' and '\r' are ordinary bytes here: the batcher turns them into spaces.
  size_t i = 0;
  const size_t n = line.size();
  for (;;) {  // at the start of a field
    if (i < n && line[i] == '"') {
      ++i;
      for (;;) {
        const size_t q = line.find('"', i);
        if (q == std::string_view::npos) return true;  // the quoted field runs past the end
        if (q + 1 < n && line[q + 1] == '"') {
          i = q + 2;  // "" is a quote inside the field
          continue;
        }
        i = q + 1;
        break;
      }
      if (i < n && line[i] == ',') {
        ++i;
        continue;
      }
      return false;  // the end, or a malformed record that the parser ends at the next line break
    }
    while (i < n && line[i] != ',') {
      if (line[i] == '"') return false;  // malformed (or data, leniently): either way it opens nothing
      ++i;
    }
    if (i == n) return false;
    ++i;
  }
}

KafkaBatcher::KafkaBatcher(std::string csv_header, size_t max_messages, size_t max_bytes)
    : csv_header_(std::move(csv_header)),
      max_messages_(max_messages == 0 ? 1 : max_messages),
      max_bytes_(max_bytes) {}

bool KafkaBatcher::fits(KafkaTopicKind kind, const std::string& topic, int32_t partition, int64_t offset,
                        const AvroSchemaInfo* avro) const {
  if (count_ == 0 || alone_ || kind != kind_ || partition != partition_ || offset <= last_offset_ ||
      topic != topic_)
    return false;
  const int64_t gap = offset - last_offset_ - 1;
  if (kind != KafkaTopicKind::bid_requests) return gap <= kMaxPaddedGap;
  if (gap != 0) return false;
  if (bool(open_.schema_json) != bool(avro->schema)) return false;
  return avro->schema ? open_.schema_id == avro->id : open_.error == avro->error;
}

void KafkaBatcher::open(KafkaTopicKind kind, const std::string& topic, int32_t partition, int64_t offset,
                        const AvroSchemaInfo* avro) {
  open_ = Submission{};
  // Room for a body like the last one, so that it is not copied over and over as it grows.
  open_.body.reserve(std::min(body_hint_ + body_hint_ / 8, max_bytes_));
  first_offset_ = offset;
  open_.stream = stream_of(kind);
  open_.format = format_of(kind);
  open_.source = "kafka:" + topic + "/" + std::to_string(partition);
  switch (kind) {
    case KafkaTopicKind::impressions:
      open_.record_base = offset - 1;
      break;
    case KafkaTopicKind::events:
      open_.record_base = offset - 2;
      open_.body.append(csv_header_);
      open_.body += '\n';
      break;
    case KafkaTopicKind::bid_requests:
      open_.record_base = offset - 1;
      open_.schema_json = avro->schema;
      open_.schema_id = avro->id;
      if (!avro->schema) open_.error = avro->error;
      break;
  }
  kind_ = kind;
  topic_ = topic;
  partition_ = partition;
}

void KafkaBatcher::append_text(std::string_view value) {
  std::string& body = open_.body;
  const size_t from = body.size();
  body.append(value);
  // Line breaks inside a value are rare: find them with memchr (vectorized) rather than byte by byte.
  char* const begin = body.data() + from;
  char* const end = body.data() + body.size();
  for (char c : {'\n', '\r'})
    for (char* p = begin; (p = static_cast<char*>(std::memchr(p, c, size_t(end - p)))) != nullptr;)
      *p++ = ' ';
}

void KafkaBatcher::add(KafkaTopicKind kind, const std::string& topic, int32_t partition, int64_t offset,
                       std::string_view value, const AvroSchemaInfo* avro, std::vector<Submission>& out) {
  bool alone = false;
  if (kind == KafkaTopicKind::impressions) {
    value = strip_terminator(value);
    alone = json_needs_own_body(value);
  } else if (kind == KafkaTopicKind::events) {
    value = strip_terminator(value);
    alone = csv_leaves_quote_open(value);
  }
  if (alone || !fits(kind, topic, partition, offset, avro)) flush(out);

  if (count_ == 0) {
    open(kind, topic, partition, offset, avro);
  } else if (kind != KafkaTopicKind::bid_requests) {
    open_.body.append(size_t(offset - last_offset_), '\n');  // the separator, plus a blank line per gap
  }
  if (kind != KafkaTopicKind::bid_requests) {
    append_text(value);
  } else {
    std::string_view datum = value;  // a reject keeps the whole message
    int32_t id = 0;
    if (avro->schema) parse_confluent_frame(value, &id, &datum);
    put_u32_le(open_.body, uint32_t(datum.size()));
    open_.body.append(datum);
  }
  ++count_;
  last_offset_ = offset;
  alone_ = alone;
  if (alone || count_ >= max_messages_ || open_.body.size() >= max_bytes_) flush(out);
}

void KafkaBatcher::flush(std::vector<Submission>& out) {
  if (count_ == 0) return;
  open_.kafka = KafkaPosition{topic_, partition_, last_offset_ + 1, first_offset_};
  body_hint_ = open_.body.size();
  out.push_back(std::move(open_));
  open_ = Submission{};
  count_ = 0;
  alone_ = false;
}

void KafkaBatcher::discard(const std::string& topic, int32_t partition) {
  if (count_ > 0 && partition == partition_ && topic == topic_) discard_all();
}

void KafkaBatcher::discard_all() {
  open_ = Submission{};
  count_ = 0;
  alone_ = false;
}

}  // namespace advx
