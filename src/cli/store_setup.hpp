// Store setup shared by the commands that write: dimensions from a folder or from the store, the clock.
#pragma once
#include <cstdint>
#include <string>

#include "sinks/duckdb_store.hpp"
#include "transforms/dimensions.hpp"

namespace advx::cli {

// With `dims_dir`: reads campaigns.csv and creatives.csv into `dims` and replaces the store's dimension
// tables with them. Without: reads the dimension tables the store already has. False with a one-line
// message on a bad file.
bool load_dimensions(const std::string& dims_dir, DuckDbStore& store, Dimensions& dims, std::string* error);

}  // namespace advx::cli
