#include "gen/generator.hpp"

#include <algorithm>
#include <charconv>
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

#include "core/json_text.hpp"
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
constexpr int64_t kFirstCampaignId = 1001;  // campaigns are numbered from here

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

// dropped and corrupt come from incidents: a dropped request is not written (it only keeps its place in the
// stream, so that both threads agree on which re-delivered copies fall in a silent window); a corrupt one is
// written truncated, alone in its block, so that exactly one record is unreadable.
enum class BidFlag : uint8_t {
  none = 0,
  bot = 1,
  future = 2,
  site = 4,
  conflict = 8,
  won = 16,
  dropped = 32,
  corrupt = 64
};

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
  uint8_t inc;     // CsvIncident bits; 0 without incidents
  uint8_t inc_ix;  // the incident that made an extra or orphan click
};

enum CsvIncident : uint8_t {
  kIncExtra = 1,    // an extra click of a CTR spike (its fields come from the incident's random stream)
  kIncOrphan = 2,   // a click moved to a user without impressions
  kIncDelayed = 4,  // arrival moved later by a delay incident
  kIncDropped = 8,  // not written: its arrival falls in a silent window
  kIncWasOk = 16,   // made malformed by an incident; would have been stored
};

// Sequence numbers of incident-made events: above every generated one, below 2^48 (event ids are a 48-bit
// bijection of the sequence number), so their ids are new and the generated events keep theirs.
constexpr uint64_t kIncidentSeqBase = 1ULL << 47;

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
    setup_incidents();
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

  // ---- incidents (GenOptions::incidents). Each draws from its own random stream, so the generated traffic
  // stays what it is without them: an incident only drops, moves, corrupts or adds records. Without
  // incidents none of this runs.
  struct ActiveIncident {
    Incident def;
    Rng rng;
    uint32_t campaign = 0;  // ctr_spike: index into campaigns_
  };
  void setup_incidents();
  // The first incident of `kind` on `stream` whose window holds `t`, or -1.
  int incident_at(IncidentKind kind, GenStream stream, int64_t t) const {
    for (size_t k = 0; k < inc_.size(); ++k) {
      const Incident& d = inc_[k].def;
      if (d.kind == kind && d.stream == stream && t >= d.start_ms && t < d.end_ms) return int(k);
    }
    return -1;
  }
  bool chance(int k, double p) { return inc_[size_t(k)].rng.chance(p); }
  IncidentCounts& counts(int k) { return res_.incidents[size_t(k)]; }
  // The impression index after which a record arriving at `arrival` is written: the first whose scheduled
  // time is at or after it.
  uint64_t release_index(int64_t arrival) const {
    const int64_t d = std::max<int64_t>(0, arrival - o_.start_ms);
    return uint64_t((__int128(d) * __int128(n_) + span_ms_ - 1) / span_ms_);
  }
  void add_spike_clicks(int64_t ts, uint32_t user, uint32_t camp, uint32_t creative);
  void apply_csv_incidents();

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

  std::vector<ActiveIncident> inc_;
  bool imp_inc_ = false, bid_inc_ = false, csv_inc_ = false, spike_ = false;
  uint32_t next_fresh_user_ = 0;  // orphan clicks: users above the pool, who never see an impression
  uint64_t next_incident_seq_ = kIncidentSeqBase;
};

void Generator::setup_incidents() {
  res_.incidents.resize(o_.incidents.size());
  for (size_t k = 0; k < o_.incidents.size(); ++k) {
    const Incident& d = o_.incidents[k];
    std::string why;
    if (!validate_incident(d, o_.start_ms, o_.days, o_.campaigns, why))
      throw std::runtime_error("incident " + d.spec + ": " + why);
    ActiveIncident a{d, Rng(mix64(o_.seed ^ 0x1ac1de47ULL) + uint64_t(k) * 0x9e3779b97f4a7c15ULL), 0};
    if (d.kind == IncidentKind::ctr_spike) {
      a.campaign = uint32_t(d.campaign_id == 0 ? 0 : d.campaign_id - kFirstCampaignId);
      spike_ = true;
    }
    const GenStream st = d.kind == IncidentKind::ctr_spike || d.kind == IncidentKind::orphan_clicks
                             ? GenStream::clicks_conversions
                             : d.stream;
    a.def.stream = st;
    (st == GenStream::impressions ? imp_inc_ : st == GenStream::bid_requests ? bid_inc_ : csv_inc_) = true;
    inc_.push_back(std::move(a));
  }
  next_fresh_user_ = uint32_t(std::min<uint64_t>(user_pool_, uint64_t(UINT32_MAX) - (uint64_t(1) << 28)));
}

// CTR spike: extra clicks on a stored impression of the campaign, a few seconds after it, by the same user
// on the same creative, so that attribution finds the impression (click fraud, not orphans).
void Generator::add_spike_clicks(int64_t ts, uint32_t user, uint32_t camp, uint32_t creative) {
  for (size_t k = 0; k < inc_.size(); ++k) {
    ActiveIncident& a = inc_[k];
    if (a.def.kind != IncidentKind::ctr_spike || a.campaign != camp || ts < a.def.start_ms ||
        ts >= a.def.end_ms)
      continue;
    const double extra = (a.def.factor - 1.0) * campaigns_[camp].ctr;
    int n = int(extra);
    if (a.rng.chance(extra - double(n))) ++n;
    for (int c = 0; c < n; ++c) {
      CsvEvent e{};
      e.event_ms = ts + a.rng.range(kSecond, 10 * kSecond);
      e.arrival_ms = e.event_ms + int64_t(a.rng.below(3 * kSecond));
      e.user = user;
      e.campaign = uint16_t(camp);
      e.creative = int32_t(creative);
      e.is_click = 1;
      e.seq = next_incident_seq_++;
      e.has_id = true;
      e.ts_fmt = uint8_t(a.rng.below(10));
      e.style = uint8_t(a.rng.below(256));
      e.inc = kIncExtra;
      e.inc_ix = uint8_t(k);
      csv_.push_back(e);
    }
  }
}

// Incidents on clicks and conversions, once arrival times are known and before the arrival sort: orphan
// clicks (by event time), then delays (by event time), then silence and corruption (by the final arrival).
void Generator::apply_csv_incidents() {
  auto& cc = res_.clicks_conversions;
  for (CsvEvent& e : csv_) {
    const int64_t was_lag = e.arrival_ms - e.event_ms;  // >= 1 h: injected late; >= 20 s: out of order
    auto uncount_late = [&] {
      if (e.defect != kCsvOk || (e.inc & kIncExtra)) return;
      if (was_lag >= kHour)
        --cc.late;
      else if (was_lag >= 20 * kSecond)
        --cc.out_of_order;
    };
    if (e.is_click && !(e.inc & kIncExtra)) {
      const int k = incident_at(IncidentKind::orphan_clicks, GenStream::clicks_conversions, e.event_ms);
      if (k >= 0 && chance(k, inc_[size_t(k)].def.share)) {
        e.user = next_fresh_user_++;
        e.inc |= kIncOrphan;
        e.inc_ix = uint8_t(k);
      }
    }
    const int d = incident_at(IncidentKind::delay, GenStream::clicks_conversions, e.event_ms);
    if (d >= 0 && chance(d, inc_[size_t(d)].def.share)) {
      e.arrival_ms += inc_[size_t(d)].def.lag_ms;
      e.inc |= kIncDelayed;
    }
    const int s = incident_at(IncidentKind::silent, GenStream::clicks_conversions, e.arrival_ms);
    if (s >= 0) {
      e.inc |= kIncDropped;
      ++counts(s).dropped;
      uncount_late();
      continue;
    }
    const int m = incident_at(IncidentKind::malformed, GenStream::clicks_conversions, e.arrival_ms);
    if (m >= 0 && chance(m, inc_[size_t(m)].def.share) && e.defect != kCsvMalformed) {
      ++counts(m).malformed;
      uncount_late();
      if (e.defect == kCsvOk) e.inc |= kIncWasOk;
      e.defect = kCsvMalformed;
    }
  }
}

void Generator::make_dims() {
  Rng r(o_.seed ^ 0xd1d5ULL);
  const int c_count = o_.campaigns;
  double cum = 0;
  for (int c = 0; c < c_count; ++c) {
    Campaign cp;
    cp.id = kFirstCampaignId + c;
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
        const bool dropped = b.flags & uint8_t(BidFlag::dropped);
        if (!dropped) {
          Rng r(b.rseed);
          encode_bid(b, datum, r, 0);
          if (b.flags & uint8_t(BidFlag::corrupt)) {
            // Truncated, alone in its block: the decoder runs out of bytes in this record and no other.
            datum.resize(datum.size() / 2);
            w->flush();
            w->append(datum);
            w->flush();
          } else {
            w->append(datum);
          }
        }
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
          if (!dropped) w->append(pending.top().datum);  // copies due while the source is silent are lost
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
  // Lines written later than their turn: re-delivered copies, and originals held back by a delay incident.
  enum PendingKind : uint8_t { kCopy, kConflictCopy, kDelayed };
  struct Pending {
    uint64_t at, order;
    std::string line;
    uint8_t kind = kCopy;
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
  int64_t arrival = o_.start_ms;          // when the current impression's records arrive: its scheduled time

  auto push_bid = [&](const BidReq& b) {
    chunk.push_back(b);
    if (chunk.size() >= (1 << 16)) {
      queue_.push(std::move(chunk));
      chunk = {};
      chunk.reserve(1 << 16);
    }
  };

  // Bid requests with incidents: the same decisions and draws of rng_ as below, plus the incidents' fate.
  // Delayed requests wait in `held` for the impression index they arrive at; the Avro thread writes the
  // re-delivered copies, so a heap of their positions here tells which of them fall at a dropped request.
  struct Held {
    uint64_t at, order;
    BidReq b;
    int drop;
    bool operator>(const Held& o) const { return at != o.at ? at > o.at : order > o.order; }
  };
  std::priority_queue<Held, std::vector<Held>, std::greater<>> held;
  struct CopyAt {
    uint64_t at;
    bool conflict;
    bool operator>(const CopyAt& o) const { return at > o.at; }
  };
  std::priority_queue<CopyAt, std::vector<CopyAt>, std::greater<>> bid_copies;
  uint64_t emit_pos = 0;
  uint8_t emit_file = 0;
  auto emit_bid = [&](BidReq b, int drop) {
    b.file = std::max(b.file, emit_file);  // a held request goes to the file being written
    emit_file = b.file;
    ++emit_pos;
    if (b.dup_delay > 0)
      bid_copies.push({emit_pos + b.dup_delay, (b.flags & uint8_t(BidFlag::conflict)) != 0});
    while (!bid_copies.empty() && bid_copies.top().at <= emit_pos) {
      if (drop >= 0) {  // the Avro thread drops the copies due at a dropped request
        --bid.read;
        --bid.duplicates;
        if (bid_copies.top().conflict) --bid.duplicate_conflicts;
        ++counts(drop).dropped;
      }
      bid_copies.pop();
    }
    push_bid(b);
  };
  auto add_bid_incident = [&](BidReq b, bool stored_ok) {
    int64_t final_arrival = arrival;
    const int d = incident_at(IncidentKind::delay, GenStream::bid_requests, b.ts_ms);
    const bool delayed = d >= 0 && chance(d, inc_[size_t(d)].def.share);
    if (delayed) final_arrival += inc_[size_t(d)].def.lag_ms;
    const int drop = incident_at(IncidentKind::silent, GenStream::bid_requests, final_arrival);
    const int m =
        drop >= 0 ? -1 : incident_at(IncidentKind::malformed, GenStream::bid_requests, final_arrival);
    const bool corrupt = m >= 0 && chance(m, inc_[size_t(m)].def.share);
    const bool ok = !(b.flags & (uint8_t(BidFlag::bot) | uint8_t(BidFlag::future)));
    bool dup = false, conflict = false;
    uint32_t dup_delay = 0;
    if (ok && stored_ok && rng_.chance(o_.duplicate_rate)) {
      dup = true;
      dup_delay = uint32_t(rng_.range(1, 5000));
      conflict = rng_.chance(0.1);
    }
    if (drop >= 0) {
      b.flags |= uint8_t(BidFlag::dropped);
      ++counts(drop).dropped;
    } else {
      ++bid.read;
      if (delayed) ++counts(d).delayed;
      if (corrupt) {
        b.flags |= uint8_t(BidFlag::corrupt);
        ++bid.by_reason[size_t(Reason::malformed_avro)];
        ++counts(m).malformed;
      } else if (b.flags & uint8_t(BidFlag::bot)) {
        ++bid.by_reason[size_t(Reason::bot_user_agent)];
      } else if (b.flags & uint8_t(BidFlag::future)) {
        ++bid.by_reason[size_t(Reason::future_timestamp)];
      } else {
        ++bid.stored;
        if (dup) {
          b.dup_delay = dup_delay;
          if (conflict) b.flags |= uint8_t(BidFlag::conflict), ++bid.duplicate_conflicts;
          ++bid.duplicates;
          ++bid.read;
        }
      }
    }
    if (delayed)
      held.push({release_index(final_arrival), b.seq, b, drop});
    else
      emit_bid(b, drop);
  };

  auto add_bid = [&](BidReq b, bool stored_ok) {
    b.seq = bid_seq++;
    b.rseed = rng_.next();
    ++res_.funnel_bid_requests;
    if (bid_inc_) return add_bid_incident(b, stored_ok);
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
    push_bid(b);
  };

  for (uint64_t i = 0; i < n_; ++i) {
    const int file = int(i * uint64_t(files_) / n_);
    if (file != cur_file) {
      if (f) close_file(f, buf);
      f = open_file(dir_ / "impressions" / part_name(file, "jsonl"));
      cur_file = file;
      ++imp.files;
    }
    while (!held.empty() && held.top().at < i) {  // after every request of the impression they wait for
      emit_bid(held.top().b, held.top().drop);
      held.pop();
    }
    int64_t ts = o_.start_ms + int64_t(i) * span_ms_ / int64_t(n_) + int64_t(rng_.below(uint64_t(step)));
    arrival = ts;
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
    bool late = false, shifted = false;
    if (good && rng_.chance(o_.late_rate)) {
      late = true;
      ts -= rng_.range(kHour, 6 * kHour);
      ++imp.late;
    } else if (good && rng_.chance(o_.out_of_order_rate)) {
      ts += rng_.chance(0.5) ? rng_.range(5 * kSecond, 3 * kMinute) : -rng_.range(5 * kSecond, 3 * kMinute);
      ++imp.out_of_order;
      shifted = true;
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

    // Incidents: is this impression delayed (by event time), dropped or corrupted (by its final arrival)?
    bool dropped = false, corrupt = false;
    uint64_t release = i;
    if (imp_inc_) {
      int64_t final_arrival = arrival;
      const int dl = incident_at(IncidentKind::delay, GenStream::impressions, ts);
      if (dl >= 0 && chance(dl, inc_[size_t(dl)].def.share)) {
        final_arrival += inc_[size_t(dl)].def.lag_ms;
        release = std::max(i, release_index(final_arrival));
      }
      const int s = incident_at(IncidentKind::silent, GenStream::impressions, final_arrival);
      const int m = s >= 0 ? -1 : incident_at(IncidentKind::malformed, GenStream::impressions, final_arrival);
      if (s >= 0) {
        dropped = true;
        ++counts(s).dropped;
      } else if (m >= 0 && chance(m, inc_[size_t(m)].def.share)) {
        corrupt = true;
        if (defect != kImpMalformed) ++counts(m).malformed;
      }
      if (dropped || corrupt) {  // no longer a stored late or out-of-order impression
        if (late) --imp.late;
        if (shifted) --imp.out_of_order;
      }
      if (!dropped && release != i) ++counts(dl).delayed;
    }
    const bool written = !dropped;
    line.clear();
    write_impression(line, ts, user, ui, creative_id, unknown ? UINT32_MAX : camp, site, seq, has_id, bot,
                     corrupt ? kImpMalformed : defect, auction_seq, has_auction, price_milli);
    if (release != i) {
      if (written) pending.push({release, seq, line, kDelayed});
    } else if (written) {
      buf.append(line);
    }
    if (written) ++imp.read;
    ++res_.funnel_impressions;
    if (!seen_user[user]) seen_user[user] = true, ++res_.distinct_users;
    if (!written) {
    } else if (corrupt) {
      ++imp.by_reason[size_t(Reason::malformed_json)];
    } else if (defect != kImpOk) {
      static constexpr Reason kReasons[] = {Reason::malformed_json, Reason::missing_field,
                                            Reason::bad_timestamp, Reason::future_timestamp,
                                            Reason::campaign_mismatch};
      ++imp.by_reason[size_t(kReasons[defect])];
    } else if (bot) {
      ++imp.by_reason[size_t(Reason::bot_user_agent)];
    } else {
      ++imp.stored;
      res_.max_event_ms = std::max(res_.max_event_ms, ts);
      if (unknown) ++res_.unknown_creative;
    }
    if (good && !unknown && rng_.chance(o_.duplicate_rate)) {
      // A copy follows (an incident's dropped or corrupted record has none; the draws stay the same).
      const bool keep = written && !corrupt;
      Pending p{release + uint64_t(rng_.range(1, 20000)), seq, keep ? line : std::string()};
      if (has_id && rng_.chance(0.1)) {
        // Same impression_id, different payload: a later timestamp and another price.
        const int64_t later = ts + rng_.range(1, 59) * kSecond;
        if (keep) {
          p.line.clear();
          write_impression(p.line, later, user, ui, creative_id, camp, site, seq, true, false, kImpOk,
                           auction_seq, has_auction, price_milli + 1000);
          p.kind = kConflictCopy;
          ++imp.duplicate_conflicts;
        }
      }
      if (keep) {
        ++imp.duplicates;
        ++imp.read;
        pending.push(std::move(p));
      }
    }
    while (!pending.empty() && pending.top().at <= i) {
      const Pending& p = pending.top();
      int s = -1;
      if (imp_inc_ && p.kind != kDelayed &&
          (s = incident_at(IncidentKind::silent, GenStream::impressions, arrival)) >= 0) {
        --imp.read;  // a copy due while the source is silent is not delivered either
        --imp.duplicates;
        if (p.kind == kConflictCopy) --imp.duplicate_conflicts;
        ++counts(s).dropped;
      } else {
        buf.append(p.line);
      }
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
    if (spike_ && written && !corrupt) add_spike_clicks(ts, user, camp, creative);
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
  while (!held.empty()) {
    emit_bid(held.top().b, held.top().drop);
    held.pop();
  }
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
    if (e.inc & kIncExtra) continue;  // an incident's extra click: decided when it was made
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
  if (csv_inc_) apply_csv_incidents();
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
        if (e.inc & kIncExtra) ++counts(e.inc_ix).extra_clicks;
        if (e.inc & kIncOrphan) ++counts(e.inc_ix).orphan_clicks;
    }
    if (e.inc & kIncDelayed)
      ++counts(incident_at(IncidentKind::delay, GenStream::clicks_conversions, e.event_ms)).delayed;
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
      if (csv_[k - 1].defect == kCsvMalformed && !(csv_[k - 1].inc & kIncDropped)) {
        unterminated = &csv_[k - 1];
        break;
      }
    std::FILE* f = open_file(dir_ / "clicks_conversions" / part_name(file, "csv"));
    ++cc.files;
    for (size_t k = lo; k < hi; ++k) {
      const CsvEvent& e = csv_[k];
      if (&e != unterminated && !(e.inc & kIncDropped)) {
        write_row(e, 0, false);
        count_row(e);
      }
      // A copy follows now and then; an incident's extra click draws nothing, a dropped or corrupted event
      // draws as it would have but gets no copy.
      if ((e.defect == kCsvOk || (e.inc & kIncWasOk)) && !(e.inc & kIncExtra) &&
          r.chance(o_.duplicate_rate)) {
        const bool conflict = e.has_id && r.chance(0.1);
        const uint64_t at = k + uint64_t(r.range(1, 2000));
        if (!(e.inc & (kIncDropped | kIncWasOk))) pending.push({at, e.seq, e, conflict});
      }
      while (!pending.empty() && pending.top().at <= k) {
        const Row& row = pending.top();
        if (e.inc & kIncDropped) {  // due while the source is silent: lost too
          ++counts(incident_at(IncidentKind::silent, GenStream::clicks_conversions, e.arrival_ms)).dropped;
          pending.pop();
          continue;
        }
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

// _manifest.json's strings (a --schema path may hold any bytes): core's writer keeps the file valid JSON.
void put_json_string(std::string& out, std::string_view s) { append_json_string(s, out); }

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

namespace {

// ISO-8601 UTC, milliseconds only when there are some.
void put_utc(std::string& out, int64_t ms) {
  put_datetime(out, ms, 'T', true, ms % 1000 != 0);
  out.push_back('Z');
}

void put_incidents(std::string& s, const GenOptions& o, const GenResult& r) {
  s.append("\n  \"incidents\": [");
  for (size_t k = 0; k < o.incidents.size(); ++k) {
    const Incident& d = o.incidents[k];
    const IncidentCounts c = k < r.incidents.size() ? r.incidents[k] : IncidentCounts{};
    const bool on_clicks = d.kind == IncidentKind::ctr_spike || d.kind == IncidentKind::orphan_clicks;
    s.append(k ? ",\n    {\"kind\": " : "\n    {\"kind\": ");
    put_json_string(s, incident_kind_name(d.kind));
    s.append(", \"spec\": ");
    put_json_string(s, d.spec);
    s.append(", \"stream\": ");
    put_json_string(s, stream_name(on_clicks ? GenStream::clicks_conversions : d.stream));
    s.append(", \"start\": \"");
    put_utc(s, d.start_ms);
    s.append("\", \"end\": \"");
    put_utc(s, d.end_ms);
    s.append("\"");
    auto field = [&](std::string_view key, uint64_t v) {
      s.append(", ");
      put_json_string(s, key);
      s.append(": ");
      put_int(s, int64_t(v));
    };
    auto share = [&] {
      s.append(", \"share\": ");
      put_json_double(s, d.share);
    };
    switch (d.kind) {
      case IncidentKind::silent:
        field("dropped", c.dropped);
        break;
      case IncidentKind::delay:
        field("lag_seconds", uint64_t(d.lag_ms / 1000));
        share();
        field("delayed", c.delayed);
        break;
      case IncidentKind::ctr_spike:
        field("campaign_id", uint64_t(d.campaign_id == 0 ? kFirstCampaignId : d.campaign_id));
        s.append(", \"factor\": ");
        put_json_double(s, d.factor);
        field("extra_clicks", c.extra_clicks);
        break;
      case IncidentKind::orphan_clicks:
        share();
        field("orphan_clicks", c.orphan_clicks);
        break;
      case IncidentKind::malformed:
        share();
        field("malformed", c.malformed);
        break;
    }
    s.append("}");
  }
  s.append("\n  ],");
}

// "90s", "30m", "2h", "1h30m", "1d": the sum of <digits><unit> terms, in milliseconds; false when malformed.
bool parse_duration(std::string_view t, int64_t& ms) {
  if (t.empty()) return false;
  ms = 0;
  size_t p = 0;
  while (p < t.size()) {
    int64_t v = 0;
    const size_t digits = p;
    while (p < t.size() && t[p] >= '0' && t[p] <= '9') {
      v = v * 10 + (t[p++] - '0');
      if (v > 1000000000) return false;
    }
    if (p == digits || p == t.size()) return false;
    const char unit = t[p++];
    const int64_t scale = unit == 'd'   ? kDay
                          : unit == 'h' ? kHour
                          : unit == 'm' ? kMinute
                          : unit == 's' ? kSecond
                                        : 0;
    if (scale == 0) return false;
    ms += v * scale;
  }
  return ms > 0;
}

bool parse_share(std::string_view t, double& v) {
  auto r = std::from_chars(t.data(), t.data() + t.size(), v);
  return r.ec == std::errc() && r.ptr == t.data() + t.size() && v > 0 && v <= 1;
}

}  // namespace

std::string_view incident_kind_name(IncidentKind kind) {
  switch (kind) {
    case IncidentKind::silent:
      return "silent";
    case IncidentKind::delay:
      return "delay";
    case IncidentKind::ctr_spike:
      return "ctr_spike";
    case IncidentKind::orphan_clicks:
      return "orphan_clicks";
    case IncidentKind::malformed:
      return "malformed";
  }
  return "?";
}

std::string_view stream_name(GenStream stream) {
  return stream == GenStream::impressions          ? "impressions"
         : stream == GenStream::clicks_conversions ? "clicks_conversions"
                                                   : "bid_requests";
}

bool validate_incident(const Incident& d, int64_t start_ms, int days, int campaigns, std::string& error) {
  const int64_t end_ms = start_ms + int64_t(days) * kDay;
  if (d.end_ms <= d.start_ms) return (error = "the window is empty", false);
  if (d.start_ms < start_ms || d.end_ms > end_ms) {
    std::string w, g;
    put_utc(w, d.start_ms);
    w.append("..");
    put_utc(w, d.end_ms);
    put_utc(g, start_ms);
    g.append("..");
    put_utc(g, end_ms);
    error = "window " + w + " is outside the generated range " + g + " (--start, --days)";
    return false;
  }
  if (!(d.share > 0 && d.share <= 1)) return (error = "share must be in (0, 1]", false);
  if (d.kind == IncidentKind::delay && (d.lag_ms <= 0 || d.lag_ms > 7 * kDay))
    return (error = "lag must be above 0 and at most 7d", false);
  if (d.kind == IncidentKind::ctr_spike) {
    if (!(d.factor > 1 && d.factor <= 1000))
      return (error = "factor must be above 1 and at most 1000", false);
    if (d.campaign_id != 0 &&
        (d.campaign_id < kFirstCampaignId || d.campaign_id >= kFirstCampaignId + campaigns))
      return (error = "campaign must be one of campaigns.csv: " + std::to_string(kFirstCampaignId) + ".." +
                      std::to_string(kFirstCampaignId + campaigns - 1),
              false);
  }
  return true;
}

bool parse_incident(std::string_view text, int64_t start_ms, int days, int campaigns, Incident& out,
                    std::string& error) {
  out = Incident{};
  out.spec = std::string(text);
  const size_t at = text.find('@');
  const size_t slash = text.find('/', at == text.npos ? 0 : at);
  if (at == text.npos || slash == text.npos) {
    error = "expected KIND@START/DURATION[,key=value...], e.g. silent@10:00/30m,stream=impressions";
    return false;
  }
  const std::string_view kind = text.substr(0, at);
  static constexpr IncidentKind kKinds[] = {IncidentKind::silent, IncidentKind::delay,
                                            IncidentKind::ctr_spike, IncidentKind::orphan_clicks,
                                            IncidentKind::malformed};
  bool known = false;
  for (IncidentKind k : kKinds)
    if (incident_kind_name(k) == kind) out.kind = k, known = true;
  if (!known) {
    error = "unknown kind '" + std::string(kind) + "' (silent, delay, ctr_spike, orphan_clicks, malformed)";
    return false;
  }
  const std::string_view start = text.substr(at + 1, slash - at - 1);
  size_t comma = text.find(',', slash);
  const std::string_view duration =
      text.substr(slash + 1, comma == text.npos ? text.npos : comma - slash - 1);

  // START: HH:MM[:SS] on the first generated day, or a full ISO-8601 time.
  auto two = [&](size_t p, unsigned& v) {
    if (p + 2 > start.size() || start[p] < '0' || start[p] > '9' || start[p + 1] < '0' || start[p + 1] > '9')
      return false;
    v = unsigned(start[p] - '0') * 10 + unsigned(start[p + 1] - '0');
    return true;
  };
  unsigned hh = 0, mm = 0, ss = 0;
  if ((start.size() == 5 || (start.size() == 8 && start[5] == ':' && two(6, ss))) && start[2] == ':' &&
      two(0, hh) && two(3, mm)) {
    if (hh > 23 || mm > 59 || ss > 59) return (error = "bad time of day '" + std::string(start) + "'", false);
    const int64_t day0 = start_ms >= 0 ? start_ms / kDay * kDay : (start_ms - kDay + 1) / kDay * kDay;
    out.start_ms = day0 + int64_t(hh) * kHour + int64_t(mm) * kMinute + int64_t(ss) * kSecond;
  } else if (!parse_start_time(start, out.start_ms)) {
    error = "START must be HH:MM (on the first generated day) or an ISO-8601 time, not '" +
            std::string(start) + "'";
    return false;
  }
  int64_t length = 0;
  if (!parse_duration(duration, length)) {
    error = "DURATION must be like 90s, 30m, 2h or 1h30m, not '" + std::string(duration) + "'";
    return false;
  }
  out.end_ms = out.start_ms + length;

  // Defaults, then key=value pairs, each allowed for its kind only.
  std::string_view allowed;
  switch (out.kind) {
    case IncidentKind::silent:
      allowed = "stream";
      break;
    case IncidentKind::delay:
      allowed = "stream, lag, share";
      out.share = 0.5;
      break;
    case IncidentKind::ctr_spike:
      allowed = "campaign, factor";
      out.stream = GenStream::clicks_conversions;
      break;
    case IncidentKind::orphan_clicks:
      allowed = "share";
      out.share = 0.3;
      out.stream = GenStream::clicks_conversions;
      break;
    case IncidentKind::malformed:
      allowed = "stream, share";
      out.share = 0.5;
      break;
  }
  bool has_stream = false;
  std::vector<std::string_view> seen;
  while (comma != text.npos) {
    const size_t next = text.find(',', comma + 1);
    const std::string_view kv = text.substr(comma + 1, next == text.npos ? text.npos : next - comma - 1);
    comma = next;
    const size_t eq = kv.find('=');
    if (eq == kv.npos || eq == 0) return (error = "expected key=value, not '" + std::string(kv) + "'", false);
    const std::string_view key = kv.substr(0, eq), value = kv.substr(eq + 1);
    bool allowed_key = false;
    for (size_t p = 0; p < allowed.size();) {
      size_t e = allowed.find(", ", p);
      if (e == allowed.npos) e = allowed.size();
      if (allowed.substr(p, e - p) == key) allowed_key = true;
      p = e + 2;
    }
    if (!allowed_key) {
      error = "unknown key '" + std::string(key) + "' for " + std::string(kind) +
              " (keys: " + std::string(allowed) + ")";
      return false;
    }
    if (std::find(seen.begin(), seen.end(), key) != seen.end())
      return (error = "key '" + std::string(key) + "' given twice", false);
    seen.push_back(key);
    if (key == "stream") {
      if (value == "impressions")
        out.stream = GenStream::impressions;
      else if (value == "clicks_conversions")
        out.stream = GenStream::clicks_conversions;
      else if (value == "bid_requests")
        out.stream = GenStream::bid_requests;
      else
        return (error = "stream must be impressions, clicks_conversions or bid_requests, not '" +
                        std::string(value) + "'",
                false);
      has_stream = true;
    } else if (key == "share") {
      if (!parse_share(value, out.share))
        return (error = "share must be a number in (0, 1], not '" + std::string(value) + "'", false);
    } else if (key == "lag") {
      if (!parse_duration(value, out.lag_ms))
        return (error = "lag must be a duration like 20m, not '" + std::string(value) + "'", false);
    } else if (key == "factor") {
      auto r = std::from_chars(value.data(), value.data() + value.size(), out.factor);
      if (r.ec != std::errc() || r.ptr != value.data() + value.size())
        return (error = "factor must be a number, not '" + std::string(value) + "'", false);
    } else if (key == "campaign") {
      auto r = std::from_chars(value.data(), value.data() + value.size(), out.campaign_id);
      if (r.ec != std::errc() || r.ptr != value.data() + value.size() || out.campaign_id <= 0)
        return (error = "campaign must be a campaign id, not '" + std::string(value) + "'", false);
    }
  }
  const bool needs_stream = out.kind == IncidentKind::silent || out.kind == IncidentKind::delay ||
                            out.kind == IncidentKind::malformed;
  if (needs_stream && !has_stream) {
    error = std::string(kind) + " needs stream=impressions|clicks_conversions|bid_requests";
    return false;
  }
  return validate_incident(out, start_ms, days, campaigns, error);
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
  s.append("},");
  if (!o.incidents.empty()) put_incidents(s, o, r);  // absent without incidents: the manifest stays as it was
  s.append("\n  \"max_event_time\": \"");
  put_iso(s, r.max_event_ms, 0);
  s.append("\"\n}\n");
  return s;
}

}  // namespace advx::gen
