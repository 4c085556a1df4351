// advx publish: files to Kafka in the wire formats advx serve consumes (docs/PUBLISH.md).
#pragma once
#include <CLI/CLI.hpp>

namespace advx::cli {

void add_publish_command(CLI::App& app, int& result);

}  // namespace advx::cli
