#include "cli/app.hpp"

int main(int argc, char** argv) { return advx::cli::run(argc, argv); }
