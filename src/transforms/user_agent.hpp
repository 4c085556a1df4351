// User-agent classification (SPEC 2.3 bot filter, 2.5 enrichment): bot or not, OS family, browser family,
// device type. Substring rules, not a full parser: families that reports group by, not exact versions.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>

#include "core/hash.hpp"

namespace advx {

struct UserAgentInfo {
  bool is_bot = false;
  std::string_view os;  // "Windows", "macOS", "iOS", "Android", "Linux", "ChromeOS", "Other"
  std::string_view
      browser;  // "Chrome", "Safari", "Firefox", "Edge", "Opera", "Samsung Internet", "IE", "Other"
  std::string_view device;  // "desktop", "mobile", "tablet", "ctv", "other"
};

UserAgentInfo classify_user_agent(std::string_view ua);

// Real traffic repeats a few thousand user agents millions of times: remember the answers.
class UserAgentCache {
 public:
  const UserAgentInfo& lookup(std::string_view ua);

 private:
  static constexpr size_t kMaxEntries = 1 << 16;
  std::unordered_map<std::string, UserAgentInfo, StringHash, std::equal_to<>> cache_;
};

}  // namespace advx
