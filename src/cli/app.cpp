#include "cli/app.hpp"

#include <cstdio>
#include <exception>

#include "cli/publish_command.hpp"

namespace advx::cli {

int run(int argc, char** argv) {
  CLI::App app{"advx: ad-tech event pipeline (impressions, clicks/conversions, bid requests)"};
  app.name("advx");
  app.require_subcommand(1);
  app.set_version_flag("--version", "advx 0.1.0");
  int result = kExitOk;
  add_gen_command(app, result);
  add_ingest_command(app, result);
  add_sql_command(app, result);
  add_report_command(app, result);
  add_export_command(app, result);
  add_serve_command(app, result);
  add_check_command(app, result);
  add_publish_command(app, result);
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    // One line, then the hint: wrong usage is exit 2 whatever CLI11's own code.
    std::fprintf(stderr, "advx: %s\nRun with --help for usage.\n", e.what());
    return kExitUsage;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "advx: %s\n", e.what());
    return kExitFailure;
  }
  return result;
}

}  // namespace advx::cli
