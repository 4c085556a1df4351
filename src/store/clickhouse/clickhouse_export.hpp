// Parquet export on ClickHouse (docs/EXPORT.md, docs/STORES.md). ClickHouse 18.16 writes no Parquet, so the
// store reads a table's rows in the range, a chunk of hours at a time, and hands them to DuckDB's writer
// (store/duckdb/duckdb_export.hpp, ParquetWriter: the DuckDB engine used as a library), which writes them
// with the same COPY as the DuckDB store's export: the same folders, files, columns and types.
#pragma once
#include <cstdint>
#include <span>
#include <utility>
#include <vector>

#include "store/store.hpp"

namespace advx::clickhouse {

// The rows of one read at most (unless one hour holds more): what a chunk's result keeps in memory.
inline constexpr uint64_t kExportChunkRows = 50'000;

// `range` cut at hour starts into consecutive ranges that together cover it exactly, each holding about
// `max_rows` rows: `hour_counts` are (hour, rows) for the hours of `range` that have rows, ascending, an
// hour being floor(time / 1 h). A chunk grows hour by hour until the next hour would take it past
// `max_rows`; an hour of more rows is a chunk of its own. No rows: no chunks.
std::vector<ExportRange> export_chunks(std::span<const std::pair<int64_t, uint64_t>> hour_counts,
                                       const ExportRange& range, uint64_t max_rows);

}  // namespace advx::clickhouse
