// A minimal Confluent-compatible schema registry for tests, on 127.0.0.1 and a free port, in this process
// (cpp-httplib). The real registry is a JVM service that cannot be installed here; this speaks the part of
// its REST API a producer and a consumer use, with the same answers, status codes and error_code values:
//   POST /subjects/{subject}/versions  {"schema":"<schema JSON as a string>"}  ->  {"id":N}
//   GET  /schemas/ids/{id}                 -> {"schema":"..."}, or 404 {"error_code":40403,...}
//   GET  /subjects                         -> ["subject",...]
//   GET  /subjects/{subject}/versions      -> [1,2,...]
//   GET  /subjects/{subject}/versions/{version|latest}  -> {"subject","version","id","schema"}
// Ids are global, as Confluent's: the same schema text has the same id under any subject, a new text the
// next id from 1. Schemas are compared as text (Confluent compares their parsed canonical form: two texts
// differing in whitespace only get two ids here). A body that is not a JSON object with a string "schema"
// holding one well-formed JSON value is 422 {"error_code":42201,...}. Header-only; it needs cpp-httplib and
// advx_core (the JSON string writer), no JSON library: a small strict reader below parses the bodies.
#pragma once
#include <httplib.h>

#include <chrono>
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "core/json_text.hpp"

namespace advx::testing {

namespace registry_json {

// `s` as a JSON string literal, quotes included (advx's writer: always valid JSON).
inline std::string quote(std::string_view s) {
  std::string out;
  append_json_string(s, out);
  return out;
}

// A strict reader of one JSON text (RFC 8259): enough to take the "schema" string out of a POST body and to
// check that the schema itself is well-formed JSON.
class Reader {
 public:
  explicit Reader(std::string_view text) : s_(text) {}

  // Whether the whole text is exactly one JSON value (whitespace around it allowed).
  bool valid_document() {
    ws();
    if (!value()) return false;
    ws();
    return i_ == s_.size();
  }

  // The decoded string member `key` of a top-level object; nullopt when the text is not an object, is
  // malformed, or `key` is missing or not a string.
  std::optional<std::string> string_member(std::string_view key) {
    std::optional<std::string> found;
    ws();
    if (!eat('{')) return std::nullopt;
    ws();
    if (!eat('}')) {
      for (;;) {
        ws();
        std::string name;
        if (!string(&name)) return std::nullopt;
        ws();
        if (!eat(':')) return std::nullopt;
        ws();
        if (name == key && peek() == '"') {
          std::string v;
          if (!string(&v)) return std::nullopt;
          found = std::move(v);
        } else if (!value()) {
          return std::nullopt;
        }
        ws();
        if (eat('}')) break;
        if (!eat(',')) return std::nullopt;
      }
    }
    ws();
    if (i_ != s_.size()) return std::nullopt;
    return found;
  }

 private:
  char peek() const { return i_ < s_.size() ? s_[i_] : '\0'; }
  bool eat(char c) {
    if (peek() != c || i_ >= s_.size()) return false;
    ++i_;
    return true;
  }
  void ws() {
    while (i_ < s_.size() && (s_[i_] == ' ' || s_[i_] == '\t' || s_[i_] == '\n' || s_[i_] == '\r')) ++i_;
  }
  bool literal(std::string_view word) {
    if (s_.substr(i_, word.size()) != word) return false;
    i_ += word.size();
    return true;
  }
  bool value(int depth = 0) {
    if (depth > 256) return false;
    switch (peek()) {
      case '"':
        return string(nullptr);
      case '{': {
        ++i_;
        ws();
        if (eat('}')) return true;
        for (;;) {
          ws();
          if (!string(nullptr)) return false;
          ws();
          if (!eat(':')) return false;
          ws();
          if (!value(depth + 1)) return false;
          ws();
          if (eat('}')) return true;
          if (!eat(',')) return false;
        }
      }
      case '[': {
        ++i_;
        ws();
        if (eat(']')) return true;
        for (;;) {
          ws();
          if (!value(depth + 1)) return false;
          ws();
          if (eat(']')) return true;
          if (!eat(',')) return false;
        }
      }
      case 't':
        return literal("true");
      case 'f':
        return literal("false");
      case 'n':
        return literal("null");
      default:
        return number();
    }
  }
  bool digits() {
    const size_t start = i_;
    while (i_ < s_.size() && s_[i_] >= '0' && s_[i_] <= '9') ++i_;
    return i_ > start;
  }
  bool number() {
    eat('-');
    if (eat('0')) {
      // no leading zeros
    } else if (!digits()) {
      return false;
    }
    if (eat('.') && !digits()) return false;
    if (peek() == 'e' || peek() == 'E') {
      ++i_;
      if (!eat('+')) eat('-');
      if (!digits()) return false;
    }
    return true;
  }
  bool hex4(uint32_t* out) {
    if (i_ + 4 > s_.size()) return false;
    uint32_t v = 0;
    for (int k = 0; k < 4; ++k) {
      const char c = s_[i_++];
      v <<= 4;
      if (c >= '0' && c <= '9') {
        v |= uint32_t(c - '0');
      } else if (c >= 'a' && c <= 'f') {
        v |= uint32_t(c - 'a' + 10);
      } else if (c >= 'A' && c <= 'F') {
        v |= uint32_t(c - 'A' + 10);
      } else {
        return false;
      }
    }
    *out = v;
    return true;
  }
  static void utf8(uint32_t cp, std::string* out) {
    if (cp < 0x80) {
      *out += char(cp);
    } else if (cp < 0x800) {
      *out += char(0xc0 | (cp >> 6));
      *out += char(0x80 | (cp & 0x3f));
    } else if (cp < 0x10000) {
      *out += char(0xe0 | (cp >> 12));
      *out += char(0x80 | ((cp >> 6) & 0x3f));
      *out += char(0x80 | (cp & 0x3f));
    } else {
      *out += char(0xf0 | (cp >> 18));
      *out += char(0x80 | ((cp >> 12) & 0x3f));
      *out += char(0x80 | ((cp >> 6) & 0x3f));
      *out += char(0x80 | (cp & 0x3f));
    }
  }
  // A string literal, decoded into `out` unless it is null.
  bool string(std::string* out) {
    if (!eat('"')) return false;
    while (i_ < s_.size()) {
      const char c = s_[i_++];
      if (c == '"') return true;
      if (static_cast<unsigned char>(c) < 0x20) return false;
      if (c != '\\') {
        if (out) *out += c;
        continue;
      }
      if (i_ >= s_.size()) return false;
      const char e = s_[i_++];
      char plain = 0;
      switch (e) {
        case '"':
          plain = '"';
          break;
        case '\\':
          plain = '\\';
          break;
        case '/':
          plain = '/';
          break;
        case 'b':
          plain = '\b';
          break;
        case 'f':
          plain = '\f';
          break;
        case 'n':
          plain = '\n';
          break;
        case 'r':
          plain = '\r';
          break;
        case 't':
          plain = '\t';
          break;
        case 'u': {
          uint32_t cp = 0;
          if (!hex4(&cp)) return false;
          if (cp >= 0xd800 && cp <= 0xdbff) {  // a high surrogate: its low half must follow
            uint32_t low = 0;
            if (!literal("\\u") || !hex4(&low) || low < 0xdc00 || low > 0xdfff) return false;
            cp = 0x10000 + ((cp - 0xd800) << 10) + (low - 0xdc00);
          } else if (cp >= 0xdc00 && cp <= 0xdfff) {
            return false;  // a lone low surrogate
          }
          if (out) utf8(cp, out);
          continue;
        }
        default:
          return false;
      }
      if (out) *out += plain;
    }
    return false;
  }

  std::string_view s_;
  size_t i_ = 0;
};

}  // namespace registry_json

class SchemaRegistryServer {
 public:
  // Listens on 127.0.0.1 on a free port and serves on a thread of its own until destroyed.
  SchemaRegistryServer() {
    server_.set_pre_routing_handler([this](const httplib::Request&, httplib::Response&) {
      std::lock_guard lock(mutex_);
      ++requests_;
      return httplib::Server::HandlerResponse::Unhandled;
    });
    server_.Post(R"(/subjects/([^/]+)/versions)",
                 [this](const httplib::Request& req, httplib::Response& res) { post_version(req, res); });
    server_.Get(R"(/schemas/ids/(-?[0-9]+))", [this](const httplib::Request& req, httplib::Response& res) {
      const std::optional<int32_t> id = parse_int(req.matches[1]);
      const std::optional<std::string> text = id ? schema(*id) : std::nullopt;
      if (!text) return error(res, 404, 40403, "Schema not found");
      reply(res, 200, "{\"schema\":" + registry_json::quote(*text) + "}");
    });
    server_.Get("/subjects", [this](const httplib::Request&, httplib::Response& res) {
      std::lock_guard lock(mutex_);
      std::string body = "[";
      for (const auto& [subject, ids] : subjects_) {
        if (body.size() > 1) body += ',';
        body += registry_json::quote(subject);
      }
      reply(res, 200, body + "]");
    });
    server_.Get(R"(/subjects/([^/]+)/versions)", [this](const httplib::Request& req, httplib::Response& res) {
      std::lock_guard lock(mutex_);
      auto it = subjects_.find(req.matches[1]);
      if (it == subjects_.end()) return error(res, 404, 40401, "Subject not found");
      std::string body = "[";
      for (size_t v = 1; v <= it->second.size(); ++v) body += (v > 1 ? "," : "") + std::to_string(v);
      reply(res, 200, body + "]");
    });
    server_.Get(R"(/subjects/([^/]+)/versions/([^/]+))",
                [this](const httplib::Request& req, httplib::Response& res) { get_version(req, res); });
    server_.set_error_handler([](const httplib::Request&, httplib::Response& res) {
      if (res.body.empty()) {
        const int status = res.status;
        error(res, status, status, status == 404 ? "HTTP 404 Not Found" : "HTTP error");
      }
    });

    port_ = server_.bind_to_any_port("127.0.0.1");
    if (port_ <= 0) throw std::runtime_error("SchemaRegistryServer: cannot listen on 127.0.0.1");
    thread_ = std::thread([this] { server_.listen_after_bind(); });
    // stop() only ends a server that is running: wait for it, so the destructor cannot miss it.
    const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (!server_.is_running()) {
      if (std::chrono::steady_clock::now() >= until) {
        thread_.detach();
        throw std::runtime_error("SchemaRegistryServer: the server thread did not start");
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
  }
  ~SchemaRegistryServer() {
    server_.stop();
    if (thread_.joinable()) thread_.join();
  }
  SchemaRegistryServer(const SchemaRegistryServer&) = delete;
  SchemaRegistryServer& operator=(const SchemaRegistryServer&) = delete;

  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }
  int port() const { return port_; }

  // Registers `schema` under `subject` as POST /subjects/{subject}/versions does: its id (the existing one
  // when the text is known under any subject), and a new version of the subject unless it has it already.
  int32_t register_schema(const std::string& subject, const std::string& schema) {
    std::lock_guard lock(mutex_);
    auto known = ids_.find(schema);
    const int32_t id = known != ids_.end() ? known->second : int32_t(schemas_.size()) + 1;
    if (known == ids_.end()) {
      ids_.emplace(schema, id);
      schemas_.push_back(schema);
    }
    std::vector<int32_t>& versions = subjects_[subject];
    bool has = false;
    for (const int32_t v : versions) has = has || v == id;
    if (!has) versions.push_back(id);
    return id;
  }
  // The schema text of `id`, if registered.
  std::optional<std::string> schema(int32_t id) const {
    std::lock_guard lock(mutex_);
    if (id < 1 || size_t(id) > schemas_.size()) return std::nullopt;
    return schemas_[size_t(id) - 1];
  }
  // HTTP requests received so far, of any kind (counted before they are answered).
  int requests() const {
    std::lock_guard lock(mutex_);
    return requests_;
  }

 private:
  static std::optional<int32_t> parse_int(const std::string& s) {
    try {
      size_t used = 0;
      const long long v = std::stoll(s, &used);
      if (used != s.size() || v < INT32_MIN || v > INT32_MAX) return std::nullopt;
      return int32_t(v);
    } catch (const std::exception&) {
      return std::nullopt;
    }
  }
  static void reply(httplib::Response& res, int status, const std::string& body) {
    res.status = status;
    res.set_content(body, "application/vnd.schemaregistry.v1+json");
  }
  static void error(httplib::Response& res, int status, int code, const std::string& message) {
    reply(res, status,
          "{\"error_code\":" + std::to_string(code) + ",\"message\":" + registry_json::quote(message) + "}");
  }

  void post_version(const httplib::Request& req, httplib::Response& res) {
    registry_json::Reader body(req.body);
    const std::optional<std::string> text = body.string_member("schema");
    if (!text) return error(res, 422, 42201, "Invalid schema: the body must be {\"schema\": \"<JSON>\"}");
    registry_json::Reader schema_json(*text);
    if (!schema_json.valid_document()) return error(res, 422, 42201, "Invalid schema: not well-formed JSON");
    const int32_t id = register_schema(req.matches[1], *text);
    reply(res, 200, "{\"id\":" + std::to_string(id) + "}");
  }

  void get_version(const httplib::Request& req, httplib::Response& res) {
    std::lock_guard lock(mutex_);
    const std::string subject = req.matches[1];
    auto it = subjects_.find(subject);
    if (it == subjects_.end()) return error(res, 404, 40401, "Subject not found");
    const std::vector<int32_t>& versions = it->second;
    std::optional<int32_t> version;
    if (req.matches[2] == "latest") {
      version = int32_t(versions.size());
    } else {
      version = parse_int(req.matches[2]);
      if (version && *version == -1) version = int32_t(versions.size());  // Confluent: -1 is the latest
    }
    if (!version) return error(res, 422, 42202, "Invalid version");
    if (*version < 1 || size_t(*version) > versions.size())
      return error(res, 404, 40402, "Version not found");
    const int32_t id = versions[size_t(*version) - 1];
    reply(res, 200,
          "{\"subject\":" + registry_json::quote(subject) + ",\"version\":" + std::to_string(*version) +
              ",\"id\":" + std::to_string(id) +
              ",\"schema\":" + registry_json::quote(schemas_[size_t(id) - 1]) + "}");
  }

  httplib::Server server_;
  int port_ = 0;
  std::thread thread_;
  mutable std::mutex mutex_;
  std::map<std::string, int32_t> ids_;                    // schema text -> id
  std::vector<std::string> schemas_;                      // id - 1 -> schema text
  std::map<std::string, std::vector<int32_t>> subjects_;  // subject -> ids of its versions 1..n
  int requests_ = 0;
};

}  // namespace advx::testing
