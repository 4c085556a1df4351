#include "sources/kafka/schema_registry.hpp"

#include <curl/curl.h>
#include <simdjson.h>

#include <cctype>
#include <climits>
#include <cstdio>
#include <mutex>
#include <string_view>

#include "core/json_text.hpp"

namespace advx {

namespace {

constexpr size_t kMaxResponseBytes = 16 << 20;  // a schema is kilobytes; anything this big is not one

size_t append_body(char* data, size_t size, size_t n, void* user) {
  auto* body = static_cast<std::string*>(user);
  if (body->size() + size * n > kMaxResponseBytes) return 0;  // aborts the transfer
  body->append(data, size * n);
  return size * n;
}

void set_error(std::string* error, std::string text) {
  if (error) *error = std::move(text);
}

}  // namespace

SchemaRegistry::SchemaRegistry(std::string url, int timeout_ms)
    : url_(std::move(url)), timeout_ms_(timeout_ms) {
  while (!url_.empty() && url_.back() == '/') url_.pop_back();
  static std::once_flag curl_init;
  std::call_once(curl_init, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

SchemaRegistry::~SchemaRegistry() {
  if (curl_) curl_easy_cleanup(static_cast<CURL*>(curl_));
  if (headers_) curl_slist_free_all(static_cast<curl_slist*>(headers_));
  if (post_headers_) curl_slist_free_all(static_cast<curl_slist*>(post_headers_));
}

uint64_t SchemaRegistry::requests() const {
  std::lock_guard lock(cache_mutex_);
  return requests_;
}

SchemaRegistry::Lookup SchemaRegistry::schema(int32_t id, std::shared_ptr<const std::string>* out,
                                              std::string* error) {
  auto cached = [&](Lookup* result) {
    std::lock_guard lock(cache_mutex_);
    if (auto it = found_.find(id); it != found_.end()) {
      *out = it->second;
      *result = Lookup::found;
      return true;
    }
    if (auto it = unknown_until_.find(id); it != unknown_until_.end()) {
      if (std::chrono::steady_clock::now() < it->second) {
        set_error(error, "unknown schema id " + std::to_string(id));
        *result = Lookup::unknown_id;
        return true;
      }
      unknown_until_.erase(it);
    }
    return false;
  };
  Lookup result;
  if (cached(&result)) return result;
  std::lock_guard fetching(fetch_mutex_);
  if (cached(&result)) return result;  // fetched by another thread meanwhile
  return fetch(id, out, error);
}

bool SchemaRegistry::perform(const std::string& url, const std::string* post_body, long* status,
                             std::string* body, std::string* error) {
  const std::string where = "schema registry " + url_;
  if (!curl_) curl_ = curl_easy_init();
  CURL* curl = static_cast<CURL*>(curl_);
  if (!curl) {
    set_error(error, where + ": cannot initialise libcurl");
    return false;
  }
  {
    std::lock_guard lock(cache_mutex_);
    requests_++;
  }
  constexpr const char* kAccept = "Accept: application/vnd.schemaregistry.v1+json, application/json";
  if (!headers_) headers_ = curl_slist_append(nullptr, kAccept);
  if (!post_headers_)
    post_headers_ = curl_slist_append(curl_slist_append(nullptr, kAccept),
                                      "Content-Type: application/vnd.schemaregistry.v1+json");
  char curl_error[CURL_ERROR_SIZE] = {};
  curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
  if (post_body) {
    curl_easy_setopt(curl, CURLOPT_POSTFIELDS, post_body->c_str());
    curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE, long(post_body->size()));
  } else {
    curl_easy_setopt(curl, CURLOPT_HTTPGET, 1L);
  }
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);  // timeouts without SIGALRM: we are one thread of many
  curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, long(timeout_ms_));
  curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, long(timeout_ms_));
  curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 1L);
  curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, curl_error);
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, append_body);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, body);
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, static_cast<curl_slist*>(post_body ? post_headers_ : headers_));
  const CURLcode rc = curl_easy_perform(curl);
  curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, nullptr);
  if (rc != CURLE_OK) {
    set_error(error, where + ": " + (curl_error[0] ? std::string(curl_error) : curl_easy_strerror(rc)));
    return false;
  }
  curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, status);
  return true;
}

SchemaRegistry::Lookup SchemaRegistry::fetch(int32_t id, std::shared_ptr<const std::string>* out,
                                             std::string* error) {
  const std::string where = "schema registry " + url_;
  const std::string url = url_ + "/schemas/ids/" + std::to_string(id);
  std::string body;
  long status = 0;
  if (!perform(url, nullptr, &status, &body, error)) return Lookup::unavailable;

  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  const bool is_json = parser.parse(simdjson::padded_string(body)).get(doc) == simdjson::SUCCESS;
  if (status == 404) {
    int64_t code = 0;
    if (is_json && doc["error_code"].get_int64().get(code) == simdjson::SUCCESS && code == 40403) {
      set_error(error, "unknown schema id " + std::to_string(id));
      if (negative_ttl_ms_ > 0) {
        std::lock_guard lock(cache_mutex_);
        unknown_until_[id] = std::chrono::steady_clock::now() + std::chrono::milliseconds(negative_ttl_ms_);
      }
      return Lookup::unknown_id;
    }
    set_error(error, where + ": HTTP 404 without Confluent error code 40403 for " + url +
                         " (is the registry URL right?)");
    return Lookup::unavailable;
  }
  if (status != 200) {
    set_error(error, where + ": HTTP " + std::to_string(status) + " for " + url);
    return Lookup::unavailable;
  }
  std::string_view schema;
  if (!is_json || doc["schema"].get_string().get(schema) != simdjson::SUCCESS) {
    set_error(error, where + ": the answer for " + url + " has no \"schema\" string");
    return Lookup::unavailable;
  }
  auto found = std::make_shared<const std::string>(schema);
  {
    std::lock_guard lock(cache_mutex_);
    found_[id] = found;
  }
  *out = std::move(found);
  return Lookup::found;
}

}  // namespace advx

namespace advx {

bool SchemaRegistry::register_schema(const std::string& subject, const std::string& schema, int32_t* id,
                                     std::string* error) {
  const auto key = std::make_pair(subject, schema);
  {
    std::lock_guard lock(cache_mutex_);
    if (auto it = registered_.find(key); it != registered_.end()) return *id = it->second, true;
  }
  std::lock_guard fetching(fetch_mutex_);
  std::string escaped;
  for (char c : subject) {  // a topic name is [A-Za-z0-9._-]; anything else is percent-encoded
    const auto u = static_cast<unsigned char>(c);
    if (std::isalnum(u) || c == '.' || c == '_' || c == '-') {
      escaped += c;
    } else {
      char hex[4];
      std::snprintf(hex, sizeof hex, "%%%02X", u);
      escaped += hex;
    }
  }
  const std::string url = url_ + "/subjects/" + escaped + "/versions";
  std::string request = "{\"schema\":";
  append_json_string(schema, request);
  request += '}';
  std::string body;
  long status = 0;
  if (!perform(url, &request, &status, &body, error)) return false;
  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  const bool is_json = parser.parse(simdjson::padded_string(body)).get(doc) == simdjson::SUCCESS;
  int64_t got = 0;
  if (status != 200 || !is_json || doc["id"].get_int64().get(got) != simdjson::SUCCESS || got < 0 ||
      got > INT32_MAX) {
    std::string_view message;
    if (is_json && doc["message"].get_string().get(message) != simdjson::SUCCESS) message = {};
    set_error(error, "schema registry " + url_ + ": registering a schema under " + subject + ": HTTP " +
                         std::to_string(status) +
                         (message.empty() ? std::string(status == 200 ? " without an id" : "")
                                          : ": " + std::string(message.substr(0, 200))));
    return false;
  }
  *id = int32_t(got);
  std::lock_guard lock(cache_mutex_);
  registered_[key] = *id;
  found_.emplace(*id, std::make_shared<const std::string>(schema));
  return true;
}

}  // namespace advx
