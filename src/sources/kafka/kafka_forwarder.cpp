#include "sources/kafka/kafka_forwarder.hpp"

#include <librdkafka/rdkafka.h>

#include <cstdio>
#include <mutex>

#include "store/store.hpp"

namespace advx {

struct KafkaForwarder::Impl {
  std::string brokers;
  std::vector<std::pair<std::string, std::string>> properties;
  rd_kafka_t* rk = nullptr;
  std::atomic<uint64_t>* delivered = nullptr;
  std::mutex mutex;
  std::string error;  // the first delivery failure since the last flush

  static void on_delivery(rd_kafka_t*, const rd_kafka_message_t* m, void* opaque) {
    auto* self = static_cast<Impl*>(opaque);
    if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
      self->delivered->fetch_add(1, std::memory_order_relaxed);
      return;
    }
    std::lock_guard lock(self->mutex);
    if (self->error.empty()) self->error = rd_kafka_err2str(m->err);
  }
};

KafkaForwarder::KafkaForwarder(std::string brokers,
                               std::vector<std::pair<std::string, std::string>> properties)
    : impl_(std::make_unique<Impl>()) {
  impl_->brokers = std::move(brokers);
  impl_->properties = std::move(properties);
  impl_->delivered = &delivered_;
}

KafkaForwarder::~KafkaForwarder() {
  if (!impl_->rk) return;
  rd_kafka_flush(impl_->rk, 5000);
  rd_kafka_destroy(impl_->rk);
}

bool KafkaForwarder::start(std::string* error) {
  char err[512];
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  auto set = [&](const std::string& name, const std::string& value) {
    return rd_kafka_conf_set(conf, name.c_str(), value.c_str(), err, sizeof err) == RD_KAFKA_CONF_OK;
  };
  bool ok = set("bootstrap.servers", impl_->brokers) && set("client.id", "advx-forward") &&
            set("enable.idempotence", "true") && set("linger.ms", "5");
  if (!ok) {
    *error = std::string("forwarding producer: ") + err;
    rd_kafka_conf_destroy(conf);
    return false;
  }
  // The consumer's properties that a producer also has (security, client settings); the others are the
  // consumer's own and stay out.
  for (const auto& [name, value] : impl_->properties) {
    if (name.find("session.") == 0 || name.find("heartbeat.") == 0 || name.find("group.") == 0 ||
        name.find("auto.") == 0 || name.find("fetch.") == 0 || name.find("queued.") == 0 ||
        name.find("max.poll") == 0 || name.find("partition.assignment") == 0 ||
        name == "enable.auto.commit" || name == "enable.auto.offset.store" || name == "isolation.level")
      continue;
    set(name, value);
  }
  rd_kafka_conf_set_opaque(conf, impl_.get());
  rd_kafka_conf_set_dr_msg_cb(conf, &Impl::on_delivery);
  impl_->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
  if (!impl_->rk) {
    rd_kafka_conf_destroy(conf);
    *error = std::string("forwarding producer: ") + err;
    return false;
  }
  return true;
}

void KafkaForwarder::forward(const ForwardedRecord& r) {
  static constexpr const char kHeader[] = "advx-forwarded-from";
  for (;;) {
    const rd_kafka_resp_err_t e = rd_kafka_producev(
        impl_->rk, RD_KAFKA_V_TOPIC(r.topic.c_str()), RD_KAFKA_V_PARTITION(r.partition),
        RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
        RD_KAFKA_V_KEY(const_cast<char*>(r.key.data()), r.key.size()),
        RD_KAFKA_V_VALUE(const_cast<char*>(r.value.data()), r.value.size()),
        RD_KAFKA_V_HEADER(kHeader, r.origin.data(), ssize_t(r.origin.size())), RD_KAFKA_V_END);
    if (e == RD_KAFKA_RESP_ERR_NO_ERROR) break;
    if (e != RD_KAFKA_RESP_ERR__QUEUE_FULL) {
      std::lock_guard lock(impl_->mutex);
      if (impl_->error.empty()) impl_->error = rd_kafka_err2str(e);
      break;
    }
    rd_kafka_poll(impl_->rk, 10);
  }
  rd_kafka_poll(impl_->rk, 0);
}

void KafkaForwarder::flush(int timeout_ms) {
  const rd_kafka_resp_err_t e = rd_kafka_flush(impl_->rk, timeout_ms);
  std::string failed;
  {
    std::lock_guard lock(impl_->mutex);
    failed.swap(impl_->error);
  }
  if (e != RD_KAFKA_RESP_ERR_NO_ERROR && failed.empty()) failed = rd_kafka_err2str(e);
  if (!failed.empty())
    throw StoreError("kafka: records of another partition could not be forwarded to it: " + failed,
                     StoreErrorCode::unavailable);
}

}  // namespace advx
