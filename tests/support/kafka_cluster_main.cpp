// advx_test_kafka: librdkafka's mock cluster (rdkafka_mock.h) as a process of its own, so that several
// processes (advx serve workers, advx publish, kcat) talk Kafka to one cluster over TCP on 127.0.0.1.
//
//   advx_test_kafka [--brokers N] [--topic NAME:PARTITIONS]... [--registry] [--keep-stdin]
//
// Prints, flushed, one per line: `bootstrap.servers=HOST:PORT,...`, with --registry
// `schema.registry=http://127.0.0.1:PORT` (tests/support/schema_registry_server.hpp), then `ready`. Runs
// until SIGTERM or SIGINT, or until its stdin reaches EOF (so a test that dies does not leave it behind;
// --keep-stdin ignores stdin, for a shell script that starts it in the background), then exits 0.
//
// What the mock keeps and does (librdkafka 2.0.2 as installed here, rd_kafka_version_str(); measured
// 2026-12-04 by hand against this program and in tests/e2e/kafka_cluster_test.cpp; DEVELOPERS.md has more):
//  - Retention: a partition keeps at most 5 MiB (5,242,880 bytes) of record batches as produced (compressed
//    bytes when the producer compresses) or 100,000 batches; beyond that its oldest whole batches go and the
//    low watermark moves up. Measured: 1 KiB messages to one partition: 5,000 kept (5.1 MB of values), the
//    first ones dropped once 5.5 MB were sent; zstd-compressed (ratio ~0.6): 8,000 kept. A consumer
//    behind the low watermark gets OFFSET_OUT_OF_RANGE and jumps by auto.offset.reset, silently losing
//    data: size a test to well under 5 MB per partition.
//  - Consumer groups across processes work (JoinGroup/SyncGroup/Heartbeat/LeaveGroup; the assignment is
//    the client's, so eager range and roundrobin work), but rebalances are slow and come in rounds: the
//    first join of an empty group waits 3 s; any later one waits up to session.timeout.ms - 1 s for every
//    member to rejoin, and often takes 2-3 such rounds, in which a member is given partitions and has them
//    revoked ~0.5 s later (its next heartbeat). Measured with session.timeout.ms=6000: a third member
//    joining, or one leaving by SIGTERM (LeaveGroup), ~15 s until stable; a member killed -9, ~11 s (6 s
//    for its session to expire). What a transiently assigned member read is read again by the next owner.
//  - Committed offsets (OffsetCommit) are kept per group and partition for the life of this process and
//    answered to any process (OffsetFetch: rd_kafka_committed, kcat -G resuming). The mock refuses a commit
//    while its group rebalances (REBALANCE_IN_PROGRESS; so also the commit in an eager revoke callback), of
//    a stale generation (ILLEGAL_GENERATION), and from a client that is not a member (UNKNOWN_MEMBER_ID:
//    a consumer that only assign()s, once the group has ever had members; Kafka accepts that one).
//  - Nothing is on disk: the data, the groups and their offsets end with this process.
#include <fcntl.h>
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <poll.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "schema_registry_server.hpp"

namespace {

constexpr const char* kUsage =
    "usage: advx_test_kafka [--brokers N] [--topic NAME:PARTITIONS]... [--registry] [--keep-stdin]\n"
    "  librdkafka's mock Kafka cluster on 127.0.0.1 for tests, reachable by other processes.\n"
    "  --brokers N               brokers in the cluster (default 3)\n"
    "  --topic NAME:PARTITIONS   a topic to create, repeatable (default: ad-impressions:8,\n"
    "                            clicks-conversions:8, bid-requests:8)\n"
    "  --registry                also run a Confluent-compatible schema registry on a free port\n"
    "  --keep-stdin              do not exit when stdin reaches EOF (only on SIGTERM or SIGINT)\n"
    "Prints bootstrap.servers=..., schema.registry=... (with --registry) and ready, one per line.\n"
    "Runs until SIGTERM, SIGINT or EOF on stdin; exit 0.\n";

struct Options {
  int brokers = 3;
  std::vector<std::pair<std::string, int>> topics;
  bool registry = false;
  bool keep_stdin = false;
};

[[noreturn]] void usage_error(const std::string& message) {
  std::fprintf(stderr, "advx_test_kafka: %s (--help for usage)\n", message.c_str());
  std::exit(2);
}

int positive(const std::string& text, const std::string& what) {
  char* end = nullptr;
  errno = 0;
  const long v = std::strtol(text.c_str(), &end, 10);
  if (text.empty() || *end != '\0' || errno != 0 || v < 1 || v > 10000)
    usage_error(what + " must be a whole number from 1 to 10000, not '" + text + "'");
  return int(v);
}

Options parse(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) usage_error(a + " needs a value");
      return argv[++i];
    };
    if (a == "--help" || a == "-h") {
      std::fputs(kUsage, stdout);
      std::exit(0);
    } else if (a == "--brokers") {
      o.brokers = positive(value(), "--brokers");
    } else if (a == "--topic") {
      const std::string t = value();
      const size_t colon = t.rfind(':');
      if (colon == std::string::npos || colon == 0)
        usage_error("--topic wants NAME:PARTITIONS, not '" + t + "'");
      o.topics.emplace_back(t.substr(0, colon), positive(t.substr(colon + 1), "the partitions of --topic"));
    } else if (a == "--registry") {
      o.registry = true;
    } else if (a == "--keep-stdin") {
      o.keep_stdin = true;
    } else {
      usage_error("unknown option '" + a + "'");
    }
  }
  if (o.topics.empty()) o.topics = {{"ad-impressions", 8}, {"clicks-conversions", 8}, {"bid-requests", 8}};
  return o;
}

// librdkafka's log lines (errors and warnings only) on stderr.
void log_line(const rd_kafka_t*, int level, const char* fac, const char* buf) {
  std::fprintf(stderr, "advx_test_kafka: rdkafka %d %s: %s\n", level, fac, buf);
}

}  // namespace

int main(int argc, char** argv) {
  const Options o = parse(argc, argv);

  // SIGTERM and SIGINT are read from a signalfd: blocked here, before librdkafka starts its threads (which
  // inherit the mask), so no thread takes them. A closed pipe on stdout must not kill us either.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  if (pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr) != 0) return 1;
  const int sig_fd = signalfd(-1, &stop_signals, SFD_CLOEXEC);
  if (sig_fd < 0) {
    std::fprintf(stderr, "advx_test_kafka: signalfd: %s\n", std::strerror(errno));
    return 1;
  }
  signal(SIGPIPE, SIG_IGN);

  char err[512];
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  rd_kafka_conf_set(conf, "log_level", "4", err, sizeof err);
  rd_kafka_conf_set_log_cb(conf, log_line);
  // The handle that owns the mock cluster (its brokers run on this handle's threads); never used to produce.
  rd_kafka_t* host = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
  if (!host) {
    std::fprintf(stderr, "advx_test_kafka: %s\n", err);
    return 1;
  }
  rd_kafka_mock_cluster_t* cluster = rd_kafka_mock_cluster_new(host, o.brokers);
  if (!cluster) {
    std::fprintf(stderr, "advx_test_kafka: cannot create a mock cluster of %d brokers\n", o.brokers);
    rd_kafka_destroy(host);
    return 1;
  }
  // Replicas on up to three brokers, as a production topic would have; the mock keeps one copy anyway.
  const int replication = o.brokers < 3 ? o.brokers : 3;
  for (const auto& [name, partitions] : o.topics) {
    if (const rd_kafka_resp_err_t e =
            rd_kafka_mock_topic_create(cluster, name.c_str(), partitions, replication)) {
      std::fprintf(stderr, "advx_test_kafka: cannot create topic %s: %s\n", name.c_str(),
                   rd_kafka_err2str(e));
      rd_kafka_mock_cluster_destroy(cluster);
      rd_kafka_destroy(host);
      return 1;
    }
  }

  std::unique_ptr<advx::testing::SchemaRegistryServer> registry;
  if (o.registry) {
    try {
      registry = std::make_unique<advx::testing::SchemaRegistryServer>();
    } catch (const std::exception& e) {
      std::fprintf(stderr, "advx_test_kafka: schema registry: %s\n", e.what());
      rd_kafka_mock_cluster_destroy(cluster);
      rd_kafka_destroy(host);
      return 1;
    }
  }

  std::printf("bootstrap.servers=%s\n", rd_kafka_mock_cluster_bootstraps(cluster));
  if (registry) std::printf("schema.registry=%s\n", registry->url().c_str());
  std::printf("ready\n");
  std::fflush(stdout);

  // Wait for a stop signal or, unless told otherwise, EOF (or an error) on stdin.
  pollfd fds[2] = {{sig_fd, POLLIN, 0}, {0, POLLIN, 0}};
  const nfds_t nfds = o.keep_stdin ? 1 : 2;
  for (bool stop = false; !stop;) {
    if (poll(fds, nfds, -1) < 0) {
      if (errno == EINTR) continue;
      break;
    }
    if (fds[0].revents) stop = true;
    if (nfds == 2 && fds[1].revents) {
      char buf[256];
      const ssize_t n = read(0, buf, sizeof buf);  // what a test writes on stdin is ignored
      if (n == 0 || (n < 0 && errno != EINTR && errno != EAGAIN)) stop = true;
    }
  }

  registry.reset();
  rd_kafka_mock_cluster_destroy(cluster);
  rd_kafka_destroy(host);
  close(sig_fd);
  return 0;
}
