// UTF-8 (RFC 3629): every string column of the store holds valid UTF-8, so text from input is checked here
// before it becomes a value, and text advx builds from input (a reject's detail, a file name) is repaired.
#pragma once
#include <cstddef>
#include <string>
#include <string_view>

namespace advx {

// Length of the valid UTF-8 sequence starting at s[i] (no overlong forms, no surrogates, nothing above
// U+10FFFF), or 0 when the bytes there are not one. s[i] must exist.
size_t utf8_sequence_length(std::string_view s, size_t i);

// True when the whole of `s` is valid UTF-8. Pure-ASCII text (nearly all) takes an 8-bytes-at-a-time path.
bool valid_utf8(std::string_view s);

// True when `s` holds a control byte: C0 (NUL to 0x1F) or DEL. 8 bytes at a time.
bool has_control_bytes(std::string_view s);

// `s` with every byte that is not part of valid UTF-8 replaced by U+FFFD.
std::string repair_utf8(std::string_view s);

// The longest prefix of `s` of at most `max_bytes` that does not end inside a multi-byte sequence.
std::string_view utf8_prefix(std::string_view s, size_t max_bytes);

}  // namespace advx
