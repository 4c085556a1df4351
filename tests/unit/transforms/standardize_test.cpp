#include "transforms/standardize.hpp"

#include <gtest/gtest.h>

#include "transforms/user_agent.hpp"

namespace advx {
namespace {

TEST(Standardize, SiteReducedToHost) {
  Arena a;
  EXPECT_EQ(normalize_site("https://WWW.News.Example.com:443/a?b", a), "news.example.com");  // SPEC 2.2
  EXPECT_EQ(normalize_site("example.com", a), "example.com");
  EXPECT_EQ(normalize_site("  Example.COM  ", a), "example.com");
  EXPECT_EQ(normalize_site("http://user:pw@shop.example.org:8080/x#y", a), "shop.example.org");
  EXPECT_EQ(normalize_site("//cdn.example.net/lib.js", a), "cdn.example.net");
  EXPECT_EQ(normalize_site("www.example.com.", a), "example.com");
  EXPECT_EQ(normalize_site("example.com/path?q=1", a), "example.com");
  EXPECT_EQ(normalize_site("http://[2001:db8::1]:80/", a), "2001:db8::1");
  EXPECT_EQ(normalize_site("www.", a), "www");  // trailing dot dropped; nothing after www. to strip it from
  EXPECT_EQ(normalize_site("https://", a), "");
  EXPECT_EQ(normalize_site("exa mple.com", a), "");
}

TEST(Standardize, Country) {
  EXPECT_EQ(normalize_country("us"), "US");
  EXPECT_EQ(normalize_country(" De "), "DE");
  EXPECT_EQ(normalize_country("USA"), "US");
  EXPECT_EQ(normalize_country("gbr"), "GB");
  EXPECT_EQ(normalize_country("XX"), "");
  EXPECT_EQ(normalize_country("ZZZ"), "");
  EXPECT_EQ(normalize_country("United States"), "");
}

TEST(Standardize, DeviceType) {
  EXPECT_EQ(normalize_device_type("Desktop"), "desktop");
  EXPECT_EQ(normalize_device_type("smartphone"), "mobile");
  EXPECT_EQ(normalize_device_type("TABLET"), "tablet");
  EXPECT_EQ(normalize_device_type("Connected TV"), "ctv");
  EXPECT_EQ(normalize_device_type("toaster"), "other");
  EXPECT_EQ(normalize_device_type("2"), "desktop");
  EXPECT_EQ(device_type_from_openrtb(4), "mobile");
  EXPECT_EQ(device_type_from_openrtb(5), "tablet");
  EXPECT_EQ(device_type_from_openrtb(7), "ctv");
  EXPECT_EQ(device_type_from_openrtb(99), "other");
}

TEST(Standardize, CurrencyAndIds) {
  char c[3];
  ASSERT_TRUE(normalize_currency(" usd", c));
  EXPECT_EQ(std::string_view(c, 3), "USD");
  EXPECT_FALSE(normalize_currency("US", c));
  EXPECT_FALSE(normalize_currency("U$D", c));
  EXPECT_EQ(check_id(trim_blanks("  abc ")), IdCheck::ok);
  EXPECT_EQ(check_id(trim_blanks("   ")), IdCheck::empty);
  EXPECT_EQ(check_id(std::string(256, 'x')), IdCheck::ok);
  EXPECT_EQ(check_id(std::string(257, 'x')), IdCheck::too_long);
  EXPECT_EQ(check_id("a\x01"
                     "b"),
            IdCheck::control_char);
  EXPECT_EQ(check_id("caf\xc3\xa9"), IdCheck::ok);  // UTF-8 is fine
}

TEST(UserAgent, BotsAndFamilies) {
  const auto chrome_win = classify_user_agent(
      "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 "
      "Safari/537.36");
  EXPECT_FALSE(chrome_win.is_bot);
  EXPECT_EQ(chrome_win.os, "Windows");
  EXPECT_EQ(chrome_win.browser, "Chrome");
  EXPECT_EQ(chrome_win.device, "desktop");
  const auto iphone = classify_user_agent(
      "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
      "Version/17.0 Mobile/15E148 Safari/604.1");
  EXPECT_EQ(iphone.os, "iOS");
  EXPECT_EQ(iphone.browser, "Safari");
  EXPECT_EQ(iphone.device, "mobile");
  const auto ipad = classify_user_agent("Mozilla/5.0 (iPad; CPU OS 16_0 like Mac OS X) Safari/604.1");
  EXPECT_EQ(ipad.device, "tablet");
  const auto edge = classify_user_agent("Mozilla/5.0 (Windows NT 10.0) Chrome/120.0 Safari/537.36 Edg/120.0");
  EXPECT_EQ(edge.browser, "Edge");
  const auto android_tab =
      classify_user_agent("Mozilla/5.0 (Linux; Android 13; SM-X700) Chrome/120.0 Safari/537.36");
  EXPECT_EQ(android_tab.os, "Android");
  EXPECT_EQ(android_tab.device, "tablet");
  const auto tv =
      classify_user_agent("Mozilla/5.0 (SMART-TV; Linux; Tizen 6.0) SamsungBrowser/4.0 TV Safari/537.36");
  EXPECT_EQ(tv.device, "ctv");
  for (auto bot : {"Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
                   "Mozilla/5.0 (compatible; bingbot/2.0)", "Mozilla/5.0 (compatible; AhrefsBot/7.0)",
                   "Baiduspider+(+http://www.baidu.com/search/spider.htm)", "curl/8.0.1",
                   "python-requests/2.31", "facebookexternalhit/1.1", "Mozilla/5.0 HeadlessChrome/120.0"}) {
    EXPECT_TRUE(classify_user_agent(bot).is_bot) << bot;
  }
  UserAgentCache cache;
  EXPECT_TRUE(cache.lookup("Googlebot").is_bot);
  EXPECT_TRUE(cache.lookup("Googlebot").is_bot);
  EXPECT_FALSE(cache.lookup("Mozilla/5.0 (Macintosh; Intel Mac OS X 14_0) Safari/605.1").is_bot);
}

}  // namespace
}  // namespace advx
