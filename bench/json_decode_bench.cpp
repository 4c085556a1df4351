// JSON decode throughput: N generated impression lines (argv[1], default 1,000,000; ~250 bytes each, the
// SPEC 1.1 fields with a user agent), decoded in 4 MB blocks the way a file reader feeds them (unconsumed
// tail carried over), one warm-up and best of five timed runs. The peer in the same run is simdjson
// On-Demand alone, line by line, extracting the same fields (get_string / raw_json_token): the floor a
// decoder built on it can hope for. advx does more per line (full validation of every value, cell typing,
// reject bookkeeping), and the ratio shows what that costs.
#include <simdjson.h>
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <string_view>

#include "formats/decoder.hpp"

namespace {

constexpr size_t kBlock = 4u << 20;

std::string generate(size_t lines) {
  static const char* const kAgents[] = {
      "Mozilla/5.0 (Windows NT 10.0; Win64; x64) Chrome/124.0 Safari/537.36",
      "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) Mobile/15E148",
      "Mozilla/5.0 (Linux; Android 14; Pixel 8) Chrome/123.0 Mobile Safari",
      "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_4) Version/17.4 Safari/605"};
  static const char* const kSites[] = {"news.example.com", "https://shop.example.org/c", "blog.example.net",
                                       "video.example.tv"};
  static const char* const kCountries[] = {"US", "DE", "FR", "GB", "JP", "BR"};
  std::mt19937_64 rng(20240524);
  std::string out;
  out.reserve(lines * 320);  // no regrowth: peak RSS stays close to the input size
  char line[768];
  for (size_t i = 0; i < lines; ++i) {
    uint64_t r = rng();
    unsigned ms = unsigned(r % 1000), sec = unsigned((r >> 10) % 60), min = unsigned((r >> 16) % 60);
    unsigned hour = unsigned((r >> 22) % 24), day = 1 + unsigned((r >> 27) % 28);
    unsigned user = unsigned((r >> 32) % 10000000), creative = unsigned((r >> 12) % 5000);
    int n = std::snprintf(
        line, sizeof line,
        "{\"ad_creative_id\":%u,\"user_id\":\"u-%08u\",\"timestamp\":\"2026-11-%02uT%02u:%02u:%02u."
        "%03uZ\",\"website\":\"%s\",\"impression_id\":\"imp-%012llx\",\"win_price_cpm\":%u.%02u,"
        "\"user_agent\":\"%s\",\"country\":\"%s\"}\n",
        creative, user, day, hour, min, sec, ms, kSites[(r >> 40) % 4], (unsigned long long)(r >> 16),
        unsigned(r % 20), unsigned((r >> 5) % 100), kAgents[(r >> 44) % 4], kCountries[(r >> 50) % 6]);
    out.append(line, size_t(n));
  }
  return out;
}

// advx: the decoder fed in 4 MB blocks with the unconsumed tail carried over. Returns rows (exits on any
// reject or lost row).
size_t advx_once(const std::string& input, size_t expected) {
  auto decoder = advx::make_json_decoder();
  advx::RawBatch batch(advx::Stream::impressions);
  std::string buffer;  // carried tail + next block, followed by the promised padding
  buffer.reserve(kBlock + (64u << 10));
  size_t rows = 0, rejects = 0, offset = 0;
  while (true) {
    size_t take = std::min(kBlock, input.size() - offset);
    buffer.append(input, offset, take);
    offset += take;
    bool at_end = offset == input.size();
    buffer.reserve(buffer.size() + advx::kInputPadding);
    size_t consumed = decoder->decode(buffer, at_end, batch);
    rows += batch.rows();
    rejects += batch.rejects.size();
    batch.clear();
    buffer.erase(0, consumed);
    if (at_end) break;
  }
  if (rows != expected || rejects != 0) {
    std::fprintf(stderr, "json_decode: advx decoded %zu rows, %zu rejects, expected %zu rows\n", rows,
                 rejects, expected);
    std::exit(1);
  }
  return rows;
}

// The peer: simdjson On-Demand alone over the same (padded) buffer, one document per line, the same twelve
// fields extracted: strings unescaped, other values as their raw token.
size_t simdjson_once(const std::string& input, size_t expected, uint64_t& checksum) {
  static constexpr std::string_view kNames[] = {
      "ad_creative_id", "user_id",       "timestamp",  "website", "impression_id", "auction_id",
      "campaign_id",    "win_price_cpm", "user_agent", "ip",      "country",       "device_type"};
  simdjson::ondemand::parser parser;
  const char* base = input.data();
  const size_t size = input.size();  // the string's capacity holds simdjson's padding (see main)
  size_t pos = 0, rows = 0;
  while (pos < size) {
    const char* nl = static_cast<const char*>(std::memchr(base + pos, '\n', size - pos));
    size_t end = nl ? size_t(nl - base) : size;
    simdjson::ondemand::document doc;
    simdjson::ondemand::object obj;
    if (!parser.iterate(base + pos, end - pos, input.capacity() - pos).get(doc) &&
        !doc.get_object().get(obj)) {
      bool ok = true;
      for (auto field_result : obj) {
        simdjson::ondemand::field field;
        if (std::move(field_result).get(field)) {
          ok = false;
          break;
        }
        std::string_view key;
        if (field.unescaped_key().get(key)) {
          ok = false;
          break;
        }
        if (std::find(std::begin(kNames), std::end(kNames), key) == std::end(kNames)) continue;
        std::string_view text;
        simdjson::ondemand::json_type type;
        if (field.value().type().get(type)) {
          ok = false;
          break;
        }
        if (type != simdjson::ondemand::json_type::string) {
          text = field.value().raw_json_token();
        } else if (field.value().get_string().get(text)) {
          ok = false;
          break;
        }
        checksum += text.size();
      }
      rows += ok;
    }
    pos = end + 1;
  }
  if (rows != expected) {
    std::fprintf(stderr, "json_decode: simdjson parsed %zu rows, expected %zu\n", rows, expected);
    std::exit(1);
  }
  return rows;
}

template <class F>
double best_of_5(F&& run) {
  run();  // warm-up
  double best = 1e300;
  for (int i = 0; i < 5; ++i) {
    auto t0 = std::chrono::steady_clock::now();
    run();
    best = std::min(best, std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  }
  return best;
}

}  // namespace

int main(int argc, char** argv) {
  size_t n = argc > 1 ? std::strtoull(argv[1], nullptr, 10) : 1000000;
  std::string input = generate(n);
  const double mb = double(input.size()) / 1e6;

  input.reserve(input.size() + simdjson::SIMDJSON_PADDING);  // readable padding for the peer, no copy

  double advx_s = best_of_5([&] { advx_once(input, n); });
  rusage advx_usage{};
  getrusage(RUSAGE_SELF, &advx_usage);

  uint64_t checksum = 0;
  double peer_s = best_of_5([&] { simdjson_once(input, n, checksum); });
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  std::printf("json_decode: %zu lines, %.1f MB, %.0f bytes/line (best of 5 after a warm-up)\n", n, mb,
              double(input.size()) / double(n));
  std::printf("json_decode advx: %zu lines in %.3f s = %.0f lines/s (%.0f MB/s)\n", n, advx_s,
              double(n) / advx_s, mb / advx_s);
  std::printf(
      "json_decode simdjson-ondemand: %zu lines in %.3f s = %.0f lines/s (%.0f MB/s) [checksum %llu]\n", n,
      peer_s, double(n) / peer_s, mb / peer_s, (unsigned long long)(checksum % 1000));
  std::printf("json_decode: advx / simdjson = %.2f\n", peer_s / advx_s);
  // Both include the generated input held in memory (the MB figure above).
  std::printf("json_decode: peak RSS %.1f MB after advx, %.1f MB after the peer\n",
              double(advx_usage.ru_maxrss) / 1024.0, double(usage.ru_maxrss) / 1024.0);
  return 0;
}
