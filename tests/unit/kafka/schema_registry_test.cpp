// SchemaRegistry against FakeRegistry (kafka_test_util.hpp): a tiny HTTP server in the test speaking the
// Confluent schema registry API. The real registry is a JVM service, not installable here.
#include "sources/kafka/schema_registry.hpp"

#include <gtest/gtest.h>

#include <thread>

#include "kafka_test_util.hpp"

namespace advx {
namespace {

using kafka_test::FakeRegistry;

const std::string kSchema = R"({"type":"record","name":"BidRequest","fields":[{"name":"id","type":"string"},)"
                            R"({"name":"note","type":"string","default":"a \"quoted\" \\ value\n"}]})";

TEST(SchemaRegistry, FoundSchemaIsFetchedOnceAndUnescaped) {
  FakeRegistry server;
  server.add_schema(1, kSchema);
  SchemaRegistry registry(server.url() + "/");  // a trailing slash is ignored
  for (int i = 0; i < 3; ++i) {
    std::shared_ptr<const std::string> schema;
    std::string error;
    ASSERT_EQ(registry.schema(1, &schema, &error), SchemaRegistry::Lookup::found) << error;
    ASSERT_TRUE(schema);
    EXPECT_EQ(*schema, kSchema);  // the JSON string, unescaped
  }
  EXPECT_EQ(server.requests(1), 1);
  EXPECT_EQ(registry.requests(), 1u);
}

TEST(SchemaRegistry, UnknownIdIsPermanentAndRemembered) {
  FakeRegistry server;
  SchemaRegistry registry(server.url());
  std::shared_ptr<const std::string> schema;
  std::string error;
  EXPECT_EQ(registry.schema(7, &schema, &error), SchemaRegistry::Lookup::unknown_id);
  EXPECT_EQ(error, "unknown schema id 7");
  EXPECT_FALSE(schema);
  EXPECT_EQ(registry.schema(7, &schema, &error), SchemaRegistry::Lookup::unknown_id);
  EXPECT_EQ(server.requests(7), 1);  // remembered for a while

  FakeRegistry server2;
  SchemaRegistry again(server2.url());
  again.set_negative_ttl_ms(0);
  EXPECT_EQ(again.schema(7, &schema, &error), SchemaRegistry::Lookup::unknown_id);
  server2.add_schema(7, kSchema);  // registered later: found now
  EXPECT_EQ(again.schema(7, &schema, &error), SchemaRegistry::Lookup::found);
  EXPECT_EQ(server2.requests(7), 2);
}

TEST(SchemaRegistry, ServerErrorsAreUnavailableUntilTheyEnd) {
  FakeRegistry server;
  server.add_schema(1, kSchema);
  server.set_failing(true);
  SchemaRegistry registry(server.url());
  std::shared_ptr<const std::string> schema;
  std::string error;
  EXPECT_EQ(registry.schema(1, &schema, &error), SchemaRegistry::Lookup::unavailable);
  EXPECT_NE(error.find("HTTP 500"), std::string::npos) << error;
  EXPECT_EQ(registry.schema(1, &schema, &error), SchemaRegistry::Lookup::unavailable);  // not cached
  server.set_failing(false);
  EXPECT_EQ(registry.schema(1, &schema, &error), SchemaRegistry::Lookup::found);
  EXPECT_EQ(registry.schema(1, &schema, &error), SchemaRegistry::Lookup::found);
  EXPECT_EQ(server.requests(1), 3);
}

TEST(SchemaRegistry, NoServerIsUnavailable) {
  std::string url;
  {
    FakeRegistry gone;  // a port that was just free and is closed again
    url = gone.url();
  }
  SchemaRegistry registry(url, 1000);
  std::shared_ptr<const std::string> schema;
  std::string error;
  EXPECT_EQ(registry.schema(1, &schema, &error), SchemaRegistry::Lookup::unavailable);
  EXPECT_FALSE(error.empty());
  EXPECT_EQ(error.find('\n'), std::string::npos);
}

TEST(SchemaRegistry, A404WithoutTheConfluentCodeIsNotAnUnknownId) {
  FakeRegistry server;
  SchemaRegistry registry(server.url() + "/wrong-prefix");  // the server answers a plain 404
  std::shared_ptr<const std::string> schema;
  std::string error;
  EXPECT_EQ(registry.schema(1, &schema, &error), SchemaRegistry::Lookup::unavailable);
  EXPECT_NE(error.find("is the registry URL right"), std::string::npos) << error;
}

TEST(SchemaRegistry, ConcurrentLookupsFetchOnce) {
  FakeRegistry server;
  server.add_schema(3, kSchema);
  SchemaRegistry registry(server.url());
  std::vector<std::thread> threads;
  std::atomic<int> found{0};
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&] {
      for (int i = 0; i < 50; ++i) {
        std::shared_ptr<const std::string> schema;
        if (registry.schema(3, &schema, nullptr) == SchemaRegistry::Lookup::found && *schema == kSchema)
          ++found;
      }
    });
  for (auto& t : threads) t.join();
  EXPECT_EQ(found, 200);
  EXPECT_EQ(server.requests(3), 1);
}

}  // namespace
}  // namespace advx
