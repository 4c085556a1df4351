// CSV decode throughput: N generated click/conversion rows (argv[1], default 1,000,000), decoded in 1 MiB
// chunks the way a file reader feeds them (unconsumed tail carried over), one warm-up and five timed runs.
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>
#include <vector>

#include "formats/decoder.hpp"

namespace {

std::string generate(size_t rows) {
  std::mt19937_64 rng(20240524);
  std::string out =
      "event_timestamp,user_id,ad_campaign_id,event_type,conversion_type,event_id,ad_creative_id,"
      "conversion_value,currency\n";
  out.reserve(rows * 125 + 128);
  const char* conversions[] = {"signup", "purchase", "lead", "install"};
  char line[512];
  for (size_t i = 0; i < rows; ++i) {
    uint64_t r = rng();
    unsigned ms = unsigned(r % 1000), sec = unsigned((r >> 10) % 60), min = unsigned((r >> 16) % 60);
    unsigned hour = unsigned((r >> 22) % 24), day = 1 + unsigned((r >> 27) % 28);
    unsigned user = unsigned((r >> 32) % 10000000), campaign = unsigned((r >> 20) % 500);
    unsigned creative = campaign * 10 + unsigned(r % 10);
    bool conversion = (r >> 60) == 0;  // ~6%
    int n;
    if (conversion) {
      const char* kind = conversions[(r >> 40) % 4];
      n = std::snprintf(line, sizeof line,
                        "2026-11-%02uT%02u:%02u:%02u.%03uZ,user-%08u,campaign-%05u,conversion,%s,"
                        "evt-%016llx-%04u,creative-%06u,%u.%02u,USD\n",
                        day, hour, min, sec, ms, user, campaign, kind, (unsigned long long)r,
                        unsigned(i % 9973), creative, unsigned(r % 500), unsigned(r % 100));
    } else if (i % 10 == 3) {  // some writers quote every text field, a few with escaped quotes
      n = std::snprintf(line, sizeof line,
                        "\"2026-11-%02u %02u:%02u:%02u.%03u\",\"user-%08u\",\"campaign-%05u\",\"click\",\"\","
                        "\"evt-%016llx-%04u\",\"creative \"\"%06u\"\"\",,\n",
                        day, hour, min, sec, ms, user, campaign, (unsigned long long)r, unsigned(i % 9973),
                        creative);
    } else {
      n = std::snprintf(line, sizeof line,
                        "2026-11-%02uT%02u:%02u:%02u.%03uZ,user-%08u,campaign-%05u,click,,"
                        "evt-%016llx-%04u,creative-%06u,,\n",
                        day, hour, min, sec, ms, user, campaign, (unsigned long long)r, unsigned(i % 9973),
                        creative);
    }
    out.append(line, size_t(n));
  }
  return out;
}

// Returns rows decoded; aborts if the decoder lost or rejected any.
size_t decode_once(const std::string& input, size_t expected_rows) {
  constexpr size_t kChunk = 1 << 20;
  auto decoder = advx::make_csv_decoder();
  advx::RawBatch batch(advx::Stream::events);
  std::string buffer;  // the carried tail plus the next chunk, followed by the promised padding
  size_t rows = 0, rejects = 0, offset = 0;
  while (true) {
    size_t take = std::min(kChunk, input.size() - offset);
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
  if (rows != expected_rows || rejects != 0) {
    std::fprintf(stderr, "csv_decode: decoded %zu rows, %zu rejects, expected %zu rows\n", rows, rejects,
                 expected_rows);
    std::exit(1);
  }
  return rows;
}

}  // namespace

int main(int argc, char** argv) {
  size_t n = argc > 1 ? std::strtoull(argv[1], nullptr, 10) : 1000000;
  std::string input = generate(n);
  decode_once(input, n);  // warm-up
  std::vector<double> seconds;
  for (int run = 0; run < 5; ++run) {
    auto t0 = std::chrono::steady_clock::now();
    decode_once(input, n);
    seconds.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  }
  std::sort(seconds.begin(), seconds.end());
  double median = seconds[2];
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  std::printf("csv_decode: %zu rows in %.3f s = %.0f rows/s (median of 5; %.1f MB input, %.0f MB/s)\n", n,
              median, double(n) / median, double(input.size()) / 1e6, double(input.size()) / 1e6 / median);
  std::printf("csv_decode: peak RSS %.1f MB\n", double(usage.ru_maxrss) / 1024.0);
  return 0;
}
