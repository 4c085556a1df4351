#include "transforms/kafka_key.hpp"

#include <charconv>

#include "transforms/standardize.hpp"

namespace advx {

int user_id_field(Stream s) {
  switch (s) {
    case Stream::impressions:
      return int(ImpressionField::user_id);
    case Stream::events:
      return int(EventField::user_id);
    case Stream::bid_requests:
      return int(BidRequestField::user_id);
  }
  return 0;
}

int event_id_field(Stream s) {
  switch (s) {
    case Stream::impressions:
      return int(ImpressionField::impression_id);
    case Stream::events:
      return int(EventField::event_id);
    case Stream::bid_requests:
      return int(BidRequestField::auction_id);
  }
  return 0;
}

std::optional<std::string_view> id_key_of(const Cell& c, char (&digits)[24]) {
  std::string_view text;
  switch (c.type) {
    case CellType::string:
    case CellType::big_integer:
      text = c.text;
      break;
    case CellType::integer:
      if (c.text.empty()) {
        const auto r = std::to_chars(digits, digits + sizeof digits, c.i64);
        return std::string_view(digits, size_t(r.ptr - digits));
      }
      text = c.text;
      break;
    default:
      return std::nullopt;
  }
  text = trim_blanks(text);
  if (text.empty()) return std::nullopt;
  return text;
}

std::optional<std::string_view> kafka_key_of(const RawBatch& raw, size_t row, char (&digits)[24]) {
  if (auto user = id_key_of(raw.cell(row, user_id_field(raw.stream)), digits)) return user;
  return id_key_of(raw.cell(row, event_id_field(raw.stream)), digits);
}

}  // namespace advx
