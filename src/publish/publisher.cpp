#include "publish/publisher.hpp"

#include <charconv>
#include <cstdio>
#include <cstring>
#include <optional>
#include <string_view>

#include "formats/avro/avro_decoder.hpp"
#include "formats/csv/csv_columns.hpp"
#include "formats/csv/csv_parser.hpp"
#include "formats/format_detect.hpp"
#include "sources/file_source.hpp"
#include "transforms/kafka_key.hpp"
#include "transforms/standardize.hpp"

namespace advx {

namespace {

// A CSV field as the CSV decoder reads it back: quoted when it holds a comma, a quote or a line break.
void put_csv_field(std::string& out, std::string_view v) {
  if (v.find_first_of(",\"\r\n") == std::string_view::npos) {
    out.append(v);
    return;
  }
  out += '"';
  for (char c : v) {
    if (c == '"') out += '"';
    out += c;
  }
  out += '"';
}

}  // namespace

struct Publisher::Impl {
  KafkaProducer& producer;
  RegisterSchema register_schema;
  PublishOptions opt;
  std::vector<int> csv_fields;  // [csv_columns column] EventField, or -1 (unknown, or a repeated field)
  std::string message;          // reused for each CSV line and Avro frame
  size_t bad_reported = 0;

  Impl(KafkaProducer& p, RegisterSchema r, PublishOptions o)
      : producer(p), register_schema(std::move(r)), opt(std::move(o)) {}
};

Publisher::Publisher(KafkaProducer& producer, RegisterSchema register_schema, PublishOptions options)
    : impl_(std::make_unique<Impl>(producer, std::move(register_schema), std::move(options))) {
  std::string error;
  const auto rows = parse_csv_document(impl_->opt.csv_columns, &error);
  std::array<bool, size_t(EventField::count_)> taken{};
  if (rows.size() == 1) {
    for (const std::string& name : rows[0]) {
      int f = csv_column_field(name);
      if (f >= 0 && taken[size_t(f)]) f = -1;  // the decoder reads the first of two such columns
      if (f >= 0) taken[size_t(f)] = true;
      impl_->csv_fields.push_back(f);
    }
  }
}

Publisher::~Publisher() = default;

bool Publisher::check_options(std::string* error) const {
  const std::string& columns = impl_->opt.csv_columns;
  if (columns.empty() || columns.find_first_of("\r\n") != std::string::npos || impl_->csv_fields.empty()) {
    *error = "csv_columns is not a one-line CSV header: \"" + columns + "\"";
    return false;
  }
  return true;
}

bool Publisher::publish_file(const std::string& path, const std::function<void(uint64_t)>& progress) {
  Impl& im = *impl_;
  auto fail = [&](std::string message) {
    summary_.failures.push_back({path, std::move(message)});
    return false;
  };
  std::string error;
  std::unique_ptr<FileSource> src = FileSource::open(path, &error);
  if (!src) return fail(error);

  // A buffer of the block plus the decoder's padding; what the decoder does not consume moves to the front.
  // A read error ends the input there: what came before it is decoded and sent, then the file fails.
  std::vector<char> buf(im.opt.block_bytes + kInputPadding);
  size_t len = 0;
  bool end = false;
  std::string read_error;
  auto fill = [&] {
    while (!end && len + kInputPadding < buf.size()) {
      const long got = src->read(buf.data() + len, buf.size() - kInputPadding - len, &read_error);
      if (got <= 0) {
        end = true;
        break;
      }
      len += size_t(got);
    }
    std::memset(buf.data() + len, 0, kInputPadding);
  };
  fill();
  if (!read_error.empty() && len == 0) return fail(read_error);
  const Format format = format_from_name(path).value_or(format_from_content({buf.data(), len}));
  const Stream stream = stream_of(format);
  PublishStreamSummary& st = summary_.streams[size_t(stream)];
  st.files++;
  const std::string& topic = im.opt.topics[size_t(stream)];
  st.topic = topic;
  std::unique_ptr<Decoder> decoder = make_decoder(format);
  RawBatch raw(stream);
  int32_t schema_id = -1;
  const int user_field = user_id_field(stream);
  char digits[24];

  for (;;) {
    raw.clear();
    const size_t consumed = decoder->decode({buf.data(), len}, end, raw);
    if (consumed == 0 && !end && decoder->fatal_error().empty()) {
      // A record larger than the buffer: read on, up to the bound ingest sets too.
      if (buf.size() >= im.opt.max_record_bytes + kInputPadding)
        return fail(path + ": a record is longer than " + std::to_string(im.opt.max_record_bytes >> 20) +
                    " MB (at byte " + std::to_string(src->position()) + "): not a valid input");
      buf.resize(std::min(buf.size() * 2, im.opt.max_record_bytes + kInputPadding));
      fill();
      continue;
    }
    // The schema first: a run stopped by the registry has read nothing of this batch.
    if (raw.rows() > 0 && stream == Stream::bid_requests && schema_id < 0) {
      const std::string schema(ocf_writer_schema(*decoder));
      if (!im.register_schema(topic + "-value", schema, &schema_id, &error)) {
        summary_.fatal = error;
        return false;
      }
      st.schema_ids.insert(schema_id);
    }
    st.read += raw.records_read();
    st.bytes_read += consumed;
    for (const RejectRecord& r : raw.rejects) {
      st.bad[size_t(r.reason)]++;
      if (on_bad && im.bad_reported < bad_to_report) {
        im.bad_reported++;
        on_bad(path + ": " + r.detail + " (" + std::string(reason_name(r.reason)) + ")");
      }
    }
    for (size_t row = 0; row < raw.rows(); row++) {
      std::string_view value = raw.raw[row];
      if (stream == Stream::events) {
        im.message.clear();
        for (size_t c = 0; c < im.csv_fields.size(); c++) {
          if (c) im.message += ',';
          if (im.csv_fields[c] >= 0) {
            const Cell& cell = raw.cell(row, im.csv_fields[c]);
            if (cell.present()) put_csv_field(im.message, cell.text);
          }
        }
        if (im.message.empty()) im.message = "\"\"";  // one column, empty: not a tombstone
        value = im.message;
      } else if (stream == Stream::bid_requests) {
        im.message.assign(1, '\0');
        for (int shift = 24; shift >= 0; shift -= 8)
          im.message += char((uint32_t(schema_id) >> shift) & 0xff);
        im.message.append(value);
        value = im.message;
      }
      const bool has_user = id_key_of(raw.cell(row, user_field), digits).has_value();
      const std::optional<std::string_view> key = kafka_key_of(raw, row, digits);
      if (!im.producer.produce(topic, key, value, &error)) {
        summary_.fatal = error;
        return false;
      }
      st.sent++;
      st.bytes_sent += value.size();
      if (!key) st.without_key++;
      if (key && !has_user) st.keyed_by_id++;
    }
    im.producer.poll();
    if (progress) progress(src->position());
    if (!decoder->fatal_error().empty()) return fail(path + ": " + decoder->fatal_error());
    if (end) break;  // at the end the decoder consumes everything
    std::memmove(buf.data(), buf.data() + consumed, len - consumed);
    len -= consumed;
    fill();
  }
  if (!read_error.empty()) return fail(read_error);
  summary_.files_ok++;
  return true;
}

std::string format_publish_summary(const PublishSummary& s) {
  auto with_commas = [](uint64_t v) {
    std::string t = std::to_string(v);
    for (int i = int(t.size()) - 3; i > 0; i -= 3) t.insert(size_t(i), ",");
    return t;
  };
  std::string out;
  char line[512];
  uint64_t sent = 0, bytes = 0;
  for (int i = 0; i < kStreamCount; i++) {
    const PublishStreamSummary& st = s.streams[size_t(i)];
    if (st.files == 0) continue;
    sent += st.sent;
    bytes += st.bytes_sent;
    std::snprintf(line, sizeof line, "%s -> %s: %s files, %s read, %s sent, %s bad",
                  std::string(stream_name(Stream(i))).c_str(), st.topic.c_str(),
                  with_commas(st.files).c_str(), with_commas(st.read).c_str(), with_commas(st.sent).c_str(),
                  with_commas(st.bad_total()).c_str());
    out += line;
    std::string reasons;
    for (int r = 0; r < kReasonCount; r++) {
      if (st.bad[size_t(r)] == 0) continue;
      reasons += (reasons.empty() ? "" : ", ") + std::string(reason_name(Reason(r))) + " " +
                 with_commas(st.bad[size_t(r)]);
    }
    if (!reasons.empty()) out += " (" + reasons + ")";
    std::snprintf(line, sizeof line, ", %.1f MB read, %.1f MB sent", double(st.bytes_read) / 1e6,
                  double(st.bytes_sent) / 1e6);
    out += line;
    if (st.keyed_by_id)
      out += ", " + with_commas(st.keyed_by_id) + " without user_id (keyed by " +
             std::string(Stream(i) == Stream::impressions ? "impression_id"
                         : Stream(i) == Stream::events    ? "event_id"
                                                          : "auction_id") +
             ")";
    if (st.without_key) out += ", " + with_commas(st.without_key) + " without user_id or id (no key)";
    for (int32_t id : st.schema_ids) out += ", schema id " + std::to_string(id);
    out += '\n';
  }
  uint64_t delivered = 0, failed = 0;
  for (const auto& [topic, d] : s.delivery) {
    delivered += d.delivered;
    failed += d.failed;
    std::snprintf(line, sizeof line, "  -> %s: %s delivered, %s failed\n", topic.c_str(),
                  with_commas(d.delivered).c_str(), with_commas(d.failed).c_str());
    out += line;
  }
  std::snprintf(line, sizeof line,
                "sent %s messages (%.1f MB), %s delivered, %s failed in %.2f s: %s messages/s\n",
                with_commas(sent).c_str(), double(bytes) / 1e6, with_commas(delivered).c_str(),
                with_commas(failed).c_str(), s.seconds,
                with_commas(uint64_t(s.seconds > 0 ? double(delivered) / s.seconds : 0)).c_str());
  out += line;
  return out;
}

}  // namespace advx
