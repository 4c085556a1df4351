// STUB: replaced by the gen command.
#include "cli/app.hpp"
namespace advx::cli {
void add_gen_command(CLI::App& app, int& result) {
  auto* sub = app.add_subcommand("gen", "(not built yet)");
  sub->callback([&result] { result = kExitFailure; });
}
}  // namespace advx::cli
