// A bump allocator for the strings a batch owns (unescaped JSON strings, standardized values).
// Freed all at once when the batch is cleared: no per-string allocation on the hot path.
#pragma once
#include <cstddef>
#include <cstring>
#include <memory>
#include <string_view>
#include <vector>

namespace advx {

class Arena {
 public:
  explicit Arena(size_t block_size = 64 * 1024) : block_size_(block_size) {}

  char* allocate(size_t n) {
    if (n > remaining_) grow(n);
    char* p = cursor_;
    cursor_ += n;
    remaining_ -= n;
    return p;
  }

  std::string_view copy(std::string_view s) {
    if (s.empty()) return {};
    char* p = allocate(s.size());
    std::memcpy(p, s.data(), s.size());
    return {p, s.size()};
  }

  // Keeps the first block, so a reused arena does not allocate again in steady state.
  void clear() {
    if (blocks_.size() > 1) blocks_.resize(1);
    if (!blocks_.empty()) {
      cursor_ = blocks_[0].get();
      remaining_ = first_block_size_;
    }
  }

 private:
  void grow(size_t n) {
    size_t size = n > block_size_ ? n : block_size_;
    blocks_.emplace_back(new char[size]);
    if (blocks_.size() == 1) first_block_size_ = size;
    cursor_ = blocks_.back().get();
    remaining_ = size;
  }

  size_t block_size_;
  size_t first_block_size_ = 0;
  std::vector<std::unique_ptr<char[]>> blocks_;
  char* cursor_ = nullptr;
  size_t remaining_ = 0;
};

}  // namespace advx
