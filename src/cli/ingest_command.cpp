// STUB: replaced by the ingest command.
#include "cli/app.hpp"
namespace advx::cli {
void add_ingest_command(CLI::App& app, int& result) {
  auto* sub = app.add_subcommand("ingest", "(not built yet)");
  sub->callback([&result] { result = kExitFailure; });
}
}  // namespace advx::cli
