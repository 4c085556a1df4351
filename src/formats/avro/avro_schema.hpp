// An Avro writer schema (the JSON in an OCF header or from a schema registry) parsed into a compact
// tree of nodes. Nodes refer to each other by index, so recursive schemas (a record that names itself)
// are plain cycles in the index graph, not infinite trees.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace advx::avro {

enum class Type : uint8_t {
  null,
  boolean,
  int_,
  long_,
  float_,
  double_,
  bytes,
  string,
  record,
  enum_,
  array,
  map,
  union_,
  fixed
};

enum class Logical : uint8_t { none, timestamp_millis, timestamp_micros };

struct SchemaField {
  std::string name;
  uint32_t type;  // node index
};

struct SchemaNode {
  Type type = Type::null;
  Logical logical = Logical::none;
  std::string fullname;              // named types (record, enum, fixed)
  std::vector<SchemaField> fields;   // record
  std::vector<std::string> symbols;  // enum
  std::vector<uint32_t> branches;    // union
  uint32_t items = 0;                // array items, map values
  uint32_t size = 0;                 // fixed
  // Fewest bytes a value of this type takes: 0 only for types that always take 0 bytes (null, empty
  // records). Bounds block counts against the bytes present, so a forged count cannot make us loop.
  uint32_t min_size = 0;
};

struct Schema {
  std::vector<SchemaNode> nodes;
  uint32_t root = 0;

  const SchemaNode& node(uint32_t i) const { return nodes[i]; }
};

// Parses `json` into `out`. Returns false with a message in `error` on invalid JSON or an invalid or
// unsupported schema (unknown type name, union in a union, duplicate name...).
bool parse_schema(std::string_view json, Schema& out, std::string* error);

}  // namespace advx::avro
