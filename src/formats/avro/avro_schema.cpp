#include "formats/avro/avro_schema.hpp"

#include <simdjson.h>

#include <algorithm>
#include <unordered_map>

namespace advx::avro {
namespace {

constexpr int kMaxSchemaDepth = 200;  // JSON nesting; keeps the recursive parser off the stack limit
constexpr uint32_t kMinSizeCap = 1u << 20;

bool primitive_type(std::string_view name, Type* t) {
  static constexpr std::pair<std::string_view, Type> kPrims[] = {
      {"null", Type::null},    {"boolean", Type::boolean}, {"int", Type::int_},    {"long", Type::long_},
      {"float", Type::float_}, {"double", Type::double_},  {"bytes", Type::bytes}, {"string", Type::string},
  };
  for (const auto& [n, ty] : kPrims) {
    if (n == name) {
      *t = ty;
      return true;
    }
  }
  return false;
}

class SchemaParser {
 public:
  SchemaParser(Schema& out, std::string* error) : out_(out), error_(error) {}

  int parse(simdjson::dom::element e, const std::string& ns, int depth) {
    if (depth > kMaxSchemaDepth) return fail("schema nested too deeply");
    switch (e.type()) {
      case simdjson::dom::element_type::STRING: {
        std::string_view name;
        if (e.get_string().get(name)) return fail("bad type name");
        return named_or_primitive(name, ns, Logical::none);
      }
      case simdjson::dom::element_type::ARRAY:
        return parse_union(e, ns, depth);
      case simdjson::dom::element_type::OBJECT:
        return parse_object(e, ns, depth);
      default:
        return fail("a type must be a string, an array or an object");
    }
  }

  bool failed() const { return failed_; }

 private:
  int fail(std::string msg) {
    if (!failed_ && error_) *error_ = std::move(msg);
    failed_ = true;
    return -1;
  }

  int add(SchemaNode n) {
    out_.nodes.push_back(std::move(n));
    return int(out_.nodes.size() - 1);
  }

  int named_or_primitive(std::string_view name, const std::string& ns, Logical logical) {
    Type t;
    if (primitive_type(name, &t)) {
      SchemaNode n;
      n.type = t;
      if (t == Type::long_) n.logical = logical;
      return add(std::move(n));
    }
    // A reference: a full name, or a name in the enclosing namespace, or a name in the null namespace.
    if (name.find('.') == std::string_view::npos && !ns.empty()) {
      auto it = names_.find(ns + "." + std::string(name));
      if (it != names_.end()) return int(it->second);
    }
    auto it = names_.find(std::string(name));
    if (it != names_.end()) return int(it->second);
    return fail("unknown type name '" + std::string(name) + "'");
  }

  int parse_union(simdjson::dom::element e, const std::string& ns, int depth) {
    SchemaNode n;
    n.type = Type::union_;
    int self = add(std::move(n));
    simdjson::dom::array branches;
    if (e.get_array().get(branches)) return fail("bad union");
    for (simdjson::dom::element b : branches) {
      int bi = parse(b, ns, depth + 1);
      if (bi < 0) return -1;
      if (out_.nodes[size_t(bi)].type == Type::union_) return fail("a union may not contain a union");
      out_.nodes[size_t(self)].branches.push_back(uint32_t(bi));
    }
    if (out_.nodes[size_t(self)].branches.empty()) return fail("empty union");
    return self;
  }

  // Full name and namespace of a named type, per the spec's name resolution rules.
  bool type_name(simdjson::dom::object o, const std::string& ns, std::string* fullname, std::string* own_ns) {
    std::string_view name;
    if (o["name"].get_string().get(name) || name.empty()) return fail("named type without a name") >= 0;
    if (name.find('.') != std::string_view::npos) {
      *fullname = std::string(name);
      *own_ns = fullname->substr(0, fullname->rfind('.'));
      return true;
    }
    std::string_view declared;
    if (!o["namespace"].get_string().get(declared)) {
      *own_ns = std::string(declared);
    } else {
      *own_ns = ns;
    }
    *fullname = own_ns->empty() ? std::string(name) : *own_ns + "." + std::string(name);
    return true;
  }

  bool define(const std::string& fullname, int idx) {
    if (!names_.emplace(fullname, uint32_t(idx)).second) {
      fail("type '" + fullname + "' defined twice");
      return false;
    }
    return true;
  }

  int parse_object(simdjson::dom::element e, const std::string& ns, int depth) {
    simdjson::dom::object o;
    if (e.get_object().get(o)) return fail("bad type object");
    simdjson::dom::element type_el;
    if (o["type"].get(type_el)) return fail("type object without 'type'");
    std::string_view type;
    if (type_el.get_string().get(type)) return parse(type_el, ns, depth + 1);  // {"type": [..]} or {...}

    if (type == "record" || type == "error") {
      SchemaNode n;
      n.type = Type::record;
      std::string own_ns;
      if (!type_name(o, ns, &n.fullname, &own_ns)) return -1;
      std::string fullname = n.fullname;
      int self = add(std::move(n));
      if (!define(fullname, self)) return -1;  // before the fields: a record may refer to itself
      simdjson::dom::array fields;
      if (o["fields"].get_array().get(fields)) return fail("record '" + fullname + "' without fields");
      for (simdjson::dom::element f : fields) {
        simdjson::dom::object fo;
        std::string_view fname;
        simdjson::dom::element ftype;
        if (f.get_object().get(fo) || fo["name"].get_string().get(fname) || fo["type"].get(ftype)) {
          return fail("bad field in record '" + fullname + "'");
        }
        int fi = parse(ftype, own_ns, depth + 1);
        if (fi < 0) return -1;
        out_.nodes[size_t(self)].fields.push_back({std::string(fname), uint32_t(fi)});
      }
      return self;
    }
    if (type == "enum") {
      SchemaNode n;
      n.type = Type::enum_;
      std::string own_ns;
      if (!type_name(o, ns, &n.fullname, &own_ns)) return -1;
      simdjson::dom::array symbols;
      if (o["symbols"].get_array().get(symbols)) return fail("enum '" + n.fullname + "' without symbols");
      for (simdjson::dom::element s : symbols) {
        std::string_view sym;
        if (s.get_string().get(sym)) return fail("bad enum symbol in '" + n.fullname + "'");
        n.symbols.emplace_back(sym);
      }
      std::string fullname = n.fullname;
      int self = add(std::move(n));
      return define(fullname, self) ? self : -1;
    }
    if (type == "fixed") {
      SchemaNode n;
      n.type = Type::fixed;
      std::string own_ns;
      if (!type_name(o, ns, &n.fullname, &own_ns)) return -1;
      uint64_t size;
      if (o["size"].get_uint64().get(size) || size > (1u << 30)) return fail("fixed without a valid size");
      n.size = uint32_t(size);
      std::string fullname = n.fullname;
      int self = add(std::move(n));
      return define(fullname, self) ? self : -1;
    }
    if (type == "array" || type == "map") {
      simdjson::dom::element items;
      if (o[type == "array" ? "items" : "values"].get(items))
        return fail(std::string(type) + " without items");
      SchemaNode n;
      n.type = type == "array" ? Type::array : Type::map;
      int self = add(std::move(n));
      int ii = parse(items, ns, depth + 1);
      if (ii < 0) return -1;
      out_.nodes[size_t(self)].items = uint32_t(ii);
      return self;
    }
    Logical logical = Logical::none;
    std::string_view lt;
    if (!o["logicalType"].get_string().get(lt)) {
      if (lt == "timestamp-millis") logical = Logical::timestamp_millis;
      if (lt == "timestamp-micros") logical = Logical::timestamp_micros;
    }
    return named_or_primitive(type, ns, logical);
  }

  Schema& out_;
  std::string* error_;
  bool failed_ = false;
  std::unordered_map<std::string, uint32_t> names_;
};

uint32_t own_min_size(const SchemaNode& n) {
  switch (n.type) {
    case Type::null:
      return 0;
    case Type::float_:
      return 4;
    case Type::double_:
      return 8;
    case Type::fixed:
      return n.size;
    default:
      return 1;  // a varint, a length, a count or a union index
  }
}

// Record sizes depend on each other (cycles through names): iterate to a fixed point, capped.
void compute_min_sizes(Schema& s) {
  for (auto& n : s.nodes) n.min_size = n.type == Type::record ? 0 : own_min_size(n);
  for (int round = 0; round < 64; ++round) {
    bool changed = false;
    for (auto& n : s.nodes) {
      if (n.type != Type::record) continue;
      uint64_t sum = 0;
      for (const auto& f : n.fields) sum += s.nodes[f.type].min_size;
      uint32_t v = uint32_t(std::min<uint64_t>(sum, kMinSizeCap));
      if (v != n.min_size) {
        n.min_size = v;
        changed = true;
      }
    }
    if (!changed) break;
  }
}

}  // namespace

bool parse_schema(std::string_view json, Schema& out, std::string* error) {
  out = Schema{};
  simdjson::dom::parser parser;
  simdjson::padded_string padded(json);
  simdjson::dom::element doc;
  if (auto err = parser.parse(padded).get(doc)) {
    if (error) *error = std::string("schema is not valid JSON: ") + simdjson::error_message(err);
    return false;
  }
  SchemaParser p(out, error);
  int root = p.parse(doc, "", 0);
  if (root < 0) return false;
  out.root = uint32_t(root);
  compute_min_sizes(out);
  return true;
}

}  // namespace advx::avro
