// Rows of a TableSlice as a ClickHouse RowBinary body, in the layout of clickhouse_schema.hpp: the
// columns of the table in schema order, money columns left out (the rollup's sums are written by SQL,
// never appended), a timestamp as its NAME_us (the DateTime beside it is the server's DEFAULT). RowBinary
// because 18.16 and current releases read it alike and it needs no escaping: a Nullable value is a byte
// (1 = NULL) and then the value unless NULL; a String is its length as a LEB128 varint and its bytes;
// integers and floats are little-endian; a Date is UInt16 days.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/table_schema.hpp"

namespace advx::clickhouse {

// `INSERT INTO db.table (cols…) FORMAT RowBinary`: the columns append_row_binary() writes.
std::string insert_prefix(const TableDef& table, std::string_view db);

// Appends the slice's selected rows to `out`. Throws StoreError (invalid) for a value ClickHouse cannot
// hold as the schema stores it: a NULL in a key column, a date outside 1970-01-01..2106-02-07, a money
// column with data.
void append_row_binary(const TableSlice& slice, std::string& out);
std::string row_binary(const TableSlice& slice);

// The rows of one partition: `partition` is its key (days since 1970 for both day rules, 0 for a table
// of one partition), `rows` the row indexes to give a TableSlice as its selection, in the slice's order.
struct PartitionRows {
  int64_t partition = 0;
  std::vector<uint32_t> rows;
};
// The slice's selected rows by the ClickHouse partition they go to (table_layout()), partitions in
// ascending order, so that every INSERT touches one partition (an insert is atomic per partition, and a
// part is never spread over days). Throws StoreError (invalid) for a NULL in the partition column.
std::vector<PartitionRows> split_by_partition(const TableSlice& slice);

}  // namespace advx::clickhouse
