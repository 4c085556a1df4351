// The small pieces of JSON the HTTP server writes itself: its answers and the one-object body a pixel hit
// becomes. Query results are rendered by sinks/result_format.hpp (format_json), not here.
#pragma once
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/json_text.hpp"
#include "pipeline/stream_engine.hpp"

namespace advx::http {

using advx::append_json_string;  // core/json_text.hpp

// Whether `s` is exactly one JSON number (RFC 8259 grammar: no leading '+', no leading zeros, no "NaN" or
// "inf", no surrounding spaces). Such text can be copied into JSON as is.
bool is_json_number(std::string_view s);

// {"error":"<message>"}, or {"error":"<message>","code":"<code>"} when `code` is given: a stable name a
// client can act on ("unauthorized", "query_timeout", "shutting_down"), where the message is for people.
std::string error_json(std::string_view message, std::string_view code = {});

// The answer to an accepted submission:
// {"read":N,"stored":N,"rejected":N,"filtered":N,"duplicates":N,"late":N,"reasons":{"malformed_json":1,...}}
// `reasons` lists the non-zero counts of by_reason, rejected and filtered ones alike, in the order of the
// Reason enum.
std::string submit_result_json(const SubmitResult& result);

// One JSON object from a pixel's query parameters, in the order given: every value a JSON string, except
// win_price_cpm, which is a JSON number when is_json_number() accepts it. A name given twice keeps its
// first value (a JSON object cannot hold a name twice).
std::string pixel_json(const std::vector<std::pair<std::string, std::string>>& params);

}  // namespace advx::http
