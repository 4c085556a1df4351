#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "gen/bid_request_encoder.hpp"
#include "gen/bid_request_schema.hpp"

namespace {

// The embedded copy must not drift from the schema the project ships.
TEST(BidRequestSchema, EmbeddedCopyEqualsShippedFile) {
  std::ifstream in(std::string(ADVX_SOURCE_DIR) + "/schemas/bid_request.avsc", std::ios::binary);
  ASSERT_TRUE(in) << "schemas/bid_request.avsc missing";
  std::ostringstream ss;
  ss << in.rdbuf();
  EXPECT_EQ(ss.str(), advx::gen::kBidRequestSchema)
      << "regenerate src/gen/bid_request_schema.hpp from schemas/bid_request.avsc";
}

TEST(BidRequestSchema, CompilesAndRejectsUnknownRequiredFields) {
  EXPECT_NO_THROW(advx::gen::BidRequestEncoder(advx::gen::kBidRequestSchema));
  EXPECT_THROW(advx::gen::BidRequestEncoder("{not json"), std::runtime_error);
  EXPECT_THROW(advx::gen::BidRequestEncoder(
                   R"({"type":"record","name":"R","fields":[{"name":"mystery","type":"string"}]})"),
               std::runtime_error);
}

}  // namespace
