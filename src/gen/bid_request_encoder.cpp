#include "gen/bid_request_encoder.hpp"

#include <simdjson.h>

#include <stdexcept>
#include <vector>

#include "formats/avro/ocf_writer.hpp"

namespace advx::gen {

namespace {

enum class Src : uint8_t {
  none,
  id,
  timestamp,
  imp,
  imp_id,
  imp_bidfloor,
  imp_bidfloorcur,
  imp_banner,
  banner_w,
  banner_h,
  site,
  site_domain,
  site_page,
  site_cat,
  site_cat_item,
  app,
  app_bundle,
  device,
  device_ua,
  device_ip,
  device_devicetype,
  device_geo,
  geo_country,
  user,
  user_id,
  exchange,
  at,
  tmax
};

struct PathSrc {
  std::string_view path;
  Src src;
};
constexpr PathSrc kPaths[] = {
    {"id", Src::id},
    {"timestamp", Src::timestamp},
    {"imp", Src::imp},
    {"imp[].id", Src::imp_id},
    {"imp[].bidfloor", Src::imp_bidfloor},
    {"imp[].bidfloorcur", Src::imp_bidfloorcur},
    {"imp[].banner", Src::imp_banner},
    {"imp[].banner.w", Src::banner_w},
    {"imp[].banner.h", Src::banner_h},
    {"site", Src::site},
    {"site.domain", Src::site_domain},
    {"site.page", Src::site_page},
    {"site.cat", Src::site_cat},
    {"site.cat[]", Src::site_cat_item},
    {"app", Src::app},
    {"app.bundle", Src::app_bundle},
    {"device", Src::device},
    {"device.ua", Src::device_ua},
    {"device.ip", Src::device_ip},
    {"device.devicetype", Src::device_devicetype},
    {"device.geo", Src::device_geo},
    {"device.geo.country", Src::geo_country},
    {"user", Src::user},
    {"user.id", Src::user_id},
    {"exchange", Src::exchange},
    {"at", Src::at},
    {"tmax", Src::tmax},
};

Src src_of(std::string_view path) {
  for (const auto& p : kPaths)
    if (p.path == path) return p.src;
  return Src::none;
}

enum class Kind : uint8_t { record, array, union_, string, long_, int_, double_, float_, boolean, constant };

struct Node {
  Kind kind = Kind::constant;
  Src src = Src::none;
  bool micros = false;        // long with logicalType timestamp-micros
  int null_branch = -1;       // union: index of "null", or -1
  int value_branch = -1;      // union: index of the branch holding the value
  std::vector<int> children;  // record fields, array items, union value branch
  std::string constant;       // kind constant: pre-encoded bytes
};

}  // namespace

struct BidRequestEncoder::Impl {
  std::vector<Node> nodes;
  int root = -1;

  [[noreturn]] static void fail(std::string_view path, std::string_view what) {
    throw std::runtime_error("bid request schema: " + std::string(path.empty() ? "<root>" : path) + ": " +
                             std::string(what));
  }

  int add(Node n) {
    nodes.push_back(std::move(n));
    return int(nodes.size() - 1);
  }

  static bool is_null_type(simdjson::dom::element t) {
    std::string_view s;
    return t.get_string().get(s) == simdjson::SUCCESS && s == "null";
  }

  // Encodes a field default (for fields the generator does not know) as constant bytes.
  void encode_default(simdjson::dom::element type, simdjson::dom::element def, std::string& out,
                      std::string_view path) {
    std::string_view tname;
    if (type.get_string().get(tname) == simdjson::SUCCESS) {
      if (tname == "null") return;
      if (tname == "boolean") return avro::put_bool(out, bool(def.get_bool().value_unsafe()));
      if (tname == "int" || tname == "long") {
        int64_t v = 0;
        if (def.get_int64().get(v) != simdjson::SUCCESS) fail(path, "bad default");
        return avro::put_long(out, v);
      }
      if (tname == "double" || tname == "float") {
        double v = 0;
        if (def.get_double().get(v) != simdjson::SUCCESS) fail(path, "bad default");
        return tname == "double" ? avro::put_double(out, v) : avro::put_float(out, float(v));
      }
      if (tname == "string" || tname == "bytes") {
        std::string_view v;
        if (def.get_string().get(v) != simdjson::SUCCESS) fail(path, "bad default");
        return avro::put_string(out, v);
      }
      fail(path, "unsupported default type");
    }
    simdjson::dom::array branches;
    if (type.get_array().get(branches) == simdjson::SUCCESS) {  // a union default uses its first branch
      avro::put_long(out, 0);
      return encode_default(branches.at(0).value_unsafe(), def, out, path);
    }
    simdjson::dom::object obj;
    if (type.get_object().get(obj) == simdjson::SUCCESS) {
      std::string_view t;
      if (obj["type"].get_string().get(t) != simdjson::SUCCESS) fail(path, "type without a name");
      if (t == "array" || t == "map") {
        simdjson::dom::array a;
        if (def.get_array().get(a) != simdjson::SUCCESS || a.size() != 0) fail(path, "only empty defaults");
        return avro::put_long(out, 0);
      }
      if (t == "record") fail(path, "record defaults are not supported");
      return encode_default(obj["type"].value_unsafe(), def, out, path);
    }
    fail(path, "bad type");
  }

  int compile(simdjson::dom::element type, const std::string& path) {
    Node n;
    n.src = src_of(path);
    std::string_view tname;
    simdjson::dom::array branches;
    simdjson::dom::object obj;
    if (type.get_array().get(branches) == simdjson::SUCCESS) {
      n.kind = Kind::union_;
      int i = 0;
      simdjson::dom::element value_type;
      for (auto b : branches) {
        if (is_null_type(b)) {
          if (n.null_branch < 0) n.null_branch = i;
        } else if (n.value_branch < 0) {
          n.value_branch = i;
          value_type = b;
        }
        ++i;
      }
      if (n.value_branch >= 0) n.children.push_back(compile(value_type, path));
      return add(std::move(n));
    }
    if (type.get_object().get(obj) == simdjson::SUCCESS) {
      if (obj["type"].get_string().get(tname) != simdjson::SUCCESS)
        return compile(obj["type"].value_unsafe(), path);
      if (tname == "record") {
        n.kind = Kind::record;
        simdjson::dom::array fields;
        if (obj["fields"].get_array().get(fields) != simdjson::SUCCESS) fail(path, "record without fields");
        for (auto f : fields) {
          std::string_view name;
          if (f["name"].get_string().get(name) != simdjson::SUCCESS) fail(path, "field without a name");
          const std::string fpath = path.empty() ? std::string(name) : path + "." + std::string(name);
          simdjson::dom::element ftype = f["type"].value_unsafe();
          if (src_of(fpath) == Src::none && !known_prefix(fpath)) {
            // A field the generator does not know: its default, or null when nullable.
            Node c;
            c.kind = Kind::constant;
            simdjson::dom::element def;
            if (f["default"].get(def) == simdjson::SUCCESS) {
              encode_default(ftype, def, c.constant, fpath);
            } else {
              simdjson::dom::array fb;
              int idx = -1, k = 0;
              if (ftype.get_array().get(fb) == simdjson::SUCCESS)
                for (auto b : fb) {
                  if (is_null_type(b) && idx < 0) idx = k;
                  ++k;
                }
              if (idx < 0) fail(fpath, "required field unknown to the generator");
              avro::put_long(c.constant, idx);
            }
            n.children.push_back(add(std::move(c)));
            continue;
          }
          n.children.push_back(compile(ftype, fpath));
        }
        return add(std::move(n));
      }
      if (tname == "array") {
        n.kind = Kind::array;
        n.children.push_back(compile(obj["items"].value_unsafe(), path + "[]"));
        return add(std::move(n));
      }
      std::string_view logical;
      if (obj["logicalType"].get_string().get(logical) == simdjson::SUCCESS && logical == "timestamp-micros")
        n.micros = true;
      return compile_primitive(tname, std::move(n), path);
    }
    if (type.get_string().get(tname) == simdjson::SUCCESS)
      return compile_primitive(tname, std::move(n), path);
    fail(path, "bad type");
  }

  static bool known_prefix(std::string_view path) {
    for (const auto& p : kPaths)
      if (p.path.starts_with(path) && p.path.size() > path.size() &&
          (p.path[path.size()] == '.' || p.path[path.size()] == '['))
        return true;
    return false;
  }

  int compile_primitive(std::string_view tname, Node n, const std::string& path) {
    if (tname == "string" || tname == "bytes")
      n.kind = Kind::string;
    else if (tname == "long")
      n.kind = Kind::long_;
    else if (tname == "int")
      n.kind = Kind::int_;
    else if (tname == "double")
      n.kind = Kind::double_;
    else if (tname == "float")
      n.kind = Kind::float_;
    else if (tname == "boolean")
      n.kind = Kind::boolean;
    else
      fail(path, "unsupported type " + std::string(tname));
    return add(std::move(n));
  }

  static bool present(Src s, const BidRequestValues& v, int i) {
    switch (s) {
      case Src::imp_bidfloorcur:
        return !v.imps[i].bidfloorcur.empty();
      case Src::imp_banner:
        return v.imps[i].w != 0;
      case Src::site:
        return v.has_site;
      case Src::site_page:
        return !v.site_page.empty();
      case Src::app:
        return v.has_app;
      case Src::device:
        return v.has_device;
      case Src::device_ua:
        return !v.ua.empty();
      case Src::device_ip:
        return !v.ip.empty();
      case Src::device_devicetype:
        return v.devicetype != 0;
      case Src::device_geo:
      case Src::geo_country:
        return !v.country.empty();
      case Src::user:
        return v.has_user;
      case Src::user_id:
        return !v.user_id.empty();
      case Src::exchange:
        return !v.exchange.empty();
      case Src::tmax:
        return v.tmax != 0;
      case Src::none:
        return false;
      default:
        return true;
    }
  }

  static std::string_view str(Src s, const BidRequestValues& v, int i) {
    switch (s) {
      case Src::id:
        return v.id;
      case Src::imp_id:
        return v.imps[i].id;
      case Src::imp_bidfloorcur:
        return v.imps[i].bidfloorcur;
      case Src::site_domain:
        return v.site_domain;
      case Src::site_page:
        return v.site_page;
      case Src::site_cat_item:
        return v.site_cat[size_t(i)];
      case Src::app_bundle:
        return v.app_bundle;
      case Src::device_ua:
        return v.ua;
      case Src::device_ip:
        return v.ip;
      case Src::geo_country:
        return v.country;
      case Src::user_id:
        return v.user_id;
      case Src::exchange:
        return v.exchange;
      default:
        return {};
    }
  }

  static double num(Src s, const BidRequestValues& v, int i) {
    switch (s) {
      case Src::timestamp:
        return double(v.timestamp_ms);
      case Src::imp_bidfloor:
        return v.imps[i].bidfloor;
      case Src::banner_w:
        return v.imps[i].w;
      case Src::banner_h:
        return v.imps[i].h;
      case Src::device_devicetype:
        return v.devicetype;
      case Src::at:
        return v.at;
      case Src::tmax:
        return v.tmax;
      default:
        return 0;
    }
  }

  void encode(int idx, const BidRequestValues& v, std::string& out, int i) const {
    const Node& n = nodes[size_t(idx)];
    switch (n.kind) {
      case Kind::constant:
        out.append(n.constant);
        return;
      case Kind::record:
        for (int c : n.children) encode(c, v, out, i);
        return;
      case Kind::union_:
        if (n.null_branch >= 0 && (n.value_branch < 0 || !present(n.src, v, i))) {
          avro::put_long(out, n.null_branch);
        } else {
          avro::put_long(out, n.value_branch);
          encode(n.children[0], v, out, i);
        }
        return;
      case Kind::array: {
        const int count = n.src == Src::imp        ? v.imp_count
                          : n.src == Src::site_cat ? int(v.site_cat.size())
                                                   : 0;
        if (count > 0) {
          avro::put_long(out, count);
          for (int k = 0; k < count; ++k) encode(n.children[0], v, out, k);
        }
        avro::put_long(out, 0);
        return;
      }
      case Kind::string:
        avro::put_string(out, str(n.src, v, i));
        return;
      case Kind::long_:
        if (n.src == Src::timestamp)
          return avro::put_long(out, n.micros ? v.timestamp_ms * 1000 : v.timestamp_ms);
        return avro::put_long(out, int64_t(num(n.src, v, i)));
      case Kind::int_:
        return avro::put_long(out, int64_t(num(n.src, v, i)));
      case Kind::double_:
        return avro::put_double(out, num(n.src, v, i));
      case Kind::float_:
        return avro::put_float(out, float(num(n.src, v, i)));
      case Kind::boolean:
        return avro::put_bool(out, num(n.src, v, i) != 0);
    }
  }
};

BidRequestEncoder::BidRequestEncoder(std::string_view schema_json) : impl_(std::make_unique<Impl>()) {
  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  const simdjson::padded_string padded(schema_json);
  if (parser.parse(padded).get(doc) != simdjson::SUCCESS)
    throw std::runtime_error("bid request schema: not valid JSON");
  impl_->root = impl_->compile(doc, "");
  if (impl_->nodes[size_t(impl_->root)].kind != Kind::record)
    throw std::runtime_error("bid request schema: the top level must be a record");
}

BidRequestEncoder::~BidRequestEncoder() = default;
BidRequestEncoder::BidRequestEncoder(BidRequestEncoder&&) noexcept = default;

void BidRequestEncoder::encode(const BidRequestValues& v, std::string& out) const {
  impl_->encode(impl_->root, v, out, 0);
}

}  // namespace advx::gen
