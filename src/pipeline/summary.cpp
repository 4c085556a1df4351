#include "pipeline/summary.hpp"

#include <cstdio>

#include "core/json_text.hpp"
#include "transforms/validate.hpp"

namespace advx {
namespace {

std::string with_commas(uint64_t v) {
  std::string s = std::to_string(v);
  for (int i = int(s.size()) - 3; i > 0; i -= 3) s.insert(size_t(i), ",");
  return s;
}

// A JSON string, quotes included: core's writer, so any bytes (a CSV header holding 0xFF, a file name that is
// not UTF-8) still give valid JSON.
std::string json_string(std::string_view s) {
  std::string out;
  append_json_string(s, out);
  return out;
}

}  // namespace

uint64_t StreamSummary::rejected() const {
  uint64_t n = 0;
  for (int r = 0; r < kReasonCount; r++)
    if (!is_filter_reason(Reason(r))) n += by_reason[size_t(r)];
  return n;
}

uint64_t StreamSummary::filtered() const {
  uint64_t n = 0;
  for (int r = 0; r < kReasonCount; r++)
    if (is_filter_reason(Reason(r))) n += by_reason[size_t(r)];
  return n;
}

void StreamSummary::merge(const StreamSummary& o) {
  files += o.files;
  bytes += o.bytes;
  read += o.read;
  stored += o.stored;
  duplicates += o.duplicates;
  duplicate_conflicts += o.duplicate_conflicts;
  for (size_t r = 0; r < by_reason.size(); r++) by_reason[r] += o.by_reason[r];
  stored_clicks += o.stored_clicks;
  stored_conversions += o.stored_conversions;
  unknown_creative += o.unknown_creative;
  unknown_campaign += o.unknown_campaign;
  for (const auto& [k, v] : o.unknown_fields) unknown_fields[k] += v;
}

std::string format_summary_text(const IngestSummary& s) {
  std::string out;
  char line[256];
  uint64_t total_read = 0;
  for (int i = 0; i < kStreamCount; i++) {
    const StreamSummary& st = s.streams[size_t(i)];
    if (st.files == 0 && st.read == 0) continue;
    total_read += st.read;
    std::snprintf(line, sizeof line, "%s (%s file%s)\n", std::string(stream_name(Stream(i))).c_str(),
                  with_commas(st.files).c_str(), st.files == 1 ? "" : "s");
    out += line;
    auto row = [&](const char* label, uint64_t v, const std::string& note = {}) {
      std::snprintf(line, sizeof line, "  %-24s %14s%s\n", label, with_commas(v).c_str(), note.c_str());
      out += line;
    };
    row("read", st.read);
    std::string stored_note;
    if (Stream(i) == Stream::events)
      stored_note = "  (" + with_commas(st.stored_clicks) + " clicks, " + with_commas(st.stored_conversions) +
                    " conversions)";
    row("stored", st.stored, stored_note);
    row("rejected", st.rejected());
    for (int r = 0; r < kReasonCount; r++)
      if (!is_filter_reason(Reason(r)) && st.by_reason[size_t(r)])
        row(("    " + std::string(reason_name(Reason(r)))).c_str(), st.by_reason[size_t(r)]);
    row("filtered", st.filtered());
    for (int r = 0; r < kReasonCount; r++)
      if (is_filter_reason(Reason(r)) && st.by_reason[size_t(r)])
        row(("    " + std::string(reason_name(Reason(r)))).c_str(), st.by_reason[size_t(r)]);
    row("duplicates", st.duplicates,
        st.duplicate_conflicts ? "  (" + with_commas(st.duplicate_conflicts) + " with a different payload)"
                               : "");
    if (st.unknown_creative) row("unknown creative", st.unknown_creative, "  (stored, flagged)");
    if (st.unknown_campaign) row("unknown campaign", st.unknown_campaign, "  (stored, flagged)");
    if (!st.unknown_fields.empty()) {
      std::string names;
      for (const auto& [k, v] : st.unknown_fields)
        names += (names.empty() ? "" : ", ") + k + " " + with_commas(v);
      out += "  extra fields ignored:   " + names + "\n";
    }
    if (!st.adds_up()) out += "  WARNING: counts do not add up\n";
  }
  std::snprintf(line, sizeof line, "%s files read, %s failed; %s records in %.2f s (%s records/s) into %s\n",
                with_commas(s.files_ok).c_str(), with_commas(s.failures.size()).c_str(),
                with_commas(total_read).c_str(), s.seconds,
                with_commas(s.seconds > 0 ? uint64_t(double(total_read) / s.seconds) : 0).c_str(),
                s.db_path.c_str());
  out += line;
  if (s.attributed_pairs) {
    std::snprintf(line, sizeof line,
                  "attribution: %s user/campaign pairs again (%s clicks, %s conversions) in %.2f s\n",
                  with_commas(s.attributed_pairs).c_str(), with_commas(s.attributed_clicks).c_str(),
                  with_commas(s.attributed_conversions).c_str(), s.attribution_seconds);
    out += line;
  }
  for (const auto& f : s.failures) out += "FAILED " + f.path + ": " + f.message + "\n";
  return out;
}

std::string format_summary_json(const IngestSummary& s) {
  std::string out = "{\"streams\":{";
  for (int i = 0; i < kStreamCount; i++) {
    const StreamSummary& st = s.streams[size_t(i)];
    if (i) out += ",";
    out += "\"" + std::string(stream_name(Stream(i))) + "\":{";
    out += "\"files\":" + std::to_string(st.files) + ",\"bytes\":" + std::to_string(st.bytes);
    out += ",\"read\":" + std::to_string(st.read) + ",\"stored\":" + std::to_string(st.stored);
    out +=
        ",\"rejected\":" + std::to_string(st.rejected()) + ",\"filtered\":" + std::to_string(st.filtered());
    out += ",\"duplicates\":" + std::to_string(st.duplicates);
    out += ",\"duplicate_conflicts\":" + std::to_string(st.duplicate_conflicts);
    out += ",\"rejected_by_reason\":{";
    bool first = true;
    for (int r = 0; r < kReasonCount; r++) {
      if (is_filter_reason(Reason(r)) || !st.by_reason[size_t(r)]) continue;
      out += std::string(first ? "" : ",") + "\"" + std::string(reason_name(Reason(r))) +
             "\":" + std::to_string(st.by_reason[size_t(r)]);
      first = false;
    }
    out += "},\"filtered_by_reason\":{";
    first = true;
    for (int r = 0; r < kReasonCount; r++) {
      if (!is_filter_reason(Reason(r)) || !st.by_reason[size_t(r)]) continue;
      out += std::string(first ? "" : ",") + "\"" + std::string(reason_name(Reason(r))) +
             "\":" + std::to_string(st.by_reason[size_t(r)]);
      first = false;
    }
    out += "}";
    if (Stream(i) == Stream::events) {
      out += ",\"stored_clicks\":" + std::to_string(st.stored_clicks) +
             ",\"stored_conversions\":" + std::to_string(st.stored_conversions) +
             ",\"unknown_campaign\":" + std::to_string(st.unknown_campaign);
    }
    if (Stream(i) == Stream::impressions)
      out += ",\"unknown_creative\":" + std::to_string(st.unknown_creative);
    out += ",\"unknown_fields\":{";
    first = true;
    for (const auto& [k, v] : st.unknown_fields) {
      out += std::string(first ? "" : ",") + json_string(k) + ":" + std::to_string(v);
      first = false;
    }
    out += "},\"adds_up\":" + std::string(st.adds_up() ? "true" : "false") + "}";
  }
  out += "},\"files_ok\":" + std::to_string(s.files_ok) + ",\"failures\":[";
  for (size_t i = 0; i < s.failures.size(); i++) {
    out += std::string(i ? "," : "") + "{\"path\":" + json_string(s.failures[i].path) +
           ",\"message\":" + json_string(s.failures[i].message) + "}";
  }
  char secs[32];
  std::snprintf(secs, sizeof secs, "%.3f", s.seconds);
  out += "],\"seconds\":" + std::string(secs) + ",\"db\":" + json_string(s.db_path);
  out += ",\"attribution\":{\"pairs\":" + std::to_string(s.attributed_pairs) +
         ",\"clicks\":" + std::to_string(s.attributed_clicks) +
         ",\"conversions\":" + std::to_string(s.attributed_conversions);
  std::snprintf(secs, sizeof secs, "%.3f", s.attribution_seconds);
  out += ",\"seconds\":" + std::string(secs) + "}";
  out += ",\"dedup_keys\":" + std::to_string(s.dedup_keys) +
         ",\"dedup_bytes\":" + std::to_string(s.dedup_bytes) +
         ",\"dedup_spilled_keys\":" + std::to_string(s.dedup_spilled_keys) + "}";
  return out;
}

void count_stored_flags(const StagedTable& t, const std::vector<uint32_t>& keep, StreamSummary& st) {
  const TableDef& def = t.rows.def();
  if (&def == &tables::kImpressions) {
    const uint8_t* unknown = t.rows.data<uint8_t>(col::imp_unknown_creative);
    for (uint32_t r : keep) st.unknown_creative += unknown[r];
  } else if (&def == &tables::kClicks || &def == &tables::kConversions) {
    const bool click = &def == &tables::kClicks;
    const uint8_t* unknown =
        t.rows.data<uint8_t>(click ? int(col::clk_unknown_campaign) : int(col::conv_unknown_campaign));
    for (uint32_t r : keep) st.unknown_campaign += unknown[r];
    (click ? st.stored_clicks : st.stored_conversions) += keep.size();
  }
}

}  // namespace advx
