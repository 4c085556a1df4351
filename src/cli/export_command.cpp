// STUB: replaced by the export command.
#include "cli/app.hpp"
namespace advx::cli {
void add_export_command(CLI::App& app, int& result) {
  auto* sub = app.add_subcommand("export", "(not built yet)");
  sub->callback([&result] { result = kExitFailure; });
}
}  // namespace advx::cli
