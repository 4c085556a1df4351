// What an ingest did, per stream (SPEC 4): read = stored + rejected + filtered + duplicates, always.
#pragma once
#include <array>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "core/reason.hpp"
#include "core/stream.hpp"

namespace advx {

struct StreamSummary {
  uint64_t files = 0;
  uint64_t bytes = 0;  // decompressed bytes decoded
  uint64_t read = 0;
  uint64_t stored = 0;
  uint64_t duplicates = 0;
  uint64_t duplicate_conflicts = 0;                // duplicates whose payload differs from the kept record
  std::array<uint64_t, kReasonCount> by_reason{};  // rejected and filtered, after dedup
  uint64_t stored_clicks = 0;                      // clicks_conversions only
  uint64_t stored_conversions = 0;
  uint64_t unknown_creative = 0;  // impressions: stored, flagged
  uint64_t unknown_campaign = 0;  // clicks and conversions: stored, flagged
  std::map<std::string, uint64_t> unknown_fields;

  uint64_t rejected() const;
  uint64_t filtered() const;
  bool adds_up() const { return read == stored + rejected() + filtered() + duplicates; }
  void merge(const StreamSummary& o);
};

struct StagedTable;

// Adds what the kept rows of one staged event table say beyond their number: unknown creatives (impressions),
// unknown campaigns and the click/conversion split (clicks and conversions). The same for files and streams.
void count_stored_flags(const StagedTable& t, const std::vector<uint32_t>& keep, StreamSummary& st);

struct FileFailure {
  std::string path;
  std::string message;
};

struct IngestSummary {
  std::array<StreamSummary, kStreamCount> streams;
  std::vector<FileFailure> failures;
  uint64_t files_ok = 0;
  double seconds = 0;
  std::string db_path;
  uint64_t attributed_pairs = 0;        // (user, campaign) pairs attributed again after the run (SPEC 2.6)
  uint64_t attributed_clicks = 0;       // clicks among them
  uint64_t attributed_conversions = 0;  // conversions among them
  double attribution_seconds = 0;       // of `seconds`: attribution and the hourly rollup
  uint64_t dedup_keys = 0;              // keys in the dedup index after the run (all runs so far)
  uint64_t dedup_bytes = 0;             // memory of that index
  uint64_t dedup_spilled_keys = 0;      // of dedup_keys, those spilled to disk (--dedup-memory-mb)

  StreamSummary& of(Stream s) { return streams[size_t(s)]; }
  const StreamSummary& of(Stream s) const { return streams[size_t(s)]; }
};

// A table for a person: one block per stream that saw input.
std::string format_summary_text(const IngestSummary& s);
// The same as JSON (stable keys, for scripts and tests).
std::string format_summary_json(const IngestSummary& s);

}  // namespace advx
