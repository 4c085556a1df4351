// Which decoder reads an input: from the file name's extension (after .gz/.zst), else from its first bytes.
#pragma once
#include <optional>
#include <string_view>

#include "core/stream.hpp"
#include "formats/decoder.hpp"

namespace advx {

// From the extension: .jsonl .ndjson .json -> json, .csv -> csv, .avro -> avro (case-insensitive,
// a trailing .gz or .zst skipped). nullopt for other names.
std::optional<Format> format_from_name(std::string_view path);
// From decompressed content: "Obj\x01" -> avro; '{' or '[' first (after BOM and blanks) -> json; else csv.
Format format_from_content(std::string_view head);

constexpr Stream stream_of(Format f) {
  switch (f) {
    case Format::json:
      return Stream::impressions;
    case Format::csv:
      return Stream::events;
    case Format::avro:
      return Stream::bid_requests;
  }
  return Stream::impressions;
}

std::unique_ptr<Decoder> make_decoder(Format f);

}  // namespace advx
