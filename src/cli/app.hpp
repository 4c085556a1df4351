// The advx command line: one subcommand per file in this folder.
#pragma once
#include <CLI/CLI.hpp>

namespace advx::cli {

// Exit codes (SPEC 4): 0 success (rejected records included), 1 an input or the store failed,
// 2 wrong usage or bad configuration.
inline constexpr int kExitOk = 0;
inline constexpr int kExitFailure = 1;
inline constexpr int kExitUsage = 2;

int run(int argc, char** argv);

// Each command registers itself and sets `result` when it runs.
void add_gen_command(CLI::App& app, int& result);
void add_ingest_command(CLI::App& app, int& result);
void add_sql_command(CLI::App& app, int& result);
void add_report_command(CLI::App& app, int& result);
void add_export_command(CLI::App& app, int& result);
void add_serve_command(CLI::App& app, int& result);
void add_check_command(CLI::App& app, int& result);

}  // namespace advx::cli
