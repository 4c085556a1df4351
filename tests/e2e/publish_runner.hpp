// Helpers for tests that run `advx publish` and compare what two stores hold: the numbers of publish's
// summary, and a line-by-line difference of two query results that shows only the lines that differ.
#pragma once
#include <algorithm>
#include <cstdint>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <tuple>

namespace advx::test {

// The lines of `a` and `b` that the other lacks (at most a few of each), empty when both hold the same.
inline std::string line_diff(const std::string& a, const std::string& b) {
  auto lines = [](const std::string& text) {
    std::multiset<std::string> out;
    std::istringstream in(text);
    for (std::string line; std::getline(in, line);) out.insert(line);
    return out;
  };
  const std::multiset<std::string> la = lines(a), lb = lines(b);
  std::string out;
  int shown = 0;
  for (const auto& [from, to, sign] : {std::tuple(&la, &lb, "- "), std::tuple(&lb, &la, "+ ")}) {
    std::multiset<std::string> rest = *to;
    for (const std::string& l : *from) {
      auto it = rest.find(l);
      if (it != rest.end()) {
        rest.erase(it);
      } else if (shown++ < 6) {
        out += sign + l.substr(0, 300) + "\n";
      }
    }
  }
  return out;
}

// The sum of the numbers before `word` in publish's summary lines ("…, 12 bad (…)").
inline uint64_t sum_before(const std::string& text, const std::string& word) {
  uint64_t n = 0;
  const std::regex re("([0-9][0-9,]*) " + word + "\\b");
  for (auto it = std::sregex_iterator(text.begin(), text.end(), re); it != std::sregex_iterator(); ++it) {
    std::string digits = (*it)[1];
    digits.erase(std::remove(digits.begin(), digits.end(), ','), digits.end());
    n += std::stoull(digits);
  }
  return n;
}

}  // namespace advx::test
