// The advx command line: one subcommand per file in this folder.
#pragma once
#include <CLI/CLI.hpp>
#include <cstdio>
#include <string_view>

namespace advx::cli {

// Exit codes (SPEC 4): 0 success (rejected records included), 1 an input or the store failed,
// 2 wrong usage or bad configuration.
inline constexpr int kExitOk = 0;
inline constexpr int kExitFailure = 1;
inline constexpr int kExitUsage = 2;

int run(int argc, char** argv);

// Writes a command's result to standard output; false when it did not all get there (a closed pipe, a
// full disk), which the command reports as a failure rather than exiting 0 with its output cut short.
inline bool write_stdout(std::string_view text) {
  return std::fwrite(text.data(), 1, text.size(), stdout) == text.size() && std::fflush(stdout) == 0;
}

// Each command registers itself and sets `result` when it runs.
void add_gen_command(CLI::App& app, int& result);
void add_ingest_command(CLI::App& app, int& result);
void add_sql_command(CLI::App& app, int& result);
void add_report_command(CLI::App& app, int& result);
void add_export_command(CLI::App& app, int& result);
void add_serve_command(CLI::App& app, int& result);
void add_check_command(CLI::App& app, int& result);

}  // namespace advx::cli
