// The ClickHouse tests' fixture: one real server per test suite (tests/support/clickhouse_server.hpp),
// clients on it, and a helper that catches the StoreError a call throws.
#pragma once
#include <gtest/gtest.h>

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <thread>

#include "../../support/clickhouse_server.hpp"
#include "../../support/eventually.hpp"
#include "store/clickhouse/clickhouse_http.hpp"
#include "store/store.hpp"

namespace advx::test {

class ClickHouseTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    try {
      server_ = new ClickHouseServer();
      server_->start();
    } catch (const std::exception& e) {
      start_error_ = e.what();
    }
  }
  static void TearDownTestSuite() {
    delete server_;
    server_ = nullptr;
    start_error_.clear();
  }
  void SetUp() override { ASSERT_TRUE(start_error_.empty()) << start_error_; }

  static std::unique_ptr<clickhouse::HttpClient> client(std::string_view db = "default") {
    return std::make_unique<clickhouse::HttpClient>(clickhouse::parse_url(server_->url(db)));
  }

  inline static ClickHouseServer* server_ = nullptr;
  inline static std::string start_error_;
};

// The StoreError `f` throws, or nullopt (and a test failure) when it throws none.
inline std::optional<StoreError> store_error(const std::function<void()>& f) {
  try {
    f();
  } catch (const StoreError& e) {
    return e;
  }
  ADD_FAILURE() << "no StoreError thrown";
  return std::nullopt;
}

inline StoreErrorCode code_of(const std::function<void()>& f) {
  const auto e = store_error(f);
  return e ? e->code() : StoreErrorCode::internal;
}

}  // namespace advx::test
