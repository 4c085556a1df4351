// STUB: replaced by the sql command.
#include "cli/app.hpp"
namespace advx::cli {
void add_sql_command(CLI::App& app, int& result) {
  auto* sub = app.add_subcommand("sql", "(not built yet)");
  sub->callback([&result] { result = kExitFailure; });
}
}  // namespace advx::cli
