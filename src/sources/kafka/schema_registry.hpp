// SchemaRegistry: the writer schemas of Confluent-framed Avro messages (SPEC 1.3), fetched from a
// Confluent-compatible schema registry (Confluent, Redpanda, Karapace, Apicurio's ccompat API) by id:
// GET {url}/schemas/ids/{id} -> {"schema": "<the schema JSON, as a string>"}.
//
// Ids are immutable, so a schema once found is cached for the life of the process. What a lookup can say:
//  - found: the schema;
//  - unknown_id: the registry answered 404 with Confluent's error code 40403 ("schema not found"). Permanent:
//    the consumer rejects the message (malformed_avro). A 404 without that code (a wrong URL, a proxy's page)
//    is `unavailable` instead, so that a typo in the URL stalls bid requests loudly rather than rejecting
//    every one of them. A 40403 is remembered for negative_ttl_ms, so a run of messages naming an id the
//    registry does not know costs one request, not one per message;
//  - unavailable: no connection, a timeout, a 5xx, or an answer that is not the documented JSON. Transient:
//    the caller retries later and neither skips nor rejects the message.
//
// The producer side (`advx publish`) registers writer schemas: POST {url}/subjects/{subject}/versions with
// {"schema": "<the schema JSON>"} -> {"id": N}. Registering a schema the subject already has gives its
// existing id (the registry's rule), so publishing the same files again sends the same ids.
#pragma once
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <utility>

namespace advx {

class SchemaRegistry {
 public:
  // `url` is the registry's base URL (http or https, user:password@ allowed); a trailing '/' is ignored.
  explicit SchemaRegistry(std::string url, int timeout_ms = 5000);
  ~SchemaRegistry();
  SchemaRegistry(const SchemaRegistry&) = delete;
  SchemaRegistry& operator=(const SchemaRegistry&) = delete;

  enum class Lookup { found, unknown_id /* 404: permanent */, unavailable /* network or 5xx: retry later */ };

  // Thread-safe; found schemas are cached forever (ids are immutable). `out` is set when found; `error`
  // (optional) says why otherwise, in one line.
  Lookup schema(int32_t id, std::shared_ptr<const std::string>* out, std::string* error);

  // Registers `schema` under `subject` (Confluent's TopicNameStrategy: "<topic>-value") and sets `id`. Cached
  // per (subject, schema text), and the id is remembered as that schema's, so it costs one request per
  // schema. False with a one-line `error` when the registry cannot be reached, refuses the schema (4xx:
  // e.g. 409 incompatible, 422 invalid) or answers something else than {"id": N}.
  bool register_schema(const std::string& subject, const std::string& schema, int32_t* id,
                       std::string* error);

  // How long a "schema not found" answer is believed before asking again (0: never remembered).
  void set_negative_ttl_ms(int ms) { negative_ttl_ms_ = ms; }

  // HTTP requests sent so far (for tests and metrics).
  uint64_t requests() const;

  const std::string& url() const { return url_; }

 private:
  Lookup fetch(int32_t id, std::shared_ptr<const std::string>* out, std::string* error);
  // One request on the shared handle (fetch_mutex_ held): false with `error` when no HTTP answer came.
  bool perform(const std::string& url, const std::string* post_body, long* status, std::string* body,
               std::string* error);

  std::string url_;
  int timeout_ms_;
  int negative_ttl_ms_ = 10'000;

  mutable std::mutex cache_mutex_;
  std::map<int32_t, std::shared_ptr<const std::string>> found_;
  std::map<int32_t, std::chrono::steady_clock::time_point> unknown_until_;
  std::map<std::pair<std::string, std::string>, int32_t> registered_;  // (subject, schema) -> id
  uint64_t requests_ = 0;

  std::mutex fetch_mutex_;   // one request at a time: the same id is never fetched twice concurrently
  void* curl_ = nullptr;     // CURL*, reused (keep-alive) under fetch_mutex_
  void* headers_ = nullptr;  // curl_slist*
  void* post_headers_ = nullptr;  // curl_slist*: Accept and Content-Type
};

}  // namespace advx
