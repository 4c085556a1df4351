// JSON impressions decoder (SPEC 1.1): NDJSON or one JSON array of objects -> RawBatch rows.
// Construct through make_json_decoder() (formats/decoder.hpp); this header only names the limits the
// decoder promises, so tests and callers can reason about them.
#pragma once
#include <cstddef>

namespace advx {

// Deepest nesting of objects/arrays accepted in a record (the root object is depth 1). Deeper records
// are malformed_json rejects. Same limit as simdjson's DOM parser, so both agree on what is valid.
inline constexpr int kJsonMaxDepth = 1024;

// Trailing bytes after the closing `]` of an array input are one reject; its raw bytes are capped here.
inline constexpr size_t kJsonMaxTrailingRaw = 64 * 1024;

}  // namespace advx
