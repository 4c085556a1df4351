#include "pipeline/ingest_pipeline.hpp"

#include <algorithm>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <filesystem>
#include <mutex>
#include <thread>

#include "sources/file_source.hpp"

namespace advx {

namespace fs = std::filesystem;

struct IngestPipeline::Unit {
  explicit Unit(Stream s) : raw(s) {}
  std::vector<char> buffer;  // the input block (plus padding); RawBatch cells point into it
  RawBatch raw;
  ValidatedBatch staged;
  uint64_t bytes = 0;
};

namespace {

// A bounded blocking queue of unit pointers.
template <class T>
class Channel {
 public:
  explicit Channel(size_t cap) : cap_(cap) {}
  void push(T v) {
    std::unique_lock lock(m_);
    not_full_.wait(lock, [&] { return q_.size() < cap_; });
    q_.push_back(std::move(v));
    not_empty_.notify_one();
  }
  T pop() {
    std::unique_lock lock(m_);
    not_empty_.wait(lock, [&] { return !q_.empty(); });
    T v = std::move(q_.front());
    q_.pop_front();
    not_full_.notify_one();
    return v;
  }

 private:
  size_t cap_;
  std::mutex m_;
  std::condition_variable not_full_, not_empty_;
  std::deque<T> q_;
};

}  // namespace

IngestPipeline::IngestPipeline(DuckDbStore& store, const Dimensions& dims, IngestOptions options)
    : store_(store),
      dims_(dims),
      options_(std::move(options)),
      validator_(dims_, options_.validation),
      dedup_(options_.dedup_window_us) {
  summary_.db_path = store.path();
}

IngestPipeline::~IngestPipeline() = default;

void IngestPipeline::load_state() {
  store_.scan_dedup_state([this](uint8_t space, uint64_t hi, uint64_t lo, int64_t ts, uint64_t payload) {
    dedup_.load(space, hi, lo, ts, payload);
  });
}

void IngestPipeline::store_table(StagedTable& t, StreamSummary& st, bool is_rejects) {
  if (t.keys.empty()) return;
  keep_.clear();
  DedupCounts counts;
  dedup_.apply(t, keep_, counts);
  st.duplicates += counts.duplicates;
  st.duplicate_conflicts += counts.conflicts;
  if (keep_.empty()) return;
  store_.append(t.rows.slice(keep_.data(), keep_.size()));
  if (is_rejects) {
    for (uint32_t i : keep_) st.by_reason[size_t(t.reasons[i])]++;
    return;
  }
  st.stored += keep_.size();
  const TableDef& def = t.rows.def();
  if (&def == &tables::kImpressions) {
    const uint8_t* unknown = t.rows.data<uint8_t>(col::imp_unknown_creative);
    for (uint32_t i : keep_) st.unknown_creative += unknown[i];
  } else if (&def == &tables::kClicks || &def == &tables::kConversions) {
    const int c = &def == &tables::kClicks ? int(col::clk_unknown_campaign) : int(col::conv_unknown_campaign);
    const uint8_t* unknown = t.rows.data<uint8_t>(c);
    for (uint32_t i : keep_) st.unknown_campaign += unknown[i];
    (&def == &tables::kClicks ? st.stored_clicks : st.stored_conversions) += keep_.size();
  }
}

void IngestPipeline::store_unit(Unit& u, StreamSummary& st) {
  st.read += u.raw.records_read();
  st.bytes += u.bytes;
  for (const auto& [k, v] : u.raw.unknown_fields) st.unknown_fields[k] += v;
  // Rejects first: a record is one staged row, whichever table it landed in.
  store_table(u.staged.rejects, st, true);
  store_table(u.staged.impressions, st, false);
  store_table(u.staged.clicks, st, false);
  store_table(u.staged.conversions, st, false);
  store_table(u.staged.bid_requests, st, false);
}

bool IngestPipeline::ingest_file(const std::string& path, const std::function<void(uint64_t)>& progress) {
  std::string error;
  std::unique_ptr<FileSource> src = FileSource::open(path, &error);
  if (!src) {
    summary_.failures.push_back({path, error});
    return false;
  }
  // The source name stored with every row: the absolute path, so that rejects keep their identity
  // whatever the working directory of the run.
  std::error_code ec;
  const std::string source = fs::weakly_canonical(fs::absolute(path), ec).string();

  // Read the first block to choose the decoder (extension first, content second).
  const size_t block = options_.block_bytes;
  std::vector<char> first(block + kInputPadding);
  size_t first_len = 0;
  bool at_end = false;
  while (first_len < block && !at_end) {
    const long got = src->read(first.data() + first_len, block - first_len, &error);
    if (got < 0) {
      summary_.failures.push_back({path, error});
      return false;
    }
    if (got == 0) at_end = true;
    first_len += size_t(got);
  }
  const Format format = format_from_name(path).value_or(format_from_content({first.data(), first_len}));
  const Stream stream = stream_of(format);
  std::unique_ptr<Decoder> decoder = make_decoder(format);
  StreamSummary file_summary;
  file_summary.files = 1;

  // Stage 1 (reader thread): read, decode, validate. Stage 2 (this thread): dedup, store.
  constexpr size_t kUnits = 3;
  std::vector<std::unique_ptr<Unit>> units;
  Channel<Unit*> free_units(kUnits), full_units(kUnits);
  for (size_t i = 0; i < kUnits; i++) {
    units.push_back(std::make_unique<Unit>(stream));
    free_units.push(units.back().get());
  }
  std::string read_error;
  std::thread reader([&] {
    std::vector<char> carry;  // bytes the decoder did not consume yet
    bool first_block = true;
    bool end = at_end;
    for (;;) {
      Unit* u = free_units.pop();
      u->raw.clear();
      u->staged.clear();
      u->bytes = 0;
      std::vector<char>& buf = u->buffer;
      size_t len = 0;
      if (first_block) {
        buf.swap(first);
        len = first_len;
        first_block = false;
      } else {
        buf.resize(std::max(buf.size(), carry.size() + block + kInputPadding));
        std::memcpy(buf.data(), carry.data(), carry.size());
        len = carry.size();
      }
      carry.clear();
      size_t consumed = 0;
      for (;;) {
        // Fill the buffer, then decode; a decoder that consumed nothing needs a bigger piece.
        while (!end && len + kInputPadding < buf.size()) {
          const long got = src->read(buf.data() + len, buf.size() - kInputPadding - len, &read_error);
          if (got < 0) {
            end = true;
            break;
          }
          if (got == 0) end = true;
          len += size_t(got);
        }
        std::memset(buf.data() + len, 0, kInputPadding);
        consumed = decoder->decode({buf.data(), len}, end, u->raw);
        if (consumed > 0 || end || !decoder->fatal_error().empty()) break;
        buf.resize(buf.size() * 2);  // a record larger than a block
      }
      if (!decoder->fatal_error().empty()) end = true;
      carry.assign(buf.data() + consumed, buf.data() + len);
      u->bytes = consumed;
      validator_.process(u->raw, source, u->staged);
      if (progress) progress(src->position());
      const bool last = end && (carry.empty() || consumed == 0);
      full_units.push(u);
      if (last) break;
    }
    full_units.push(nullptr);
  });

  bool store_failed = false;
  std::string store_error;
  try {
    store_.begin();
    for (Unit* u; (u = full_units.pop()) != nullptr;) {
      if (!store_failed) {
        try {
          store_unit(*u, file_summary);
        } catch (const StoreError& e) {
          store_failed = true;
          store_error = e.what();
        }
      }
      free_units.push(u);
    }
    reader.join();
    if (store_failed) throw StoreError(store_error);
    TableBuffer& state = dedup_.new_state();
    if (state.rows() > 0) store_.append(state.slice());
    dedup_.clear_new_state();
    store_.commit();
  } catch (const StoreError& e) {
    if (reader.joinable()) {
      // drain so the reader can finish
      for (Unit* u; (u = full_units.pop()) != nullptr;) free_units.push(u);
      reader.join();
    }
    try {
      store_.rollback();
    } catch (const StoreError&) {
    }
    throw;
  }

  summary_.of(stream).merge(file_summary);
  if (!read_error.empty() || !decoder->fatal_error().empty()) {
    summary_.failures.push_back({path, !read_error.empty() ? read_error : path + ": " + decoder->fatal_error()});
    return false;
  }
  summary_.files_ok++;
  return true;
}

std::vector<std::string> expand_inputs(const std::vector<std::string>& paths, const std::string& skip_dir,
                                       std::string* error) {
  std::vector<std::string> files;
  std::error_code ec;
  const fs::path skip = skip_dir.empty() ? fs::path() : fs::weakly_canonical(skip_dir, ec);
  for (const std::string& p : paths) {
    const fs::file_status st = fs::status(p, ec);
    if (ec || !fs::exists(st)) {
      *error = p + ": no such file or directory";
      return {};
    }
    if (!fs::is_directory(st)) {
      files.push_back(p);
      continue;
    }
    std::vector<std::string> found;
    for (auto it = fs::recursive_directory_iterator(p, ec); !ec && it != fs::recursive_directory_iterator();
         it.increment(ec)) {
      const std::string name = it->path().filename().string();
      const bool hidden = !name.empty() && (name[0] == '_' || name[0] == '.');
      if (it->is_directory()) {
        if (hidden || (!skip.empty() && fs::weakly_canonical(it->path(), ec) == skip)) it.disable_recursion_pending();
        continue;
      }
      if (hidden || !it->is_regular_file()) continue;
      if (format_from_name(name)) found.push_back(it->path().string());
    }
    if (ec) {
      *error = p + ": " + ec.message();
      return {};
    }
    std::sort(found.begin(), found.end());
    files.insert(files.end(), found.begin(), found.end());
  }
  return files;
}

}  // namespace advx
