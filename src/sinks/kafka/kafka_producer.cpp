#include "sinks/kafka/kafka_producer.hpp"

#include <librdkafka/rdkafka.h>

#include <chrono>
#include <cstdio>

namespace advx {

namespace {

using Clock = std::chrono::steady_clock;

}  // namespace

struct KafkaProducer::Impl {
  KafkaProducerOptions opt;
  rd_kafka_t* rk = nullptr;
  std::map<std::string, rd_kafka_topic_t*> topics;
  std::map<std::string, TopicDelivery> counts;  // nodes are stable: delivery reports point at them
  std::string first_error;
  std::string last_broker_error;  // from error_cb, for a clearer timeout message
  uint64_t outstanding = 0;       // queued, not yet reported

  ~Impl() {
    for (auto& [name, rkt] : topics) rd_kafka_topic_destroy(rkt);
    if (rk) rd_kafka_destroy(rk);
  }

  static void on_delivery(rd_kafka_t*, const rd_kafka_message_t* m, void* opaque) {
    auto* self = static_cast<Impl*>(opaque);
    auto* topic = static_cast<TopicDelivery*>(m->_private);
    self->outstanding--;
    if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
      topic->delivered++;
      return;
    }
    topic->failed++;
    if (self->first_error.empty()) {
      self->first_error = std::string(rd_kafka_topic_name(m->rkt)) + ": " + rd_kafka_err2str(m->err);
      if (!self->last_broker_error.empty() && (m->err == RD_KAFKA_RESP_ERR__MSG_TIMED_OUT))
        self->first_error += " (" + self->last_broker_error + ")";
    }
  }

  static void on_error(rd_kafka_t*, int err, const char* reason, void* opaque) {
    static_cast<Impl*>(opaque)->last_broker_error =
        std::string(rd_kafka_err2name(rd_kafka_resp_err_t(err))) + ": " + reason;
  }

  // librdkafka's own log lines (connection attempts, retries) are not for the user of a command line tool:
  // what failed is reported once, by the caller, from the delivery reports.
  static void on_log(const rd_kafka_t*, int, const char*, const char*) {}

  rd_kafka_topic_t* topic(const std::string& name) {
    auto it = topics.find(name);
    if (it != topics.end()) return it->second;
    rd_kafka_topic_t* rkt = rd_kafka_topic_new(rk, name.c_str(), nullptr);
    if (rkt) topics.emplace(name, rkt);
    return rkt;
  }

  std::string fatal_error() const {
    char reason[512];
    const rd_kafka_resp_err_t err = rd_kafka_fatal_error(rk, reason, sizeof reason);
    return err ? std::string("fatal producer error: ") + reason : std::string();
  }
};

KafkaProducer::KafkaProducer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
KafkaProducer::~KafkaProducer() = default;

std::unique_ptr<KafkaProducer> KafkaProducer::create(const KafkaProducerOptions& options,
                                                     std::string* error) {
  if (options.brokers.empty()) return *error = "no brokers given (bootstrap.servers)", nullptr;
  if (options.timeout_ms <= 0) return *error = "the timeout must be positive", nullptr;
  auto impl = std::make_unique<Impl>();
  impl->opt = options;
  char errstr[512];
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  auto set = [&](const std::string& name, const std::string& value) {
    if (rd_kafka_conf_set(conf, name.c_str(), value.c_str(), errstr, sizeof errstr) == RD_KAFKA_CONF_OK)
      return true;
    *error = "property " + name + ": " + errstr;
    return false;
  };
  bool ok = set("bootstrap.servers", options.brokers) && set("client.id", "advx-publish") &&
            set("linger.ms", "20") && set("batch.num.messages", "10000") &&
            set("queue.buffering.max.messages", "1000000") &&
            set("message.timeout.ms", std::to_string(options.timeout_ms));
  for (const auto& [name, value] : options.properties) ok = ok && set(name, value);
  // What the producer contract rests on (docs/PUBLISH.md): set last, so that properties cannot undo it.
  ok = ok && set("enable.idempotence", "true") && set("acks", "all") && set("partitioner", "murmur2_random");
  if (!ok) {
    rd_kafka_conf_destroy(conf);
    return nullptr;
  }
  rd_kafka_conf_set_opaque(conf, impl.get());
  rd_kafka_conf_set_dr_msg_cb(conf, &Impl::on_delivery);
  rd_kafka_conf_set_error_cb(conf, &Impl::on_error);
  rd_kafka_conf_set_log_cb(conf, &Impl::on_log);
  impl->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof errstr);  // owns conf when it succeeds
  if (!impl->rk) {
    rd_kafka_conf_destroy(conf);
    *error = errstr;
    return nullptr;
  }
  return std::unique_ptr<KafkaProducer>(new KafkaProducer(std::move(impl)));
}

bool KafkaProducer::check_topic(const std::string& topic, int* partitions, std::string* error) {
  rd_kafka_topic_t* rkt = impl_->topic(topic);
  if (!rkt) return *error = "topic " + topic + ": " + rd_kafka_err2str(rd_kafka_last_error()), false;
  const rd_kafka_metadata_t* md = nullptr;
  const rd_kafka_resp_err_t err = rd_kafka_metadata(impl_->rk, 0, rkt, &md, impl_->opt.timeout_ms);
  if (err) {
    char seconds[32];
    std::snprintf(seconds, sizeof seconds, "%g", impl_->opt.timeout_ms / 1000.0);
    *error = "brokers " + impl_->opt.brokers + ": no answer within " + seconds + " s (" +
             rd_kafka_err2str(err) +
             (impl_->last_broker_error.empty() ? "" : "; " + impl_->last_broker_error) + ")";
    return false;
  }
  bool found = false;
  for (int i = 0; i < md->topic_cnt; i++) {
    const rd_kafka_metadata_topic_t& t = md->topics[i];
    if (topic != t.topic) continue;
    if (t.err) {
      *error = "topic " + topic + ": " + rd_kafka_err2str(t.err);
    } else {
      *partitions = t.partition_cnt;
      found = true;
    }
  }
  if (!found && error->empty()) *error = "topic " + topic + ": not in the cluster's metadata";
  rd_kafka_metadata_destroy(md);
  return found;
}

bool KafkaProducer::produce(const std::string& topic, std::optional<std::string_view> key,
                            std::string_view value, std::string* error) {
  TopicDelivery& counts = impl_->counts[topic];
  counts.queued++;
  counts.bytes += value.size();
  rd_kafka_topic_t* rkt = impl_->topic(topic);
  if (!rkt) {
    counts.failed++;
    return *error = "topic " + topic + ": " + rd_kafka_err2str(rd_kafka_last_error()), false;
  }
  const auto started = Clock::now();
  for (;;) {
    const int rc =
        rd_kafka_produce(rkt, RD_KAFKA_PARTITION_UA, RD_KAFKA_MSG_F_COPY, const_cast<char*>(value.data()),
                         value.size(), key ? key->data() : nullptr, key ? key->size() : 0, &counts);
    if (rc == 0) {
      impl_->outstanding++;
      return true;
    }
    const rd_kafka_resp_err_t err = rd_kafka_last_error();
    if (err == RD_KAFKA_RESP_ERR__QUEUE_FULL &&
        Clock::now() - started < std::chrono::milliseconds(impl_->opt.timeout_ms)) {
      rd_kafka_poll(impl_->rk, 10);  // delivery reports make room
      continue;
    }
    counts.failed++;
    const std::string fatal = impl_->fatal_error();
    *error = !fatal.empty() ? fatal : topic + ": " + rd_kafka_err2str(err);
    if (impl_->first_error.empty()) impl_->first_error = *error;
    return false;
  }
}

void KafkaProducer::poll() { rd_kafka_poll(impl_->rk, 0); }

bool KafkaProducer::flush() {
  auto progress = [this] {
    uint64_t n = 0;
    for (const auto& [name, c] : impl_->counts) n += c.delivered + c.failed;
    return n;
  };
  uint64_t last = progress();
  auto last_change = Clock::now();
  // Every message is reported within message.timeout.ms of being queued; the margin covers the report.
  const auto patience = std::chrono::milliseconds(impl_->opt.timeout_ms) + std::chrono::seconds(5);
  while (impl_->outstanding > 0 || rd_kafka_outq_len(impl_->rk) > 0) {
    rd_kafka_flush(impl_->rk, 200);
    if (const uint64_t now = progress(); now != last) {
      last = now;
      last_change = Clock::now();
    } else if (Clock::now() - last_change > patience) {
      break;
    }
  }
  if (impl_->outstanding == 0) return true;
  for (auto& [name, c] : impl_->counts) c.failed += c.queued - c.delivered - c.failed;
  if (impl_->first_error.empty()) impl_->first_error = "messages still in flight after the timeout";
  impl_->outstanding = 0;
  return false;
}

std::map<std::string, TopicDelivery> KafkaProducer::delivery() const { return impl_->counts; }

std::string KafkaProducer::first_error() const { return impl_->first_error; }

}  // namespace advx
