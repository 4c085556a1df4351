// advx sql [--db FILE] [--format table|csv|json] [--timeout SECONDS] "SELECT …": read-only SQL over the
// store (SPEC 4).
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <exception>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "cli/app.hpp"
#include "cli/store_setup.hpp"
#include "server/query_pool.hpp"
#include "store/result_format.hpp"

namespace advx::cli {

namespace {

struct SqlOptions {
  std::string db = "advx.duckdb";
  std::string format = "table";
  std::string sql;
  double timeout_s = 0;  // 0: none
};

int run_sql(const SqlOptions& opts) {
  try {
    const std::unique_ptr<Store> store = open_store(opts.db, StoreMode::read_only);
    ResultTable result;
    if (opts.timeout_s > 0) {
      // The query pool's deadline and interrupts (server/query_pool.hpp), with one worker.
      std::vector<std::unique_ptr<Store>> connection;
      connection.push_back(store->another_connection());
      QueryPoolOptions qo;
      qo.timeout = std::chrono::milliseconds(std::max<int64_t>(int64_t(opts.timeout_s * 1000 + 0.5), 1));
      qo.timeout_setting = "(--timeout)";
      QueryPool pool(std::move(connection), qo);
      result = pool.query_read_only(opts.sql);
    } else {
      result = store->query_read_only(opts.sql);
    }
    const std::string text = format_result(result, opts.format);
    if (!write_stdout(text)) {
      std::fprintf(stderr, "advx sql: cannot write the result to standard output\n");
      return kExitFailure;
    }
    return kExitOk;
  } catch (const std::exception& e) {
    // The store's refusal already starts "advx sql is read-only: ..."; do not say "advx sql" twice.
    std::string_view msg = e.what();
    std::fprintf(stderr, "%s%.*s\n",
                 msg.starts_with("advx sql ") ? "" : "advx sql: ", static_cast<int>(msg.size()), msg.data());
    return kExitFailure;
  }
}

}  // namespace

void add_sql_command(CLI::App& app, int& result) {
  auto opts = std::make_shared<SqlOptions>();
  auto* sub =
      app.add_subcommand("sql", "Run read-only SQL over the store (SELECT, EXPLAIN, DESCRIBE, SHOW, ...)");
  sub->footer(
      "The database is opened read-only and cannot reach other files or extensions.\n"
      "Several statements may be given, separated by ';': the last one's rows are printed.\n"
      "table shows NULL as NULL; csv writes NULL as an empty field and the empty string as \"\".\n"
      "Example: advx sql --format csv \"SELECT campaign_id, count(*) FROM impressions GROUP BY 1\"");
  add_store_options(*sub, opts->db);
  sub->add_option("--format", opts->format, "Output format: table, csv or json")
      ->check(CLI::IsMember({"table", "csv", "json"}))
      ->capture_default_str();
  sub->add_option("--timeout", opts->timeout_s,
                  "Seconds the query may run; past them it is interrupted, with exit 1 (default: no limit)")
      ->check(CLI::Range(0.001, 1e9));
  sub->add_option("sql", opts->sql, "SQL to run")->required();
  sub->callback([opts, &result] { result = run_sql(*opts); });
}

}  // namespace advx::cli
