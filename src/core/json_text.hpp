// JSON text written by hand (HTTP answers, query results): one string writer that always gives valid JSON.
#pragma once
#include <string>
#include <string_view>

namespace advx {

// Appends `s` as a JSON string: quotes, backslashes and control characters escaped (\n, \t, ... or
// \u00XX; DEL as \u007f), and every byte that is not part of valid UTF-8 replaced by U+FFFD, so the output
// is always valid JSON whatever the input bytes.
void append_json_string(std::string_view s, std::string& out);

}  // namespace advx
