// Avro OCF and single-datum decoding for bid requests. Three parts:
//   Plan        - the writer schema's paths to the wanted slots, as a trie over schema positions;
//   DatumReader - one walk over a datum: decodes what the plan wants, skips everything else by length;
//   OcfDecoder  - the container: header, blocks, codecs, sync markers, rejects and resynchronisation.
#include "formats/avro/avro_decoder.hpp"

#include <snappy.h>
#include <zlib.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstring>
#include <exception>

#include "formats/avro/avro_schema.hpp"

namespace advx {
namespace {

using avro::Logical;
using avro::Schema;
using avro::SchemaNode;
using avro::Type;

constexpr int kSlotCount = int(BidRequestField::count_);
constexpr uint8_t kImpCountSlot = uint8_t(BidRequestField::imp_count);
constexpr int kMaxDepth = 64;                           // nesting of records/arrays/maps/unions in a datum
constexpr int64_t kMaxZeroSizeItems = 1 << 16;          // items of a type that takes no bytes (array of null)
constexpr int64_t kMaxBlockBytes = int64_t(256) << 20;  // a larger block is taken as a corrupt header
constexpr size_t kMaxHeaderBytes = size_t(64) << 20;

// --- Plan --------------------------------------------------------------------------------------------

struct PlanNode {
  std::vector<uint8_t> captures;    // slots that take the value at this position
  std::vector<uint8_t> null_slots;  // union: slots that become null when the null branch is taken
  std::vector<int32_t> children;    // record: per field; union: per branch; array/map: [0] = items; -1 = skip
};

std::vector<std::string> split_path(std::string_view path) {
  std::vector<std::string> segs;
  size_t start = 0;
  while (start <= path.size()) {
    size_t dot = path.find('.', start);
    if (dot == std::string_view::npos) dot = path.size();
    std::string seg(path.substr(start, dot - start));
    if (seg.size() >= 2 && seg.compare(seg.size() - 2, 2, "[]") == 0) seg.resize(seg.size() - 2);
    if (seg.empty()) return {};
    segs.push_back(std::move(seg));
    start = dot + 1;
  }
  return segs;
}

class Plan {
 public:
  // Resolves each slot's first path that exists in `schema`.
  void build(const Schema& schema, const AvroFieldPaths& paths) {
    schema_ = &schema;
    nodes_.assign(1, PlanNode{});
    for (int slot = 0; slot < kSlotCount; ++slot) {
      for (const std::string& path : paths.paths[size_t(slot)]) {
        std::vector<std::string> segs = split_path(path);
        if (segs.empty() || !resolves(schema.root, segs, 0, 0)) continue;
        insert(0, schema.root, segs, 0, uint8_t(slot), 0);
        break;
      }
    }
  }

  const std::vector<PlanNode>& nodes() const { return nodes_; }

 private:
  bool resolves(uint32_t s, const std::vector<std::string>& segs, size_t i, int depth) const {
    if (i == segs.size()) return true;
    if (depth > kMaxDepth) return false;
    const SchemaNode& n = schema_->node(s);
    switch (n.type) {
      case Type::union_:
        for (uint32_t b : n.branches) {
          if (resolves(b, segs, i, depth + 1)) return true;
        }
        return false;
      case Type::record:
        for (const auto& f : n.fields) {
          if (f.name == segs[i]) return resolves(f.type, segs, i + 1, depth + 1);
        }
        return false;
      case Type::array:
        return resolves(n.items, segs, i, depth + 1);
      default:
        return false;
    }
  }

  int32_t child(int32_t p, size_t k, size_t width) {
    if (nodes_[size_t(p)].children.empty()) nodes_[size_t(p)].children.assign(width, -1);
    if (nodes_[size_t(p)].children[k] < 0) {
      nodes_.emplace_back();
      nodes_[size_t(p)].children[k] = int32_t(nodes_.size() - 1);
    }
    return nodes_[size_t(p)].children[k];
  }

  void insert(int32_t p, uint32_t s, const std::vector<std::string>& segs, size_t i, uint8_t slot,
              int depth) {
    const SchemaNode& n = schema_->node(s);
    if (n.type == Type::union_) {
      for (size_t k = 0; k < n.branches.size(); ++k) {
        uint32_t b = n.branches[k];
        if (schema_->node(b).type == Type::null) {
          nodes_[size_t(p)].null_slots.push_back(slot);
        } else if (resolves(b, segs, i, depth + 1)) {
          int32_t c = child(p, k, n.branches.size());
          insert(c, b, segs, i, slot, depth + 1);
        }
      }
      return;
    }
    if (i == segs.size()) {
      nodes_[size_t(p)].captures.push_back(slot);
      return;
    }
    if (n.type == Type::record) {
      for (size_t k = 0; k < n.fields.size(); ++k) {
        if (n.fields[k].name != segs[i]) continue;
        int32_t c = child(p, k, n.fields.size());
        insert(c, n.fields[k].type, segs, i + 1, slot, depth + 1);
        return;
      }
    } else if (n.type == Type::array) {
      int32_t c = child(p, 0, 1);
      insert(c, n.items, segs, i, slot, depth + 1);
    }
  }

  const Schema* schema_ = nullptr;
  std::vector<PlanNode> nodes_;
};

// --- DatumReader -------------------------------------------------------------------------------------

class DatumReader {
 public:
  DatumReader(const Schema& schema, const Plan& plan) : schema_(schema), plan_(plan.nodes()) {}

  // Decodes one datum at `p` (bounded by `end`) into row `row` of `out`; on success `p` moves past it.
  bool read(const char*& p, const char* end, RawBatch& out, size_t row) {
    p_ = p;
    end_ = end;
    out_ = &out;
    row_ = row;
    array_depth_ = 0;
    zero_size_items_ = 0;
    field_ = nullptr;
    error_.clear();
    if (!decode(schema_.root, 0, 0)) return false;
    p = p_;
    return true;
  }

  // What was wrong, for a reject detail: "bad union index 7 at field device".
  std::string error() const { return field_ ? error_ + " at field " + *field_ : error_; }

 private:
  bool fail(std::string msg) {
    error_ = std::move(msg);
    return false;
  }

  size_t left() const { return size_t(end_ - p_); }

  bool read_long(int64_t& v) {
    if (p_ < end_ && !(uint8_t(*p_) & 0x80)) {
      uint64_t u = uint8_t(*p_++);
      v = int64_t(u >> 1) ^ -int64_t(u & 1);
      return true;
    }
    uint64_t u = 0;
    for (int shift = 0;; shift += 7) {
      if (p_ >= end_) return fail("varint past the end of the data");
      uint8_t b = uint8_t(*p_++);
      if (shift == 63 && b > 1) return fail("invalid varint (more than 64 bits)");
      u |= uint64_t(b & 0x7f) << shift;
      if (!(b & 0x80)) break;
    }
    v = int64_t(u >> 1) ^ -int64_t(u & 1);
    return true;
  }

  bool read_int(int64_t& v) {
    if (!read_long(v)) return false;
    if (v < INT32_MIN || v > INT32_MAX) return fail("int value " + std::to_string(v) + " out of range");
    return true;
  }

  bool read_length(int64_t& len, const char* what) {
    if (!read_long(len)) return false;
    if (len < 0) return fail(std::string("negative ") + what + " length " + std::to_string(len));
    if (uint64_t(len) > left()) {
      return fail(std::string(what) + " length " + std::to_string(len) + " past the end of the data");
    }
    return true;
  }

  bool read_union_index(const SchemaNode& n, size_t& k) {
    int64_t idx;
    if (!read_long(idx)) return false;
    if (idx < 0 || uint64_t(idx) >= n.branches.size()) return fail("bad union index " + std::to_string(idx));
    k = size_t(idx);
    return true;
  }

  // One block header of an array or map. `bytes` is the block's byte size when the writer gave it, else -1.
  // The count is bounded by the bytes left, so a forged count never makes a long loop.
  bool read_block(uint32_t item_min, int64_t& count, int64_t& bytes) {
    if (!read_long(count)) return false;
    bytes = -1;
    if (count < 0) {
      if (count == INT64_MIN) return fail("bad block count");
      count = -count;
      if (!read_length(bytes, "block")) return false;
    }
    if (item_min > 0) {
      if (uint64_t(count) > left() / item_min) {
        return fail("block of " + std::to_string(count) + " items past the end of the data");
      }
    } else if ((zero_size_items_ += count) > kMaxZeroSizeItems) {
      // Items that take no bytes (array of null): bounded per datum so a few bytes cannot make us spin.
      return fail("more than " + std::to_string(kMaxZeroSizeItems) + " zero-size items");
    }
    return true;
  }

  bool deeper(int depth) { return depth < kMaxDepth || fail("nesting deeper than 64 levels"); }

  uint32_t item_min(const SchemaNode& n) const {
    uint32_t m = schema_.node(n.items).min_size;
    return n.type == Type::map ? m + 1 : m;  // + the key's length
  }

  bool skip(uint32_t s, int depth) {
    const SchemaNode& n = schema_.node(s);
    switch (n.type) {
      case Type::null:
        return true;
      case Type::boolean:
        if (p_ >= end_) return fail("boolean past the end of the data");
        ++p_;
        return true;
      case Type::int_: {
        int64_t v;
        return read_int(v);
      }
      case Type::long_: {
        int64_t v;
        return read_long(v);
      }
      case Type::enum_: {
        int64_t v;
        if (!read_long(v)) return false;
        if (v < 0 || uint64_t(v) >= n.symbols.size()) return fail("bad enum index " + std::to_string(v));
        return true;
      }
      case Type::float_:
      case Type::double_:
      case Type::fixed: {
        size_t size = n.type == Type::float_ ? 4 : n.type == Type::double_ ? 8 : n.size;
        if (left() < size) return fail("value past the end of the data");
        p_ += size;
        return true;
      }
      case Type::bytes:
      case Type::string: {
        int64_t len;
        if (!read_length(len, "string")) return false;
        p_ += len;
        return true;
      }
      case Type::record:
        if (!deeper(depth)) return false;
        for (const auto& f : n.fields) {
          field_ = &f.name;
          if (!skip(f.type, depth + 1)) return false;
        }
        return true;
      case Type::union_: {
        size_t k;
        if (!deeper(depth) || !read_union_index(n, k)) return false;
        return skip(n.branches[k], depth + 1);
      }
      case Type::array:
      case Type::map: {
        if (!deeper(depth)) return false;
        uint32_t min = item_min(n);
        for (;;) {
          int64_t count, bytes;
          if (!read_block(min, count, bytes)) return false;
          if (count == 0) return true;
          if (bytes >= 0) {
            p_ += bytes;  // the writer told us the block's size: skip it whole
            continue;
          }
          for (int64_t i = 0; i < count; ++i) {
            if (n.type == Type::map && !skip_key()) return false;
            if (!skip(n.items, depth + 1)) return false;
          }
        }
      }
    }
    return fail("bad schema node");
  }

  bool skip_key() {
    int64_t len;
    if (!read_length(len, "map key")) return false;
    p_ += len;
    return true;
  }

  // Keeps the first value a slot gets, except inside arrays: there a present value replaces a null and
  // numbers keep the minimum (bid_floor = min of imp[].bidfloor).
  void emit(uint8_t slot, const Cell& v) {
    Cell& c = out_->cell(row_, int(slot));
    if (array_depth_ == 0 || !c.present()) {
      c = v;
      return;
    }
    bool c_num = c.type == CellType::integer || c.type == CellType::number;
    bool v_num = v.type == CellType::integer || v.type == CellType::number;
    if (!c_num || !v_num) return;
    if (c.type == CellType::integer && v.type == CellType::integer) {
      if (v.i64 < c.i64) c = v;
      return;
    }
    double cd = c.type == CellType::integer ? double(c.i64) : c.f64;
    double vd = v.type == CellType::integer ? double(v.i64) : v.f64;
    if (vd < cd) c = v;
  }

  void emit_null(const std::vector<uint8_t>& slots) {
    Cell c;
    c.type = CellType::null;
    for (uint8_t s : slots) emit(s, c);
  }

  // A scalar at a wanted position.
  bool read_scalar(const SchemaNode& n, Cell& c) {
    switch (n.type) {
      case Type::null:
        c.type = CellType::null;
        return true;
      case Type::boolean:
        if (p_ >= end_) return fail("boolean past the end of the data");
        c.type = CellType::boolean;
        c.i64 = *p_++ != 0;
        return true;
      case Type::int_:
        c.type = CellType::integer;
        return read_int(c.i64);
      case Type::long_: {
        if (!read_long(c.i64)) return false;
        c.type = CellType::integer;
        if (n.logical == Logical::timestamp_micros) {
          c.type = CellType::timestamp_us;
        } else if (n.logical == Logical::timestamp_millis) {
          int64_t us;
          // An overflowing instant stays a plain integer: the validator rejects it as a bad timestamp.
          if (!__builtin_mul_overflow(c.i64, int64_t(1000), &us)) {
            c.i64 = us;
            c.type = CellType::timestamp_us;
          }
        }
        return true;
      }
      case Type::float_: {
        if (left() < 4) return fail("float past the end of the data");
        float f;
        std::memcpy(&f, p_, 4);
        p_ += 4;
        c.type = CellType::number;
        c.f64 = f;
        return true;
      }
      case Type::double_:
        if (left() < 8) return fail("double past the end of the data");
        std::memcpy(&c.f64, p_, 8);
        p_ += 8;
        c.type = CellType::number;
        return true;
      case Type::bytes:
      case Type::string: {
        int64_t len;
        if (!read_length(len, "string")) return false;
        c.type = CellType::string;
        c.text = {p_, size_t(len)};
        p_ += len;
        return true;
      }
      case Type::fixed:
        if (left() < n.size) return fail("fixed past the end of the data");
        c.type = CellType::string;
        c.text = {p_, n.size};
        p_ += n.size;
        return true;
      case Type::enum_: {
        int64_t v;
        if (!read_long(v)) return false;
        if (v < 0 || uint64_t(v) >= n.symbols.size()) return fail("bad enum index " + std::to_string(v));
        c.type = CellType::string;
        c.text = out_->arena.copy(n.symbols[size_t(v)]);  // the schema may not outlive the batch
        return true;
      }
      default:
        return fail("bad schema node");
    }
  }

  bool decode(uint32_t s, int32_t plan, int depth) {
    const PlanNode& pn = plan_[size_t(plan)];
    const SchemaNode& n = schema_.node(s);
    switch (n.type) {
      case Type::union_: {
        size_t k;
        if (!deeper(depth) || !read_union_index(n, k)) return false;
        uint32_t b = n.branches[k];
        if (schema_.node(b).type == Type::null) {
          emit_null(pn.null_slots);
          return true;
        }
        int32_t c = pn.children.empty() ? -1 : pn.children[k];
        return c < 0 ? skip(b, depth + 1) : decode(b, c, depth + 1);
      }
      case Type::record: {
        if (!deeper(depth)) return false;
        const char* start = p_;
        if (pn.children.empty()) {
          if (!skip(s, depth)) return false;
        } else {
          for (size_t k = 0; k < n.fields.size(); ++k) {
            field_ = &n.fields[k].name;
            int32_t c = pn.children[k];
            if (!(c < 0 ? skip(n.fields[k].type, depth + 1) : decode(n.fields[k].type, c, depth + 1))) {
              return false;
            }
          }
        }
        if (!pn.captures.empty()) emit_compound(s, pn, start, 0);
        return true;
      }
      case Type::array:
      case Type::map: {
        if (!deeper(depth)) return false;
        const char* start = p_;
        int32_t c = pn.children.empty() ? -1 : pn.children[0];
        uint32_t min = item_min(n);
        int64_t total = 0;
        for (;;) {
          int64_t count, bytes;
          if (!read_block(min, count, bytes)) return false;
          if (count == 0) break;
          total += count;  // no overflow: each block's count is bounded by the bytes left
          if (bytes >= 0 && c < 0) {
            p_ += bytes;
            continue;
          }
          for (int64_t i = 0; i < count; ++i) {
            if (n.type == Type::map && !skip_key()) return false;
            if (c < 0) {
              if (!skip(n.items, depth + 1)) return false;
            } else {
              ++array_depth_;
              bool ok = decode(n.items, c, depth + 1);
              --array_depth_;
              if (!ok) return false;
            }
          }
        }
        if (!pn.captures.empty()) emit_compound(s, pn, start, total);
        return true;
      }
      default: {
        Cell v;
        if (!read_scalar(n, v)) return false;
        for (uint8_t slot : pn.captures) emit(slot, v);
        return true;
      }
    }
  }

  // A record, array or map at a wanted position, already validated by the walk over [start, p_):
  // JSON text in the arena (the imp_count slot takes an array's or map's length instead).
  void emit_compound(uint32_t s, const PlanNode& pn, const char* start, int64_t count) {
    const char* saved_p = p_;
    const char* saved_end = end_;
    bool is_list = schema_.node(s).type != Type::record;
    Cell json;
    for (uint8_t slot : pn.captures) {
      Cell v;
      if (slot == kImpCountSlot && is_list) {
        v.type = CellType::integer;
        v.i64 = count;
      } else {
        if (json.type == CellType::absent) {
          json_.clear();
          p_ = start;
          end_ = saved_p;
          int64_t saved_items = zero_size_items_;
          bool ok = render(s, 0);
          zero_size_items_ = saved_items;
          p_ = saved_p;
          end_ = saved_end;
          json.type = CellType::compound;
          json.text = ok ? out_->arena.copy(json_) : std::string_view();
        }
        v = json;
      }
      emit(slot, v);
    }
  }

  void render_string(std::string_view s, bool bytes) {
    static constexpr char kHex[] = "0123456789abcdef";
    json_ += '"';
    for (char ch : s) {
      auto u = uint8_t(ch);
      if (ch == '"' || ch == '\\') {
        json_ += '\\';
        json_ += ch;
      } else if (u < 0x20 || (bytes && u >= 0x80)) {  // bytes map to code points 0-255 (Avro JSON encoding)
        json_ += "\\u00";
        json_ += kHex[u >> 4];
        json_ += kHex[u & 15];
      } else {
        json_ += ch;
      }
    }
    json_ += '"';
  }

  void render_number(double d) {
    if (!std::isfinite(d)) {
      json_ += "null";
      return;
    }
    char buf[32];
    auto r = std::to_chars(buf, buf + sizeof buf, d);
    json_.append(buf, r.ptr);
  }

  bool render(uint32_t s, int depth) {
    const SchemaNode& n = schema_.node(s);
    if (!deeper(depth)) return false;
    switch (n.type) {
      case Type::record:
        json_ += '{';
        for (size_t k = 0; k < n.fields.size(); ++k) {
          if (k) json_ += ',';
          render_string(n.fields[k].name, false);
          json_ += ':';
          if (!render(n.fields[k].type, depth + 1)) return false;
        }
        json_ += '}';
        return true;
      case Type::union_: {
        size_t k;
        return read_union_index(n, k) && render(n.branches[k], depth + 1);
      }
      case Type::array:
      case Type::map: {
        bool map = n.type == Type::map;
        json_ += map ? '{' : '[';
        bool first = true;
        for (;;) {
          int64_t count, bytes;
          if (!read_block(item_min(n), count, bytes)) return false;
          if (count == 0) break;
          for (int64_t i = 0; i < count; ++i) {
            if (!first) json_ += ',';
            first = false;
            if (map) {
              int64_t len;
              if (!read_length(len, "map key")) return false;
              render_string({p_, size_t(len)}, false);
              p_ += len;
              json_ += ':';
            }
            if (!render(n.items, depth + 1)) return false;
          }
        }
        json_ += map ? '}' : ']';
        return true;
      }
      case Type::long_: {  // as written: a timestamp stays in its own unit
        int64_t v;
        if (!read_long(v)) return false;
        json_ += std::to_string(v);
        return true;
      }
      default: {
        Cell v;
        if (!read_scalar(n, v)) return false;
        switch (v.type) {
          case CellType::null:
            json_ += "null";
            break;
          case CellType::boolean:
            json_ += v.i64 ? "true" : "false";
            break;
          case CellType::integer:
            json_ += std::to_string(v.i64);
            break;
          case CellType::number:
            render_number(v.f64);
            break;
          default:
            render_string(v.text, n.type == Type::bytes || n.type == Type::fixed);
            break;
        }
        return true;
      }
    }
  }

  const Schema& schema_;
  const std::vector<PlanNode>& plan_;
  const char* p_ = nullptr;
  const char* end_ = nullptr;
  RawBatch* out_ = nullptr;
  size_t row_ = 0;
  int array_depth_ = 0;
  int64_t zero_size_items_ = 0;
  const std::string* field_ = nullptr;
  std::string error_;
  std::string json_;
};

}  // namespace

// --- AvroFieldPaths, AvroDatumDecoder ----------------------------------------------------------------

AvroFieldPaths::AvroFieldPaths() {
  using F = BidRequestField;
  (*this)[F::auction_id] = {"id", "auction_details.auction_id"};
  (*this)[F::timestamp] = {"timestamp", "auction_details.timestamp"};
  (*this)[F::user_id] = {"user.id", "user_info.user_id"};
  (*this)[F::site_domain] = {"site.domain", "ad_targeting.website"};
  (*this)[F::app_bundle] = {"app.bundle"};
  (*this)[F::country] = {"device.geo.country", "user_info.country"};
  (*this)[F::device_type] = {"device.devicetype", "ad_targeting.device_type"};
  (*this)[F::user_agent] = {"device.ua"};
  (*this)[F::ip] = {"device.ip"};
  (*this)[F::imp_count] = {"imp"};
  (*this)[F::bid_floor] = {"imp[].bidfloor", "auction_details.floor_price"};
  (*this)[F::exchange] = {"exchange", "auction_details.exchange"};
  (*this)[F::targeting] = {"ad_targeting.criteria"};
}

struct AvroDatumDecoder::Impl {
  Impl() : reader(schema, plan) {}

  // Decodes the datum at `p` into a new row; on failure appends nothing and leaves the reason in reader.
  bool decode_row(const char*& p, const char* end, uint64_t record_no, RawBatch& out) {
    const char* start = p;
    size_t row = out.add_row(record_no, {});
    if (!reader.read(p, end, out, row)) {
      out.pop_row();
      return false;
    }
    out.raw[row] = {start, size_t(p - start)};
    return true;
  }

  Schema schema;
  Plan plan;
  DatumReader reader;
};

AvroDatumDecoder::AvroDatumDecoder(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
AvroDatumDecoder::~AvroDatumDecoder() = default;

std::unique_ptr<AvroDatumDecoder> AvroDatumDecoder::create(std::string_view schema_json, std::string* error,
                                                           const AvroFieldPaths& paths) {
  try {
    auto impl = std::make_unique<Impl>();
    if (!avro::parse_schema(schema_json, impl->schema, error)) return nullptr;
    impl->plan.build(impl->schema, paths);
    return std::unique_ptr<AvroDatumDecoder>(new AvroDatumDecoder(std::move(impl)));
  } catch (const std::exception& e) {
    if (error) *error = std::string("cannot load Avro schema: ") + e.what();
    return nullptr;
  }
}

bool AvroDatumDecoder::decode(std::string_view datum, uint64_t record_no, RawBatch& out) {
  std::string detail;
  try {
    const char* p = datum.data();
    const char* end = p + datum.size();
    if (impl_->decode_row(p, end, record_no, out)) {
      if (p == end) return true;
      out.pop_row();
      detail = "record " + std::to_string(record_no) + ": " + std::to_string(end - p) +
               " bytes after the end of the datum";
    } else {
      detail = "record " + std::to_string(record_no) + ": " + impl_->reader.error();
    }
  } catch (const std::exception& e) {
    detail = "record " + std::to_string(record_no) + ": " + e.what();
  }
  out.rejects.push_back({Reason::malformed_avro, std::move(detail), record_no, std::string(datum)});
  return false;
}

// --- OcfDecoder --------------------------------------------------------------------------------------

namespace {

enum class Codec : uint8_t { null, deflate, snappy };

// Bounded reads over the header, which may not be complete yet.
struct Cursor {
  enum Status { ok, need_more, invalid };
  const char* p;
  const char* end;

  Status read_long(int64_t& v) {
    uint64_t u = 0;
    for (int shift = 0;; shift += 7) {
      if (p >= end) return need_more;
      auto b = uint8_t(*p++);
      if (shift == 63 && b > 1) return invalid;
      u |= uint64_t(b & 0x7f) << shift;
      if (!(b & 0x80)) break;
    }
    v = int64_t(u >> 1) ^ -int64_t(u & 1);
    return ok;
  }

  Status read_bytes(std::string_view& s) {
    int64_t len;
    if (Status st = read_long(len); st != ok) return st;
    if (len < 0 || uint64_t(len) > kMaxHeaderBytes) return invalid;
    if (uint64_t(len) > uint64_t(end - p)) return need_more;
    s = {p, size_t(len)};
    p += len;
    return ok;
  }
};

class OcfDecoder final : public Decoder {
 public:
  explicit OcfDecoder(const AvroFieldPaths& paths) : paths_(paths) {}

  const std::string& writer_schema() const { return schema_json_; }

  size_t decode(std::string_view data, bool at_end, RawBatch& out) override {
    try {
      return decode_impl(data, at_end, out);
    } catch (const std::exception& e) {  // bad_alloc and the like: an input error, never a crash
      fatal_error_ = std::string("Avro decoding failed: ") + e.what();
      state_ = State::done;
      return data.size();
    }
  }

 private:
  enum class State : uint8_t { header, blocks, resync, done };

  size_t fatal(std::string msg, size_t size) {
    fatal_error_ = std::move(msg);
    state_ = State::done;
    return size;
  }

  size_t decode_impl(std::string_view data, bool at_end, RawBatch& out) {
    size_t pos = 0;
    if (state_ == State::done) return data.size();
    if (state_ == State::header) {
      size_t header_len = 0;
      if (!read_header(data, at_end, &header_len)) return state_ == State::done ? data.size() : 0;
      pos = header_len;
      state_ = State::blocks;
    }
    const char* base = data.data();
    const size_t size = data.size();
    std::string_view sync(sync_, 16);
    while (true) {
      if (state_ == State::resync) {
        size_t q = data.find(sync, pos);
        if (q != std::string_view::npos) {
          pos = q + 16;
          state_ = State::blocks;
          continue;
        }
        // Keep a possible partial marker at the end for the next call.
        if (at_end) return size;
        return std::max(pos, size >= 15 ? size - 15 : 0);
      }
      if (pos == size) return pos;

      Cursor c{base + pos, base + size};
      int64_t count = 0, bytes = 0;
      Cursor::Status st = c.read_long(count);
      if (st == Cursor::ok) st = c.read_long(bytes);
      if (st == Cursor::need_more) {
        if (!at_end) return pos;
        reject_block(out, 1, "truncated block header at the end of the file", {});
        return size;
      }
      if (st == Cursor::invalid || count < 0 || bytes < 0 || bytes > kMaxBlockBytes) {
        reject_block(
            out, 1,
            "bad block header (count " + std::to_string(count) + ", size " + std::to_string(bytes) + ")", {});
        state_ = State::resync;
        pos += 1;
        continue;
      }
      size_t data_start = size_t(c.p - base);
      size_t avail = size - data_start;
      std::string_view block_bytes = data.substr(data_start, std::min<size_t>(avail, size_t(bytes)));
      if (avail < size_t(bytes) + 16) {
        if (!at_end) return pos;
        reject_block(out, plausible(count, avail) ? count : 1,
                     "truncated block at the end of the file (" + std::to_string(count) + " records in " +
                         std::to_string(bytes) + " bytes declared, " + std::to_string(avail) + " present)",
                     block_bytes);
        state_ = State::resync;
        pos = data_start;
        continue;
      }
      if (std::memcmp(base + data_start + bytes, sync_, 16) != 0) {
        // Only the marker itself damaged (the next block lines up): skip just this block, so the
        // next one is not lost to a scan for the following marker.
        Aligned next = block_at(data, data_start + size_t(bytes) + 16, at_end);
        if (next == Aligned::need_more) return pos;
        reject_block(out, plausible(count, size_t(bytes)) ? count : 1,
                     "block with a bad sync marker (" + std::to_string(count) + " records)", block_bytes);
        if (next == Aligned::yes) {
          pos = data_start + size_t(bytes) + 16;
        } else {
          state_ = State::resync;
          pos = data_start;
        }
        continue;
      }
      pos = data_start + size_t(bytes) + 16;
      decode_block(block_bytes, count, out);
    }
  }

  enum class Aligned : uint8_t { yes, no, need_more };

  // Whether a whole block with a matching sync marker (or the end of the file) starts at `q`.
  Aligned block_at(std::string_view data, size_t q, bool at_end) const {
    if (q == data.size()) return at_end ? Aligned::yes : Aligned::need_more;
    Cursor c{data.data() + q, data.data() + data.size()};
    int64_t count = 0, bytes = 0;
    Cursor::Status st = c.read_long(count);
    if (st == Cursor::ok) st = c.read_long(bytes);
    if (st == Cursor::need_more) return at_end ? Aligned::no : Aligned::need_more;
    if (st == Cursor::invalid || count < 0 || bytes < 0 || bytes > kMaxBlockBytes) return Aligned::no;
    if (uint64_t(c.end - c.p) < uint64_t(bytes) + 16) return at_end ? Aligned::no : Aligned::need_more;
    return std::memcmp(c.p + bytes, sync_, 16) == 0 ? Aligned::yes : Aligned::no;
  }

  // Whether `count` records can be in `bytes` bytes: each record takes at least the root's min size.
  bool plausible(int64_t count, size_t bytes) const {
    uint32_t min = root_min_size_;
    return min > 0 ? uint64_t(count) <= bytes / min : count <= kMaxZeroSizeItems;
  }

  void decode_block(std::string_view block, int64_t count, RawBatch& out) {
    std::string_view plain = block;
    if (codec_ != Codec::null) {
      std::string why;
      if (!decompress(block, out, &plain, &why)) {
        reject_block(out, plausible(count, block.size()) ? count : 1,
                     "block of " + std::to_string(count) + " records: " + why, block);
        return;
      }
    }
    if (!plausible(count, plain.size())) {
      reject_block(out, 1,
                   "block declares " + std::to_string(count) + " records in " + std::to_string(plain.size()) +
                       " bytes",
                   plain);
      return;
    }
    const char* p = plain.data();
    const char* end = p + plain.size();
    for (int64_t i = 0; i < count; ++i) {
      uint64_t rno = next_record_++;
      const char* start = p;
      if (datum_->decode_row(p, end, rno, out)) continue;
      out.rejects.push_back({Reason::malformed_avro,
                             "record " + std::to_string(rno) + ": " + datum_->reader.error(), rno,
                             std::string(start, size_t(end - start))});
      for (++i; i < count; ++i) {
        uint64_t r = next_record_++;
        out.rejects.push_back(
            {Reason::malformed_avro,
             "record " + std::to_string(r) + ": unreadable after an earlier error in its block", r,
             std::string()});
      }
    }
  }

  // `n` records that cannot be located: the first keeps the block's bytes (capped), the rest are counted.
  void reject_block(RawBatch& out, int64_t n, const std::string& why, std::string_view raw) {
    constexpr size_t kMaxRaw = 64 * 1024;
    for (int64_t i = 0; i < n; ++i) {
      uint64_t r = next_record_++;
      out.rejects.push_back({Reason::malformed_avro, "record " + std::to_string(r) + ": " + why, r,
                             i == 0 ? std::string(raw.substr(0, kMaxRaw)) : std::string()});
    }
  }

  // Decompresses into the batch arena, so cells may point into it for the batch's life.
  bool decompress(std::string_view in, RawBatch& out, std::string_view* plain, std::string* why) {
    if (codec_ == Codec::snappy) {
      if (in.size() < 4) return (*why = "snappy block shorter than its checksum", false);
      std::string_view body = in.substr(0, in.size() - 4);
      size_t len = 0;
      if (!snappy::GetUncompressedLength(body.data(), body.size(), &len) || len > size_t(kMaxBlockBytes) ||
          len > body.size() * 32 + 64 || !snappy::IsValidCompressedBuffer(body.data(), body.size())) {
        return (*why = "invalid snappy data", false);
      }
      char* dst = len ? out.arena.allocate(len) : nullptr;
      if (len && !snappy::RawUncompress(body.data(), body.size(), dst))
        return (*why = "invalid snappy data", false);
      auto b = reinterpret_cast<const uint8_t*>(in.data() + in.size() - 4);
      uint32_t want = uint32_t(b[0]) << 24 | uint32_t(b[1]) << 16 | uint32_t(b[2]) << 8 | b[3];
      uint32_t got = uint32_t(crc32(0, reinterpret_cast<const Bytef*>(dst), uInt(len)));
      if (want != got) return (*why = "snappy checksum mismatch", false);
      *plain = {dst, len};
      return true;
    }
    // deflate: raw (no zlib header), output size unknown: inflate into a scratch buffer, capped.
    z_stream zs{};
    if (inflateInit2(&zs, -15) != Z_OK) return (*why = "cannot start inflate", false);
    zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
    zs.avail_in = uInt(in.size());
    if (inflate_buf_.size() < 64 * 1024) inflate_buf_.resize(64 * 1024);
    size_t produced = 0;
    int rc = Z_OK;
    while (rc == Z_OK) {
      if (produced == inflate_buf_.size()) {
        if (inflate_buf_.size() >= size_t(kMaxBlockBytes)) break;
        inflate_buf_.resize(inflate_buf_.size() * 2);
      }
      zs.next_out = reinterpret_cast<Bytef*>(inflate_buf_.data() + produced);
      zs.avail_out = uInt(inflate_buf_.size() - produced);
      rc = inflate(&zs, Z_NO_FLUSH);
      produced = inflate_buf_.size() - zs.avail_out;
      if (rc == Z_BUF_ERROR && zs.avail_out != 0) break;  // input ended before the stream did
      if (rc == Z_BUF_ERROR) rc = Z_OK;
    }
    inflateEnd(&zs);
    if (rc != Z_STREAM_END) return (*why = "invalid deflate data", false);
    *plain = out.arena.copy({inflate_buf_.data(), produced});
    return true;
  }

  // Returns true once the header is parsed; false when more input is needed or on a fatal error.
  bool read_header(std::string_view data, bool at_end, size_t* header_len) {
    static constexpr char kMagic[4] = {'O', 'b', 'j', 1};
    size_t m = std::min<size_t>(data.size(), 4);
    if (std::memcmp(data.data(), kMagic, m) != 0) {
      fatal("not an Avro Object Container File (bad magic bytes)", 0);
      return false;
    }
    Cursor c{data.data() + m, data.data() + data.size()};
    std::string_view schema_json, codec_name = "null";
    bool have_schema = false;
    Cursor::Status st = m < 4 ? Cursor::need_more : Cursor::ok;
    while (st == Cursor::ok) {
      int64_t count;
      if ((st = c.read_long(count)) != Cursor::ok) break;
      if (count == 0) break;
      if (count < 0) {
        if (count == INT64_MIN) {
          st = Cursor::invalid;
          break;
        }
        count = -count;
        int64_t skip_bytes;
        if ((st = c.read_long(skip_bytes)) != Cursor::ok) break;
      }
      for (int64_t i = 0; i < count && st == Cursor::ok; ++i) {
        std::string_view key, value;
        if ((st = c.read_bytes(key)) != Cursor::ok || (st = c.read_bytes(value)) != Cursor::ok) break;
        if (key == "avro.schema") {
          schema_json = value;
          have_schema = true;
        } else if (key == "avro.codec") {
          codec_name = value;
        }
      }
    }
    if (st == Cursor::ok && c.end - c.p < 16) st = Cursor::need_more;
    if (st == Cursor::invalid) {
      fatal("corrupt Avro file header", 0);
      return false;
    }
    if (st == Cursor::need_more) {
      if (at_end) fatal("truncated Avro file header", 0);
      if (data.size() > kMaxHeaderBytes) fatal("Avro file header larger than 64 MiB", 0);
      return false;
    }
    std::memcpy(sync_, c.p, 16);
    *header_len = size_t(c.p + 16 - data.data());

    if (codec_name == "null" || codec_name.empty()) {
      codec_ = Codec::null;
    } else if (codec_name == "deflate") {
      codec_ = Codec::deflate;
    } else if (codec_name == "snappy") {
      codec_ = Codec::snappy;
    } else {
      fatal("unsupported Avro codec " + std::string(codec_name), 0);
      return false;
    }
    if (!have_schema) {
      fatal("Avro file header has no avro.schema", 0);
      return false;
    }
    schema_json_.assign(schema_json);
    std::string error;
    datum_ = std::make_unique<AvroDatumDecoder::Impl>();
    if (!avro::parse_schema(schema_json, datum_->schema, &error)) {
      fatal("invalid Avro schema in the file header: " + error, 0);
      return false;
    }
    datum_->plan.build(datum_->schema, paths_);
    root_min_size_ = datum_->schema.node(datum_->schema.root).min_size;
    return true;
  }

  AvroFieldPaths paths_;
  std::string schema_json_;  // the header's avro.schema, as written
  State state_ = State::header;
  Codec codec_ = Codec::null;
  char sync_[16] = {};
  uint32_t root_min_size_ = 0;
  uint64_t next_record_ = 1;
  std::unique_ptr<AvroDatumDecoder::Impl> datum_;
  std::string inflate_buf_;
};

}  // namespace

std::unique_ptr<Decoder> make_avro_decoder(const AvroFieldPaths& paths) {
  return std::make_unique<OcfDecoder>(paths);
}

std::unique_ptr<Decoder> make_avro_decoder() { return make_avro_decoder(AvroFieldPaths()); }

std::string_view ocf_writer_schema(const Decoder& decoder) {
  const auto* ocf = dynamic_cast<const OcfDecoder*>(&decoder);
  return ocf ? std::string_view(ocf->writer_schema()) : std::string_view();
}

}  // namespace advx
