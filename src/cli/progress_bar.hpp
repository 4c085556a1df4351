// A one-line progress bar on a terminal, redrawn at most 5 times a second (advx ingest, advx publish).
#pragma once
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>

namespace advx::cli {

class ProgressBar {
 public:
  ProgressBar(bool enabled, uint64_t total_bytes) : enabled_(enabled), total_(total_bytes) {}
  void update(uint64_t done_bytes, size_t file_index, size_t files) {
    if (!enabled_) return;
    const auto now = std::chrono::steady_clock::now();
    if (now - last_ < std::chrono::milliseconds(200)) return;
    last_ = now;
    const double frac = total_ ? std::min(1.0, double(done_bytes) / double(total_)) : 1.0;
    const int width = 30;
    const int filled = int(frac * width);
    const double secs = std::chrono::duration<double>(now - start_).count();
    std::fprintf(stderr, "\r[%.*s%.*s] %3d%%  %.1f/%.1f MB  %.1f MB/s  file %zu/%zu ", filled,
                 "==============================", width - filled, "                              ",
                 int(frac * 100), double(done_bytes) / 1e6, double(total_) / 1e6,
                 secs > 0 ? double(done_bytes) / 1e6 / secs : 0.0, file_index, files);
    std::fflush(stderr);
    drawn_ = true;
  }
  void finish() {
    if (drawn_) std::fprintf(stderr, "\r%80s\r", "");
  }

 private:
  bool enabled_;
  uint64_t total_;
  bool drawn_ = false;
  std::chrono::steady_clock::time_point start_ = std::chrono::steady_clock::now();
  std::chrono::steady_clock::time_point last_{};
};

}  // namespace advx::cli
