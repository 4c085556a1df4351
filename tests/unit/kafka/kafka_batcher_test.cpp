// KafkaBatcher: messages -> Submissions. Bodies are decoded here with the engine's own decoders, so the
// record numbers plus record_base must come out as the messages' offsets, one record per message.
#include "sources/kafka/kafka_batcher.hpp"

#include <gtest/gtest.h>

#include <algorithm>

#include "core/kafka_partition.hpp"
#include "formats/avro/avro_decoder.hpp"
#include "formats/decoder.hpp"
#include "kafka_test_util.hpp"

namespace advx {
namespace {

using kafka_test::framed;
using kafka_test::zigzag;

const std::string kHeader = "event_id,event_timestamp,user_id,ad_campaign_id";
const std::string kBidSchema =
    R"({"type":"record","name":"BidRequest","fields":[{"name":"id","type":"string"},)"
    R"({"name":"timestamp","type":"long"}]})";

std::string bid_datum(const std::string& id, int64_t ts_ms) {
  return zigzag(int64_t(id.size())) + id + zigzag(ts_ms);
}

std::string imp(int i) {
  return R"({"impression_id":"i)" + std::to_string(i) +
         R"(","ad_creative_id":"cr1","user_id":"u1","timestamp":"2026-01-01T00:00:00Z","website":"a.com"})";
}

// What the engine's decoders make of a submission: every record's number + record_base, rows and rejects.
struct Decoded {
  std::vector<int64_t> rows;
  std::vector<int64_t> rejects;
  std::vector<std::string> reject_raw;
  std::vector<std::string> reject_detail;
  std::string fatal;
};

Decoded decode(const Submission& s) {
  Decoded d;
  std::string body = s.body;
  const size_t len = body.size();
  body.append(kInputPadding, '\0');
  RawBatch raw(s.stream);
  if (s.format == BodyFormat::avro_datums) {
    std::string error;
    std::unique_ptr<AvroDatumDecoder> decoder;
    if (s.schema_json) decoder = AvroDatumDecoder::create(*s.schema_json, &error);
    size_t pos = 0;
    uint64_t index = 1;
    while (pos < len) {
      uint32_t n = 0;
      std::memcpy(&n, body.data() + pos, 4);
      std::string_view datum(body.data() + pos + 4, n);
      if (decoder)
        decoder->decode(datum, index, raw);
      else
        raw.rejects.push_back({Reason::malformed_avro, s.error, index, std::string(datum)});
      pos += 4 + n;
      ++index;
    }
  } else {
    std::unique_ptr<Decoder> decoder =
        s.format == BodyFormat::json ? make_json_decoder() : make_csv_decoder();
    decoder->decode(std::string_view(body.data(), len), true, raw);
    d.fatal = decoder->fatal_error();
  }
  for (uint64_t n : raw.record_no) d.rows.push_back(int64_t(n) + s.record_base);
  for (const RejectRecord& r : raw.rejects) {
    d.rejects.push_back(int64_t(r.record_no) + s.record_base);
    d.reject_raw.push_back(r.raw);
    d.reject_detail.push_back(r.detail);
  }
  return d;
}

std::vector<int64_t> all_records(const Decoded& d) {
  std::vector<int64_t> all = d.rows;
  all.insert(all.end(), d.rejects.begin(), d.rejects.end());
  std::sort(all.begin(), all.end());
  return all;
}

TEST(KafkaBatcher, JsonLinesNumberedByOffset) {
  KafkaBatcher b(kHeader, 100, 1 << 20);
  std::vector<Submission> out;
  for (int64_t off = 40; off < 45; ++off)
    b.add(KafkaTopicKind::impressions, "imps", 2, off, off == 42 ? "{not json" : imp(int(off)), nullptr, out);
  EXPECT_TRUE(out.empty());
  b.flush(out);
  ASSERT_EQ(out.size(), 1u);
  const Submission& s = out[0];
  EXPECT_EQ(s.stream, Stream::impressions);
  EXPECT_EQ(s.format, BodyFormat::json);
  EXPECT_EQ(s.source, "kafka:imps/2");
  EXPECT_EQ(s.record_base, 39);
  ASSERT_TRUE(s.kafka);
  EXPECT_EQ(s.kafka->topic, "imps");
  EXPECT_EQ(s.kafka->partition, 2);
  EXPECT_EQ(s.kafka->next_offset, 45);
  Decoded d = decode(s);
  EXPECT_EQ(d.rows, (std::vector<int64_t>{40, 41, 43, 44}));
  EXPECT_EQ(d.rejects, (std::vector<int64_t>{42}));
  EXPECT_TRUE(b.empty());
}

TEST(KafkaBatcher, NewlinesInsideAValueBecomeSpaces) {
  KafkaBatcher b(kHeader, 100, 1 << 20);
  std::vector<Submission> out;
  b.add(KafkaTopicKind::impressions, "t", 0, 0, "{\"impression_id\":\"a\",\r\n \"user_id\":\"u\"}\n", nullptr,
        out);
  b.add(KafkaTopicKind::impressions, "t", 0, 1, imp(1) + "\r\n", nullptr, out);  // its terminator is dropped
  b.add(KafkaTopicKind::impressions, "t", 0, 2, "", nullptr, out);  // an empty value: a blank line
  b.add(KafkaTopicKind::impressions, "t", 0, 3, imp(3), nullptr, out);
  b.flush(out);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].body, "{\"impression_id\":\"a\",   \"user_id\":\"u\"}\n" + imp(1) + "\n\n" + imp(3));
  Decoded d = decode(out[0]);
  // Offset 0 lacks required fields but decodes (validation rejects it later); the blank line is no record.
  EXPECT_EQ(all_records(d), (std::vector<int64_t>{0, 1, 3}));
}

TEST(KafkaBatcher, CsvHeaderPrependedAndRecordBase) {
  KafkaBatcher b(kHeader, 100, 1 << 20);
  std::vector<Submission> out;
  b.add(KafkaTopicKind::events, "ev", 1, 7, "e1,2026-01-01T00:00:00Z,u1,c1", nullptr, out);
  b.add(KafkaTopicKind::events, "ev", 1, 8, "e2,\"2026-01-01\r\nT00:00:00Z\",u1,c1\r\n", nullptr, out);
  b.add(KafkaTopicKind::events, "ev", 1, 9, "e3,x,y,z,too,many", nullptr, out);
  b.add(KafkaTopicKind::events, "ev", 1, 10, "e4,\"bad\"quote,u1,c1", nullptr, out);
  b.add(KafkaTopicKind::events, "ev", 1, 11, "e5,2026-01-01T00:00:00Z,u1,c1", nullptr, out);
  b.flush(out);
  ASSERT_EQ(out.size(), 1u);
  const Submission& s = out[0];
  EXPECT_EQ(s.stream, Stream::events);
  EXPECT_EQ(s.format, BodyFormat::csv);
  EXPECT_EQ(s.record_base, 5);
  EXPECT_EQ(s.kafka->next_offset, 12);
  EXPECT_TRUE(s.body.starts_with(kHeader + "\n"));
  EXPECT_NE(s.body.find("\"2026-01-01  T00:00:00Z\",u1,c1\n"), std::string::npos);  // one line now
  Decoded d = decode(s);
  EXPECT_TRUE(d.fatal.empty()) << d.fatal;
  EXPECT_EQ(d.rows, (std::vector<int64_t>{7, 8, 11}));
  EXPECT_EQ(d.rejects, (std::vector<int64_t>{9, 10}));
}

TEST(KafkaBatcher, CsvOpenQuoteTravelsAlone) {
  EXPECT_TRUE(csv_leaves_quote_open("a,\"b"));
  EXPECT_TRUE(csv_leaves_quote_open("a,\"b\"\",c"));
  EXPECT_TRUE(csv_leaves_quote_open("\""));
  EXPECT_FALSE(csv_leaves_quote_open("a,\"b\"\"\",c"));
  EXPECT_FALSE(csv_leaves_quote_open("a,b\"c,\"d"));    // a quote inside an unquoted field opens nothing
  EXPECT_FALSE(csv_leaves_quote_open("a,\"b\"x,\"c"));  // malformed after the closing quote: ends at the line
  EXPECT_FALSE(csv_leaves_quote_open(""));

  KafkaBatcher b(kHeader, 100, 1 << 20);
  std::vector<Submission> out;
  b.add(KafkaTopicKind::events, "ev", 0, 0, "e0,2026-01-01T00:00:00Z,u1,c1", nullptr, out);
  b.add(KafkaTopicKind::events, "ev", 0, 1, "e1,\"2026-01-01T00:00:00Z,u1,c1", nullptr, out);
  b.add(KafkaTopicKind::events, "ev", 0, 2, "e2,2026-01-01T00:00:00Z,u1,c1\"", nullptr, out);
  b.add(KafkaTopicKind::events, "ev", 0, 3, "e3,2026-01-01T00:00:00Z,u1,c1", nullptr, out);
  b.flush(out);
  ASSERT_EQ(out.size(), 3u);
  EXPECT_EQ(all_records(decode(out[0])), (std::vector<int64_t>{0}));
  Decoded alone = decode(out[1]);
  EXPECT_EQ(alone.rejects, (std::vector<int64_t>{1}));
  EXPECT_NE(alone.reject_detail[0].find("unterminated"), std::string::npos);
  Decoded rest = decode(out[2]);
  EXPECT_EQ(rest.rows, (std::vector<int64_t>{3}));
  EXPECT_EQ(rest.rejects, (std::vector<int64_t>{2}));
}

TEST(KafkaBatcher, JsonArrayOrBomTravelsAlone) {
  KafkaBatcher b(kHeader, 100, 1 << 20);
  std::vector<Submission> out;
  b.add(KafkaTopicKind::impressions, "t", 0, 10, " [1, 2]", nullptr, out);
  b.add(KafkaTopicKind::impressions, "t", 0, 11, imp(11), nullptr, out);
  b.add(KafkaTopicKind::impressions, "t", 0, 12, "\xEF\xBB\xBF" + imp(12), nullptr, out);
  b.add(KafkaTopicKind::impressions, "t", 0, 13, imp(13), nullptr, out);
  b.add(KafkaTopicKind::impressions, "t", 0, 14, "[" + imp(14) + "]", nullptr, out);
  b.flush(out);
  ASSERT_EQ(out.size(), 5u);
  // Alone, an array is read as an HTTP body would be: its elements numbered from the message's offset.
  Decoded arr = decode(out[0]);
  EXPECT_EQ(arr.rejects, (std::vector<int64_t>{10, 11}));
  EXPECT_EQ(all_records(decode(out[1])), (std::vector<int64_t>{11}));
  EXPECT_EQ(decode(out[2]).rows, (std::vector<int64_t>{12}));  // the BOM is skipped at a body's start
  EXPECT_EQ(decode(out[3]).rows, (std::vector<int64_t>{13}));
  EXPECT_EQ(decode(out[4]).rows, (std::vector<int64_t>{14}));
  for (const Submission& s : out) EXPECT_EQ(s.kafka->next_offset, s.record_base + 2);
}

TEST(KafkaBatcher, GapsArePaddedForTextAndSplitAvro) {
  KafkaBatcher b(kHeader, 100, 1 << 20);
  std::vector<Submission> out;
  for (int64_t off : {0, 1, 3, 7, 8})  // 2, 4-6: transaction markers, say
    b.add(KafkaTopicKind::impressions, "t", 0, off, imp(int(off)), nullptr, out);
  b.add(KafkaTopicKind::impressions, "t", 0, 8 + KafkaBatcher::kMaxPaddedGap + 2, imp(0), nullptr, out);
  for (int64_t off : {0, 2})
    b.add(KafkaTopicKind::events, "e", 0, off, "e,2026-01-01T00:00:00Z,u1,c1", nullptr, out);
  b.flush(out);
  ASSERT_EQ(out.size(), 3u);
  EXPECT_EQ(decode(out[0]).rows, (std::vector<int64_t>{0, 1, 3, 7, 8}));
  EXPECT_EQ(out[0].kafka->next_offset, 9);
  EXPECT_EQ(decode(out[1]).rows, (std::vector<int64_t>{8 + KafkaBatcher::kMaxPaddedGap + 2}));
  EXPECT_EQ(decode(out[2]).rows, (std::vector<int64_t>{0, 2}));

  out.clear();
  auto schema = std::make_shared<const std::string>(kBidSchema);
  AvroSchemaInfo info{1, schema, ""};
  for (int64_t off : {5, 6, 8})
    b.add(KafkaTopicKind::bid_requests, "b", 0, off, framed(1, bid_datum("a", 1700000000000)), &info, out);
  b.flush(out);
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(decode(out[0]).rows, (std::vector<int64_t>{5, 6}));
  EXPECT_EQ(decode(out[1]).rows, (std::vector<int64_t>{8}));
}

TEST(KafkaBatcher, SplitsAtPartitionTopicCountAndBytes) {
  KafkaBatcher b(kHeader, 3, 1 << 20);
  std::vector<Submission> out;
  for (int64_t off = 0; off < 7; ++off) b.add(KafkaTopicKind::impressions, "t", 0, off, imp(0), nullptr, out);
  EXPECT_EQ(out.size(), 2u);  // 3 + 3 submitted as soon as full; 1 open
  b.add(KafkaTopicKind::impressions, "t", 1, 7, imp(0), nullptr, out);  // another partition
  b.add(KafkaTopicKind::impressions, "u", 1, 8, imp(0), nullptr, out);  // another topic
  b.flush(out);
  ASSERT_EQ(out.size(), 5u);
  EXPECT_EQ(out[2].kafka->next_offset, 7);
  EXPECT_EQ(out[3].source, "kafka:t/1");
  EXPECT_EQ(out[4].source, "kafka:u/1");

  KafkaBatcher small(kHeader, 1000, 100);
  out.clear();
  for (int64_t off = 0; off < 4; ++off)
    small.add(KafkaTopicKind::impressions, "t", 0, off, imp(0), nullptr, out);
  EXPECT_EQ(out.size(), 4u);  // each message is over 100 bytes: one per submission
}

TEST(KafkaBatcher, AvroDatumsRunsBySchemaAndRejects) {
  EXPECT_EQ(unknown_schema_error(9), "unknown schema id 9");
  int32_t id = 0;
  std::string_view datum;
  const std::string frame = framed(258, "xy");
  EXPECT_TRUE(parse_confluent_frame(frame, &id, &datum));
  EXPECT_EQ(id, 258);
  EXPECT_EQ(datum, "xy");
  EXPECT_TRUE(parse_confluent_frame(framed(-2, ""), &id, &datum));
  EXPECT_EQ(id, -2);
  EXPECT_FALSE(parse_confluent_frame(std::string("\0\0\0\1", 4), &id, &datum));
  EXPECT_FALSE(parse_confluent_frame(std::string("\1\0\0\0\1x", 6), &id, &datum));

  auto s1 = std::make_shared<const std::string>(kBidSchema);
  auto s2 = std::make_shared<const std::string>(kBidSchema);
  AvroSchemaInfo one{1, s1, ""}, two{2, s2, ""};
  AvroSchemaInfo bad{-1, nullptr, std::string(kNotConfluentFramed)};
  AvroSchemaInfo unknown{9, nullptr, unknown_schema_error(9)};
  KafkaBatcher b(kHeader, 100, 1 << 20);
  std::vector<Submission> out;
  const std::string good = framed(1, bid_datum("auc", 1700000000000));
  b.add(KafkaTopicKind::bid_requests, "bids", 0, 0, good, &one, out);
  b.add(KafkaTopicKind::bid_requests, "bids", 0, 1, good, &one, out);
  b.add(KafkaTopicKind::bid_requests, "bids", 0, 2, framed(2, bid_datum("x", 1)), &two, out);
  b.add(KafkaTopicKind::bid_requests, "bids", 0, 3, "junk", &bad, out);
  b.add(KafkaTopicKind::bid_requests, "bids", 0, 4, "", &bad, out);
  b.add(KafkaTopicKind::bid_requests, "bids", 0, 5, framed(9, "zz"), &unknown, out);
  b.add(KafkaTopicKind::bid_requests, "bids", 0, 6, framed(1, "\x02"), &one, out);  // truncated datum
  b.flush(out);
  ASSERT_EQ(out.size(), 5u);
  EXPECT_EQ(out[0].format, BodyFormat::avro_datums);
  EXPECT_EQ(out[0].stream, Stream::bid_requests);
  EXPECT_EQ(out[0].schema_id, 1);
  EXPECT_EQ(out[0].schema_json, s1);
  EXPECT_EQ(out[0].record_base, -1);
  EXPECT_EQ(out[0].body.substr(0, 4), std::string("\x0a\0\0\0", 4));  // length 10, little-endian
  EXPECT_EQ(decode(out[0]).rows, (std::vector<int64_t>{0, 1}));
  EXPECT_EQ(out[1].schema_id, 2);
  EXPECT_EQ(decode(out[1]).rows, (std::vector<int64_t>{2}));
  // Not framed: one submission for the run, no schema, the whole value kept.
  EXPECT_FALSE(out[2].schema_json);
  EXPECT_EQ(out[2].error, "not in the Confluent wire format");
  Decoded d = decode(out[2]);
  EXPECT_EQ(d.rejects, (std::vector<int64_t>{3, 4}));
  EXPECT_EQ(d.reject_raw, (std::vector<std::string>{"junk", ""}));
  EXPECT_EQ(out[3].error, "unknown schema id 9");
  EXPECT_EQ(out[3].schema_id, 9);
  EXPECT_EQ(decode(out[3]).reject_raw, (std::vector<std::string>{framed(9, "zz")}));
  EXPECT_EQ(decode(out[4]).rejects, (std::vector<int64_t>{6}));
  EXPECT_EQ(out[4].kafka->next_offset, 7);
}

TEST(KafkaBatcher, DiscardDropsOnlyThatPartition) {
  KafkaBatcher b(kHeader, 100, 1 << 20);
  std::vector<Submission> out;
  b.add(KafkaTopicKind::impressions, "t", 0, 0, imp(0), nullptr, out);
  b.discard("t", 1);
  EXPECT_FALSE(b.empty());
  b.discard("t", 0);
  EXPECT_TRUE(b.empty());
  b.flush(out);
  EXPECT_TRUE(out.empty());
}

}  // namespace
}  // namespace advx

// The producer contract's partitioner (core/kafka_partition.hpp) is librdkafka's murmur2 (and Java's
// default): the same partition for every key, empty and non-ASCII ones included.
TEST(KafkaPartition, Murmur2EqualsLibrdkafkas) {
  std::vector<std::string> keys = {"",      "a",  "ab",         "abc",    "abcd",
                                   "abcde", "u1", "user-12345", "Zürich", std::string("\0\xff\x80", 3)};
  for (int i = 0; i < 2000; i++) keys.push_back("u" + std::to_string(i * 7919));
  for (const std::string& k : keys)
    for (int32_t n : {1, 3, 8, 13}) {
      SCOPED_TRACE(k);
      EXPECT_EQ(advx::kafka_partition_of(k, n),
                rd_kafka_msg_partitioner_murmur2(nullptr, k.data(), k.size(), n, nullptr, nullptr));
    }
}
