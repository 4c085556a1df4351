#include "transforms/dedup_runs.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <tuple>

namespace advx {
namespace {
constexpr size_t kLineBits = 512;
constexpr size_t kLineWords = kLineBits / 64;
constexpr int kProbes = 7;  // bits set per key in its line: ~1 % false positives at 10 bits a key

inline bool entry_less(const DedupEntry& x, const DedupEntry& y) {
  return std::tie(x.a, x.b, x.event_time) < std::tie(y.a, y.b, y.event_time);
}

// A key's place in a filter: its 512-bit line, and in `h` the kProbes bit positions within it (9 bits
// each). `a` is a hash already; b is folded in so that keys sharing `a` differ.
struct BloomProbe {
  size_t line_word;  // index of the line's first word
  uint64_t h;
  unsigned bit(int i) const { return unsigned(h >> (9 * i)) & (kLineBits - 1); }
};
inline BloomProbe probe(uint64_t a, uint32_t b, const std::vector<uint64_t>& bloom) {
  const uint64_t x = a ^ (uint64_t(b) * 0x9E3779B97F4A7C15ULL);
  const size_t lines = bloom.size() / kLineWords;
  return {size_t((static_cast<unsigned __int128>(x) * lines) >> 64) * kLineWords, x * 0xC2B2AE3D27D4EB4FULL};
}

[[noreturn]] void fail(const std::string& what) {
  throw std::runtime_error("dedup spill: " + what + ": " + std::strerror(errno));
}

void read_at(int fd, void* buf, size_t bytes, size_t offset) {
  auto* p = static_cast<char*>(buf);
  while (bytes > 0) {
    const ssize_t n = ::pread(fd, p, bytes, off_t(offset));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) fail("cannot read a run");
    p += n;
    bytes -= size_t(n);
    offset += size_t(n);
  }
}
}  // namespace

// Writes sorted entries into a new run, building its filter and block index on the way.
class DedupRuns::Writer {
 public:
  Writer(Run run, size_t count) : run_(std::move(run)) {
    run_.bloom.assign(std::max<size_t>(1, (count * 10 + kLineBits - 1) / kLineBits) * kLineWords, 0);
    run_.block_first.reserve((count + kBlock - 1) / kBlock);
    buf_.reserve(kFlush);
  }
  void add(const DedupEntry& e) {
    if (run_.count % kBlock == 0) run_.block_first.push_back(e.a);
    const BloomProbe p = probe(e.a, e.b, run_.bloom);
    uint64_t* line = &run_.bloom[p.line_word];
    for (int i = 0; i < kProbes; i++) line[p.bit(i) / 64] |= uint64_t(1) << (p.bit(i) % 64);
    if (run_.count == 0 || e.event_time < run_.min_time) run_.min_time = e.event_time;
    if (run_.count == 0 || e.event_time > run_.max_time) run_.max_time = e.event_time;
    run_.count++;
    buf_.push_back(e);
    if (buf_.size() == kFlush) flush();
  }
  ~Writer() {
    if (run_.fd >= 0) ::close(run_.fd);  // a run that failed to be written
  }
  Run finish() {
    flush();
    Run done = std::move(run_);
    run_.fd = -1;
    return done;
  }

 private:
  static constexpr size_t kFlush = 8192;
  void flush() {
    const char* p = reinterpret_cast<const char*>(buf_.data());
    size_t left = buf_.size() * sizeof(DedupEntry);
    while (left > 0) {
      const ssize_t n = ::write(run_.fd, p, left);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) fail("cannot write a run");
      p += n;
      left -= size_t(n);
    }
    buf_.clear();
  }
  Run run_;
  std::vector<DedupEntry> buf_;
};

DedupRuns::~DedupRuns() {
  for (Run& r : runs_) close_run(r);
}

void DedupRuns::close_run(Run& r) {
  if (r.fd >= 0) ::close(r.fd);
  r.fd = -1;
}

DedupRuns::Run DedupRuns::open_run() const {
  std::string path = (dir_.empty() ? std::string(".") : dir_) + "/.advx-dedup-XXXXXX";
  Run r;
  r.fd = ::mkostemp(path.data(), O_CLOEXEC);
  if (r.fd < 0) fail("cannot create a file in " + (dir_.empty() ? std::string(".") : dir_));
  ::unlink(path.c_str());  // gone with the process; only the descriptor keeps it
  return r;
}

void DedupRuns::add(std::vector<DedupEntry> entries) {
  if (entries.empty()) return;
  std::sort(entries.begin(), entries.end(), entry_less);
  Writer w(open_run(), entries.size());
  for (const DedupEntry& e : entries) w.add(e);
  size_ += entries.size();
  entries = {};  // the sort buffer goes before any merge
  runs_.push_back(w.finish());
  // Merge while the newest run is at least half the one before: sizes fall geometrically, so there are
  // O(log n) runs and every entry is rewritten O(log n) times.
  while (runs_.size() >= 2 && runs_.back().count * 2 >= runs_[runs_.size() - 2].count) {
    Run merged = merge(runs_[runs_.size() - 2], runs_.back());
    close_run(runs_.back());
    runs_.pop_back();
    close_run(runs_.back());
    runs_.back() = std::move(merged);
  }
}

DedupRuns::Run DedupRuns::merge(Run& older, Run& newer) const {
  // Streams both files through small buffers; memory is the new filter and block index.
  struct Cursor {
    const Run& run;
    std::vector<DedupEntry> buf;
    size_t next = 0;  // entries read from the file
    size_t pos = 0;   // in buf
    bool refill() {
      if (pos < buf.size()) return true;
      const size_t n = std::min<size_t>(8192, run.count - next);
      if (n == 0) return false;
      buf.resize(n);
      read_at(run.fd, buf.data(), n * sizeof(DedupEntry), next * sizeof(DedupEntry));
      next += n;
      pos = 0;
      return true;
    }
  };
  Cursor x{older, {}}, y{newer, {}};
  Writer w(open_run(), older.count + newer.count);
  for (;;) {
    const bool hx = x.refill(), hy = y.refill();
    if (!hx && !hy) break;
    if (hx && (!hy || !entry_less(y.buf[y.pos], x.buf[x.pos])))
      w.add(x.buf[x.pos++]);
    else
      w.add(y.buf[y.pos++]);
  }
  return w.finish();
}

bool DedupRuns::find(uint64_t a, uint32_t b, int64_t event_time, int64_t window_us, DedupEntry& found,
                     const uint32_t* payload) const {
  for (auto it = runs_.rbegin(); it != runs_.rend(); ++it)
    if (find_in(*it, a, b, event_time, window_us, payload, found)) return true;
  return false;
}

bool DedupRuns::find_in(const Run& r, uint64_t a, uint32_t b, int64_t event_time, int64_t window_us,
                        const uint32_t* payload, DedupEntry& found) const {
  const bool before = event_time < r.min_time && !within_window(event_time, r.min_time, window_us);
  const bool after = event_time > r.max_time && !within_window(event_time, r.max_time, window_us);
  if (before || after) return false;
  const BloomProbe p = probe(a, b, r.bloom);
  const uint64_t* line = &r.bloom[p.line_word];
  for (int i = 0; i < kProbes; i++)
    if (!(line[p.bit(i) / 64] >> (p.bit(i) % 64) & 1)) return false;
  // Entries of `a` start in the last block whose first key is below a — or earlier, when blocks begin
  // with `a` itself.
  size_t blk =
      size_t(std::lower_bound(r.block_first.begin(), r.block_first.end(), a) - r.block_first.begin());
  if (blk > 0) blk--;
  DedupEntry buf[kBlock];
  for (; blk * kBlock < r.count; blk++) {
    const size_t first = blk * kBlock, n = std::min(kBlock, r.count - first);
    read_at(r.fd, buf, n * sizeof(DedupEntry), first * sizeof(DedupEntry));
    block_reads_++;
    for (size_t i = 0; i < n; i++) {
      const DedupEntry& e = buf[i];
      if (e.a > a) return false;
      if (e.a == a && e.b == b && (!payload || e.payload == *payload)) {
        if (within_window(e.event_time, event_time, window_us)) {
          found = e;
          return true;
        }
      }
    }
  }
  return false;
}

size_t DedupRuns::memory_bytes() const {
  size_t n = 0;
  for (const Run& r : runs_) n += r.bloom.capacity() * 8 + r.block_first.capacity() * 8;
  return n;
}

}  // namespace advx
