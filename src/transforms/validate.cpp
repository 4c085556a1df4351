#include "transforms/validate.hpp"

#include <charconv>
#include <cmath>

#include "core/time_util.hpp"
#include "core/utf8.hpp"
#include "transforms/standardize.hpp"

namespace advx {
namespace {

using IF = ImpressionField;
using EF = EventField;
using BF = BidRequestField;

// The result of reading one field: absent (or null, or blank), a usable value, or a rule broken.
enum class Got : uint8_t { absent, ok, bad };

struct Problem {
  Reason reason;
  std::string detail;
};

std::string quoted(std::string_view s) {
  constexpr size_t kMax = 60;
  std::string out = "\"";
  out.append(utf8_prefix(s, kMax));  // never cut inside a character: the detail must stay valid UTF-8
  if (s.size() > kMax) out += "…";
  out += '"';
  return out;
}

// An id (SPEC 2.1/2.2): a string or an integer, trimmed, at most 256 bytes, no control characters.
Got read_id(const Cell& c, Arena& arena, std::string_view* out, std::string_view name, Problem* p) {
  switch (c.type) {
    case CellType::absent:
    case CellType::null:
      return Got::absent;
    case CellType::string:
      break;
    case CellType::integer:
      if (c.text.empty()) {  // Avro: no literal, format the value
        char buf[24];
        auto r = std::to_chars(buf, buf + sizeof buf, c.i64);
        *out = arena.copy({buf, size_t(r.ptr - buf)});
        return Got::ok;
      }
      break;
    case CellType::big_integer:
      break;
    default:
      *p = {Reason::bad_value, std::string(name) + " must be a string or an integer"};
      return Got::bad;
  }
  std::string_view s = trim_blanks(c.text);
  switch (check_id(s)) {
    case IdCheck::empty:
      return Got::absent;
    case IdCheck::too_long:
      *p = {Reason::bad_value, std::string(name) + " longer than 256 bytes"};
      return Got::bad;
    case IdCheck::control_char:
      *p = {Reason::bad_value, std::string(name) + " contains a control character"};
      return Got::bad;
    case IdCheck::ok:
      break;
  }
  if (!valid_utf8(s)) {
    *p = {Reason::bad_value, std::string(name) + " is not valid UTF-8"};
    return Got::bad;
  }
  *out = s;
  return Got::ok;
}

// Text stored as it came: valid UTF-8 without control characters (SPEC 6: no byte sequence fails a batch,
// the record is a reject instead).
bool bad_text_bytes(std::string_view s, std::string_view name, Problem* p) {
  switch (text_fault(s)) {
    case TextFault::none:
      return false;
    case TextFault::control:
      *p = {Reason::bad_value, std::string(name) + " contains a control character"};
      return true;
    case TextFault::not_utf8:
      *p = {Reason::bad_value, std::string(name) + " is not valid UTF-8"};
      return true;
  }
  return false;
}

// A free-text context field (user agent, ip, country, …): strings only, blank is absent.
Got read_text(const Cell& c, std::string_view* out, std::string_view name, Problem* p) {
  if (c.type == CellType::absent || c.type == CellType::null) return Got::absent;
  if (c.type != CellType::string) {
    *p = {Reason::bad_value, std::string(name) + " must be a string"};
    return Got::bad;
  }
  *out = trim_blanks(c.text);
  if (out->empty()) return Got::absent;
  return bad_text_bytes(*out, name, p) ? Got::bad : Got::ok;
}

// A context field of a typed format (Avro, OpenRTB JSON): a value of an unexpected type is left out rather
// than failing the request, since the writer schema, not the sender, chose the type; bad bytes in a string
// reject it like any other stream.
Got read_typed_context(const Cell& c, std::string_view* out, std::string_view name, Problem* p) {
  const Got g = read_text(c, out, name, p);
  if (g == Got::bad && c.type != CellType::string) {
    *out = {};
    return Got::absent;
  }
  return g;
}

// SPEC 1.4. Typed timestamps come from Avro; numbers by magnitude; strings ISO-8601 or a number.
Got read_timestamp(const Cell& c, int64_t* us, std::string_view name, Problem* p) {
  bool ok = false;
  switch (c.type) {
    case CellType::absent:
    case CellType::null:
      return Got::absent;
    case CellType::timestamp_us:
      *us = c.i64;
      ok = c.i64 >= 0;
      break;
    case CellType::integer:
      ok = epoch_integer_to_micros(c.i64, us);
      break;
    case CellType::number:
      ok = epoch_number_to_micros(c.f64, us);
      break;
    case CellType::string:
      if (trim_blanks(c.text).empty()) return Got::absent;
      ok = parse_timestamp_text(c.text, us);
      break;
    default:
      break;
  }
  if (!ok) {
    *p = {Reason::bad_timestamp, std::string(name) + " is not a timestamp" +
                                     (c.text.empty() ? std::string() : ": " + quoted(c.text))};
    return Got::bad;
  }
  return Got::ok;
}

// A non-negative number: JSON numbers, or decimal text (CSV).
// Reports and rollups sum money exactly as DECIMAL(38,9) per amount (sinks/report_queries.cpp): bounding
// amounts keeps every sum far from overflow. 10^15 is beyond any real price or order value in any currency.
constexpr double kMaxAmount = 1e15;

Got read_amount(const Cell& c, double* v, std::string_view name, Problem* p) {
  switch (c.type) {
    case CellType::absent:
    case CellType::null:
      return Got::absent;
    case CellType::integer:
      *v = double(c.i64);
      break;
    case CellType::number:
      *v = c.f64;
      break;
    case CellType::big_integer:
    case CellType::string: {
      std::string_view s = trim_blanks(c.text);
      if (s.empty()) return Got::absent;
      if (c.type == CellType::string) {
        // CSV has no types: accept a plain decimal, nothing else (no hex, inf, nan, exponents are fine).
        for (char ch : s) {
          if (!((ch >= '0' && ch <= '9') || ch == '.' || ch == '-' || ch == '+' || ch == 'e' || ch == 'E')) {
            *p = {Reason::bad_value, std::string(name) + " is not a number: " + quoted(s)};
            return Got::bad;
          }
        }
      }
      auto r = std::from_chars(s.data(), s.data() + s.size(), *v);
      if (r.ec != std::errc() || r.ptr != s.data() + s.size()) {
        *p = {Reason::bad_value, std::string(name) + " is not a number: " + quoted(s)};
        return Got::bad;
      }
      break;
    }
    default:
      *p = {Reason::bad_value, std::string(name) + " must be a number"};
      return Got::bad;
  }
  if (!std::isfinite(*v) || *v < 0) {
    *p = {Reason::bad_value, std::string(name) + " must be a non-negative number"};
    return Got::bad;
  }
  if (*v > kMaxAmount) {
    *p = {Reason::bad_value, std::string(name) + " is above 10^15"};
    return Got::bad;
  }
  return Got::ok;
}

const char kHex[] = "0123456789abcdef";

// Every event table has event_time, event_date and event_hour as consecutive columns (UTC).
void set_event_time(TableBuffer& b, size_t r, int time_col, int64_t ts) {
  b.set_i64(time_col, r, ts);
  b.set_i32(time_col + 1, r, date_of(ts));
  b.set_u8(time_col + 2, r, hour_of(ts));
}

// Every event table ends with source, source_record and ingested_at: where a row came from and when.
void set_provenance(TableBuffer& b, size_t r, int source_col, std::string_view source, uint64_t record_no,
                    int64_t ingested_at) {
  b.set_str(source_col, r, source);
  b.set_u64(source_col + 1, r, record_no);
  b.set_i64(source_col + 2, r, ingested_at);
}

}  // namespace

std::string fingerprint_key(const Hash128& h) {
  std::string s = "fp:";
  s.resize(3 + 32);
  for (int i = 0; i < 16; i++) {
    s[size_t(3 + i)] = kHex[(h.hi >> (60 - 4 * i)) & 0xf];
    s[size_t(19 + i)] = kHex[(h.lo >> (60 - 4 * i)) & 0xf];
  }
  return s;
}

struct Validator::Ctx {
  const RawBatch& in;
  std::string_view source;
  ValidatedBatch& out;
};

void Validator::process(const RawBatch& in, std::string_view source, ValidatedBatch& out) {
  Ctx ctx{in, source, out};
  for (const RejectRecord& r : in.rejects) reject(ctx, r.record_no, r.raw, r.reason, r.detail, false);
  const size_t n = in.rows();
  switch (in.stream) {
    case Stream::impressions:
      for (size_t i = 0; i < n; i++) impression(ctx, i);
      break;
    case Stream::events:
      for (size_t i = 0; i < n; i++) event(ctx, i);
      break;
    case Stream::bid_requests:
      for (size_t i = 0; i < n; i++) bid_request(ctx, i);
      break;
  }
}

void Validator::reject(Ctx& ctx, uint64_t record_no, std::string_view raw, Reason reason, std::string detail,
                       bool raw_in_input) {
  StagedTable& t = ctx.out.rejects;
  TableBuffer& b = t.rows;
  const size_t r = b.add_row();
  b.set_str(col::rej_stream, r, stream_name(ctx.in.stream));
  b.set_str(col::rej_category, r, reason_category(reason));
  b.set_str(col::rej_reason, r, reason_name(reason));
  b.set_owned_str(col::rej_detail, r, valid_utf8(detail) ? detail : repair_utf8(detail));
  b.set_str(col::rej_source, r, ctx.source);
  b.set_u64(col::rej_source_record, r, record_no);
  if (raw_in_input) {
    b.set_str(col::rej_raw, r, raw);
  } else {
    b.set_owned_str(col::rej_raw, r, raw);
  }
  b.set_i64(col::rej_ingested_at, r, options_.ingested_at_us);
  // Rejects are identified by where they were read and what they were: reading the same input again
  // finds them again as duplicates.
  FieldHasher h;
  h.add(stream_name(ctx.in.stream)).add(ctx.source).add_i64(int64_t(record_no)).add(raw);
  t.keys.push_back({h.digest(), 0, 0, KeySpace::rejects});
  t.reasons.push_back(reason);
}

// SPEC 2.5: the record's own country wins; an IP fills it in when a MaxMind database is configured. After
// the dedup payload, which stays a function of the record alone.
void Validator::country_from_ip(std::string_view ip, std::string_view* country) const {
  if (country->empty() && options_.geoip && !ip.empty()) *country = options_.geoip->country(ip);
}

bool Validator::filtered(Ctx& ctx, size_t row, std::string_view ua, std::string_view ip,
                         std::string_view site, int64_t event_time, const DedupKey& key,
                         const UserAgentInfo* ua_info) {
  Reason reason;
  std::string detail;
  if (ua_info && ua_info->is_bot) {
    reason = Reason::bot_user_agent;
    detail = "bot user agent " + quoted(ua);
  } else if (!ip.empty() && !options_.blocked_ips.empty() && options_.blocked_ips.count(std::string(ip))) {
    reason = Reason::blocked_ip;
    detail = "blocked ip " + std::string(ip);
  } else if (!site.empty() && !options_.blocked_sites.empty()) {
    // example.com blocks example.com and every subdomain of it
    std::string_view s = site;
    bool blocked = false;
    while (!blocked) {
      blocked = options_.blocked_sites.count(std::string(s)) > 0;
      size_t dot = s.find('.');
      if (dot == std::string_view::npos) break;
      s.remove_prefix(dot + 1);
    }
    if (!blocked) return false;
    reason = Reason::blocked_site;
    detail = "blocked site " + std::string(site);
  } else {
    return false;
  }
  const uint64_t record_no = ctx.in.record_no[row];
  reject(ctx, record_no, ctx.in.raw[row], reason, std::move(detail), true);
  StagedTable& t = ctx.out.rejects;
  t.rows.set_i64(col::rej_event_time, t.rows.rows() - 1, event_time);
  DedupKey k = key;
  k.space = KeySpace(uint8_t(k.space) + 3);  // the filtered twin of the stream's key space
  t.keys.back() = k;
  return true;
}

void Validator::impression(Ctx& ctx, size_t row) {
  const RawBatch& in = ctx.in;
  Arena& arena = ctx.out.impressions.rows.arena();
  Problem p;
  auto fail = [&](Problem&& pr) {
    reject(ctx, in.record_no[row], in.raw[row], pr.reason, std::move(pr.detail), true);
  };

  std::string_view creative, user, site_raw, impression_id, auction, campaign_field, ua, ip, country_raw,
      device_raw;
  int64_t ts = 0;
  double price = 0;
  const Got g_creative = read_id(in.cell(row, IF::ad_creative_id), arena, &creative, "ad_creative_id", &p);
  if (g_creative == Got::bad) return fail(std::move(p));
  const Got g_user = read_id(in.cell(row, IF::user_id), arena, &user, "user_id", &p);
  if (g_user == Got::bad) return fail(std::move(p));
  const Got g_ts = read_timestamp(in.cell(row, IF::timestamp), &ts, "timestamp", &p);
  const Got g_site = read_text(in.cell(row, IF::website), &site_raw, "website", &p);
  if (g_site == Got::bad) return fail(std::move(p));
  if (g_creative == Got::absent) return fail({Reason::missing_field, "missing ad_creative_id"});
  if (g_user == Got::absent) return fail({Reason::missing_field, "missing user_id"});
  if (g_ts == Got::absent) return fail({Reason::missing_field, "missing timestamp"});
  if (g_site == Got::absent) return fail({Reason::missing_field, "missing website"});
  if (g_ts == Got::bad) return fail(std::move(p));
  if (ts > options_.now_us + options_.max_future_skew_us)
    return fail({Reason::future_timestamp, "timestamp " + format_timestamp(ts) + " is in the future"});
  if (read_id(in.cell(row, IF::impression_id), arena, &impression_id, "impression_id", &p) == Got::bad ||
      read_id(in.cell(row, IF::auction_id), arena, &auction, "auction_id", &p) == Got::bad ||
      read_id(in.cell(row, IF::campaign_id), arena, &campaign_field, "campaign_id", &p) == Got::bad)
    return fail(std::move(p));
  const Got g_price = read_amount(in.cell(row, IF::win_price_cpm), &price, "win_price_cpm", &p);
  if (g_price == Got::bad) return fail(std::move(p));
  if (read_text(in.cell(row, IF::user_agent), &ua, "user_agent", &p) == Got::bad ||
      read_text(in.cell(row, IF::ip), &ip, "ip", &p) == Got::bad ||
      read_text(in.cell(row, IF::country), &country_raw, "country", &p) == Got::bad)
    return fail(std::move(p));
  std::string_view device;
  const Cell& device_cell = in.cell(row, IF::device_type);
  if (device_cell.type == CellType::integer) {
    device = device_type_from_openrtb(device_cell.i64);
  } else if (read_text(device_cell, &device_raw, "device_type", &p) == Got::bad) {
    return fail(std::move(p));
  } else if (!device_raw.empty()) {
    device = normalize_device_type(device_raw);
  }
  const std::string_view site = normalize_site(site_raw, arena);
  if (site.empty()) return fail({Reason::bad_value, "website has no host: " + quoted(site_raw)});

  // Enrichment: the creative decides the campaign; a record naming another campaign contradicts it.
  const CreativeInfo* cr = dims_.creative(creative);
  std::string_view campaign = campaign_field;
  if (cr) {
    if (!campaign_field.empty() && campaign_field != cr->campaign_id)
      return fail({Reason::campaign_mismatch, "campaign_id " + quoted(campaign_field) + " but creative " +
                                                  quoted(creative) + " belongs to " +
                                                  quoted(cr->campaign_id)});
    campaign = cr->campaign_id;
  }
  const CampaignInfo* cmp = campaign.empty() ? nullptr : dims_.campaign(campaign);

  // Dedup key: the ad server's id, else a fingerprint of the standardized fields (SPEC 2.4).
  DedupKey key;
  key.space = KeySpace::impressions;
  key.event_time = ts;
  std::string_view event_key;
  if (!impression_id.empty()) {
    key.key = FieldHasher().add("i").add(impression_id).digest();
    event_key = impression_id;
  } else {
    key.key = FieldHasher().add("imp").add(creative).add(user).add_i64(ts).add(site).digest();
    event_key = arena.copy(fingerprint_key(key.key));
  }
  std::string_view country = normalize_country(country_raw);
  key.payload = uint32_t(FieldHasher()
                             .add(creative)
                             .add(user)
                             .add_i64(ts)
                             .add(site)
                             .add(campaign_field)
                             .add(auction)
                             .add_f64(g_price == Got::ok ? price : -1)
                             .add(ua)
                             .add(ip)
                             .add(country)
                             .add(device)
                             .digest()
                             .lo);

  const UserAgentInfo* ua_info = ua.empty() ? nullptr : &ua_cache_.lookup(ua);
  if (filtered(ctx, row, ua, ip, site, ts, key, ua_info)) return;
  if (device.empty() && ua_info) device = ua_info->device;
  country_from_ip(ip, &country);

  StagedTable& t = ctx.out.impressions;
  TableBuffer& b = t.rows;
  const size_t r = b.add_row();
  b.set_str(col::imp_event_key, r, event_key);
  if (!impression_id.empty()) b.set_str(col::imp_impression_id, r, impression_id);
  set_event_time(b, r, col::imp_event_time, ts);
  b.set_str(col::imp_creative_id, r, creative);
  if (!campaign.empty()) b.set_str(col::imp_campaign_id, r, campaign);
  if (cmp && !cmp->advertiser_id.empty()) b.set_str(col::imp_advertiser_id, r, cmp->advertiser_id);
  b.set_str(col::imp_user_id, r, user);
  b.set_str(col::imp_site, r, site);
  if (!auction.empty()) b.set_str(col::imp_auction_id, r, auction);
  if (g_price == Got::ok) b.set_f64(col::imp_win_price_cpm, r, price);
  if (!country.empty()) b.set_str(col::imp_country, r, country);
  if (!device.empty()) b.set_str(col::imp_device_type, r, device);
  if (ua_info) {
    b.set_str(col::imp_os, r, ua_info->os);
    b.set_str(col::imp_browser, r, ua_info->browser);
    b.set_str(col::imp_user_agent, r, ua);
  }
  if (!ip.empty()) b.set_str(col::imp_ip, r, ip);
  b.set_bool(col::imp_unknown_creative, r, cr == nullptr);
  set_provenance(b, r, col::imp_source, ctx.source, in.record_no[row], options_.ingested_at_us);
  t.keys.push_back(key);
}

void Validator::event(Ctx& ctx, size_t row) {
  const RawBatch& in = ctx.in;
  Arena& arena = ctx.out.clicks.rows.arena();
  Problem p;
  auto fail = [&](Problem&& pr) {
    reject(ctx, in.record_no[row], in.raw[row], pr.reason, std::move(pr.detail), true);
  };

  std::string_view user, campaign, event_type_raw, conv_type_raw, event_id, creative, currency_raw;
  int64_t ts = 0;
  double value = 0;
  const Got g_ts = read_timestamp(in.cell(row, EF::event_timestamp), &ts, "event_timestamp", &p);
  Problem p_ts = p;
  const Got g_user = read_id(in.cell(row, EF::user_id), arena, &user, "user_id", &p);
  if (g_user == Got::bad) return fail(std::move(p));
  const Got g_campaign = read_id(in.cell(row, EF::campaign_id), arena, &campaign, "ad_campaign_id", &p);
  if (g_campaign == Got::bad) return fail(std::move(p));
  if (g_ts == Got::absent) return fail({Reason::missing_field, "missing event_timestamp"});
  if (g_user == Got::absent) return fail({Reason::missing_field, "missing user_id"});
  if (g_campaign == Got::absent) return fail({Reason::missing_field, "missing ad_campaign_id"});
  if (read_text(in.cell(row, EF::event_type), &event_type_raw, "event_type", &p) == Got::bad ||
      read_text(in.cell(row, EF::conversion_type), &conv_type_raw, "conversion_type", &p) == Got::bad)
    return fail(std::move(p));
  const std::string_view event_type = to_lower(event_type_raw, arena);
  const std::string_view conv_type = to_lower(conv_type_raw, arena);
  // SPEC 1.2: a click is named so, or has neither an event type nor a conversion type (other than click).
  const bool is_click =
      event_type == "click" || (event_type.empty() && (conv_type.empty() || conv_type == "click"));
  // A click's conversion type is empty or "click": the same click either way, for the key and the row.
  const std::string_view key_conv_type = is_click ? std::string_view() : conv_type;
  if (!is_click && conv_type.empty()) return fail({Reason::missing_field, "missing conversion_type"});
  if (g_ts == Got::bad) return fail(std::move(p_ts));
  if (ts > options_.now_us + options_.max_future_skew_us)
    return fail({Reason::future_timestamp, "event_timestamp " + format_timestamp(ts) + " is in the future"});
  if (read_id(in.cell(row, EF::event_id), arena, &event_id, "event_id", &p) == Got::bad ||
      read_id(in.cell(row, EF::creative_id), arena, &creative, "ad_creative_id", &p) == Got::bad)
    return fail(std::move(p));
  const Got g_value = read_amount(in.cell(row, EF::conversion_value), &value, "conversion_value", &p);
  if (g_value == Got::bad) return fail(std::move(p));
  char currency[3];
  if (read_text(in.cell(row, EF::currency), &currency_raw, "currency", &p) == Got::bad)
    return fail(std::move(p));
  if (!currency_raw.empty() && !normalize_currency(currency_raw, currency))
    return fail({Reason::bad_value, "currency is not an ISO 4217 code: " + quoted(currency_raw)});

  const CampaignInfo* cmp = dims_.campaign(campaign);
  if (!creative.empty()) {
    const CreativeInfo* cr = dims_.creative(creative);
    if (cr && !cr->campaign_id.empty() && cr->campaign_id != campaign)
      return fail({Reason::campaign_mismatch, "ad_campaign_id " + quoted(campaign) + " but creative " +
                                                  quoted(creative) + " belongs to " +
                                                  quoted(cr->campaign_id)});
  }

  DedupKey key;
  key.space = KeySpace::events;
  key.event_time = ts;
  const double value_for_key = g_value == Got::ok ? value : -1;
  std::string_view event_key;
  if (!event_id.empty()) {
    key.key = FieldHasher().add("e").add(event_id).digest();
    event_key = event_id;
  } else {
    key.key = FieldHasher()
                  .add(is_click ? "click" : "conversion")
                  .add_i64(ts)
                  .add(user)
                  .add(campaign)
                  .add(creative)
                  .add(key_conv_type)
                  .add_f64(value_for_key)
                  .digest();
    event_key = arena.copy(fingerprint_key(key.key));
  }
  key.payload = uint32_t(FieldHasher()
                             .add(is_click ? "click" : "conversion")
                             .add_i64(ts)
                             .add(user)
                             .add(campaign)
                             .add(creative)
                             .add(key_conv_type)
                             .add_f64(value_for_key)
                             .add(currency_raw.empty() ? std::string_view() : std::string_view(currency, 3))
                             .digest()
                             .lo);

  StagedTable& t = is_click ? ctx.out.clicks : ctx.out.conversions;
  TableBuffer& b = t.rows;
  const size_t r = b.add_row();
  b.set_str(col::ev_event_key, r, event_key);
  if (!event_id.empty()) b.set_str(col::ev_event_id, r, event_id);
  set_event_time(b, r, col::ev_event_time, ts);
  b.set_str(col::ev_user_id, r, user);
  b.set_str(col::ev_campaign_id, r, campaign);
  if (cmp && !cmp->advertiser_id.empty()) b.set_str(col::ev_advertiser_id, r, cmp->advertiser_id);
  if (!creative.empty()) b.set_str(col::ev_creative_id, r, creative);
  if (is_click) {
    b.set_bool(col::clk_unknown_campaign, r, cmp == nullptr);
    set_provenance(b, r, col::clk_source, ctx.source, in.record_no[row], options_.ingested_at_us);
  } else {
    b.set_str(col::conv_conversion_type, r, conv_type);
    b.set_f64(col::conv_conversion_value, r, g_value == Got::ok ? value : 0.0);
    if (!currency_raw.empty()) b.set_owned_str(col::conv_currency, r, {currency, 3});
    b.set_bool(col::conv_unknown_campaign, r, cmp == nullptr);
    set_provenance(b, r, col::conv_source, ctx.source, in.record_no[row], options_.ingested_at_us);
  }
  t.keys.push_back(key);
}

void Validator::bid_request(Ctx& ctx, size_t row) {
  const RawBatch& in = ctx.in;
  Arena& arena = ctx.out.bid_requests.rows.arena();
  Problem p;
  auto fail = [&](Problem&& pr) {
    reject(ctx, in.record_no[row], in.raw[row], pr.reason, std::move(pr.detail), true);
  };

  std::string_view auction, user, site_raw, bundle, country_raw, ua, ip, exchange, device_raw;
  int64_t ts = 0;
  const Got g_auction = read_id(in.cell(row, BF::auction_id), arena, &auction, "auction_id", &p);
  if (g_auction == Got::bad) return fail(std::move(p));
  const Got g_ts = read_timestamp(in.cell(row, BF::timestamp), &ts, "timestamp", &p);
  if (g_auction == Got::absent) return fail({Reason::missing_field, "missing auction_id"});
  if (g_ts == Got::absent) return fail({Reason::missing_field, "missing timestamp"});
  if (g_ts == Got::bad) return fail(std::move(p));
  if (ts > options_.now_us + options_.max_future_skew_us)
    return fail({Reason::future_timestamp, "timestamp " + format_timestamp(ts) + " is in the future"});
  if (read_id(in.cell(row, BF::user_id), arena, &user, "user.id", &p) == Got::bad) return fail(std::move(p));
  if (read_typed_context(in.cell(row, BF::site_domain), &site_raw, "site.domain", &p) == Got::bad ||
      read_typed_context(in.cell(row, BF::app_bundle), &bundle, "app.bundle", &p) == Got::bad ||
      read_typed_context(in.cell(row, BF::country), &country_raw, "device.geo.country", &p) == Got::bad ||
      read_typed_context(in.cell(row, BF::user_agent), &ua, "device.ua", &p) == Got::bad ||
      read_typed_context(in.cell(row, BF::ip), &ip, "device.ip", &p) == Got::bad ||
      read_typed_context(in.cell(row, BF::exchange), &exchange, "exchange", &p) == Got::bad)
    return fail(std::move(p));
  std::string_view device;
  const Cell& device_cell = in.cell(row, BF::device_type);
  if (device_cell.type == CellType::integer) {
    device = device_type_from_openrtb(device_cell.i64);
  } else if (const Got g = read_typed_context(device_cell, &device_raw, "device_type", &p); g == Got::bad) {
    return fail(std::move(p));
  } else if (g == Got::ok) {
    device = normalize_device_type(device_raw);
  }
  const std::string_view site = site_raw.empty() ? std::string_view() : normalize_site(site_raw, arena);
  std::string_view country = normalize_country(country_raw);
  const Cell& imp_cell = in.cell(row, BF::imp_count);
  const Cell& floor_cell = in.cell(row, BF::bid_floor);
  const Cell& targeting_cell = in.cell(row, BF::targeting);
  if (targeting_cell.present() && !valid_utf8(targeting_cell.text))
    return fail({Reason::bad_value, "targeting is not valid UTF-8"});
  double floor = 0;
  const bool has_floor = (floor_cell.type == CellType::number && std::isfinite(floor_cell.f64)) ||
                         floor_cell.type == CellType::integer;
  if (has_floor) floor = floor_cell.type == CellType::number ? floor_cell.f64 : double(floor_cell.i64);

  DedupKey key;
  key.space = KeySpace::bid_requests;
  key.event_time = ts;
  key.key = FieldHasher().add("a").add(auction).digest();
  key.payload = uint32_t(FieldHasher()
                             .add_i64(ts)
                             .add(user)
                             .add(site)
                             .add(bundle)
                             .add(country)
                             .add(device)
                             .add(ua)
                             .add(ip)
                             .add(exchange)
                             .add_i64(imp_cell.type == CellType::integer ? imp_cell.i64 : -1)
                             .add_f64(has_floor ? floor : -1)
                             .add(targeting_cell.text)
                             .digest()
                             .lo);
  const UserAgentInfo* ua_info = ua.empty() ? nullptr : &ua_cache_.lookup(ua);
  if (filtered(ctx, row, ua, ip, site, ts, key, ua_info)) return;
  if (device.empty() && ua_info) device = ua_info->device;
  country_from_ip(ip, &country);

  StagedTable& t = ctx.out.bid_requests;
  TableBuffer& b = t.rows;
  const size_t r = b.add_row();
  b.set_str(col::bid_auction_id, r, auction);
  set_event_time(b, r, col::bid_event_time, ts);
  if (!user.empty()) b.set_str(col::bid_user_id, r, user);
  if (!site.empty()) b.set_str(col::bid_site_domain, r, site);
  if (!bundle.empty()) b.set_str(col::bid_app_bundle, r, bundle);
  if (!country.empty()) b.set_str(col::bid_country, r, country);
  if (!device.empty()) b.set_str(col::bid_device_type, r, device);
  if (ua_info) {
    b.set_str(col::bid_os, r, ua_info->os);
    b.set_str(col::bid_browser, r, ua_info->browser);
    b.set_str(col::bid_user_agent, r, ua);
  }
  if (!ip.empty()) b.set_str(col::bid_ip, r, ip);
  if (imp_cell.type == CellType::integer) b.set_i32(col::bid_imp_count, r, int32_t(imp_cell.i64));
  if (has_floor) b.set_f64(col::bid_bid_floor, r, floor);
  if (!exchange.empty()) b.set_str(col::bid_exchange, r, exchange);
  if (targeting_cell.present() && !targeting_cell.text.empty())
    b.set_str(col::bid_targeting, r, targeting_cell.text);
  set_provenance(b, r, col::bid_source, ctx.source, in.record_no[row], options_.ingested_at_us);
  b.set_bool(col::bid_won, r, false);  // until an impression names the auction (correlate/attribution.cpp)
  t.keys.push_back(key);
}

}  // namespace advx
