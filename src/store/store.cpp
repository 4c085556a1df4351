#include "store/store.hpp"

namespace advx {

std::string_view store_error_code_name(StoreErrorCode code) {
  switch (code) {
    case StoreErrorCode::unavailable:
      return "unavailable";
    case StoreErrorCode::interrupted:
      return "interrupted";
    case StoreErrorCode::refused:
      return "refused";
    case StoreErrorCode::not_found:
      return "not_found";
    case StoreErrorCode::invalid:
      return "invalid";
    case StoreErrorCode::internal:
      return "internal";
  }
  return "internal";
}

namespace {

constexpr ExportTableSpec kSpecs[] = {
    {"impressions", "event_time", "", "event_date, campaign_id"},
    {"clicks", "event_time", "", "event_date, campaign_id"},
    {"conversions", "event_time", "", "event_date, campaign_id"},
    {"bid_requests", "event_time", "", "event_date"},
    // Most rejects have no event_time (it is set for filtered records only): by the day they were ingested.
    {"rejects", "ingested_at", ", CAST(ingested_at AS DATE) AS ingest_date", "ingest_date"},
};

}  // namespace

std::span<const ExportTableSpec> export_table_specs() { return kSpecs; }

const ExportTableSpec* find_export_table(std::string_view table) {
  for (const ExportTableSpec& s : kSpecs)
    if (s.table == table) return &s;
  return nullptr;
}

}  // namespace advx
