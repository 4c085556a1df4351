// Helpers for the store tests: unique temporary database files and owned column data for slices.
#pragma once
#include <unistd.h>

#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "core/table_buffer.hpp"
#include "core/table_schema.hpp"
#include "store/result.hpp"

namespace advx::test {

// A result's cells as text, [row][col]; NULL as "" (is_null() tells them apart).
inline std::vector<std::vector<std::string>> text_rows(const ResultTable& r) {
  std::vector<std::vector<std::string>> rows(r.rows(), std::vector<std::string>(r.columns.size()));
  for (size_t c = 0; c < r.columns.size(); c++)
    for (size_t i = 0; i < r.rows(); i++) rows[i][c] = r.columns[c].text_at(i);
  return rows;
}

inline std::vector<std::string> column_names(const ResultTable& r) {
  std::vector<std::string> names;
  for (const auto& c : r.columns) names.push_back(c.name);
  return names;
}

// A result as text, the way tests compare it: names, the engine's type names, [row][col] cells (NULL as
// "") and NULL marks.
struct TextResult {
  std::vector<std::string> column_names;
  std::vector<std::string> column_types;
  std::vector<std::vector<std::string>> rows;
  std::vector<std::vector<uint8_t>> is_null;
};

inline TextResult text_result(const ResultTable& r) {
  TextResult t;
  t.column_names = column_names(r);
  for (const auto& c : r.columns) t.column_types.push_back(c.engine_type);
  t.rows = text_rows(r);
  t.is_null.assign(r.rows(), std::vector<uint8_t>(r.columns.size()));
  for (size_t c = 0; c < r.columns.size(); c++)
    for (size_t i = 0; i < r.rows(); i++) t.is_null[i][c] = r.columns[c].is_null(i);
  return t;
}

inline bool is_null(const ResultTable& r, size_t row, size_t col) { return r.columns.at(col).is_null(row); }

// A new empty folder under the system's temp folder, removed with everything in it at scope end.
class TempFolder {
 public:
  TempFolder() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "advx-store-test-XXXXXX").string();
    if (!mkdtemp(tmpl.data())) throw std::runtime_error("cannot make a temp folder");
    path_ = tmpl;
  }
  ~TempFolder() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempFolder(const TempFolder&) = delete;
  TempFolder& operator=(const TempFolder&) = delete;
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

// A database path under /tmp, unique per process and call, removed (with its WAL) at scope end.
class TempDb {
 public:
  TempDb() {
    static std::atomic<int> counter{0};
    path_ =
        "/tmp/advx_store_test_" + std::to_string(::getpid()) + "_" + std::to_string(counter++) + ".duckdb";
    remove();
  }
  ~TempDb() { remove(); }
  TempDb(const TempDb&) = delete;
  TempDb& operator=(const TempDb&) = delete;
  const std::string& path() const { return path_; }

 private:
  void remove() {
    std::error_code ec;
    std::filesystem::remove(path_, ec);
    std::filesystem::remove(path_ + ".wal", ec);
  }
  std::string path_;
};

// Column-major data owned by the test; columns are added in table order.
class SliceBuilder {
 public:
  explicit SliceBuilder(const TableDef& def) : def_(def) {}

  template <class T>
  SliceBuilder& add(std::vector<T> values, std::vector<uint8_t> valid = {}) {
    auto* owned = new std::vector<T>(std::move(values));
    rows_ = owned->size();
    holders_.emplace_back(owned, [](void* p) { delete static_cast<std::vector<T>*>(p); });
    valids_.push_back(std::move(valid));
    data_.push_back(owned->data());
    return *this;
  }

  // Strings are copied so the views stay valid.
  SliceBuilder& add_strings(const std::vector<std::string>& values, std::vector<uint8_t> valid = {}) {
    auto* store = new std::vector<std::string>(values);
    holders_.emplace_back(store, [](void* p) { delete static_cast<std::vector<std::string>*>(p); });
    std::vector<std::string_view> views(store->begin(), store->end());
    return add(std::move(views), std::move(valid));
  }

  TableSlice slice(const std::vector<uint32_t>* sel = nullptr) {
    columns_.clear();
    for (size_t c = 0; c < data_.size(); ++c) {
      columns_.push_back({data_[c], valids_[c].empty() ? nullptr : valids_[c].data()});
    }
    TableSlice s;
    s.def = &def_;
    s.rows = rows_;
    s.columns = columns_;
    if (sel) {
      s.sel = sel->data();
      s.sel_count = sel->size();
    }
    return s;
  }

 private:
  struct Holder {
    void* p;
    void (*del)(void*);
    Holder(void* ptr, void (*d)(void*)) : p(ptr), del(d) {}
    Holder(Holder&& o) noexcept : p(o.p), del(o.del) { o.p = nullptr; }
    Holder(const Holder&) = delete;
    ~Holder() {
      if (p) del(p);
    }
  };
  const TableDef& def_;
  size_t rows_ = 0;
  std::vector<Holder> holders_;
  std::vector<const void*> data_;
  std::vector<std::vector<uint8_t>> valids_;
  std::vector<ColumnData> columns_;
};

}  // namespace advx::test
