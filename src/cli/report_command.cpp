// STUB: replaced by the report command.
#include "cli/app.hpp"
namespace advx::cli {
void add_report_command(CLI::App& app, int& result) {
  auto* sub = app.add_subcommand("report", "(not built yet)");
  sub->callback([&result] { result = kExitFailure; });
}
}  // namespace advx::cli
