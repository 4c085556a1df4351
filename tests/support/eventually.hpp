// Waiting on an event with a deadline, never sleeping a fixed time and then asserting.
#pragma once
#include <chrono>
#include <functional>
#include <thread>

namespace advx::test {

// Polls `done` every 20 ms until it holds or `deadline` passes; whether it held.
inline bool eventually(const std::function<bool()>& done, std::chrono::milliseconds deadline) {
  const auto until = std::chrono::steady_clock::now() + deadline;
  while (std::chrono::steady_clock::now() < until) {
    if (done()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return done();
}

}  // namespace advx::test
