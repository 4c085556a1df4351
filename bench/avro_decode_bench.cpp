// Avro bid-request decoding: advx's decoder vs avro-c's generic reader over the same OCF file (null codec).
// Usage: avro_decode_bench [records=1000000]. Writes the file with avro-c, one warm-up run, five timed runs
// each, reports the best; then peak RSS of the whole process.
#include <avro.h>
#include <sys/resource.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>

#include "formats/avro/avro_decoder.hpp"
#include "formats/decoder.hpp"

namespace {

std::string read_all(const std::string& path) {
  std::ifstream f(path, std::ios::binary | std::ios::ate);
  if (!f) return {};
  std::string s(size_t(f.tellg()), '\0');
  f.seekg(0);
  f.read(s.data(), std::streamsize(s.size()));
  return s;
}

avro_value_t get(avro_value_t v, const char* name) {
  avro_value_t f;
  avro_value_get_by_name(&v, name, &f, nullptr);
  return f;
}
avro_value_t branch(avro_value_t v, int b) {
  avro_value_t out;
  avro_value_set_branch(&v, b, &out);
  return out;
}
void str(avro_value_t v, const std::string& s) { avro_value_set_string_len(&v, s.c_str(), s.size() + 1); }

bool write_file(const std::string& path, const std::string& schema_json, long n) {
  avro_schema_t schema;
  if (avro_schema_from_json_length(schema_json.data(), schema_json.size(), &schema)) return false;
  avro_file_writer_t w;
  if (avro_file_writer_create_with_codec(path.c_str(), schema, &w, "null", 64 * 1024)) return false;
  avro_value_iface_t* iface = avro_generic_class_from_schema(schema);
  avro_value_t rec;
  avro_generic_value_new(iface, &rec);
  const char* uas[] = {
      "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148",
      "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/120.0 Safari/537.36"};
  for (long i = 0; i < n; ++i) {
    avro_value_reset(&rec);
    str(get(rec, "id"), "a7f3c2d1-" + std::to_string(1000000000 + i));
    avro_value_t ts = get(rec, "timestamp");
    avro_value_set_long(&ts, 1767225600000 + i);
    avro_value_t imps = get(rec, "imp");
    for (int k = 0; k < 1 + int(i % 2); ++k) {
      avro_value_t imp;
      avro_value_append(&imps, &imp, nullptr);
      str(get(imp, "id"), std::to_string(k + 1));
      avro_value_t bf = get(imp, "bidfloor");
      avro_value_set_double(&bf, 0.25 + double(i % 7) * 0.1 + k);
      str(branch(get(imp, "bidfloorcur"), 1), "USD");
      avro_value_t banner = branch(get(imp, "banner"), 1);
      avro_value_t wv = get(banner, "w"), hv = get(banner, "h");
      avro_value_set_int(&wv, 300);
      avro_value_set_int(&hv, 250);
    }
    if (i % 4 == 0) {
      avro_value_t nb = branch(get(rec, "site"), 0);
      avro_value_set_null(&nb);
      str(get(branch(get(rec, "app"), 1), "bundle"), "com.example.game" + std::to_string(i % 500));
    } else {
      avro_value_t site = branch(get(rec, "site"), 1);
      str(get(site, "domain"), "news" + std::to_string(i % 1000) + ".example.com");
      str(branch(get(site, "page"), 1), "https://news.example.com/article/" + std::to_string(i % 9000));
      avro_value_t cat = get(site, "cat"), c1;
      avro_value_append(&cat, &c1, nullptr);
      str(c1, "IAB12");
      avro_value_t na = branch(get(rec, "app"), 0);
      avro_value_set_null(&na);
    }
    avro_value_t dev = branch(get(rec, "device"), 1);
    str(branch(get(dev, "ua"), 1), uas[i % 2]);
    str(branch(get(dev, "ip"), 1), "203.0.113." + std::to_string(i % 256));
    avro_value_t dt = branch(get(dev, "devicetype"), 1);
    avro_value_set_int(&dt, int(1 + i % 7));
    str(branch(get(branch(get(dev, "geo"), 1), "country"), 1), i % 3 ? "USA" : "DEU");
    str(branch(get(branch(get(rec, "user"), 1), "id"), 1), "u-" + std::to_string(i % 100000));
    str(branch(get(rec, "exchange"), 1), "openx");
    avro_value_t at = get(rec, "at");
    avro_value_set_int(&at, 1);
    avro_value_t tm = branch(get(rec, "tmax"), 1);
    avro_value_set_int(&tm, 120);
    if (avro_file_writer_append_value(w, &rec)) return false;
  }
  avro_file_writer_close(w);
  avro_value_decref(&rec);
  avro_value_iface_decref(iface);
  avro_schema_decref(schema);
  return true;
}

// Our decoder over the whole file, in 4 MiB pieces like the file reader; returns rows decoded.
long run_advx(const std::string& bytes) {
  constexpr size_t kChunk = 4 << 20;
  auto dec = advx::make_avro_decoder();
  advx::RawBatch batch(advx::Stream::bid_requests);
  long rows = 0;
  size_t pos = 0;
  std::string buf;
  while (true) {
    size_t end = std::min(bytes.size(), pos + kChunk);
    bool at_end = end == bytes.size();
    buf.append(bytes, pos, end - pos);
    pos = end;
    buf.reserve(buf.size() + advx::kInputPadding);
    batch.clear();
    size_t used = dec->decode(buf, at_end, batch);
    rows += long(batch.rows());
    buf.erase(0, used);
    if (at_end) break;
  }
  return rows;
}

// avro-c's generic reader, reading the same fields by name.
long run_avro_c(const std::string& path) {
  avro_file_reader_t r;
  if (avro_file_reader(path.c_str(), &r)) return -1;
  avro_schema_t ws = avro_file_reader_get_writer_schema(r);
  avro_value_iface_t* iface = avro_generic_class_from_schema(ws);
  avro_value_t v;
  avro_generic_value_new(iface, &v);
  long rows = 0;
  double sink = 0;
  while (avro_file_reader_read_value(r, &v) == 0) {
    const char* s;
    size_t sz;
    int64_t l;
    int32_t i32;
    double d;
    avro_value_t f, b, imp;
    avro_value_get_by_name(&v, "id", &f, nullptr);
    avro_value_get_string(&f, &s, &sz);
    avro_value_get_by_name(&v, "timestamp", &f, nullptr);
    avro_value_get_long(&f, &l);
    avro_value_get_by_name(&v, "imp", &f, nullptr);
    size_t n = 0;
    avro_value_get_size(&f, &n);
    for (size_t k = 0; k < n; ++k) {
      avro_value_get_by_index(&f, k, &imp, nullptr);
      avro_value_t bf;
      avro_value_get_by_name(&imp, "bidfloor", &bf, nullptr);
      avro_value_get_double(&bf, &d);
      sink += d;
    }
    auto str_in = [&](avro_value_t rec, const char* name) {
      avro_value_t u, br;
      avro_value_get_by_name(&rec, name, &u, nullptr);
      int disc;
      avro_value_get_discriminant(&u, &disc);
      if (disc == 1) {
        avro_value_get_current_branch(&u, &br);
        avro_value_get_string(&br, &s, &sz);
        sink += double(sz);
      }
    };
    avro_value_get_by_name(&v, "site", &f, nullptr);
    int disc;
    avro_value_get_discriminant(&f, &disc);
    if (disc == 1) {
      avro_value_get_current_branch(&f, &b);
      avro_value_t dom;
      avro_value_get_by_name(&b, "domain", &dom, nullptr);
      avro_value_get_string(&dom, &s, &sz);
    }
    avro_value_get_by_name(&v, "app", &f, nullptr);
    avro_value_get_discriminant(&f, &disc);
    if (disc == 1) {
      avro_value_get_current_branch(&f, &b);
      avro_value_t bun;
      avro_value_get_by_name(&b, "bundle", &bun, nullptr);
      avro_value_get_string(&bun, &s, &sz);
    }
    avro_value_get_by_name(&v, "device", &f, nullptr);
    avro_value_get_discriminant(&f, &disc);
    if (disc == 1) {
      avro_value_get_current_branch(&f, &b);
      str_in(b, "ua");
      str_in(b, "ip");
      avro_value_t dt, dtb, geo, geob;
      avro_value_get_by_name(&b, "devicetype", &dt, nullptr);
      avro_value_get_discriminant(&dt, &disc);
      if (disc == 1) {
        avro_value_get_current_branch(&dt, &dtb);
        avro_value_get_int(&dtb, &i32);
      }
      avro_value_get_by_name(&b, "geo", &geo, nullptr);
      avro_value_get_discriminant(&geo, &disc);
      if (disc == 1) {
        avro_value_get_current_branch(&geo, &geob);
        str_in(geob, "country");
      }
    }
    avro_value_get_by_name(&v, "user", &f, nullptr);
    avro_value_get_discriminant(&f, &disc);
    if (disc == 1) {
      avro_value_get_current_branch(&f, &b);
      str_in(b, "id");
    }
    str_in(v, "exchange");
    ++rows;
  }
  avro_value_decref(&v);
  avro_value_iface_decref(iface);
  avro_schema_decref(ws);
  avro_file_reader_close(r);
  if (sink < 0) std::printf("%f\n", sink);  // keeps the reads
  return rows;
}

template <class F>
double best_of_five(F&& run, long expect, const char* name) {
  run();  // warm-up
  double best = 1e30;
  for (int i = 0; i < 5; ++i) {
    auto t0 = std::chrono::steady_clock::now();
    long got = run();
    double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (got != expect) {
      std::fprintf(stderr, "%s decoded %ld records, expected %ld\n", name, got, expect);
      std::exit(1);
    }
    best = std::min(best, s);
  }
  return best;
}

}  // namespace

int main(int argc, char** argv) {
  long n = argc > 1 ? std::atol(argv[1]) : 1000000;
  // The repository root, from this file's path (bench/ has no compile definitions of its own).
  std::string src = __FILE__;
  src = src.substr(0, src.rfind('/'));
  src = src.substr(0, src.rfind('/'));
  std::string schema = read_all(src + "/schemas/bid_request.avsc");
  if (schema.empty()) schema = read_all("schemas/bid_request.avsc");
  if (schema.empty()) {
    std::fprintf(stderr, "cannot read schemas/bid_request.avsc\n");
    return 1;
  }
  std::string path = "/tmp/advx_avro_bench_" + std::to_string(getpid()) + ".avro";
  if (!write_file(path, schema, n)) {
    std::fprintf(stderr, "avro-c could not write %s: %s\n", path.c_str(), avro_strerror());
    return 1;
  }
  std::string bytes = read_all(path);
  std::printf("file: %ld records, %.1f MB, null codec\n", n, double(bytes.size()) / 1e6);
  double a = best_of_five([&] { return run_advx(bytes); }, n, "advx");
  double c = best_of_five([&] { return run_avro_c(path); }, n, "avro-c");
  std::printf("avro_decode advx: %ld records in %.3f s = %.0f rec/s\n", n, a, double(n) / a);
  std::printf("avro_decode avro-c: %ld records in %.3f s = %.0f rec/s\n", n, c, double(n) / c);
  std::printf("avro_decode ratio advx/avro-c: %.2fx\n", c / a);
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  std::printf("peak RSS: %.1f MB (file held in memory: %.1f MB)\n", double(ru.ru_maxrss) / 1024.0,
              double(bytes.size()) / 1e6);
  std::remove(path.c_str());
  return 0;
}
