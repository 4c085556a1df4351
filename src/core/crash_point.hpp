// Test-only crash points, for the kill matrix (tests/e2e/kill_matrix_test.cpp): with the environment
// variable ADVX_CRASH_AT=NAME or NAME:N, the N-th pass (default 1) through crash_point(NAME) ends the process
// with SIGKILL, exactly as `kill -9` would at that moment: no destructor, no flush, no atexit. Points sit
// where a kill is hardest to survive (between a commit and the next step). Without the variable a point
// costs a comparison with a cached empty setting.
#pragma once

namespace advx {

void crash_point(const char* name);

}  // namespace advx
