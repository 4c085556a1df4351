#include "pipeline/ingest_pipeline.hpp"

#include <algorithm>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <filesystem>
#include <mutex>
#include <thread>

#include "core/crash_point.hpp"
#include "correlate/attribution.hpp"
#include "pipeline/staged_batch.hpp"
#include "sources/file_source.hpp"

namespace advx {

namespace fs = std::filesystem;

struct IngestPipeline::Unit {
  explicit Unit(Stream s) : raw(s) {}
  void clear() {
    raw.clear();
    rows.clear();
    bytes = 0;
  }
  std::vector<char> buffer;  // the input block (plus padding); RawBatch cells point into it
  RawBatch raw;
  DedupedBatch rows;  // the staged tables, the rows of each that are new, and the keys they add
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

IngestPipeline::IngestPipeline(Store& store, const Dimensions& dims, IngestOptions options)
    : store_(store),
      dims_(dims),
      options_(std::move(options)),
      validator_(dims_, options_.validation),
      dedup_(options_.dedup_window_us, options_.dedup_spill.in_folder(store.local_folder())) {
  summary_.db_path = store.url();
  // Several writers commit their units in any order. That is safe only where a commit holds a unit's rows
  // and dedup keys in every table at once; a store that instead skips, on replay, the positions a table
  // already holds needs each file's rows to arrive in record order: one writer.
  if (!store.guarantees().atomic_multi_table_commit) options_.store_workers = 1;
  for (int i = 1; i < options_.store_workers; i++) extra_connections_.push_back(store_.another_connection());
}

IngestPipeline::~IngestPipeline() = default;

void IngestPipeline::load_state() {
  store_.scan_dedup_state([this](uint8_t space, uint64_t hi, uint64_t lo, int64_t ts, uint64_t payload) {
    dedup_.load(space, hi, lo, ts, payload);
  });
}

void IngestPipeline::reserve_for(const std::vector<std::string>& files) {
  size_t estimate[kStreamCount] = {};
  for (const std::string& f : files) {
    const std::optional<Format> format = format_from_name(f);
    std::error_code ec;
    const uintmax_t size = fs::file_size(f, ec);
    if (!format || ec) continue;
    // Record sizes a little under those of advx gen's data (395 B JSON lines with a user agent, 104 B CSV
    // rows, 103 B snappy-compressed Avro records): an index slightly too large costs less than a rehash.
    // A compressed file holds about four times its size.
    const size_t bytes_per_record = *format == Format::json ? 360 : 95;
    const bool compressed = f.ends_with(".gz") || f.ends_with(".zst");
    estimate[size_t(stream_of(*format))] += size_t(size) / bytes_per_record * (compressed ? 4 : 1);
  }
  dedup_.reserve_more(KeySpace::impressions, estimate[size_t(Stream::impressions)]);
  dedup_.reserve_more(KeySpace::events, estimate[size_t(Stream::events)]);
  dedup_.reserve_more(KeySpace::bid_requests, estimate[size_t(Stream::bid_requests)]);
}

void IngestPipeline::dedup_unit(Unit& u, StreamSummary& st) {
  st.read += u.raw.records_read();
  st.bytes += u.bytes;
  for (const auto& [k, v] : u.raw.unknown_fields) st.unknown_fields[k] += v;
  u.rows.dedup(dedup_,
               [&](const StagedTable& t, const std::vector<uint32_t>& keep, const DedupCounts& counts) {
                 st.duplicates += counts.duplicates;
                 st.duplicate_conflicts += counts.conflicts;
                 if (&t.rows.def() == &tables::kRejects) {
                   for (uint32_t r : keep) st.by_reason[size_t(t.reasons[r])]++;
                   return;
                 }
                 st.stored += keep.size();
                 count_stored_flags(t, keep, st);
               });
}

void IngestPipeline::store_unit(Store& store, Unit& u) { u.rows.append_to(store); }

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

  // The reading thread decodes, validates and deduplicates; store workers append in parallel, each in
  // transactions of its own that commit every commit_rows rows and when the file is done.
  std::vector<Store*> stores = {&store_};
  for (auto& c : extra_connections_) stores.push_back(c.get());
  const size_t workers = stores.size();
  const size_t unit_count = workers + 2;
  std::vector<std::unique_ptr<Unit>> units;
  Channel<Unit*> free_units(unit_count), full_units(unit_count + workers);
  for (size_t i = 0; i < unit_count; i++) {
    units.push_back(std::make_unique<Unit>(stream));
    free_units.push(units.back().get());
  }
  std::string read_error;
  std::atomic<bool> store_failed{false};  // stops reading early: nothing more will be stored
  std::mutex error_mutex;
  std::string store_error;  // the first store (or dedup spill) failure: the run fails
  std::thread reader([&] {
    std::vector<char> carry;  // bytes the decoder did not consume yet
    bool first_block = true;
    bool end = at_end;
    while (!store_failed) {
      Unit* u = free_units.pop();
      u->clear();
      std::vector<char>& buf = u->buffer;
      size_t len = 0;
      if (first_block) {
        buf.swap(first);
        len = first_len;
        first_block = false;
      } else {
        buf.resize(std::max(buf.size(), carry.size() + block + kInputPadding));
        if (!carry.empty())
          std::memcpy(buf.data(), carry.data(), carry.size());  // an empty carry may be null
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
        // A record larger than a block: read on, up to a bound, so that a stray quote in a CSV file or a
        // JSON file without line ends cannot pull a whole file into memory.
        if (buf.size() >= options_.max_record_bytes) {
          read_error = path + ": a record is longer than " + std::to_string(options_.max_record_bytes >> 20) +
                       " MB (at byte " + std::to_string(src->position()) + "): not a valid input";
          end = true;
          break;
        }
        buf.resize(std::min(buf.size() * 2, options_.max_record_bytes + kInputPadding));
      }
      if (!read_error.empty() && consumed == 0) {  // nothing more can be decoded from this file
        u->raw.clear();
        u->rows.staged.clear();
        full_units.push(u);
        break;
      }
      if (!decoder->fatal_error().empty()) end = true;
      carry.assign(buf.data() + consumed, buf.data() + len);
      u->bytes = consumed;
      validator_.process(u->raw, source, u->rows.staged);
      try {
        dedup_unit(*u, file_summary);
      } catch (const std::runtime_error& e) {  // the dedup index could not spill to disk (a full disk)
        std::lock_guard lock(error_mutex);
        if (store_error.empty()) store_error = e.what();
        store_failed = true;
        u->clear();
        free_units.push(u);
        break;
      }
      if (progress) progress(src->position());
      const bool last = end && (carry.empty() || consumed == 0);
      full_units.push(u);
      if (last) break;
    }
    for (size_t i = 0; i < workers; i++) full_units.push(nullptr);
  });

  // Every transaction of rows records that they owe attribution (correlate/attribution.hpp), so a kill
  // before the run's attribution pass leaves the debt for the next run to pay.
  auto commit = [this](Store& store) {
    owe_attribution(store, options_.validation.ingested_at_us);
    store.commit();
    crash_point("ingest.commit");
  };
  auto work = [&](Store& store) {
    bool failed = false;
    try {
      store.begin();
    } catch (const StoreError& e) {
      failed = true;
      store_failed = true;
      std::lock_guard lock(error_mutex);
      if (store_error.empty()) store_error = e.what();
    }
    size_t since_commit = 0;
    for (Unit* u; (u = full_units.pop()) != nullptr;) {
      if (!failed) {
        try {
          store_unit(store, *u);
          for (const auto& k : u->rows.keep) since_commit += k.size();
          if (since_commit >= options_.commit_rows) {
            commit(store);
            store.begin();
            since_commit = 0;
          }
        } catch (const StoreError& e) {
          failed = true;
          store_failed = true;
          std::lock_guard lock(error_mutex);
          if (store_error.empty()) store_error = e.what();
        }
      }
      free_units.push(u);
    }
  };
  std::vector<std::thread> extra_workers;
  for (size_t i = 1; i < workers; i++) extra_workers.emplace_back(work, std::ref(*stores[i]));
  work(*stores[0]);
  for (auto& t : extra_workers) t.join();
  reader.join();
  if (!store_error.empty()) {
    for (Store* s : stores) {
      try {
        s->rollback();
      } catch (const StoreError&) {
      }
    }
    throw StoreError(store_error);
  }
  // Commit in parallel too: committing writes and compresses what each transaction appended.
  std::vector<std::thread> committers;
  std::string commit_error;
  for (size_t i = 1; i < workers; i++) {
    committers.emplace_back([&, i] {
      try {
        commit(*stores[i]);
      } catch (const StoreError& e) {
        std::lock_guard lock(error_mutex);
        commit_error = e.what();
      }
    });
  }
  try {
    commit(*stores[0]);
  } catch (const StoreError& e) {
    std::lock_guard lock(error_mutex);
    commit_error = e.what();
  }
  for (auto& t : committers) t.join();
  if (!commit_error.empty()) throw StoreError(commit_error);

  summary_.of(stream).merge(file_summary);
  if (!read_error.empty() || !decoder->fatal_error().empty()) {
    summary_.failures.push_back(
        {path, !read_error.empty() ? read_error : path + ": " + decoder->fatal_error()});
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
        if (hidden || (!skip.empty() && fs::weakly_canonical(it->path(), ec) == skip))
          it.disable_recursion_pending();
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
