#include "gen/generator.hpp"

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <deque>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <queue>
#include <span>
#include <sstream>
#include <stdexcept>
#include <thread>
#include <unordered_set>
#include <vector>

#include "gen/bid_request_encoder.hpp"
#include "gen/bid_request_schema.hpp"
#include "gen/rng.hpp"
#include "gen/text_format.hpp"

namespace advx::gen {

uint64_t StreamCounts::rejected() const {
  uint64_t n = 0;
  for (int r = 0; r < kReasonCount; ++r)
    if (!is_filter_reason(Reason(r))) n += by_reason[size_t(r)];
  return n;
}

uint64_t StreamCounts::filtered() const {
  uint64_t n = 0;
  for (int r = 0; r < kReasonCount; ++r)
    if (is_filter_reason(Reason(r))) n += by_reason[size_t(r)];
  return n;
}

bool parse_start_time(std::string_view s, int64_t& ms) {
  auto num = [&](size_t pos, size_t len, unsigned& v) {
    if (pos + len > s.size()) return false;
    v = 0;
    for (size_t i = pos; i < pos + len; ++i) {
      if (s[i] < '0' || s[i] > '9') return false;
      v = v * 10 + unsigned(s[i] - '0');
    }
    return true;
  };
  unsigned y, mo, d, h = 0, mi = 0, se = 0, milli = 0;
  if (!num(0, 4, y) || s.size() < 10 || s[4] != '-' || !num(5, 2, mo) || s[7] != '-' || !num(8, 2, d))
    return false;
  if (mo < 1 || mo > 12 || d < 1 || d > 31) return false;
  size_t p = 10;
  int offset_min = 0;
  if (p < s.size()) {
    if ((s[p] != 'T' && s[p] != ' ') || !num(p + 1, 2, h) || s.size() < p + 9 || s[p + 3] != ':' ||
        !num(p + 4, 2, mi) || s[p + 6] != ':' || !num(p + 7, 2, se))
      return false;
    if (h > 23 || mi > 59 || se > 59) return false;
    p += 9;
    if (p < s.size() && s[p] == '.') {
      size_t q = p + 1;
      unsigned scale = 100;
      while (q < s.size() && s[q] >= '0' && s[q] <= '9') {
        milli += unsigned(s[q] - '0') * scale;
        scale /= 10;
        ++q;
      }
      if (q == p + 1) return false;
      p = q;
    }
    if (p < s.size()) {
      if (s[p] == 'Z' && p + 1 == s.size()) {
      } else if ((s[p] == '+' || s[p] == '-') && s.size() == p + 6 && s[p + 3] == ':') {
        unsigned oh, om;
        if (!num(p + 1, 2, oh) || !num(p + 4, 2, om)) return false;
        offset_min = int(oh * 60 + om) * (s[p] == '-' ? -1 : 1);
      } else {
        return false;
      }
    }
  }
  ms = days_from_civil(y, mo, d) * 86400000 + int64_t(h * 3600 + mi * 60 + se) * 1000 + milli -
       int64_t(offset_min) * 60000;
  return true;
}

namespace {

constexpr int64_t kSecond = 1000, kMinute = 60 * kSecond, kHour = 60 * kMinute, kDay = 24 * kHour;
// Added to an event time to land in 2099: always beyond any processing time's allowed skew.
constexpr int64_t kFutureShift = 73LL * 36525 * kDay / 100;

// ---- realistic constants
// ------------------------------------------------------------------------------------

enum DeviceClass : uint8_t { kDesktop, kMobile, kTablet, kCtv };
constexpr std::string_view kDeviceNames[4][3] = {{"desktop", "Desktop", "DESKTOP"},
                                                 {"mobile", "Mobile", "MOBILE"},
                                                 {"tablet", "Tablet", "TABLET"},
                                                 {"ctv", "CTV", "ctv"}};
constexpr int32_t kOpenRtbDeviceType[4] = {2, 4, 5, 3};  // OpenRTB 2.6: PC, phone, tablet, connected TV

constexpr std::string_view kDesktopUas[] = {
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0.0.0 "
    "Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0.0.0 "
    "Safari/537.36",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:132.0) Gecko/20100101 Firefox/132.0",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 "
    "Safari/605.1.15",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0.0.0 "
    "Safari/537.36 Edg/130.0.0.0",
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/129.0.0.0 Safari/537.36",
};
constexpr std::string_view kMobileUas[] = {
    "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/18.1 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0.6723.102 "
    "Mobile Safari/537.36",
    "Mozilla/5.0 (Linux; Android 14; SM-S921B) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0.0.0 "
    "Mobile "
    "Safari/537.36",
    "Mozilla/5.0 (Linux; Android 13; SM-A546B) AppleWebKit/537.36 (KHTML, like Gecko) SamsungBrowser/26.0 "
    "Chrome/122.0.0.0 Mobile Safari/537.36",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "CriOS/130.0.6723.90 Mobile/15E148 Safari/604.1",
};
constexpr std::string_view kTabletUas[] = {
    "Mozilla/5.0 (iPad; CPU OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 "
    "Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Linux; Android 14; SM-X710) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0.0.0 "
    "Safari/537.36",
    "Mozilla/5.0 (Linux; Android 11; KFTRWI) AppleWebKit/537.36 (KHTML, like Gecko) Silk/130.2.1 like "
    "Chrome/130.0.6723.102 Safari/537.36",
};
constexpr std::string_view kCtvUas[] = {
    "Roku/DVP-14.0 (14.0.0.4178-46)",
    "Mozilla/5.0 (SMART-TV; LINUX; Tizen 7.0) AppleWebKit/537.36 (KHTML, like Gecko) 94.0.4606.31/7.0 TV "
    "Safari/537.36",
    "AppleCoreMedia/1.0.0.22J580 (Apple TV; U; CPU OS 18_1 like Mac OS X; en_us)",
    "Mozilla/5.0 (Web0S; Linux/SmartTV) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/94.0.4606.128 "
    "Safari/537.36 WebAppManager",
};
constexpr std::span<const std::string_view> kUas[4] = {kDesktopUas, kMobileUas, kTabletUas, kCtvUas};
// Every one names itself a bot, crawler or spider, as the known-bot lists match.
constexpr std::string_view kBotUas[] = {
    "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
    "Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)",
    "Mozilla/5.0 (compatible; AhrefsBot/7.0; +http://ahrefs.com/robot/)",
    "Mozilla/5.0 (compatible; YandexBot/3.0; +http://yandex.com/bots)",
    "Mozilla/5.0 (compatible; SemrushBot/7~bl; +http://www.semrush.com/bot.html)",
    "Mozilla/5.0 (compatible; Baiduspider/2.0; +http://www.baidu.com/search/spider.html)",
    "Mozilla/5.0 (Linux; Android 6.0.1; Nexus 5X Build/MMB29P) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/130.0.6723.69 Mobile Safari/537.36 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
};
constexpr std::string_view kSites[] = {
    "news.example.com",       "sports.example.com",    "weather.example.org", "recipes.example.net",
    "techreview.example.com", "autos.example.com",     "travel.example.org",  "finance.example.com",
    "gaming.example.net",     "movies.example.com",    "music.example.org",   "health.example.com",
    "fashion.example.net",    "parenting.example.org", "science.example.com", "localnews.example.com",
    "homes.example.net",      "pets.example.org",      "diy.example.com",     "outdoors.example.net",
    "daily.example.co.uk",    "zeitung.example.de",    "journal.example.fr",  "noticias.example.es",
    "shop.example.com",       "forum.example.org",     "video.example.com",   "blog.example.net",
};
constexpr std::string_view kSitesUpper[] = {
    "NEWS.EXAMPLE.COM",       "Sports.Example.com",    "WEATHER.EXAMPLE.ORG", "Recipes.Example.net",
    "TECHREVIEW.EXAMPLE.COM", "Autos.Example.com",     "TRAVEL.EXAMPLE.ORG",  "Finance.Example.com",
    "GAMING.EXAMPLE.NET",     "Movies.Example.com",    "MUSIC.EXAMPLE.ORG",   "Health.Example.com",
    "FASHION.EXAMPLE.NET",    "Parenting.Example.org", "SCIENCE.EXAMPLE.COM", "LocalNews.Example.com",
    "HOMES.EXAMPLE.NET",      "Pets.Example.org",      "DIY.EXAMPLE.COM",     "Outdoors.Example.net",
    "DAILY.EXAMPLE.CO.UK",    "Zeitung.Example.de",    "JOURNAL.EXAMPLE.FR",  "Noticias.Example.es",
    "SHOP.EXAMPLE.COM",       "Forum.Example.org",     "VIDEO.EXAMPLE.COM",   "Blog.Example.net",
};
constexpr size_t kSiteCount = std::size(kSites);
static_assert(std::size(kSitesUpper) == kSiteCount);
constexpr std::string_view kPaths[] = {"/", "/article/", "/sport/live/", "/recipes/", "/reviews/", "/watch/"};
constexpr std::string_view kApps[] = {
    "com.example.puzzlequest", "com.example.newsreader", "com.example.fittrack",  "com.example.weathernow",
    "com.example.chefmate",    "id1443546310",           "com.example.racingpro", "id6450123987",
};
constexpr std::string_view kCats[] = {"IAB1",  "IAB2",  "IAB3",  "IAB7",  "IAB9",
                                      "IAB12", "IAB13", "IAB17", "IAB19", "IAB20"};
constexpr std::string_view kExchanges[] = {"adx", "openx", "pubmatic", "magnite", "xandr", "index"};
struct Country {
  std::string_view upper, lower;
  int weight;
};
constexpr Country kCountries[] = {{"US", "us", 35}, {"GB", "gb", 10}, {"DE", "de", 9}, {"FR", "fr", 7},
                                  {"IN", "in", 8},  {"BR", "br", 6},  {"CA", "ca", 5}, {"JP", "jp", 5},
                                  {"ES", "es", 4},  {"IT", "it", 4},  {"NL", "nl", 3}, {"AU", "au", 2},
                                  {"MX", "mx", 2}};
constexpr std::string_view kCurrencies[] = {"USD", "USD", "USD", "EUR", "EUR", "GBP", "CAD", "AUD"};
constexpr std::string_view kConversionTypes[] = {"purchase", "signup", "lead", "install"};
constexpr std::string_view kBadTimestamps[] = {"n/a", "yesterday", "31/11/2026 10:00", "not a timestamp"};
constexpr int kOffsets[] = {120, -300, 330, 60, -480};
struct Size {
  int32_t w, h;
};
constexpr Size kSizes[] = {{300, 250}, {728, 90}, {320, 50}, {160, 600}, {300, 600}, {970, 250}};
constexpr std::string_view kFormats[] = {"banner", "banner", "banner", "native", "video"};
constexpr std::string_view kNameA[] = {"Black Friday", "Holiday",     "Winter Sale",     "Back to School",
                                       "Launch",       "Retargeting", "Brand Awareness", "App Install"};
constexpr std::string_view kNameB[] = {"Mobile", "Desktop", "EMEA", "US", "CTV", "Prospecting"};

// ---- model ------------------------------------------------------------------------------------------------

struct Campaign {
  int64_t id, advertiser;
  double win_rate, ctr, cvr, price_cpm;
  std::string_view currency;
  std::vector<uint32_t> creatives;
};
struct Creative {
  int64_t id;
  uint32_t campaign;
  Size size;
  std::string_view format;
};

// Per-user attributes are a pure function of the user index, so a user keeps device, browser, IP and country.
struct UserInfo {
  uint64_t h;
  DeviceClass device;
  bool numeric_id;
};

enum class BidFlag : uint8_t { none = 0, bot = 1, future = 2, site = 4, conflict = 8, won = 16 };

struct BidReq {
  int64_t ts_ms;
  uint64_t seq;    // auction id = bijection of seq
  uint64_t rseed;  // the Avro thread derives the cosmetic fields (floors, tmax, ...) from it
  uint32_t user;
  uint32_t dup_delay;  // > 0: a copy follows this many requests later
  int32_t creative;    // banner size; -1: a random size
  uint16_t site;
  uint8_t flags;
  uint8_t file;
};

struct CsvEvent {
  int64_t event_ms, arrival_ms;
  uint64_t seq;  // event id = bijection of seq; also the tie-break of the arrival order
  int64_t value_cents;
  uint32_t user;
  int32_t creative;  // -1: not named
  uint16_t campaign;
  uint8_t is_click, conv_type, defect, ts_fmt, style;
  bool has_id;
};

enum CsvDefect : uint8_t { kCsvOk, kCsvMalformed, kCsvMissingUser, kCsvBadTs, kCsvFuture, kCsvNegative };

std::string part_name(int i, std::string_view ext) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "part-%05d.%s", i, std::string(ext).c_str());
  return buf;
}

std::FILE* open_file(const std::filesystem::path& p) {
  std::FILE* f = std::fopen(p.c_str(), "wb");
  if (!f) throw std::runtime_error("cannot write " + p.string());
  return f;
}

void write_buf(std::FILE* f, std::string& buf) {
  if (!buf.empty() && std::fwrite(buf.data(), 1, buf.size(), f) != buf.size())
    throw std::runtime_error("write failed (disk full?)");
  buf.clear();
}

void close_file(std::FILE* f, std::string& buf) {
  write_buf(f, buf);
  if (std::fclose(f) != 0) throw std::runtime_error("write failed (disk full?)");
}

// A bounded queue of bid request chunks from the generator thread to the Avro thread.
class ChunkQueue {
 public:
  void push(std::vector<BidReq> chunk) {
    std::unique_lock lock(mu_);
    not_full_.wait(lock, [&] { return q_.size() < 4 || failed_; });
    q_.push_back(std::move(chunk));
    not_empty_.notify_one();
  }
  bool pop(std::vector<BidReq>& chunk) {
    std::unique_lock lock(mu_);
    not_empty_.wait(lock, [&] { return !q_.empty() || done_; });
    if (q_.empty()) return false;
    chunk = std::move(q_.front());
    q_.pop_front();
    not_full_.notify_one();
    return true;
  }
  void close() {
    std::lock_guard lock(mu_);
    done_ = true;
    not_empty_.notify_all();
  }
  void fail() {  // the consumer stopped: never block the producer again
    std::lock_guard lock(mu_);
    failed_ = true;
    q_.clear();
    not_full_.notify_all();
  }

 private:
  std::mutex mu_;
  std::condition_variable not_empty_, not_full_;
  std::deque<std::vector<BidReq>> q_;
  bool done_ = false, failed_ = false;
};

class Generator {
 public:
  explicit Generator(const GenOptions& o) : o_(o), rng_(o.seed) {
    n_ = std::max<uint64_t>(o.impressions, 0);
    files_ = o.files > 0 ? o.files : int(std::max<uint64_t>(1, (n_ + 500000) / 1000000));
    files_ = std::min(files_, 255);  // BidReq.file is a byte
    files_ = int(std::min<uint64_t>(uint64_t(files_), std::max<uint64_t>(n_, 1)));
    span_ms_ = int64_t(o.days) * kDay;
    user_pool_ = std::max<uint64_t>(1, uint64_t(double(n_) * 0.39));
    salt_ = mix64(o.seed ^ 0x5eed5a17ULL);
    int w = 0;
    for (const auto& c : kCountries) country_cum_.push_back(w += c.weight);
  }

  GenResult run();

 private:
  UserInfo user_info(uint32_t u) const {
    const uint64_t h = mix64(uint64_t(u) ^ salt_);
    const unsigned d = unsigned((h >> 8) % 100);
    return {h, d < 45 ? kDesktop : d < 85 ? kMobile : d < 95 ? kTablet : kCtv, (h & 7) == 0};
  }
  std::string_view user_ua(const UserInfo& ui) const {
    const auto& list = kUas[ui.device];
    return list[(ui.h >> 16) % list.size()];
  }
  const Country& user_country(const UserInfo& ui) const {
    const int x = int((ui.h >> 24) % uint64_t(country_cum_.back()));
    return kCountries[std::upper_bound(country_cum_.begin(), country_cum_.end(), x) - country_cum_.begin()];
  }
  static void put_ip(std::string& out, const UserInfo& ui) {
    const uint64_t x = ui.h >> 32;
    unsigned a = 11 + unsigned(x % 212);
    if (a == 127) a = 128;
    put_int(out, a);
    out.push_back('.');
    put_int(out, int64_t((x >> 8) & 255));
    out.push_back('.');
    put_int(out, int64_t((x >> 16) & 255));
    out.push_back('.');
    put_int(out, int64_t(1 + ((x >> 24) % 254)));
  }
  void put_user_id(std::string& out, uint32_t u, const UserInfo& ui) const {
    const uint64_t id = mix48(uint64_t(u) ^ salt_);
    if (ui.numeric_id) {
      put_int(out, int64_t(id));
    } else {
      out.append("u-");
      put_hex(out, id, 12);
    }
  }
  void put_auction_id(std::string& out, uint64_t seq) const {
    const uint64_t x = mix64(seq ^ salt_);
    put_hex(out, x >> 32, 8);
    out.push_back('-');
    put_hex(out, (x >> 16) & 0xffff, 4);
    out.push_back('-');
    put_hex(out, x & 0xffff, 4);
  }
  uint32_t draw_user() {
    // A power law over the pool: ~N/3 distinct users, a few heavy ones with hundreds of impressions.
    return uint32_t(
        std::min<double>(double(user_pool_) - 1, double(user_pool_) * std::pow(rng_.uniform(), 1.8)));
  }
  uint32_t draw_campaign() {
    const double x = rng_.uniform() * campaign_cum_.back();
    return uint32_t(std::upper_bound(campaign_cum_.begin(), campaign_cum_.end(), x) - campaign_cum_.begin());
  }

  void make_dims();
  void write_dims();
  void avro_thread_main();
  void encode_bid(const BidReq& b, std::string& datum, Rng& r, int64_t shift_ms);
  void write_impression(std::string& out, int64_t ts, uint32_t user, const UserInfo& ui, int64_t creative_id,
                        uint32_t campaign, uint16_t site, uint64_t seq, bool has_id, bool bot, int defect,
                        uint64_t auction_seq, bool has_auction, int64_t price_milli);
  void write_csv();

  const GenOptions& o_;
  Rng rng_;
  uint64_t n_ = 0;
  int files_ = 1;
  int64_t span_ms_ = kDay;
  uint64_t user_pool_ = 1;
  uint64_t salt_ = 0;
  std::vector<int> country_cum_;
  std::vector<double> campaign_cum_;
  std::vector<Campaign> campaigns_;
  std::vector<Creative> creatives_;
  std::vector<CsvEvent> csv_;
  GenResult res_;
  std::filesystem::path dir_;

  // Avro side
  ChunkQueue queue_;
  std::string schema_;
  std::unique_ptr<BidRequestEncoder> encoder_;
  std::string avro_error_;
  std::string scratch_[4];  // the Avro thread's reusable buffers
};

void Generator::make_dims() {
  Rng r(o_.seed ^ 0xd1d5ULL);
  const int c_count = o_.campaigns;
  double cum = 0;
  for (int c = 0; c < c_count; ++c) {
    Campaign cp;
    cp.id = 1001 + c;
    cp.advertiser = 501 + c / 3;
    cp.win_rate = r.range_d(0.30, 0.50);
    cp.ctr = r.range_d(0.005, 0.03);
    cp.cvr = r.range_d(0.05, 0.15);
    cp.price_cpm = r.range_d(0.8, 6.0);
    cp.currency = kCurrencies[r.below(std::size(kCurrencies))];
    const int n_cr = int(r.range(2, 6));
    for (int k = 0; k < n_cr; ++k) {
      Creative cr;
      cr.id = 100001 + int64_t(creatives_.size());
      cr.campaign = uint32_t(c);
      cr.size = kSizes[r.below(std::size(kSizes))];
      cr.format = kFormats[r.below(std::size(kFormats))];
      cp.creatives.push_back(uint32_t(creatives_.size()));
      creatives_.push_back(cr);
    }
    campaigns_.push_back(std::move(cp));
    cum += 1.0 / std::pow(double(c % 17) + 1.0, 0.8);  // a few big campaigns, a long tail
    campaign_cum_.push_back(cum);
  }
}

// A CSV field, quoted when it needs to be (RFC 4180) or, now and then, when it does not.
void put_csv_field(std::string& out, std::string_view v, bool force_quote = false) {
  if (!force_quote && v.find_first_of(",\"\r\n") == std::string_view::npos) {
    out.append(v);
    return;
  }
  out.push_back('"');
  for (char c : v) {
    if (c == '"') out.push_back('"');
    out.push_back(c);
  }
  out.push_back('"');
}

void Generator::write_dims() {
  Rng r(o_.seed ^ 0xd135ULL);
  std::string s = "campaign_id,advertiser_id,campaign_name,start_date,end_date,currency\n";
  for (size_t c = 0; c < campaigns_.size(); ++c) {
    const auto& cp = campaigns_[c];
    put_int(s, cp.id);
    s.push_back(',');
    put_int(s, cp.advertiser);
    s.push_back(',');
    std::string name;
    switch (c % 4) {  // names with commas and quotes make readers honour RFC 4180 quoting
      case 0:
        name = std::string(kNameA[c % std::size(kNameA)]) + ", " + std::string(kNameB[c % std::size(kNameB)]);
        break;
      case 1:
        name = std::string(kNameA[c % std::size(kNameA)]) + " \"" +
               std::string(kNameB[c % std::size(kNameB)]) + "\" 2026";
        break;
      default:
        name = std::string(kNameA[c % std::size(kNameA)]) + " " + std::string(kNameB[c % std::size(kNameB)]) +
               " #" + std::to_string(c);
        break;
    }
    put_csv_field(s, name);
    s.push_back(',');
    put_datetime(s, o_.start_ms - r.range(0, 30) * kDay, ' ', false);
    s.push_back(',');
    put_datetime(s, o_.start_ms + span_ms_ + r.range(10, 60) * kDay, ' ', false);
    s.push_back(',');
    s.append(cp.currency);
    s.push_back('\n');
  }
  std::FILE* f = open_file(dir_ / "dims" / "campaigns.csv");
  close_file(f, s);
  s = "creative_id,campaign_id,format,width,height\n";
  for (const auto& cr : creatives_) {
    put_int(s, cr.id);
    s.push_back(',');
    put_int(s, campaigns_[cr.campaign].id);
    s.push_back(',');
    s.append(cr.format);
    s.push_back(',');
    put_int(s, cr.size.w);
    s.push_back(',');
    put_int(s, cr.size.h);
    s.push_back('\n');
  }
  f = open_file(dir_ / "dims" / "creatives.csv");
  close_file(f, s);
}

// ---- bid requests (the Avro thread)
// -------------------------------------------------------------------------

void Generator::encode_bid(const BidReq& b, std::string& datum, Rng& r, int64_t shift_ms) {
  BidRequestValues v;
  std::string& id = scratch_[0];
  std::string& page = scratch_[1];
  std::string& ip = scratch_[2];
  std::string& uid = scratch_[3];
  id.clear();
  page.clear();
  ip.clear();
  uid.clear();
  put_auction_id(id, b.seq);
  v.id = id;
  v.timestamp_ms = b.ts_ms + shift_ms;
  const UserInfo ui = user_info(b.user);
  v.imp_count = int(1 + r.below(3));
  static constexpr std::string_view kImpIds[] = {"1", "2", "3"};
  for (int k = 0; k < v.imp_count; ++k) {
    auto& imp = v.imps[k];
    imp.id = kImpIds[k];
    imp.bidfloor = double(r.range(5, 300)) / 100.0;
    imp.bidfloorcur = r.chance(0.7) ? std::string_view("USD") : std::string_view();
    if (!r.chance(0.1)) {
      const Size sz = (k == 0 && b.creative >= 0) ? creatives_[size_t(b.creative)].size
                                                  : kSizes[r.below(std::size(kSizes))];
      imp.w = sz.w;
      imp.h = sz.h;
    }
  }
  std::string_view cats[2];
  if (b.flags & uint8_t(BidFlag::site)) {
    v.has_site = true;
    v.site_domain = kSites[b.site % kSiteCount];
    if (r.chance(0.8)) {
      page.append("https://");
      page.append(v.site_domain);
      page.append(kPaths[r.below(std::size(kPaths))]);
      put_int(page, r.range(1000, 99999));
      v.site_page = page;
    }
    const size_t ncat = r.below(3);
    for (size_t k = 0; k < ncat; ++k) cats[k] = kCats[r.below(std::size(kCats))];
    v.site_cat = std::span<const std::string_view>(cats, ncat);
  } else {
    v.has_app = true;
    v.app_bundle = kApps[b.site % std::size(kApps)];
  }
  put_ip(ip, ui);
  v.has_device = true;
  v.ua = (b.flags & uint8_t(BidFlag::bot)) ? kBotUas[(ui.h >> 40) % std::size(kBotUas)] : user_ua(ui);
  v.ip = ip;
  v.devicetype = kOpenRtbDeviceType[ui.device];
  v.country = user_country(ui).upper;
  if (!r.chance(0.05)) {
    v.has_user = true;
    put_user_id(uid, b.user, ui);
    v.user_id = uid;
  }
  v.exchange = kExchanges[r.below(std::size(kExchanges))];
  v.at = r.chance(0.8) ? 1 : 2;
  v.tmax = r.chance(0.7) ? int32_t(r.range(80, 300)) : 0;
  if (b.flags & uint8_t(BidFlag::future)) v.timestamp_ms += kFutureShift;
  datum.clear();
  encoder_->encode(v, datum);
}

void Generator::avro_thread_main() {
  try {
    std::FILE* f = nullptr;
    std::unique_ptr<avro::OcfWriter> w;
    int cur_file = -1;
    uint64_t pos = 0;
    struct Pending {
      uint64_t at, order;
      std::string datum;
      bool operator>(const Pending& o) const { return at != o.at ? at > o.at : order > o.order; }
    };
    std::priority_queue<Pending, std::vector<Pending>, std::greater<>> pending;
    std::string datum, copy;
    auto open = [&](int file) {
      if (w) {
        w.reset();
        if (std::fclose(f) != 0) throw std::runtime_error("write failed (disk full?)");
      }
      f = open_file(dir_ / "bid_requests" / part_name(file, "avro"));
      if (std::setvbuf(f, nullptr, _IOFBF, 1 << 20) != 0) throw std::runtime_error("setvbuf failed");
      w = std::make_unique<avro::OcfWriter>(f, schema_, o_.codec, o_.seed * 1000003 + uint64_t(file));
      cur_file = file;
    };
    std::vector<BidReq> chunk;
    while (queue_.pop(chunk)) {
      for (const BidReq& b : chunk) {
        if (b.file != cur_file) open(b.file);
        Rng r(b.rseed);
        encode_bid(b, datum, r, 0);
        w->append(datum);
        ++pos;
        if (b.dup_delay > 0) {
          if (b.flags & uint8_t(BidFlag::conflict)) {
            Rng r2(b.rseed);  // same cosmetic fields, a later timestamp: same id, different payload
            encode_bid(b, copy, r2, (int64_t(b.rseed % 59) + 1) * kSecond);
            pending.push({pos + b.dup_delay, b.seq, copy});
          } else {
            pending.push({pos + b.dup_delay, b.seq, datum});
          }
        }
        while (!pending.empty() && pending.top().at <= pos) {
          w->append(pending.top().datum);
          pending.pop();
        }
      }
    }
    if (cur_file < 0) open(files_ - 1);
    while (!pending.empty()) {
      w->append(pending.top().datum);
      pending.pop();
    }
    w.reset();
    if (std::fclose(f) != 0) throw std::runtime_error("write failed (disk full?)");
  } catch (const std::exception& e) {
    avro_error_ = e.what();
    queue_.fail();
  }
}

// ---- impressions ------------------------------------------------------------------------------------------

enum ImpDefect : int { kImpOk = -1, kImpMalformed = 0, kImpMissing, kImpBadTs, kImpFuture, kImpMismatch };

void Generator::write_impression(std::string& out, int64_t ts, uint32_t user, const UserInfo& ui,
                                 int64_t creative_id, uint32_t campaign, uint16_t site, uint64_t seq,
                                 bool has_id, bool bot, int defect, uint64_t auction_seq, bool has_auction,
                                 int64_t price_milli) {
  const size_t start = out.size();
  out.push_back('{');
  if (has_id) {
    out.append("\"impression_id\":\"imp-");
    put_hex(out, mix48(seq ^ salt_), 12);
    out.append("\",");
  }
  const int missing = defect == kImpMissing ? int(mix64(seq) % 4) : -1;
  if (missing != 0) {
    out.append("\"ad_creative_id\":");
    if (seq & 1) {
      put_int(out, creative_id);
    } else {
      out.push_back('"');
      put_int(out, creative_id);
      out.push_back('"');
    }
    out.push_back(',');
  }
  if (missing != 1) {
    out.append("\"user_id\":");
    if (ui.numeric_id && (seq & 2)) {
      put_user_id(out, user, ui);
    } else {
      out.push_back('"');
      put_user_id(out, user, ui);
      out.push_back('"');
    }
    out.push_back(',');
  }
  if (missing != 2) {
    out.append("\"timestamp\":");
    const uint64_t fr = mix64(seq ^ 0x7153ULL) % 100;
    if (defect == kImpBadTs) {
      out.push_back('"');
      out.append(kBadTimestamps[fr % std::size(kBadTimestamps)]);
      out.push_back('"');
    } else if (defect == kImpFuture) {
      out.push_back('"');
      put_iso(out, ts + kFutureShift, 0);
      out.push_back('"');
    } else if (fr < 35) {
      out.push_back('"');
      put_iso(out, ts, 0);
      out.push_back('"');
    } else if (fr < 50) {
      out.push_back('"');
      put_iso(out, ts, kOffsets[fr % std::size(kOffsets)]);
      out.push_back('"');
    } else if (fr < 65) {
      out.push_back('"');
      put_datetime(out, ts, ' ');
      out.push_back('"');
    } else if (fr < 75) {
      put_int(out, ts >= 0 ? ts / 1000 : (ts - 999) / 1000);
    } else if (fr < 90) {
      put_int(out, ts);
    } else {
      put_int(out, ts * 1000);
    }
    out.push_back(',');
  }
  if (missing != 3) {
    out.append("\"website\":\"");
    const uint64_t wf = mix64(seq ^ 0x3eb5ULL);
    const std::string_view host = kSites[site % kSiteCount];
    switch (wf % 10) {
      case 0:
      case 1:
      case 2:
      case 3:
        out.append(host);
        break;
      case 4:
        out.append("www.");
        out.append(host);
        break;
      case 5:
      case 6:
        out.append("https://www.");
        out.append(host);
        out.append(kPaths[(wf >> 8) % std::size(kPaths)]);
        put_int(out, int64_t((wf >> 16) % 100000));
        out.append("?utm_source=feed");
        break;
      case 7:
        out.append("https://WWW.");
        out.append(kSitesUpper[site % kSiteCount]);
        out.append(":443/a?b");
        break;
      case 8:
        out.append("http://");
        out.append(host);
        out.append("/");
        break;
      default:
        out.append(kSitesUpper[site % kSiteCount]);
        break;
    }
    out.append("\",");
  }
  if (has_auction) {
    out.append("\"auction_id\":\"");
    put_auction_id(out, auction_seq);
    out.append("\",");
  }
  const uint64_t x = mix64(seq ^ 0xa11ceULL);
  if (defect == kImpMismatch || (campaign != UINT32_MAX && (x % 10) < 3)) {
    out.append("\"campaign_id\":");
    uint32_t c = campaign;
    if (defect == kImpMismatch)
      c = uint32_t((campaign + 1 + (x >> 8) % (campaigns_.size() - 1)) % campaigns_.size());
    if (x & 0x100000) {
      put_int(out, campaigns_[c].id);
    } else {
      out.push_back('"');
      put_int(out, campaigns_[c].id);
      out.push_back('"');
    }
    out.push_back(',');
  }
  if ((x >> 24) % 20 != 0) {
    out.append("\"win_price_cpm\":");
    put_fixed(out, price_milli, 3);
    out.push_back(',');
  }
  if ((x >> 32) % 10 == 0) out.append("\"placement_id\":\"pl-7\",");  // unknown extra field: ignored
  out.append("\"user_agent\":\"");
  out.append(bot ? kBotUas[(x >> 36) % std::size(kBotUas)] : user_ua(ui));
  out.append("\",\"ip\":\"");
  put_ip(out, ui);
  out.push_back('"');
  if ((x >> 40) % 20 != 0) {
    out.append(",\"country\":\"");
    const Country& c = user_country(ui);
    out.append((x >> 44) % 10 < 7 ? c.upper : c.lower);
    out.push_back('"');
  }
  if ((x >> 48) % 20 != 0) {
    out.append(",\"device_type\":\"");
    out.append(kDeviceNames[ui.device][(x >> 52) % 3]);
    out.push_back('"');
  }
  out.append("}\n");
  if (defect == kImpMalformed) {
    std::string_view line(out.data() + start, out.size() - start - 1);
    if (x & 1) {
      // Truncated: any strict prefix of an object lacks its closing brace.
      const size_t keep = 10 + size_t((x >> 2) % (line.size() - 20));
      out.resize(start + keep);
    } else {
      // Bad syntax: the first key loses its colon.
      const size_t colon = line.find("\":");
      out[start + colon + 1] = ' ';
      out.resize(out.size() - 1);
    }
    out.push_back('\n');
  }
}

GenResult Generator::run() {
  const auto t0 = std::chrono::steady_clock::now();
  dir_ = o_.out_dir;
  for (const char* sub : {"impressions", "clicks_conversions", "bid_requests", "dims"})
    std::filesystem::create_directories(dir_ / sub);
  if (o_.schema_path.empty()) {
    schema_ = std::string(kBidRequestSchema);
  } else {
    std::ifstream in(o_.schema_path, std::ios::binary);
    if (!in) throw std::runtime_error("cannot read schema " + o_.schema_path);
    std::ostringstream ss;
    ss << in.rdbuf();
    schema_ = ss.str();
  }
  encoder_ = std::make_unique<BidRequestEncoder>(schema_);
  make_dims();
  write_dims();

  std::thread avro([this] { avro_thread_main(); });
  struct ThreadJoin {
    std::thread& t;
    ChunkQueue& q;
    ~ThreadJoin() {
      q.close();
      if (t.joinable()) t.join();
    }
  } join{avro, queue_};

  auto& imp = res_.impressions;
  auto& bid = res_.bid_requests;
  const double m_rate = o_.malformed_rate, bot_rate = o_.bot_rate, unk_rate = o_.unknown_creative_rate;
  const int64_t step = std::max<int64_t>(1, span_ms_ / int64_t(std::max<uint64_t>(n_, 1)));
  std::vector<bool> seen_user(user_pool_, false);
  std::unordered_set<uint64_t> fp_keys;  // (user, second) of impressions without an id
  struct Pending {
    uint64_t at, order;
    std::string line;
    bool operator>(const Pending& o) const { return at != o.at ? at > o.at : order > o.order; }
  };
  std::priority_queue<Pending, std::vector<Pending>, std::greater<>> pending;
  std::vector<BidReq> chunk;
  chunk.reserve(1 << 16);
  uint64_t bid_seq = 0, csv_seq = 0;
  std::string buf, line;
  buf.reserve(2 << 20);
  std::FILE* f = nullptr;
  int cur_file = -1;
  uint64_t bid_pos = 0;
  std::vector<uint64_t> bid_dup_targets;  // only for counting: copies are written by the Avro thread

  auto add_bid = [&](BidReq b, bool stored_ok) {
    b.seq = bid_seq++;
    b.rseed = rng_.next();
    ++res_.funnel_bid_requests;
    ++bid.read;
    ++bid_pos;
    if (b.flags & uint8_t(BidFlag::bot)) {
      ++bid.by_reason[size_t(Reason::bot_user_agent)];
    } else if (b.flags & uint8_t(BidFlag::future)) {
      ++bid.by_reason[size_t(Reason::future_timestamp)];
    } else {
      ++bid.stored;
      if (stored_ok && rng_.chance(o_.duplicate_rate)) {
        b.dup_delay = uint32_t(rng_.range(1, 5000));
        if (rng_.chance(0.1)) b.flags |= uint8_t(BidFlag::conflict), ++bid.duplicate_conflicts;
        ++bid.duplicates;
        ++bid.read;
      }
    }
    chunk.push_back(b);
    if (chunk.size() >= (1 << 16)) {
      queue_.push(std::move(chunk));
      chunk = {};
      chunk.reserve(1 << 16);
    }
  };

  for (uint64_t i = 0; i < n_; ++i) {
    const int file = int(i * uint64_t(files_) / n_);
    if (file != cur_file) {
      if (f) close_file(f, buf);
      f = open_file(dir_ / "impressions" / part_name(file, "jsonl"));
      cur_file = file;
      ++imp.files;
    }
    int64_t ts = o_.start_ms + int64_t(i) * span_ms_ / int64_t(n_) + int64_t(rng_.below(uint64_t(step)));
    const uint32_t camp = draw_campaign();
    const Campaign& cp = campaigns_[camp];
    uint32_t creative = cp.creatives[rng_.below(cp.creatives.size())];
    const uint32_t user = draw_user();
    const UserInfo ui = user_info(user);
    const uint16_t site =
        uint16_t(std::min<double>(kSiteCount - 1, double(kSiteCount) * std::pow(rng_.uniform(), 1.5)));

    // Auctions lost before this win: geometric with the campaign's win rate.
    const double u = rng_.uniform();
    const int lost = std::min(30, int(std::log(1.0 - u) / std::log(1.0 - cp.win_rate)));
    for (int k = 0; k < lost; ++k) {
      BidReq b{};
      b.ts_ms = ts - int64_t(rng_.below(2000));
      b.user = draw_user();
      const UserInfo lui = user_info(b.user);
      const bool app = lui.device == kMobile && rng_.chance(0.3);
      b.site = app ? uint16_t(rng_.below(std::size(kApps))) : uint16_t(rng_.below(kSiteCount));
      b.flags = app ? 0 : uint8_t(BidFlag::site);
      b.creative = -1;
      b.file = uint8_t(file);
      const double d = rng_.uniform();
      if (d < bot_rate)
        b.flags |= uint8_t(BidFlag::bot);
      else if (d < bot_rate + m_rate)
        b.flags |= uint8_t(BidFlag::future);
      add_bid(b, true);
    }

    // What kind of impression this is; kinds never overlap.
    int defect = kImpOk;
    bool bot = false, unknown = false;
    const double d = rng_.uniform();
    if (d < m_rate) {
      defect = int(rng_.below(5));
      if (defect == kImpMismatch && campaigns_.size() < 2) defect = kImpMissing;
    } else if (d < m_rate + bot_rate) {
      bot = true;
    } else if (d < m_rate + bot_rate + unk_rate) {
      unknown = true;
    }
    const bool good = defect == kImpOk && !bot;
    bool late = false;
    if (good && rng_.chance(o_.late_rate)) {
      late = true;
      ts -= rng_.range(kHour, 6 * kHour);
      ++imp.late;
    } else if (good && rng_.chance(o_.out_of_order_rate)) {
      ts += rng_.chance(0.5) ? rng_.range(5 * kSecond, 3 * kMinute) : -rng_.range(5 * kSecond, 3 * kMinute);
      ++imp.out_of_order;
    }
    bool has_id = rng_.chance(0.9) || late;
    if (!has_id && good) {
      // Without an id the fingerprint is the key: a second impression of the same user in the same second
      // could collide with it, so that one gets an id instead.
      const uint64_t key = mix64((uint64_t(user) << 24) ^ uint64_t(ts / 1000) ^ (uint64_t(ts / 1000) << 40));
      if (!fp_keys.insert(key).second) has_id = true;
    }
    const bool has_auction = rng_.chance(0.9);
    const uint64_t auction_seq = bid_seq;
    {
      BidReq b{};
      b.ts_ms = ts - rng_.range(20, 400);
      b.user = user;
      b.site = site;
      b.flags = uint8_t(BidFlag::site) | uint8_t(BidFlag::won) | (bot ? uint8_t(BidFlag::bot) : 0);
      b.creative = int32_t(creative);
      b.file = uint8_t(file);
      add_bid(b, !late);
      ++res_.funnel_bids_won;
    }
    const int64_t price_milli = int64_t(cp.price_cpm * rng_.range_d(0.5, 1.5) * 1000);
    int64_t creative_id = creatives_[creative].id;
    if (unknown) creative_id = 990000 + rng_.range(0, 9999);
    const uint64_t seq = i;
    line.clear();
    write_impression(line, ts, user, ui, creative_id, unknown ? UINT32_MAX : camp, site, seq, has_id, bot,
                     defect, auction_seq, has_auction, price_milli);
    buf.append(line);
    ++imp.read;
    ++res_.funnel_impressions;
    if (!seen_user[user]) seen_user[user] = true, ++res_.distinct_users;
    if (defect != kImpOk) {
      static constexpr Reason kReasons[] = {Reason::malformed_json, Reason::missing_field,
                                            Reason::bad_timestamp, Reason::future_timestamp,
                                            Reason::campaign_mismatch};
      ++imp.by_reason[size_t(kReasons[defect])];
    } else if (bot) {
      ++imp.by_reason[size_t(Reason::bot_user_agent)];
    } else {
      ++imp.stored;
      res_.max_event_ms = std::max(res_.max_event_ms, ts);
      if (unknown) {
        ++res_.unknown_creative;
      } else if (rng_.chance(o_.duplicate_rate)) {
        Pending p{i + uint64_t(rng_.range(1, 20000)), seq, line};
        if (has_id && rng_.chance(0.1)) {
          // Same impression_id, different payload: a later timestamp and another price.
          p.line.clear();
          write_impression(p.line, ts + rng_.range(1, 59) * kSecond, user, ui, creative_id, camp, site, seq,
                           true, false, kImpOk, auction_seq, has_auction, price_milli + 1000);
          ++imp.duplicate_conflicts;
        }
        ++imp.duplicates;
        ++imp.read;
        pending.push(std::move(p));
      }
    }
    while (!pending.empty() && pending.top().at <= i) {
      buf.append(pending.top().line);
      pending.pop();
    }
    if (buf.size() >= (1 << 20)) write_buf(f, buf);

    // The rest of the funnel hangs off stored impressions of known creatives only.
    if (!good || unknown) continue;
    if (rng_.chance(cp.ctr)) {
      ++res_.funnel_clicks;
      CsvEvent c{};
      c.event_ms = ts + std::clamp<int64_t>(int64_t(rng_.exponential(40.0 * kSecond)), kSecond, 30 * kMinute);
      c.user = user;
      c.campaign = uint16_t(camp);
      c.creative = rng_.chance(0.85) ? int32_t(creative) : -1;
      c.is_click = 1;
      c.seq = csv_seq++;
      csv_.push_back(c);
      if (rng_.chance(cp.cvr)) {
        ++res_.funnel_conversions_click_through;
        CsvEvent v = c;
        v.event_ms =
            c.event_ms + std::clamp<int64_t>(int64_t(rng_.exponential(10.0 * kHour)), 10 * kMinute, 3 * kDay);
        v.is_click = 0;
        v.creative = -1;
        v.conv_type = uint8_t(rng_.below(std::size(kConversionTypes)));
        v.seq = csv_seq++;
        csv_.push_back(v);
      }
    } else if (rng_.chance(0.0005)) {
      ++res_.funnel_conversions_view_through;
      CsvEvent v{};
      v.event_ms = ts + rng_.range(5 * kMinute, 20 * kHour);
      v.user = user;
      v.campaign = uint16_t(camp);
      v.creative = -1;
      v.conv_type = uint8_t(rng_.below(std::size(kConversionTypes)));
      v.seq = csv_seq++;
      csv_.push_back(v);
    }
  }
  if (n_ == 0) {
    f = open_file(dir_ / "impressions" / part_name(0, "jsonl"));
    ++imp.files;
  }
  while (!pending.empty()) {
    buf.append(pending.top().line);
    pending.pop();
  }
  close_file(f, buf);
  if (!chunk.empty()) queue_.push(std::move(chunk));
  queue_.close();
  write_csv();
  avro.join();
  if (!avro_error_.empty()) throw std::runtime_error(avro_error_);
  bid.files = uint64_t(files_);
  res_.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return res_;
}

// ---- clicks and conversions -------------------------------------------------------------------------------

void Generator::write_csv() {
  Rng r(o_.seed ^ 0xc5f0ULL);
  auto& cc = res_.clicks_conversions;
  // Defects, arrival times, ids and formats, decided in generation order.
  for (CsvEvent& e : csv_) {
    const double d = r.uniform();
    if (d < o_.malformed_rate) {
      e.defect = uint8_t(kCsvMalformed + r.below(e.is_click ? 4 : 5));
    }
    e.arrival_ms = e.event_ms + int64_t(r.below(3 * kSecond));
    if (e.defect == kCsvOk) {
      if (r.chance(o_.late_rate)) {
        e.arrival_ms = e.event_ms + r.range(kHour, 6 * kHour);
        ++cc.late;
      } else if (r.chance(o_.out_of_order_rate)) {
        e.arrival_ms = e.event_ms + r.range(20 * kSecond, 5 * kMinute);
        ++cc.out_of_order;
      }
    }
    e.has_id = r.chance(0.9);
    e.ts_fmt = uint8_t(r.below(10));
    e.style = uint8_t(r.below(256));
    if (!e.is_click) {
      const std::string_view ct = kConversionTypes[e.conv_type];
      if (ct == "purchase")
        e.value_cents = r.range(499, 25000);
      else if (ct == "lead")
        e.value_cents = r.chance(0.5) ? r.range(100, 2000) : 0;
      else
        e.value_cents = 0;
      if (e.defect == kCsvNegative) e.value_cents = -r.range(100, 5000);
    }
  }
  std::sort(csv_.begin(), csv_.end(), [](const CsvEvent& a, const CsvEvent& b) {
    return a.arrival_ms != b.arrival_ms ? a.arrival_ms < b.arrival_ms : a.seq < b.seq;
  });
  std::unordered_set<uint64_t> fp_keys;
  for (CsvEvent& e : csv_) {
    if (e.has_id || e.defect != kCsvOk) continue;
    const uint64_t key =
        mix64((uint64_t(e.user) << 24) ^ uint64_t(e.event_ms / 1000) ^ (uint64_t(e.event_ms / 1000) << 40));
    if (!fp_keys.insert(key).second) e.has_id = true;
  }

  enum Col {
    kTs,
    kUser,
    kCampaign,
    kType,
    kConvType,
    kId,
    kCreative,
    kValue,
    kCurrency,
    kReferrer,
    kColCount
  };
  static constexpr std::string_view kNames[kColCount][3] = {
      {"event_timestamp", "timestamp", "event_time"},
      {"user_id", "user_id", "User_ID"},
      {"ad_campaign_id", "campaign_id", "Ad_Campaign_ID"},
      {"event_type", "event_type", "Event_Type"},
      {"conversion_type", "conversion_type", "Conversion_Type"},
      {"event_id", "event_id", "EVENT_ID"},
      {"ad_creative_id", "creative_id", "Ad_Creative_ID"},
      {"conversion_value", "conversion_value", "Conversion_Value"},
      {"currency", "currency", "Currency"},
      {"referrer", "referrer", "Referrer"}};

  const size_t m = csv_.size();
  struct Row {
    uint64_t at, order;
    CsvEvent e;
    bool conflict;
    bool operator>(const Row& o) const { return at != o.at ? at > o.at : order > o.order; }
  };
  std::priority_queue<Row, std::vector<Row>, std::greater<>> pending;
  std::string buf;
  std::string field;
  std::vector<int> cols;
  std::string eol = "\n";
  std::vector<const CsvEvent*> malformed_last;

  auto write_row = [&](const CsvEvent& e, int64_t shift_ms, bool unterminated) {
    const bool stray = e.defect == kCsvMalformed && !unterminated;
    bool first = true;
    for (int c : cols) {
      if (!first) buf.push_back(',');
      first = false;
      field.clear();
      bool quote = !stray && !unterminated && (e.style & 1) && (e.style >> 1) % kColCount == unsigned(c);
      switch (c) {
        case kTs: {
          const int64_t t = e.event_ms + shift_ms;
          if (e.defect == kCsvBadTs)
            field = kBadTimestamps[e.style % std::size(kBadTimestamps)];
          else if (e.defect == kCsvFuture)
            put_iso(field, t + kFutureShift, 0);
          else if (e.ts_fmt < 5)
            put_iso(field, t, 0);
          else if (e.ts_fmt < 8)
            put_datetime(field, t, ' ');
          else
            put_iso(field, t, kOffsets[e.style % std::size(kOffsets)]);
          break;
        }
        case kUser:
          if (e.defect != kCsvMissingUser) put_user_id(field, e.user, user_info(e.user));
          break;
        case kCampaign:
          put_int(field, campaigns_[e.campaign].id);
          if (unterminated) {  // an opening quote that never closes, at the very end of the file
            buf.push_back('"');
            buf.append(field);
            field.clear();
          } else if (stray) {  // text after a closing quote: not RFC 4180
            buf.push_back('"');
            buf.append(field);
            buf.append("\"x");
            field.clear();
          }
          break;
        case kType:
          if (e.style & 0x40) break;  // empty: the type follows from conversion_type
          field = e.is_click ? "click" : "conversion";
          break;
        case kConvType:
          if (!e.is_click) field = kConversionTypes[e.conv_type];
          break;
        case kId:
          if (e.has_id) {
            field = "ev-";
            put_hex(field, mix48(e.seq ^ salt_ ^ 0xe7e7ULL), 12);
          }
          break;
        case kCreative:
          if (e.creative >= 0) put_int(field, creatives_[size_t(e.creative)].id);
          break;
        case kValue:
          if (!e.is_click && (e.value_cents != 0 || (e.style & 0x80)))
            put_fixed(field, e.value_cents + (shift_ms ? 100 : 0), 2);
          break;
        case kCurrency:
          if (!e.is_click && e.value_cents != 0) field = campaigns_[e.campaign].currency;
          break;
        case kReferrer:
          if (stray || unterminated) break;
          switch ((e.style >> 2) % 4) {
            case 0:
              field = "https://shop.example.com/cart?items=3,7,9";
              break;
            case 1:
              field = "https://search.example.com/?q=\"running shoes\", size 42";
              break;
            case 2:
              field = "https://news.example.com/";
              break;
            default:
              break;
          }
          break;
        default:
          break;
      }
      if (!field.empty() || quote) put_csv_field(buf, field, quote);
    }
    if (!unterminated)
      buf.append(eol);
    else
      buf.push_back('\n');
  };

  auto count_row = [&](const CsvEvent& e) {
    ++cc.read;
    switch (e.defect) {
      case kCsvMalformed:
        ++cc.by_reason[size_t(Reason::malformed_csv)];
        break;
      case kCsvMissingUser:
        ++cc.by_reason[size_t(Reason::missing_field)];
        break;
      case kCsvBadTs:
        ++cc.by_reason[size_t(Reason::bad_timestamp)];
        break;
      case kCsvFuture:
        ++cc.by_reason[size_t(Reason::future_timestamp)];
        break;
      case kCsvNegative:
        ++cc.by_reason[size_t(Reason::bad_value)];
        break;
      default:
        ++cc.stored;
        ++(e.is_click ? res_.stored_clicks : res_.stored_conversions);
        res_.max_event_ms = std::max(res_.max_event_ms, e.event_ms);
    }
  };

  for (int file = 0; file < files_; ++file) {
    const size_t lo = m * size_t(file) / size_t(files_), hi = m * size_t(file + 1) / size_t(files_);
    // Per file: a random column order, alias or canonical names, optional BOM and CRLF.
    cols.clear();
    for (int c = 0; c < kColCount; ++c)
      if (c != kReferrer || r.chance(0.5)) cols.push_back(c);
    for (size_t k = cols.size() - 1; k > 0; --k) std::swap(cols[k], cols[r.below(k + 1)]);
    eol = r.chance(0.3) ? "\r\n" : "\n";
    buf.clear();
    if (r.chance(0.3)) buf.append("\xEF\xBB\xBF");
    const int naming = int(r.below(3));
    for (size_t k = 0; k < cols.size(); ++k) {
      if (k) buf.push_back(',');
      buf.append(kNames[cols[k]][naming == 0 ? 0 : size_t(r.below(3))]);
    }
    buf.append(eol);
    // The last malformed row of a file is written last, with an unterminated quote.
    const CsvEvent* unterminated = nullptr;
    for (size_t k = hi; k > lo; --k)
      if (csv_[k - 1].defect == kCsvMalformed) {
        unterminated = &csv_[k - 1];
        break;
      }
    std::FILE* f = open_file(dir_ / "clicks_conversions" / part_name(file, "csv"));
    ++cc.files;
    for (size_t k = lo; k < hi; ++k) {
      const CsvEvent& e = csv_[k];
      if (&e != unterminated) {
        write_row(e, 0, false);
        count_row(e);
      }
      if (e.defect == kCsvOk && r.chance(o_.duplicate_rate)) {
        const bool conflict = e.has_id && r.chance(0.1);
        pending.push({k + uint64_t(r.range(1, 2000)), e.seq, e, conflict});
      }
      while (!pending.empty() && pending.top().at <= k) {
        const Row& row = pending.top();
        write_row(row.e, row.conflict ? kSecond * 7 : 0, false);
        ++cc.read;
        ++cc.duplicates;
        if (row.conflict) ++cc.duplicate_conflicts;
        pending.pop();
      }
      if (buf.size() >= (1 << 20)) write_buf(f, buf);
    }
    if (file == files_ - 1) {
      while (!pending.empty()) {
        const Row& row = pending.top();
        write_row(row.e, row.conflict ? kSecond * 7 : 0, false);
        ++cc.read;
        ++cc.duplicates;
        if (row.conflict) ++cc.duplicate_conflicts;
        pending.pop();
      }
    }
    if (unterminated) {
      write_row(*unterminated, 0, true);
      count_row(*unterminated);
    }
    close_file(f, buf);
  }
}

void put_json_string(std::string& out, std::string_view s) {
  out.push_back('"');
  for (char c : s) {
    if (c == '"' || c == '\\') out.push_back('\\');
    if (uint8_t(c) < 0x20) {
      char b[8];
      std::snprintf(b, sizeof b, "\\u%04x", unsigned(uint8_t(c)));
      out.append(b);
      continue;
    }
    out.push_back(c);
  }
  out.push_back('"');
}

void put_json_double(std::string& out, double v) {
  char buf[32];
  auto r = std::to_chars(buf, buf + sizeof buf, v);
  out.append(buf, size_t(r.ptr - buf));
}

std::string_view codec_text(avro::Codec c) {
  return c == avro::Codec::null ? "null" : c == avro::Codec::deflate ? "deflate" : "snappy";
}

void put_stream(std::string& out, const StreamCounts& s,
                const std::vector<std::pair<std::string_view, uint64_t>>& extra) {
  out.append("{\"read\": ");
  put_int(out, int64_t(s.read));
  out.append(", \"stored\": ");
  put_int(out, int64_t(s.stored));
  out.append(", \"rejected\": {");
  bool first = true;
  for (int r = 0; r < kReasonCount; ++r) {
    if (is_filter_reason(Reason(r))) continue;
    if (!first) out.append(", ");
    first = false;
    put_json_string(out, reason_name(Reason(r)));
    out.append(": ");
    put_int(out, int64_t(s.by_reason[size_t(r)]));
  }
  out.append("}, \"rejected_total\": ");
  put_int(out, int64_t(s.rejected()));
  out.append(", \"filtered\": {");
  first = true;
  for (int r = 0; r < kReasonCount; ++r) {
    if (!is_filter_reason(Reason(r))) continue;
    if (!first) out.append(", ");
    first = false;
    put_json_string(out, reason_name(Reason(r)));
    out.append(": ");
    put_int(out, int64_t(s.by_reason[size_t(r)]));
  }
  out.append("}, \"filtered_total\": ");
  put_int(out, int64_t(s.filtered()));
  out.append(", \"duplicates\": ");
  put_int(out, int64_t(s.duplicates));
  out.append(", \"duplicate_conflicts\": ");
  put_int(out, int64_t(s.duplicate_conflicts));
  for (const auto& [k, v] : extra) {
    out.append(", ");
    put_json_string(out, k);
    out.append(": ");
    put_int(out, int64_t(v));
  }
  out.append(", \"files\": ");
  put_int(out, int64_t(s.files));
  out.append(", \"injected_late\": ");
  put_int(out, int64_t(s.late));
  out.append(", \"injected_out_of_order\": ");
  put_int(out, int64_t(s.out_of_order));
  out.append("}");
}

}  // namespace

GenResult generate(const GenOptions& options) {
  Generator g(options);
  GenResult r = g.run();
  const std::string manifest = manifest_json(options, r);
  std::FILE* f = open_file(std::filesystem::path(options.out_dir) / "_manifest.json");
  std::string m = manifest;
  close_file(f, m);
  return r;
}

std::string manifest_json(const GenOptions& o, const GenResult& r) {
  std::string s = "{\n  \"generator\": \"advx gen\",\n  \"format_version\": 1,\n  \"seed\": ";
  put_int(s, int64_t(o.seed));
  s.append(",\n  \"options\": {\"impressions\": ");
  put_int(s, int64_t(o.impressions));
  s.append(", \"seed\": ");
  put_int(s, int64_t(o.seed));
  s.append(", \"start\": ");
  put_json_string(s, o.start_text);
  s.append(", \"days\": ");
  put_int(s, o.days);
  s.append(", \"campaigns\": ");
  put_int(s, o.campaigns);
  for (auto [k, v] : {std::pair<std::string_view, double>{"duplicate_rate", o.duplicate_rate},
                      {"malformed_rate", o.malformed_rate},
                      {"bot_rate", o.bot_rate},
                      {"late_rate", o.late_rate},
                      {"out_of_order_rate", o.out_of_order_rate},
                      {"unknown_creative_rate", o.unknown_creative_rate}}) {
    s.append(", ");
    put_json_string(s, k);
    s.append(": ");
    put_json_double(s, v);
  }
  s.append(", \"files\": ");
  put_int(s, int64_t(r.impressions.files));
  s.append(", \"codec\": ");
  put_json_string(s, codec_text(o.codec));
  s.append(", \"schema\": ");
  put_json_string(s, o.schema_path.empty() ? "embedded:schemas/bid_request.avsc" : o.schema_path);
  s.append("},\n  \"impressions\": ");
  put_stream(s, r.impressions, {{"unknown_creative", r.unknown_creative}});
  s.append(",\n  \"clicks_conversions\": ");
  put_stream(s, r.clicks_conversions,
             {{"stored_clicks", r.stored_clicks}, {"stored_conversions", r.stored_conversions}});
  s.append(",\n  \"bid_requests\": ");
  put_stream(s, r.bid_requests, {});
  s.append(",\n  \"funnel\": {\"bid_requests\": ");
  put_int(s, int64_t(r.funnel_bid_requests));
  s.append(", \"bids_won\": ");
  put_int(s, int64_t(r.funnel_bids_won));
  s.append(", \"impressions\": ");
  put_int(s, int64_t(r.funnel_impressions));
  s.append(", \"clicks\": ");
  put_int(s, int64_t(r.funnel_clicks));
  s.append(", \"conversions_click_through\": ");
  put_int(s, int64_t(r.funnel_conversions_click_through));
  s.append(", \"conversions_view_through\": ");
  put_int(s, int64_t(r.funnel_conversions_view_through));
  s.append(", \"distinct_users\": ");
  put_int(s, int64_t(r.distinct_users));
  s.append("},\n  \"max_event_time\": \"");
  put_iso(s, r.max_event_ms, 0);
  s.append("\"\n}\n");
  return s;
}

}  // namespace advx::gen
