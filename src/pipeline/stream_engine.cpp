#include "pipeline/stream_engine.hpp"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>

#include "core/crash_point.hpp"
#include "core/kafka_partition.hpp"
#include "core/time_util.hpp"
#include "formats/avro/avro_decoder.hpp"
#include "formats/format_detect.hpp"
#include "pipeline/staged_batch.hpp"
#include "transforms/kafka_key.hpp"

namespace advx {

namespace {

// The event_time column of each event table, for the watermark.
int event_time_column(const TableDef& def) {
  if (&def == &tables::kImpressions) return col::imp_event_time;
  if (&def == &tables::kClicks || &def == &tables::kConversions) return col::ev_event_time;
  if (&def == &tables::kBidRequests) return col::bid_event_time;
  return -1;
}

// kLagBucketsSeconds in microseconds: a stored event's lag is bucketed in integers, branch-free.
constexpr std::array<int64_t, kLagBucketsSeconds.size()> kLagBoundsUs = [] {
  std::array<int64_t, kLagBucketsSeconds.size()> us{};
  for (size_t i = 0; i < us.size(); i++) us[i] = int64_t(kLagBucketsSeconds[i] * 1e6);
  return us;
}();
static_assert(kLagBoundsUs.front() == 1'000'000 && kLagBoundsUs.back() == 86'400'000'000LL);

// The event-time lag of the kept rows (processing time `now_us` less each row's event time, at least 0):
// one pass over the event_time column, the same buckets as lag_bucket().
void observe_lags(LagHistogram& h, const int64_t* times, const std::vector<uint32_t>& rows, int64_t now_us) {
  double sum_us = 0;
  for (uint32_t row : rows) {
    const int64_t lag = std::max<int64_t>(0, now_us - times[row]);
    size_t b = 0;
    for (int64_t bound : kLagBoundsUs) b += size_t(lag > bound);
    h.counts[b]++;
    sum_us += double(lag);
  }
  h.sum += sum_us / 1e6;
  h.count += rows.size();
}

}  // namespace

uint64_t SubmitResult::rejected() const {
  uint64_t n = 0;
  for (int i = 0; i < kReasonCount; i++)
    if (!is_filter_reason(Reason(i))) n += by_reason[size_t(i)];
  return n;
}

uint64_t SubmitResult::filtered() const {
  uint64_t n = 0;
  for (int i = 0; i < kReasonCount; i++)
    if (is_filter_reason(Reason(i))) n += by_reason[size_t(i)];
  return n;
}

// The engine thread's buffers, reused from submission to submission (the store copies appended rows).
struct StreamEngine::Scratch {
  DedupedBatch rows;
};

// One micro-batch: the submissions of one transaction, answered once it commits.
struct StreamEngine::Batch {
  std::vector<Submission> subs;
  std::vector<SubmitResult> results;
  std::map<std::pair<std::string, int32_t>, int64_t> kafka;  // (topic, partition) -> next offset
  std::array<StreamSummary, kStreamCount> summary;
  std::array<uint64_t, kStreamCount> late{};
  std::array<LagHistogram, kStreamCount> lag;  // of the stored rows
  std::array<uint64_t, kStreamCount> forwarded{};
  bool forwarding = false;  // records were queued to the forwarding producer: flushed before the commit
  size_t records = 0;
  int64_t ingested_at_us = 0;
  std::chrono::steady_clock::time_point started;
  double commit_seconds = 0;  // store_.commit() alone
};

StreamEngine::StreamEngine(Store& store, Dimensions dims, StreamEngineOptions options)
    : store_(store),
      options_(std::move(options)),
      dims_(std::make_unique<Dimensions>(std::move(dims))),
      dedup_(std::make_unique<Deduplicator>(options_.dedup_window_us,
                                            options_.dedup_spill.in_folder(store.local_folder()))),
      scratch_(std::make_unique<Scratch>()) {
  validator_ = std::make_unique<Validator>(*dims_, options_.validation);
}

StreamEngine::~StreamEngine() { stop(); }

void StreamEngine::reload_dedup_state() {
  dedup_.reset();  // the old index goes first: both at once would double the memory
  dedup_ = std::make_unique<Deduplicator>(options_.dedup_window_us,
                                          options_.dedup_spill.in_folder(store_.local_folder()));
  store_.scan_dedup_state(dedup_scope_,
                          [this](uint8_t space, uint64_t hi, uint64_t lo, int64_t ts, uint64_t payload) {
                            dedup_->load(space, hi, lo, ts, payload);
                          });
}

void StreamEngine::kafka_partitions_assigned(const std::vector<std::pair<std::string, int32_t>>& partitions) {
  {
    std::lock_guard lock(query_mutex_);
    Store& q = query_store_ ? *query_store_ : store_;
    q.claim_kafka_partitions(partitions, options_.fleet_member, wall_clock_us());
  }
  std::lock_guard lock(mutex_);
  pending_assignment_ = partitions;
  wake_.notify_one();
}

// On the engine thread, between two micro-batches.
void StreamEngine::apply_assignment(const std::vector<std::pair<std::string, int32_t>>& partitions) {
  std::vector<std::string> sources;
  for (const auto& [topic, partition] : partitions)
    sources.push_back("kafka:" + topic + "/" + std::to_string(partition));
  dedup_scope_ = DedupScope::of_kafka_sources(std::move(sources));
  dedup_stale_ = true;  // rebuilt by the next begin_batch(), from the store as it is then
  // Where a partition stands is the store's to say now: the consumer seeks there, and its first
  // submission sets it again.
  for (auto it = kafka_committed_.begin(); it != kafka_committed_.end();) it = kafka_committed_.erase(it);
  store_.reload_positions();
}

// Fleet fencing: true when another member claimed a Kafka partition of the batch since this one did.
// Checked just before the commit: the claims are a small table, read in one statement.
bool StreamEngine::fence(Batch& batch) {
  if (options_.fleet_member.empty() || batch.kafka.empty()) return false;
  std::map<std::pair<std::string, int32_t>, std::string> owner;
  for (const KafkaClaim& c : store_.kafka_claims()) owner[{c.topic, c.partition}] = c.member;
  bool fenced = false;
  for (size_t i = 0; i < batch.subs.size(); i++) {
    const Submission& sub = batch.subs[i];
    if (!sub.kafka) continue;
    auto it = owner.find({sub.kafka->topic, sub.kafka->partition});
    if (it == owner.end() || it->second == options_.fleet_member) continue;
    batch.results[i].status = SubmitResult::Status::fenced;
    fenced = true;
  }
  return fenced;
}

void StreamEngine::set_attribution_enabled(bool enabled, bool final_pass) {
  std::unique_lock lock(attribution_mutex_);
  if (!enabled && final_pass && attribution_enabled_ && attribution_thread_.joinable()) {
    attribution_force_ = true;
    attribution_wake_.notify_one();
    attribution_idle_.wait(lock, [&] { return !attribution_force_ || attribution_stop_; });
  }
  attribution_enabled_ = enabled;
  attribution_idle_.wait(lock, [&] { return !attribution_running_; });
}

void StreamEngine::start() {
  std::lock_guard lock(mutex_);
  if (started_) return;
  started_ = true;
  attribution_store_ = store_.another_connection();
  query_store_ = store_.another_connection();
  reload_dedup_state();
  last_ingested_at_us_ = store_.max_ingested_at().value_or(0);
  committed_through_us_ = last_ingested_at_us_;
  for (const StoredKafkaOffset& p : store_.kafka_positions())
    kafka_committed_[{p.topic, p.partition}] = p.next_offset;
  engine_thread_ = std::thread([this] { run(); });
  attribution_thread_ = std::thread([this] { attribution_loop(); });
}

bool StreamEngine::submit(Submission s) {
  std::lock_guard lock(mutex_);
  // One submission is taken even over the bound, so that a body larger than the queue is not refused
  // forever; the HTTP server bounds bodies on its own.
  if (stopping_ || !started_ || (queue_bytes_ > 0 && queue_bytes_ + s.body.size() > options_.max_queue_bytes))
    return false;
  if (s.kafka && kafka_retrying_) return false;
  queue_bytes_ += s.body.size();
  queue_.push_back(std::move(s));
  ++submitted_;
  wake_.notify_one();
  return true;
}

void StreamEngine::flush() {
  std::unique_lock lock(mutex_);
  const uint64_t target = submitted_;
  progressed_.wait(lock, [&] { return finished_ >= target || stopped_; });
}

void StreamEngine::stop() {
  {
    std::lock_guard lock(mutex_);
    if (!started_ || stopping_) {
      stopping_ = true;
      return;
    }
    stopping_ = true;
    wake_.notify_one();
  }
  if (engine_thread_.joinable()) engine_thread_.join();
  {
    std::lock_guard lock(attribution_mutex_);
    attribution_stop_ = true;
    attribution_wake_.notify_one();
    attribution_idle_.notify_all();
  }
  if (attribution_thread_.joinable()) attribution_thread_.join();
  std::lock_guard lock(mutex_);
  stopped_ = true;
  progressed_.notify_all();
}

void StreamEngine::reload_dimensions(Dimensions dims) {
  std::lock_guard lock(mutex_);
  pending_dims_ = std::make_unique<Dimensions>(std::move(dims));
}

std::map<int32_t, int64_t> StreamEngine::kafka_positions(const std::string& topic) {
  std::lock_guard lock(query_mutex_);
  Store& q = query_store_ ? *query_store_ : store_;
  std::map<int32_t, int64_t> out;
  for (const StoredKafkaOffset& p : q.kafka_positions(topic)) out[p.partition] = p.next_offset;
  return out;
}

EngineStats StreamEngine::stats() const {
  std::lock_guard lock(mutex_);
  EngineStats s = stats_;
  s.queue_bytes = queue_bytes_;
  s.queue_submissions = queue_.size();
  return s;
}

void StreamEngine::begin_batch(Batch& batch) {
  if (dedup_stale_) {
    try {
      reload_dedup_state();
    } catch (const StoreError&) {
      throw;
    } catch (const std::runtime_error& e) {  // the index spilling to disk
      throw StoreError(std::string("cannot rebuild the dedup index: ") + e.what());
    }
    dedup_stale_ = false;
  }
  // ingested_at strictly increases from batch to batch: attribution picks batches up by it.
  batch.ingested_at_us = std::max(wall_clock_us(), last_ingested_at_us_ + 1);
  last_ingested_at_us_ = batch.ingested_at_us;
  batch.started = std::chrono::steady_clock::now();
  options_.validation.now_us = wall_clock_us();
  options_.validation.ingested_at_us = batch.ingested_at_us;
  std::unique_ptr<Dimensions> fresh;
  {
    std::lock_guard lock(mutex_);
    fresh = std::move(pending_dims_);
  }
  store_.begin();
  if (fresh) {
    // SIGHUP: new dimensions for this batch on, stored with it.
    TableBuffer campaigns(tables::kCampaigns), creatives(tables::kCreatives);
    fresh->fill_campaign_table(campaigns);
    fresh->fill_creative_table(creatives);
    store_.replace_table(campaigns.slice());
    store_.replace_table(creatives.slice());
    dims_ = std::move(fresh);
    validator_ = std::make_unique<Validator>(*dims_, options_.validation);
  }
}

void StreamEngine::decode(Submission& s, size_t len, RawBatch& raw, SubmitResult& r) {
  const std::string_view body(s.body.data(), len);
  if (s.format != BodyFormat::avro_datums) {
    const Format f = s.format == BodyFormat::json  ? Format::json
                     : s.format == BodyFormat::csv ? Format::csv
                                                   : Format::avro;
    std::unique_ptr<Decoder> decoder = make_decoder(f);
    decoder->decode(body, true, raw);
    if (!decoder->fatal_error().empty()) {
      r.status = SubmitResult::Status::bad_input;
      r.error = decoder->fatal_error();
    }
    return;
  }
  // Length-prefixed datums of one writer schema; decoders are cached by schema id.
  AvroDatumDecoder* decoder = nullptr;
  std::unique_ptr<AvroDatumDecoder> uncached;  // a schema without an id: for this submission only
  std::string schema_error = s.error.empty() ? "no writer schema" : s.error;
  if (s.schema_json) {
    auto it = s.schema_id >= 0 ? datum_decoders_.find(s.schema_id) : datum_decoders_.end();
    if (it != datum_decoders_.end()) {
      decoder = it->second.get();
    } else {
      std::string error;
      std::unique_ptr<AvroDatumDecoder> d = AvroDatumDecoder::create(*s.schema_json, &error);
      if (!d)
        schema_error = "invalid writer schema " + std::to_string(s.schema_id) + ": " + error;
      else if (s.schema_id >= 0)
        decoder = (datum_decoders_[s.schema_id] = std::move(d)).get();
      else
        decoder = (uncached = std::move(d)).get();
    }
  }
  size_t pos = 0;
  uint64_t index = 1;
  while (pos < len) {
    uint32_t n = 0;
    if (len - pos < 4 || (std::memcpy(&n, body.data() + pos, 4), n > len - pos - 4)) {
      r.status = SubmitResult::Status::bad_input;
      r.error = "avro datums: length prefix past the end of the body at byte " + std::to_string(pos);
      return;
    }
    const std::string_view datum = body.substr(pos + 4, n);
    if (decoder)
      decoder->decode(datum, index, raw);
    else
      raw.rejects.push_back({Reason::malformed_avro, schema_error, index, std::string(datum)});
    pos += 4 + n;
    ++index;
  }
}

void StreamEngine::process(Submission& s, Batch& batch) {
  SubmitResult r;
  if (s.kafka && s.kafka->first_offset >= 0) {
    const std::pair<std::string, int32_t> key{s.kafka->topic, s.kafka->partition};
    auto in_batch = batch.kafka.find(key);
    auto stored = kafka_committed_.find(key);
    const int64_t expected = in_batch != batch.kafka.end()      ? in_batch->second
                             : stored != kafka_committed_.end() ? stored->second
                                                                : -1;
    if (expected >= 0 && s.kafka->first_offset != expected) {
      r.status = SubmitResult::Status::store_error;
      r.error = "out of sequence: " + s.kafka->topic + "/" + std::to_string(s.kafka->partition) +
                " stands at " + std::to_string(expected) + ", the submission starts at " +
                std::to_string(s.kafka->first_offset);
      batch.results.push_back(std::move(r));
      return;
    }
  }
  const size_t len = s.body.size();
  s.body.append(kInputPadding, '\0');  // decoders may read past the end
  RawBatch raw(s.stream);
  decode(s, len, raw, r);
  s.body.resize(len);  // the padding goes; the cells' views stay valid (the buffer is not reallocated)
  if (r.status != SubmitResult::Status::ok) {  // nothing of a body that cannot be decoded at all is stored
    batch.results.push_back(std::move(r));
    return;
  }
  if (s.kafka && s.kafka->partitions > 0 && options_.forward) forward_miskeyed(s, raw, r, batch);
  if (s.record_base != 0) {
    for (uint64_t& n : raw.record_no) n = uint64_t(int64_t(n) + s.record_base);
    for (RejectRecord& rej : raw.rejects) rej.record_no = uint64_t(int64_t(rej.record_no) + s.record_base);
  }
  Scratch& x = *scratch_;
  x.rows.clear();
  validator_->process(raw, s.source, x.rows.staged);

  StreamSummary& st = batch.summary[size_t(s.stream)];
  r.read = raw.records_read();
  st.read += r.read;
  st.bytes += len;
  for (const auto& [k, v] : raw.unknown_fields) st.unknown_fields[k] += v;
  const int64_t watermark = max_event_time_us_[size_t(s.stream)] - options_.allowed_lateness_us;
  int64_t newest = max_event_time_us_[size_t(s.stream)];
  x.rows.dedup(*dedup_,
               [&](const StagedTable& t, const std::vector<uint32_t>& keep, const DedupCounts& counts) {
                 r.duplicates += counts.duplicates;
                 st.duplicates += counts.duplicates;
                 st.duplicate_conflicts += counts.conflicts;
                 const TableDef& def = t.rows.def();
                 if (&def == &tables::kRejects) {
                   for (uint32_t row : keep) r.by_reason[size_t(t.reasons[row])]++;
                   return;
                 }
                 r.stored += keep.size();
                 const int64_t* times = t.rows.data<int64_t>(event_time_column(def));
                 for (uint32_t row : keep) {
                   if (max_event_time_us_[size_t(s.stream)] != 0 && times[row] < watermark) r.late++;
                   newest = std::max(newest, times[row]);
                 }
                 observe_lags(batch.lag[size_t(s.stream)], times, keep, batch.ingested_at_us);
                 count_stored_flags(t, keep, st);
               });
  max_event_time_us_[size_t(s.stream)] = newest;
  st.stored += r.stored;
  for (size_t i = 0; i < r.by_reason.size(); i++) st.by_reason[i] += r.by_reason[i];
  batch.late[size_t(s.stream)] += r.late;
  batch.records += r.read;

  // Rows reach the transaction now (the store copies them); the body is not needed any more.
  x.rows.append_to(store_);
  if (s.kafka) {
    int64_t& next = batch.kafka[{s.kafka->topic, s.kafka->partition}];
    next = std::max(next, s.kafka->next_offset);
  }
  batch.results.push_back(std::move(r));
}

// The producer contract (docs/FLEET.md): a topic is keyed by user_id, so a user's records share a partition
// and one worker holds them all. A record whose user_id belongs to another partition is not stored here:
// it is sent on to that partition (Kafka Streams' repartitioning), whose owner dedups and stores it. Its
// offset here is passed over: the records after it move the partition's position. (After a crash it may
// be sent twice: the copy is a duplicate there, stored once.)
void StreamEngine::forward_miskeyed(const Submission& s, RawBatch& raw, SubmitResult& r, Batch& batch) {
  std::vector<uint8_t> keep(raw.rows(), 1);
  uint64_t forwarded = 0;
  char digits[24];
  for (size_t row = 0; row < raw.rows(); row++) {
    // The key advx publish gives the record (its user, else its id): none, no home to send it to.
    const std::optional<std::string_view> key = kafka_key_of(raw, row, digits);
    if (!key) continue;
    const int32_t home = kafka_partition_of(*key, s.kafka->partitions);
    if (home == s.kafka->partition) continue;
    ForwardedRecord f;
    f.topic = s.kafka->topic;
    f.partition = home;
    f.key = *key;  // valid during the call, as the value
    if (s.format == BodyFormat::avro_datums) {
      f.value.assign(1, '\0');
      for (int shift = 24; shift >= 0; shift -= 8) f.value += char((uint32_t(s.schema_id) >> shift) & 0xff);
    }
    f.value.append(raw.raw[row]);
    f.origin = s.kafka->topic + "/" + std::to_string(s.kafka->partition) + "/" +
               std::to_string(int64_t(raw.record_no[row]) + s.record_base);
    options_.forward(f);
    keep[row] = 0;
    ++forwarded;
  }
  if (forwarded == 0) return;
  raw.keep_rows(keep);
  r.forwarded = forwarded;
  batch.forwarded[size_t(s.stream)] += forwarded;
  batch.forwarding = true;
}

void StreamEngine::finish_batch(Batch& batch, bool committed, const std::string& error) {
  {
    std::lock_guard lock(mutex_);  // counters first: whoever gets an answer sees them
    if (committed) {
      for (int i = 0; i < kStreamCount; i++) {
        stats_.streams[size_t(i)].merge(batch.summary[size_t(i)]);
        stats_.late[size_t(i)] += batch.late[size_t(i)];
        if (max_event_time_us_[size_t(i)] != 0)
          stats_.watermark_us[size_t(i)] = max_event_time_us_[size_t(i)] - options_.allowed_lateness_us;
      }
      for (int i = 0; i < kStreamCount; i++) stats_.event_lag[size_t(i)].merge(batch.lag[size_t(i)]);
      for (int i = 0; i < kStreamCount; i++) stats_.forwarded[size_t(i)] += batch.forwarded[size_t(i)];
      stats_.dedup_keys = dedup_->entries();
      stats_.dedup_spilled_keys = dedup_->spilled_entries();
      stats_.dedup_memory_bytes = dedup_->memory_bytes();
      stats_.commits++;
      stats_.last_commit_seconds =
          std::chrono::duration<double>(std::chrono::steady_clock::now() - batch.started).count();
      stats_.batch_seconds.observe(stats_.last_commit_seconds);
      stats_.commit_seconds.observe(batch.commit_seconds);
    } else {
      stats_.store_errors++;
    }
  }
  for (size_t i = 0; i < batch.subs.size(); i++) {
    SubmitResult& r = batch.results[i];
    if (!committed && r.status == SubmitResult::Status::ok) {
      r = SubmitResult{};
      r.status = SubmitResult::Status::store_error;
      r.error = error;
    }
    if (batch.subs[i].done) batch.subs[i].done(r);
  }
  std::lock_guard lock(mutex_);
  finished_ += batch.subs.size();
  progressed_.notify_all();
}

void StreamEngine::run() {
  for (;;) {
    {
      std::unique_lock lock(mutex_);
      wake_.wait(lock, [&] { return !queue_.empty() || stopping_ || pending_assignment_; });
      if (pending_assignment_) {
        const std::vector<std::pair<std::string, int32_t>> partitions = std::move(*pending_assignment_);
        pending_assignment_.reset();
        lock.unlock();
        apply_assignment(partitions);
        continue;
      }
      if (queue_.empty()) return;  // stopping, and everything is committed
    }
    Batch batch;
    std::string error;
    bool ok = true;
    try {
      begin_batch(batch);
    } catch (const StoreError& e) {
      ok = false;
      error = e.what();
    }
    const auto deadline = batch.started + std::chrono::milliseconds(options_.commit_interval_ms);
    // Group commit: take what is queued, up to the batch bounds, then commit and answer all of it.
    for (;;) {
      Submission s;
      {
        std::lock_guard lock(mutex_);
        if (queue_.empty() || pending_assignment_) break;  // a new assignment applies between batches
        s = std::move(queue_.front());
        queue_.pop_front();
        queue_bytes_ -= s.body.size();
      }
      batch.subs.push_back(std::move(s));
      if (ok) {
        try {
          process(batch.subs.back(), batch);
        } catch (const std::runtime_error& e) {  // the store, or the dedup index spilling to disk
          ok = false;
          error = e.what();
        }
      }
      if (batch.results.size() < batch.subs.size()) batch.results.emplace_back();
      // Its rows are in the transaction; a Kafka body is kept until the commit, to be tried again if it
      // fails.
      if (!batch.subs.back().kafka) batch.subs.back().body = std::string();
      if (!ok || batch.records >= options_.commit_events || std::chrono::steady_clock::now() >= deadline)
        break;
    }
    bool fenced = false;
    if (ok) {
      try {
        fenced = fence(batch);
      } catch (const StoreError& e) {
        ok = false;
        error = e.what();
      }
    }
    if (ok && fenced) {
      // Nothing of the batch is stored. The fenced partitions' submissions are answered (they are another
      // member's now); the other Kafka submissions go back to the front of the queue and are tried again
      // at once; HTTP bodies are not kept past their processing, so they are answered as a failed commit
      // (503: the client sends them again). The dedup index holds the batch's keys: rebuilt from the store
      // before the next batch.
      store_.rollback();
      dedup_stale_ = true;
      std::deque<Submission> again;
      std::vector<Submission> answered;
      std::vector<SubmitResult> results;
      for (size_t i = 0; i < batch.subs.size(); i++) {
        if (batch.results[i].status == SubmitResult::Status::fenced) {
          const KafkaPosition& k = *batch.subs[i].kafka;
          std::fprintf(stderr,
                       "advx serve: %s/%d was claimed by another worker: a batch from offset %lld is "
                       "not stored (fenced)\n",
                       k.topic.c_str(), int(k.partition), (long long)k.first_offset);
          kafka_committed_.erase({k.topic, k.partition});
          answered.push_back(std::move(batch.subs[i]));
          results.push_back(std::move(batch.results[i]));
        } else if (batch.subs[i].kafka) {
          again.push_back(std::move(batch.subs[i]));
        } else {
          SubmitResult r;
          r.status = SubmitResult::Status::store_error;
          r.error =
              "its micro-batch held a Kafka partition claimed by another worker (fenced); send it again";
          answered.push_back(std::move(batch.subs[i]));
          results.push_back(std::move(r));
        }
      }
      batch.subs = std::move(answered);
      batch.results = std::move(results);
      for (auto& r : batch.results)
        if (r.status == SubmitResult::Status::fenced)
          r.error = "fenced: the partition was claimed by another worker";
      {
        std::lock_guard lock(mutex_);
        stats_.fenced_batches++;
        for (auto it = again.rbegin(); it != again.rend(); ++it) {
          queue_bytes_ += it->body.size();
          queue_.push_front(std::move(*it));
        }
      }
      for (size_t i = 0; i < batch.subs.size(); i++)
        if (batch.subs[i].done) batch.subs[i].done(batch.results[i]);
      std::lock_guard lock(mutex_);
      finished_ += batch.subs.size();
      progressed_.notify_all();
      continue;
    }
    if (ok) {
      try {
        std::vector<StoredKafkaOffset> positions;
        for (const auto& [key, next] : batch.kafka) positions.push_back({key.first, key.second, next});
        // Forwarded records are acknowledged by Kafka before the positions that pass over them commit.
        if (batch.forwarding && options_.flush_forwards) options_.flush_forwards();
        if (!positions.empty()) store_.save_kafka_positions(positions, batch.ingested_at_us);
        owe_attribution(store_, batch.ingested_at_us);
        const auto commit_start = std::chrono::steady_clock::now();
        store_.commit();
        crash_point("serve.commit");
        batch.commit_seconds =
            std::chrono::duration<double>(std::chrono::steady_clock::now() - commit_start).count();
      } catch (const StoreError& e) {
        ok = false;
        error = e.what();
      }
    }
    if (!ok) {
      std::fprintf(stderr, "advx serve: store error, %zu submissions not stored: %s\n", batch.subs.size(),
                   error.c_str());
      try {
        store_.rollback();
      } catch (const StoreError&) {
      }
      // The dedup index has the keys of rows that were not stored: rebuild it from what was, now or (the
      // store still down) before the next batch.
      try {
        reload_dedup_state();
        dedup_stale_ = false;
      } catch (const std::runtime_error& e) {
        dedup_stale_ = true;
        std::fprintf(stderr, "advx serve: cannot reload the dedup state: %s\n", e.what());
      }
      store_failed_ = true;
      // Nobody waits for Kafka submissions: they go back to the front of the queue and are tried again
      // (after a pause), so a failed commit skips no message. Only when stopping do they fail: their
      // offsets were not stored, so the next start reads them again.
      // A partition with nothing stored yet stands where its first failed submission started: a later
      // submission of it must not be stored past that.
      for (const Submission& sub : batch.subs) {
        if (!sub.kafka || sub.kafka->first_offset < 0) continue;
        const std::pair<std::string, int32_t> key{sub.kafka->topic, sub.kafka->partition};
        if (!kafka_committed_.count(key)) kafka_committed_[key] = sub.kafka->first_offset;
      }
      std::deque<Submission> retry;
      bool stopping = false;
      {
        std::lock_guard lock(mutex_);
        stopping = stopping_;
      }
      if (!stopping) {
        std::vector<Submission> answered;
        std::vector<SubmitResult> results;
        for (size_t i = 0; i < batch.subs.size(); i++) {
          if (batch.subs[i].kafka) {
            retry.push_back(std::move(batch.subs[i]));
          } else {
            answered.push_back(std::move(batch.subs[i]));
            results.push_back(std::move(batch.results[i]));
          }
        }
        batch.subs = std::move(answered);
        batch.results = std::move(results);
      }
      if (!retry.empty()) {
        std::lock_guard lock(mutex_);  // before finish_batch counts the error: tests wait on that count
        kafka_retrying_ = true;
      }
      finish_batch(batch, false, error);
      if (!retry.empty()) {
        std::lock_guard lock(mutex_);
        for (auto it = retry.rbegin(); it != retry.rend(); ++it) {
          queue_bytes_ += it->body.size();
          queue_.push_front(std::move(*it));
        }
      }
      retry_pause_ms_ = std::clamp(retry_pause_ms_ * 2, 500, 5000);
      {
        std::unique_lock lock(mutex_);  // a stop ends the pause at once
        wake_.wait_for(lock, std::chrono::milliseconds(retry_pause_ms_), [&] { return stopping_; });
      }
      continue;
    } else {
      store_failed_ = false;
      retry_pause_ms_ = 0;
      {
        std::lock_guard lock(mutex_);
        kafka_retrying_ = false;
      }
      for (const auto& [key, next] : batch.kafka) kafka_committed_[key] = next;
      std::lock_guard lock(attribution_mutex_);
      committed_through_us_ = batch.ingested_at_us;
    }
    finish_batch(batch, ok, error);
  }
}

void StreamEngine::attribution_loop() {
  try {
    attribution_store_->set_memory_limit(options_.attribution_memory_limit);
  } catch (const StoreError& e) {
    std::fprintf(stderr, "advx serve: %s\n", e.what());
  }
  // Rows committed but not attributed before a restart (or by a killed advx ingest) still owe attribution
  // in the store: the first pass pays those debts. A fleet's leader also pays the debts of the other
  // workers, whose commits this engine does not see: it looks every interval (a pass with nothing owed is
  // one small query).
  const bool fleet = !options_.fleet_member.empty();
  int64_t attributed_through = -1;
  for (;;) {
    int64_t through = 0;
    bool stop = false, force = false, run = false;
    {
      std::unique_lock lock(attribution_mutex_);
      attribution_wake_.wait_for(lock, std::chrono::milliseconds(options_.attribution_interval_ms),
                                 [&] { return attribution_stop_ || attribution_force_; });
      stop = attribution_stop_;
      force = attribution_force_;
      through = committed_through_us_;
      run = attribution_enabled_ && (force || fleet || through != attributed_through);
      attribution_running_ = run;
    }
    if (run) {
      try {
        attribute_pending(*attribution_store_, options_.windows);
        attributed_through = through;
        std::lock_guard lock(mutex_);
        stats_.attribution_runs++;
      } catch (const StoreError& e) {
        std::fprintf(stderr, "advx serve: attribution failed (retried next pass): %s\n", e.what());
      }
    }
    {
      std::lock_guard lock(attribution_mutex_);
      attribution_running_ = false;
      if (force) attribution_force_ = false;
      attribution_idle_.notify_all();
    }
    if (stop) return;
  }
}

}  // namespace advx
