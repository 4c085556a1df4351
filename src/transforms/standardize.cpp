#include "transforms/standardize.hpp"

#include <algorithm>
#include <array>
#include <cstring>

namespace advx {
namespace {

constexpr char lower(char c) { return c >= 'A' && c <= 'Z' ? char(c + 32) : c; }
constexpr char upper(char c) { return c >= 'a' && c <= 'z' ? char(c - 32) : c; }
constexpr bool is_alpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); i++)
    if (lower(a[i]) != lower(b[i])) return false;
  return true;
}

// alpha-3 -> alpha-2, sorted by alpha-3 for binary search (ISO 3166-1, officially assigned codes).
struct Alpha3 {
  char a3[4];
  char a2[3];
};
constexpr Alpha3 kAlpha3[] = {
    {"ABW", "AW"}, {"AFG", "AF"}, {"AGO", "AO"}, {"AIA", "AI"}, {"ALA", "AX"}, {"ALB", "AL"}, {"AND", "AD"},
    {"ARE", "AE"}, {"ARG", "AR"}, {"ARM", "AM"}, {"ASM", "AS"}, {"ATA", "AQ"}, {"ATF", "TF"}, {"ATG", "AG"},
    {"AUS", "AU"}, {"AUT", "AT"}, {"AZE", "AZ"}, {"BDI", "BI"}, {"BEL", "BE"}, {"BEN", "BJ"}, {"BES", "BQ"},
    {"BFA", "BF"}, {"BGD", "BD"}, {"BGR", "BG"}, {"BHR", "BH"}, {"BHS", "BS"}, {"BIH", "BA"}, {"BLM", "BL"},
    {"BLR", "BY"}, {"BLZ", "BZ"}, {"BMU", "BM"}, {"BOL", "BO"}, {"BRA", "BR"}, {"BRB", "BB"}, {"BRN", "BN"},
    {"BTN", "BT"}, {"BVT", "BV"}, {"BWA", "BW"}, {"CAF", "CF"}, {"CAN", "CA"}, {"CCK", "CC"}, {"CHE", "CH"},
    {"CHL", "CL"}, {"CHN", "CN"}, {"CIV", "CI"}, {"CMR", "CM"}, {"COD", "CD"}, {"COG", "CG"}, {"COK", "CK"},
    {"COL", "CO"}, {"COM", "KM"}, {"CPV", "CV"}, {"CRI", "CR"}, {"CUB", "CU"}, {"CUW", "CW"}, {"CXR", "CX"},
    {"CYM", "KY"}, {"CYP", "CY"}, {"CZE", "CZ"}, {"DEU", "DE"}, {"DJI", "DJ"}, {"DMA", "DM"}, {"DNK", "DK"},
    {"DOM", "DO"}, {"DZA", "DZ"}, {"ECU", "EC"}, {"EGY", "EG"}, {"ERI", "ER"}, {"ESH", "EH"}, {"ESP", "ES"},
    {"EST", "EE"}, {"ETH", "ET"}, {"FIN", "FI"}, {"FJI", "FJ"}, {"FLK", "FK"}, {"FRA", "FR"}, {"FRO", "FO"},
    {"FSM", "FM"}, {"GAB", "GA"}, {"GBR", "GB"}, {"GEO", "GE"}, {"GGY", "GG"}, {"GHA", "GH"}, {"GIB", "GI"},
    {"GIN", "GN"}, {"GLP", "GP"}, {"GMB", "GM"}, {"GNB", "GW"}, {"GNQ", "GQ"}, {"GRC", "GR"}, {"GRD", "GD"},
    {"GRL", "GL"}, {"GTM", "GT"}, {"GUF", "GF"}, {"GUM", "GU"}, {"GUY", "GY"}, {"HKG", "HK"}, {"HMD", "HM"},
    {"HND", "HN"}, {"HRV", "HR"}, {"HTI", "HT"}, {"HUN", "HU"}, {"IDN", "ID"}, {"IMN", "IM"}, {"IND", "IN"},
    {"IOT", "IO"}, {"IRL", "IE"}, {"IRN", "IR"}, {"IRQ", "IQ"}, {"ISL", "IS"}, {"ISR", "IL"}, {"ITA", "IT"},
    {"JAM", "JM"}, {"JEY", "JE"}, {"JOR", "JO"}, {"JPN", "JP"}, {"KAZ", "KZ"}, {"KEN", "KE"}, {"KGZ", "KG"},
    {"KHM", "KH"}, {"KIR", "KI"}, {"KNA", "KN"}, {"KOR", "KR"}, {"KWT", "KW"}, {"LAO", "LA"}, {"LBN", "LB"},
    {"LBR", "LR"}, {"LBY", "LY"}, {"LCA", "LC"}, {"LIE", "LI"}, {"LKA", "LK"}, {"LSO", "LS"}, {"LTU", "LT"},
    {"LUX", "LU"}, {"LVA", "LV"}, {"MAC", "MO"}, {"MAF", "MF"}, {"MAR", "MA"}, {"MCO", "MC"}, {"MDA", "MD"},
    {"MDG", "MG"}, {"MDV", "MV"}, {"MEX", "MX"}, {"MHL", "MH"}, {"MKD", "MK"}, {"MLI", "ML"}, {"MLT", "MT"},
    {"MMR", "MM"}, {"MNE", "ME"}, {"MNG", "MN"}, {"MNP", "MP"}, {"MOZ", "MZ"}, {"MRT", "MR"}, {"MSR", "MS"},
    {"MTQ", "MQ"}, {"MUS", "MU"}, {"MWI", "MW"}, {"MYS", "MY"}, {"MYT", "YT"}, {"NAM", "NA"}, {"NCL", "NC"},
    {"NER", "NE"}, {"NFK", "NF"}, {"NGA", "NG"}, {"NIC", "NI"}, {"NIU", "NU"}, {"NLD", "NL"}, {"NOR", "NO"},
    {"NPL", "NP"}, {"NRU", "NR"}, {"NZL", "NZ"}, {"OMN", "OM"}, {"PAK", "PK"}, {"PAN", "PA"}, {"PCN", "PN"},
    {"PER", "PE"}, {"PHL", "PH"}, {"PLW", "PW"}, {"PNG", "PG"}, {"POL", "PL"}, {"PRI", "PR"}, {"PRK", "KP"},
    {"PRT", "PT"}, {"PRY", "PY"}, {"PSE", "PS"}, {"PYF", "PF"}, {"QAT", "QA"}, {"REU", "RE"}, {"ROU", "RO"},
    {"RUS", "RU"}, {"RWA", "RW"}, {"SAU", "SA"}, {"SDN", "SD"}, {"SEN", "SN"}, {"SGP", "SG"}, {"SGS", "GS"},
    {"SHN", "SH"}, {"SJM", "SJ"}, {"SLB", "SB"}, {"SLE", "SL"}, {"SLV", "SV"}, {"SMR", "SM"}, {"SOM", "SO"},
    {"SPM", "PM"}, {"SRB", "RS"}, {"SSD", "SS"}, {"STP", "ST"}, {"SUR", "SR"}, {"SVK", "SK"}, {"SVN", "SI"},
    {"SWE", "SE"}, {"SWZ", "SZ"}, {"SXM", "SX"}, {"SYC", "SC"}, {"SYR", "SY"}, {"TCA", "TC"}, {"TCD", "TD"},
    {"TGO", "TG"}, {"THA", "TH"}, {"TJK", "TJ"}, {"TKL", "TK"}, {"TKM", "TM"}, {"TLS", "TL"}, {"TON", "TO"},
    {"TTO", "TT"}, {"TUN", "TN"}, {"TUR", "TR"}, {"TUV", "TV"}, {"TWN", "TW"}, {"TZA", "TZ"}, {"UGA", "UG"},
    {"UKR", "UA"}, {"UMI", "UM"}, {"URY", "UY"}, {"USA", "US"}, {"UZB", "UZ"}, {"VAT", "VA"}, {"VCT", "VC"},
    {"VEN", "VE"}, {"VGB", "VG"}, {"VIR", "VI"}, {"VNM", "VN"}, {"VUT", "VU"}, {"WLF", "WF"}, {"WSM", "WS"},
    {"YEM", "YE"}, {"ZAF", "ZA"}, {"ZMB", "ZM"}, {"ZWE", "ZW"},
};

// Every officially assigned alpha-2 code is the a2 of some entry above; a bitmap over AA..ZZ answers
// "is this alpha-2 assigned" in O(1).
struct Alpha2Set {
  std::array<bool, 26 * 26> assigned{};
  std::array<std::array<char, 2>, 26 * 26> text{};
  constexpr Alpha2Set() {
    for (const auto& e : kAlpha3) {
      const int i = (e.a2[0] - 'A') * 26 + (e.a2[1] - 'A');
      assigned[size_t(i)] = true;
      text[size_t(i)] = {e.a2[0], e.a2[1]};
    }
  }
};
constexpr Alpha2Set kAlpha2{};

}  // namespace

std::string_view trim_blanks(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t' || s.front() == '\r' || s.front() == '\n'))
    s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r' || s.back() == '\n'))
    s.remove_suffix(1);
  return s;
}

IdCheck check_id(std::string_view s) {
  if (s.empty()) return IdCheck::empty;
  if (s.size() > kMaxIdBytes) return IdCheck::too_long;
  for (unsigned char c : s)
    if (c < 0x20 || c == 0x7f) return IdCheck::control_char;
  return IdCheck::ok;
}

std::string_view normalize_site(std::string_view s, Arena& arena) {
  s = trim_blanks(s);
  // scheme: letters, digits, + - . followed by "://"
  if (size_t p = s.find("://"); p != std::string_view::npos && p > 0) {
    bool scheme = is_alpha(s[0]);
    for (size_t i = 1; i < p && scheme; i++)
      scheme = is_alpha(s[i]) || (s[i] >= '0' && s[i] <= '9') || s[i] == '+' || s[i] == '-' || s[i] == '.';
    if (scheme) s.remove_prefix(p + 3);
  } else if (s.size() >= 2 && s[0] == '/' && s[1] == '/') {
    s.remove_prefix(2);  // protocol-relative URL
  }
  // authority ends at the first / ? #
  size_t end = s.find_first_of("/?#");
  if (end != std::string_view::npos) s = s.substr(0, end);
  if (size_t at = s.rfind('@'); at != std::string_view::npos) s.remove_prefix(at + 1);
  if (!s.empty() && s.front() == '[') {  // IPv6 literal
    size_t close = s.find(']');
    s = close == std::string_view::npos ? std::string_view{} : s.substr(1, close - 1);
  } else if (size_t colon = s.find(':'); colon != std::string_view::npos) {
    s = s.substr(0, colon);
  }
  while (!s.empty() && s.back() == '.') s.remove_suffix(1);
  bool needs_lower = false;
  for (char c : s) needs_lower |= (c >= 'A' && c <= 'Z');
  if (s.size() > 4 && lower(s[0]) == 'w' && lower(s[1]) == 'w' && lower(s[2]) == 'w' && s[3] == '.')
    s.remove_prefix(4);
  for (unsigned char c : s)
    if (c <= 0x20 || c == 0x7f) return {};  // whitespace or control characters: not a host
  if (!needs_lower) return s;
  return to_lower(s, arena);
}

std::string_view normalize_country(std::string_view s) {
  s = trim_blanks(s);
  if (s.size() == 2 && is_alpha(s[0]) && is_alpha(s[1])) {
    const int i = (upper(s[0]) - 'A') * 26 + (upper(s[1]) - 'A');
    if (!kAlpha2.assigned[size_t(i)]) return {};
    return {kAlpha2.text[size_t(i)].data(), 2};
  }
  if (s.size() == 3 && is_alpha(s[0]) && is_alpha(s[1]) && is_alpha(s[2])) {
    const char key[4] = {upper(s[0]), upper(s[1]), upper(s[2]), 0};
    const auto* it =
        std::lower_bound(std::begin(kAlpha3), std::end(kAlpha3), key,
                         [](const Alpha3& e, const char* k) { return std::strcmp(e.a3, k) < 0; });
    if (it != std::end(kAlpha3) && std::strcmp(it->a3, key) == 0) return {it->a2, 2};
  }
  return {};
}

std::string_view device_type_from_openrtb(int64_t code) {
  // OpenRTB 2.6 List 5.21: 1 mobile/tablet, 2 PC, 3 connected TV, 4 phone, 5 tablet, 6 connected device,
  // 7 set-top box.
  switch (code) {
    case 1:
    case 4:
      return "mobile";
    case 2:
      return "desktop";
    case 3:
    case 7:
      return "ctv";
    case 5:
      return "tablet";
    default:
      return "other";
  }
}

std::string_view normalize_device_type(std::string_view s) {
  s = trim_blanks(s);
  if (s.size() == 1 && s[0] >= '0' && s[0] <= '9') return device_type_from_openrtb(s[0] - '0');
  struct Alias {
    std::string_view name;
    std::string_view type;
  };
  static constexpr Alias kAliases[] = {
      {"desktop", "desktop"},
      {"pc", "desktop"},
      {"computer", "desktop"},
      {"laptop", "desktop"},
      {"mobile", "mobile"},
      {"phone", "mobile"},
      {"smartphone", "mobile"},
      {"mobile_phone", "mobile"},
      {"tablet", "tablet"},
      {"ctv", "ctv"},
      {"tv", "ctv"},
      {"connected_tv", "ctv"},
      {"connected tv", "ctv"},
      {"smart_tv", "ctv"},
      {"smarttv", "ctv"},
      {"smart tv", "ctv"},
      {"set_top_box", "ctv"},
      {"set-top box", "ctv"},
      {"ott", "ctv"},
      {"other", "other"},
  };
  for (const auto& a : kAliases)
    if (iequals(s, a.name)) return a.type;
  return "other";
}

bool normalize_currency(std::string_view s, char out[3]) {
  s = trim_blanks(s);
  if (s.size() != 3 || !is_alpha(s[0]) || !is_alpha(s[1]) || !is_alpha(s[2])) return false;
  for (int i = 0; i < 3; i++) out[i] = upper(s[size_t(i)]);
  return true;
}

std::string_view to_lower(std::string_view s, Arena& arena) {
  size_t i = 0;
  while (i < s.size() && !(s[i] >= 'A' && s[i] <= 'Z')) i++;
  if (i == s.size()) return s;
  char* p = arena.allocate(s.size());
  for (size_t j = 0; j < s.size(); j++) p[j] = lower(s[j]);
  return {p, s.size()};
}

}  // namespace advx
