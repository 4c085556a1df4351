#include "transforms/user_agent.hpp"

#include <array>

namespace advx {
namespace {

// Case-insensitive substring search; `needle` must be lower case.
bool contains(std::string_view hay, std::string_view needle) {
  if (needle.size() > hay.size()) return false;
  const char first = needle[0];
  for (size_t i = 0; i + needle.size() <= hay.size(); i++) {
    char c = hay[i];
    if (c >= 'A' && c <= 'Z') c = char(c + 32);
    if (c != first) continue;
    size_t j = 1;
    for (; j < needle.size(); j++) {
      char d = hay[i + j];
      if (d >= 'A' && d <= 'Z') d = char(d + 32);
      if (d != needle[j]) break;
    }
    if (j == needle.size()) return true;
  }
  return false;
}

// Markers of automated agents (IAB/ABC-style list, abridged). "bot" alone covers Googlebot, bingbot,
// AhrefsBot, …; the rest name crawlers, HTTP libraries and headless browsers without that word.
constexpr std::string_view kBotMarkers[] = {
    "bot",
    "crawler",
    "spider",
    "crawl",
    "slurp",
    "facebookexternalhit",
    "mediapartners-google",
    "adsbot",
    "headlesschrome",
    "phantomjs",
    "python-requests",
    "python-urllib",
    "curl/",
    "wget/",
    "go-http-client",
    "java/",
    "okhttp",
    "libwww-perl",
    "scrapy",
    "httpclient",
    "lighthouse",
    "pingdom",
    "uptimerobot",
};

}  // namespace

UserAgentInfo classify_user_agent(std::string_view ua) {
  UserAgentInfo info;
  for (auto m : kBotMarkers) {
    if (contains(ua, m)) {
      info.is_bot = true;
      break;
    }
  }
  // OS, most specific first: iPad/iPhone also say "Mac OS X"; Android says "Linux".
  if (contains(ua, "windows"))
    info.os = "Windows";
  else if (contains(ua, "iphone") || contains(ua, "ipad") || contains(ua, "ipod"))
    info.os = "iOS";
  else if (contains(ua, "android"))
    info.os = "Android";
  else if (contains(ua, "cros"))
    info.os = "ChromeOS";
  else if (contains(ua, "mac os x") || contains(ua, "macintosh"))
    info.os = "macOS";
  else if (contains(ua, "tizen"))
    info.os = "Tizen";
  else if (contains(ua, "web0s") || contains(ua, "webos"))
    info.os = "webOS";
  else if (contains(ua, "roku"))
    info.os = "Roku";
  else if (contains(ua, "linux"))
    info.os = "Linux";
  else
    info.os = "Other";

  // Browser: Edge and Opera and Samsung also say "Chrome"; Chrome also says "Safari".
  if (contains(ua, "edg/") || contains(ua, "edge/") || contains(ua, "edga/") || contains(ua, "edgios/"))
    info.browser = "Edge";
  else if (contains(ua, "opr/") || contains(ua, "opera"))
    info.browser = "Opera";
  else if (contains(ua, "samsungbrowser"))
    info.browser = "Samsung Internet";
  else if (contains(ua, "firefox/") || contains(ua, "fxios/"))
    info.browser = "Firefox";
  else if (contains(ua, "chrome/") || contains(ua, "crios/") || contains(ua, "chromium/"))
    info.browser = "Chrome";
  else if (contains(ua, "safari/"))
    info.browser = "Safari";
  else if (contains(ua, "msie ") || contains(ua, "trident/"))
    info.browser = "IE";
  else
    info.browser = "Other";

  if (contains(ua, "smarttv") || contains(ua, "smart-tv") || contains(ua, "appletv") ||
      contains(ua, "roku") || contains(ua, "crkey") || contains(ua, "aftb") || contains(ua, "aftm") ||
      contains(ua, "tizen") || contains(ua, "web0s") || contains(ua, "hbbtv") || contains(ua, "bravia"))
    info.device = "ctv";
  else if (contains(ua, "ipad") || contains(ua, "tablet") ||
           (contains(ua, "android") && !contains(ua, "mobile")))
    info.device = "tablet";
  else if (contains(ua, "mobile") || contains(ua, "iphone") || contains(ua, "ipod") || contains(ua, "phone"))
    info.device = "mobile";
  else if (info.os == "Windows" || info.os == "macOS" || info.os == "Linux" || info.os == "ChromeOS")
    info.device = "desktop";
  else
    info.device = "other";
  return info;
}

const UserAgentInfo& UserAgentCache::lookup(std::string_view ua) {
  if (auto it = cache_.find(ua); it != cache_.end()) return it->second;
  if (cache_.size() >= kMaxEntries) cache_.clear();  // bounded memory under a flood of unique agents
  return cache_.emplace(std::string(ua), classify_user_agent(ua)).first->second;
}

}  // namespace advx
