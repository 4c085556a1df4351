// UTF-8 (RFC 3629): every string column of the store holds valid UTF-8, so text from input is checked here
// before it becomes a value, and text advx builds from input (a reject's detail, a file name) is repaired.
#pragma once
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

namespace advx {

// Length of the valid UTF-8 sequence starting at s[i] (no overlong forms, no surrogates, nothing above
// U+10FFFF), or 0 when the bytes there are not one. s[i] must exist.
size_t utf8_sequence_length(std::string_view s, size_t i);

// True when s[from..] is valid UTF-8 (the slow path of valid_utf8).
bool valid_utf8_from(std::string_view s, size_t from);

// True when the whole of `s` is valid UTF-8. Pure-ASCII text (nearly all) takes an 8-bytes-at-a-time path,
// inline: the store checks every string it appends.
inline bool valid_utf8(std::string_view s) {
  size_t i = 0;
  for (; i + 8 <= s.size(); i += 8) {
    uint64_t word;
    std::memcpy(&word, s.data() + i, 8);
    if (word & 0x8080808080808080ULL) return valid_utf8_from(s, i);
  }
  for (; i < s.size(); ++i)
    if (static_cast<unsigned char>(s[i]) >= 0x80) return valid_utf8_from(s, i);
  return true;
}

// What makes `s` unfit to store as text, if anything: a control byte (C0, NUL to 0x1F, or DEL) or a byte
// that is not part of valid UTF-8 (the first found wins). One pass, 8 bytes at a time while they are
// printable ASCII.
enum class TextFault : uint8_t { none, control, not_utf8 };
TextFault text_fault(std::string_view s);

// `s` with every byte that is not part of valid UTF-8 replaced by U+FFFD.
std::string repair_utf8(std::string_view s);

// The longest prefix of `s` of at most `max_bytes` that does not end inside a multi-byte sequence.
std::string_view utf8_prefix(std::string_view s, size_t max_bytes);

}  // namespace advx
