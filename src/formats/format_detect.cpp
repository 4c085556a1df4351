#include "formats/format_detect.hpp"

#include <string>

namespace advx {
namespace {
bool ends_with_ci(std::string_view s, std::string_view suffix) {
  if (s.size() < suffix.size()) return false;
  for (size_t i = 0; i < suffix.size(); i++) {
    char c = s[s.size() - suffix.size() + i];
    if (c >= 'A' && c <= 'Z') c = char(c + 32);
    if (c != suffix[i]) return false;
  }
  return true;
}
}  // namespace

std::optional<Format> format_from_name(std::string_view path) {
  if (ends_with_ci(path, ".gz"))
    path.remove_suffix(3);
  else if (ends_with_ci(path, ".zst"))
    path.remove_suffix(4);
  if (ends_with_ci(path, ".jsonl") || ends_with_ci(path, ".ndjson") || ends_with_ci(path, ".json"))
    return Format::json;
  if (ends_with_ci(path, ".csv")) return Format::csv;
  if (ends_with_ci(path, ".avro")) return Format::avro;
  return std::nullopt;
}

Format format_from_content(std::string_view head) {
  if (head.size() >= 4 && head.substr(0, 4) == std::string_view("Obj\x01", 4)) return Format::avro;
  if (head.size() >= 3 && head.substr(0, 3) == "\xEF\xBB\xBF") head.remove_prefix(3);
  for (char c : head) {
    if (c == ' ' || c == '\t' || c == '\r' || c == '\n') continue;
    return (c == '{' || c == '[') ? Format::json : Format::csv;
  }
  return Format::csv;
}

std::unique_ptr<Decoder> make_decoder(Format f) {
  switch (f) {
    case Format::json:
      return make_json_decoder();
    case Format::csv:
      return make_csv_decoder();
    case Format::avro:
      return make_avro_decoder();
  }
  return nullptr;
}

}  // namespace advx
