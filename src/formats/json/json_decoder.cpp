// JSON impressions decoder (SPEC 1.1). Records are found first (lines by memchr, array elements by a
// string-aware bracket scanner) and each is parsed on its own with simdjson On-Demand, so one bad record
// never costs its neighbours. On-Demand validates lazily, so every value we do not store is walked
// (validate_value) and the end of the document is checked: a record is a row only if it is valid JSON.
#include "formats/json/json_decoder.hpp"

#include <simdjson.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#include "formats/decoder.hpp"

namespace advx {
namespace {

namespace od = simdjson::ondemand;
using simdjson::error_code;

// simdjson's own SIMDJSON_TRY is an internal macro; this one is ours.
#define ADVX_JSON_TRY(expr)          \
  do {                               \
    error_code advx_err_ = (expr);   \
    if (advx_err_) return advx_err_; \
  } while (0)

constexpr std::string_view kBom = "\xEF\xBB\xBF";
// The parser keeps buffers sized for the largest record seen; give them back after an outsized one.
constexpr size_t kParserInitialCapacity = 64 * 1024;
constexpr size_t kParserShrinkAbove = 8 * 1024 * 1024;

static_assert(kInputPadding >= simdjson::SIMDJSON_PADDING, "simdjson needs its padding after each record");

constexpr bool is_ws(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

std::string_view trim_right(std::string_view s) {
  while (!s.empty() && is_ws(s.back())) s.remove_suffix(1);
  return s;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && is_ws(s.front())) s.remove_prefix(1);
  return trim_right(s);
}

bool is_blank(std::string_view s) {
  for (char c : s)
    if (!is_ws(c)) return false;
  return true;
}

constexpr int slot(ImpressionField f) { return int(f); }

// Slot of a key that appears without escapes. `k` points just after the opening quote; reading a few bytes
// past a shorter key stays inside the record's padding.
int raw_key_slot(const char* k) {
  auto is = [k](std::string_view name) {
    return std::memcmp(k, name.data(), name.size()) == 0 && k[name.size()] == '"';
  };
  using F = ImpressionField;
  switch (k[0]) {
    case 'a':
      if (is("ad_creative_id")) return slot(F::ad_creative_id);
      if (is("auction_id")) return slot(F::auction_id);
      break;
    case 'c':
      if (is("campaign_id")) return slot(F::campaign_id);
      if (is("country")) return slot(F::country);
      break;
    case 'd':
      if (is("device_type")) return slot(F::device_type);
      break;
    case 'i':
      if (is("impression_id")) return slot(F::impression_id);
      if (is("ip")) return slot(F::ip);
      break;
    case 't':
      if (is("timestamp")) return slot(F::timestamp);
      break;
    case 'u':
      if (is("user_id")) return slot(F::user_id);
      if (is("user_agent")) return slot(F::user_agent);
      break;
    case 'w':
      if (is("website")) return slot(F::website);
      if (is("win_price_cpm")) return slot(F::win_price_cpm);
      break;
    default:
      break;
  }
  return -1;
}

// Slot of an unescaped key (the rare path: a key with escapes may still spell a known name).
int key_slot(std::string_view key) {
  static constexpr std::string_view kNames[] = {
      "ad_creative_id", "user_id",       "timestamp",  "website", "impression_id", "auction_id",
      "campaign_id",    "win_price_cpm", "user_agent", "ip",      "country",       "device_type"};
  static_assert(std::size(kNames) == size_t(ImpressionField::count_));
  for (size_t i = 0; i < std::size(kNames); ++i)
    if (kNames[i] == key) return int(i);
  return -1;
}

bool starts_number(std::string_view tok) { return tok[0] == '-' || (tok[0] >= '0' && tok[0] <= '9'); }

// -?(0|[1-9][0-9]*): the JSON integer grammar, for literals too large for int64 that simdjson refuses.
bool is_integer_literal(std::string_view t) {
  size_t i = t.starts_with('-') ? 1 : 0;
  if (i == t.size()) return false;
  if (t[i] == '0') return i + 1 == t.size();
  for (; i < t.size(); ++i)
    if (t[i] < '0' || t[i] > '9') return false;
  return true;
}

// Reads a number value; fills `cell` when given. `tok` is the trimmed literal.
error_code read_number(od::value& v, std::string_view tok, Cell* cell) {
  if (tok.find_first_of(".eE") == std::string_view::npos) {
    int64_t i = 0;
    if (!v.get_int64().get(i)) {
      if (cell) {
        cell->type = CellType::integer;
        cell->i64 = i;
        cell->text = tok;
      }
      return simdjson::SUCCESS;
    }
    if (!is_integer_literal(tok)) return simdjson::NUMBER_ERROR;
    if (cell) {  // valid JSON, just beyond int64
      cell->type = CellType::big_integer;
      cell->i64 = 0;
      cell->text = tok;
    }
    return simdjson::SUCCESS;
  }
  double d = 0;
  if (v.get_double().get(d)) return simdjson::NUMBER_ERROR;
  if (cell) {
    cell->type = CellType::number;
    cell->f64 = d;
    cell->text = tok;
  }
  return simdjson::SUCCESS;
}

// Walks a value we do not store so that On-Demand checks all of it. `depth` is the value's nesting depth
// (the root object is 1). Recursion is bounded by kJsonMaxDepth.
error_code validate_value(od::value& v, int depth) {
  std::string_view tok = v.raw_json_token();
  switch (tok.empty() ? '\0' : tok[0]) {
    case '{': {
      if (depth > kJsonMaxDepth) return simdjson::DEPTH_ERROR;
      od::object obj;
      ADVX_JSON_TRY(v.get_object().get(obj));
      for (auto field_result : obj) {
        od::field field;
        ADVX_JSON_TRY(std::move(field_result).get(field));
        std::string_view key;
        ADVX_JSON_TRY(field.unescaped_key().get(key));  // checks the key's escapes
        ADVX_JSON_TRY(validate_value(field.value(), depth + 1));
      }
      return simdjson::SUCCESS;
    }
    case '[': {
      if (depth > kJsonMaxDepth) return simdjson::DEPTH_ERROR;
      od::array arr;
      ADVX_JSON_TRY(v.get_array().get(arr));
      for (auto element_result : arr) {
        od::value element;
        ADVX_JSON_TRY(std::move(element_result).get(element));
        ADVX_JSON_TRY(validate_value(element, depth + 1));
      }
      return simdjson::SUCCESS;
    }
    case '"': {
      std::string_view s;
      return v.get_string().get(s);
    }
    case 't':
    case 'f': {
      bool b = false;
      return v.get_bool().get(b);
    }
    case 'n': {
      bool is_null = false;
      ADVX_JSON_TRY(v.is_null().get(is_null));
      return is_null ? simdjson::SUCCESS : simdjson::N_ATOM_ERROR;
    }
    default:
      if (starts_number(tok)) return read_number(v, trim_right(tok), nullptr);
      return simdjson::TAPE_ERROR;
  }
}

// The unescaped text of a string value: a view of the input when it has no escapes, else an arena copy
// (the parser's string buffer is reused by the next record).
std::string_view string_text(std::string_view tok, std::string_view unescaped, Arena& arena) {
  std::string_view body = tok.substr(1);
  size_t n = unescaped.size();
  if (n < body.size() && body[n] == '"' && std::memchr(body.data(), '\\', n) == nullptr)
    return body.substr(0, n);
  return arena.copy(unescaped);
}

std::string_view describe(error_code e) {
  switch (e) {
    case simdjson::UNCLOSED_STRING:
      return "unclosed string";
    case simdjson::UTF8_ERROR:
      return "invalid UTF-8";
    case simdjson::UNESCAPED_CHARS:
      return "unescaped control character in a string";
    case simdjson::STRING_ERROR:
      return "invalid string (bad escape or surrogate)";
    case simdjson::NUMBER_ERROR:
      return "invalid number";
    case simdjson::DEPTH_ERROR:
      return "nested deeper than 1024 levels";
    case simdjson::TRAILING_CONTENT:
      return "trailing content after the object";
    default:
      return simdjson::error_message(e);
  }
}

// simdjson reports every root object whose last token is not its own closing '}' as
// INCOMPLETE_ARRAY_OR_OBJECT ("document ended early"), which misdescribes `{"a":1} x` to the user. On this
// rare path a string-aware bracket scan tells trailing content from brackets left open or mismatched.
std::string_view describe_incomplete(std::string_view rec) {
  int64_t depth = 0;
  bool in_string = false, escaped = false;
  for (size_t i = 0; i < rec.size(); ++i) {
    char c = rec[i];
    if (in_string) {
      if (escaped)
        escaped = false;
      else if (c == '\\')
        escaped = true;
      else if (c == '"')
        in_string = false;
      continue;
    }
    if (c == '"') {
      in_string = true;
    } else if (c == '{' || c == '[') {
      ++depth;
    } else if (c == '}' || c == ']') {
      if (--depth > 0) continue;
      if (c == '}' && !is_blank(rec.substr(i + 1))) return "trailing content after the object";
      break;
    }
  }
  return "unclosed or mismatched brackets";
}

class JsonDecoder final : public Decoder {
 public:
  JsonDecoder() { reserve_parser(); }

  // A failed allocation is not fatal: iterate() allocates on demand and reports its own error.
  // (GCC ignores a (void) cast on warn_unused_result, hence the named result.)
  // max_depth is one more than kJsonMaxDepth: On-Demand requires every open object/array's depth (root
  // object = 1, as ours) to be < max_depth (an assertion in unoptimized builds), so with max_depth ==
  // kJsonMaxDepth a value at exactly the limit, which validate_value accepts, aborted Debug builds.
  // iterate() keeps it when it grows the parser.
  void reserve_parser() {
    const simdjson::error_code ignored = parser_.allocate(kParserInitialCapacity, kJsonMaxDepth + 1);
    static_cast<void>(ignored);
  }

  size_t decode(std::string_view data, bool at_end, RawBatch& out) override {
    size_t pos = 0;
    if (mode_ == Mode::unknown) {
      // The first byte that is not whitespace decides the mode, so wait for one.
      if (!bom_checked_) {
        if (data.size() < kBom.size() && !at_end && kBom.starts_with(data)) return 0;
        if (data.starts_with(kBom)) pos = kBom.size();
        bom_checked_ = true;
      }
      size_t first = pos;
      while (first < data.size() && is_ws(data[first])) ++first;
      if (first == data.size()) {
        // Only blanks so far: consumed, so that a file of blank lines is no records rather than one
        // record longer than any bound. Their lines are counted in case the input is NDJSON.
        leading_lines_ += uint64_t(std::count(data.begin() + long(pos), data.end(), '\n'));
        return data.size();
      }
      if (data[first] == '[') {
        mode_ = Mode::array;
        pos = first;
      } else {
        mode_ = Mode::ndjson;  // leading blank lines still count as lines
        record_no_ += leading_lines_;
      }
    }
    return mode_ == Mode::ndjson ? decode_ndjson(data, pos, at_end, out)
                                 : decode_array(data, pos, at_end, out);
  }

 private:
  enum class Mode : uint8_t { unknown, ndjson, array };
  // Where the array scanner stands: before `[`, after `[`, at an element, after `]`, in bytes after `]`.
  enum class Phase : uint8_t { open, first, element, closed, trailing };

  size_t decode_ndjson(std::string_view data, size_t pos, bool at_end, RawBatch& out) {
    const char* base = data.data();
    const size_t n = data.size();
    // The carried partial line was already searched for '\n' by the previous call.
    size_t scan_from = std::min(n, pos + ndjson_scanned_);
    ndjson_scanned_ = 0;
    while (pos < n) {
      const char* nl = static_cast<const char*>(std::memchr(base + scan_from, '\n', n - scan_from));
      size_t line_end = nl ? size_t(nl - base) : n;
      if (!nl && !at_end) {
        ndjson_scanned_ = n - pos;
        return pos;
      }
      ++record_no_;
      std::string_view line(base + pos, line_end - pos);
      if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
      if (!is_blank(line)) decode_record(line, base + n, out);
      pos = nl ? line_end + 1 : n;
      scan_from = pos;
    }
    return pos;
  }

  size_t decode_array(std::string_view data, size_t pos, bool at_end, RawBatch& out) {
    const size_t n = data.size();
    auto skip_ws = [&] {
      while (pos < n && is_ws(data[pos])) ++pos;
      return pos < n;
    };
    while (true) {
      switch (phase_) {
        case Phase::open:
          if (!skip_ws()) return finish_array(pos, at_end, out);
          ++pos;  // the '[' that chose array mode
          phase_ = Phase::first;
          break;
        case Phase::first:
          if (!skip_ws()) return finish_array(pos, at_end, out);
          if (data[pos] == ']') {
            ++pos;
            phase_ = Phase::closed;
          } else {
            phase_ = Phase::element;
          }
          break;
        case Phase::element: {
          // A resumed scan starts at the element's first byte: the previous call consumed up to it.
          if (elem_scanned_ == 0 && !skip_ws()) return finish_array(pos, at_end, out);
          size_t i = std::min(n, pos + elem_scanned_);
          char term = scan_element(data, i);
          if (term == 0) {
            if (!at_end) {
              elem_scanned_ = i - pos;
              return pos;
            }
            // The input ends inside the array: a partial element is a reject, a whole one still a record.
            std::string_view elem = trim(data.substr(pos));
            ++record_no_;
            if (in_string_ || depth_ > 0)
              reject(out, elem, "truncated (input ends inside the element)");
            else
              decode_record(elem, data.data() + n, out);
            reset_scan();
            phase_ = Phase::closed;
            return finish_array(n, at_end, out);
          }
          std::string_view elem = trim(data.substr(pos, i - pos));
          ++record_no_;
          if (elem.empty())
            reject(out, elem, "empty array element");
          else
            decode_record(elem, data.data() + n, out);
          reset_scan();
          pos = i + 1;
          phase_ = term == ',' ? Phase::element : Phase::closed;
          break;
        }
        case Phase::closed:
          if (!skip_ws()) return finish_array(pos, at_end, out);
          phase_ = Phase::trailing;
          break;
        case Phase::trailing: {
          size_t room = kJsonMaxTrailingRaw - std::min(kJsonMaxTrailingRaw, trailing_.size());
          trailing_.append(data.substr(pos, std::min(room, n - pos)));
          trailing_bytes_ += n - pos;
          return finish_array(n, at_end, out);
        }
      }
    }
  }

  // Advances `i` to the element's terminator (a top-level ',' or the array's ']') and returns it, or
  // returns 0 with `i` at the end of `data`. Keeps its state across calls so a long element is scanned once.
  char scan_element(std::string_view data, size_t& i) {
    for (; i < data.size(); ++i) {
      char c = data[i];
      if (in_string_) {
        if (escaped_)
          escaped_ = false;
        else if (c == '\\')
          escaped_ = true;
        else if (c == '"')
          in_string_ = false;
        continue;
      }
      switch (c) {
        case '"':
          in_string_ = true;
          break;
        case '{':
        case '[':
          ++depth_;
          break;
        case '}':
        case ']':
          if (depth_ > 0)
            --depth_;
          else if (c == ']')
            return c;
          break;  // a stray '}' stays in the element, which simdjson then rejects
        case ',':
          if (depth_ == 0) return c;
          break;
        default:
          break;
      }
    }
    return 0;
  }

  void reset_scan() {
    elem_scanned_ = 0;
    depth_ = 0;
    in_string_ = false;
    escaped_ = false;
  }

  size_t finish_array(size_t consumed, bool at_end, RawBatch& out) {
    if (at_end && phase_ == Phase::trailing) {
      ++record_no_;
      std::string what = "trailing content after the JSON array";
      if (trailing_bytes_ > trailing_.size())
        what += " (" + std::to_string(trailing_bytes_) + " bytes, first " + std::to_string(trailing_.size()) +
                " kept)";
      reject(out, trim_right(trailing_), what);
      trailing_.clear();
      trailing_bytes_ = 0;
      phase_ = Phase::closed;
    }
    return consumed;
  }

  // One record: a row when it is a valid JSON object, else a malformed_json reject.
  void decode_record(std::string_view rec, const char* buf_end, RawBatch& out) {
    size_t first = 0;
    while (first < rec.size() && is_ws(rec[first])) ++first;
    if (first == rec.size() || rec[first] != '{') {
      reject(out, rec, "expected a JSON object");
      return;
    }
    size_t row = out.add_row(record_no_, rec);
    unknown_keys_.clear();
    size_t capacity = size_t(buf_end - rec.data()) + kInputPadding;
    error_code e = parse_object(rec, capacity, row, out);
    if (e) {
      out.pop_row();
      reject(out, rec, e == simdjson::INCOMPLETE_ARRAY_OR_OBJECT ? describe_incomplete(rec) : describe(e));
    } else {
      // Counted only for records that decode, so a reject adds nothing to the counts.
      for (std::string_view key : unknown_keys_) {
        auto it = out.unknown_fields.find(key);
        if (it == out.unknown_fields.end())
          out.unknown_fields.emplace(std::string(key), 1);
        else
          ++it->second;
      }
    }
    if (parser_.capacity() > kParserShrinkAbove) reserve_parser();
  }

  error_code parse_object(std::string_view rec, size_t capacity, size_t row, RawBatch& out) {
    od::document doc;
    ADVX_JSON_TRY(parser_.iterate(rec.data(), rec.size(), capacity).get(doc));
    od::object obj;
    ADVX_JSON_TRY(doc.get_object().get(obj));
    for (auto field_result : obj) {
      od::field field;
      ADVX_JSON_TRY(std::move(field_result).get(field));
      int s = raw_key_slot(field.key().raw());
      if (s < 0) {
        std::string_view key;  // lives in the parser's string buffer until the next record
        ADVX_JSON_TRY(field.unescaped_key().get(key));
        s = key_slot(key);
        if (s < 0) {
          unknown_keys_.push_back(key);
          ADVX_JSON_TRY(validate_value(field.value(), 2));
          continue;
        }
      }
      ADVX_JSON_TRY(fill_cell(field.value(), out.columns[size_t(s)][row], out));
    }
    // On-Demand stops at the object's '}': anything after it is not part of a valid record.
    if (!doc.current_location().error()) return simdjson::TRAILING_CONTENT;
    return simdjson::SUCCESS;
  }

  // Stores a top-level value of a known field. A repeated key overwrites: the last one wins.
  error_code fill_cell(od::value& v, Cell& c, RawBatch& out) {
    std::string_view tok = v.raw_json_token();
    switch (tok.empty() ? '\0' : tok[0]) {
      case '"': {
        std::string_view s;
        ADVX_JSON_TRY(v.get_string().get(s));
        c.type = CellType::string;
        c.text = string_text(tok, s, out.arena);
        c.i64 = 0;
        return simdjson::SUCCESS;
      }
      case '{':
      case '[': {
        ADVX_JSON_TRY(validate_value(v, 2));
        // After the walk the iterator stands on the token that follows the value.
        const char* end = nullptr;
        if (v.current_location().get(end)) return simdjson::INCOMPLETE_ARRAY_OR_OBJECT;
        c.type = CellType::compound;
        c.text = trim_right(std::string_view(tok.data(), size_t(end - tok.data())));
        c.i64 = 0;
        return simdjson::SUCCESS;
      }
      case 't':
      case 'f': {
        bool b = false;
        ADVX_JSON_TRY(v.get_bool().get(b));
        c.type = CellType::boolean;
        c.i64 = b ? 1 : 0;
        c.text = b ? "true" : "false";
        return simdjson::SUCCESS;
      }
      case 'n': {
        bool is_null = false;
        ADVX_JSON_TRY(v.is_null().get(is_null));
        if (!is_null) return simdjson::N_ATOM_ERROR;
        c.type = CellType::null;
        c.text = {};
        c.i64 = 0;
        return simdjson::SUCCESS;
      }
      default:
        if (starts_number(tok)) return read_number(v, trim_right(tok), &c);
        return simdjson::TAPE_ERROR;
    }
  }

  void reject(RawBatch& out, std::string_view raw, std::string_view what) {
    std::string detail = mode_ == Mode::ndjson ? "line " : "element ";
    detail += std::to_string(record_no_);
    detail += ": ";
    detail += what;
    out.rejects.push_back(
        RejectRecord{Reason::malformed_json, std::move(detail), record_no_, std::string(raw)});
  }

  od::parser parser_;
  Mode mode_ = Mode::unknown;
  uint64_t record_no_ = 0;      // NDJSON: lines seen (blank ones too); array: elements seen
  uint64_t leading_lines_ = 0;  // blank lines before the first record, while the mode is unknown
  bool bom_checked_ = false;    // a BOM counts only at the very start of the input
  size_t ndjson_scanned_ = 0;
  // Array scanner state, kept across calls while an element is incomplete.
  Phase phase_ = Phase::open;
  size_t elem_scanned_ = 0;
  int64_t depth_ = 0;
  bool in_string_ = false;
  bool escaped_ = false;
  std::string trailing_;
  uint64_t trailing_bytes_ = 0;
  std::vector<std::string_view> unknown_keys_;  // of the current record, committed when it decodes
};

#undef ADVX_JSON_TRY

}  // namespace

std::unique_ptr<Decoder> make_json_decoder() { return std::make_unique<JsonDecoder>(); }

}  // namespace advx
