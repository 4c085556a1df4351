// Standardization rules of SPEC 2.2, as pure functions on strings, so each is tested on its own.
#pragma once
#include <cstdint>
#include <string_view>

#include "core/arena.hpp"

namespace advx {

// Ids (SPEC 2.1): trimmed of ASCII blanks; empty after trimming counts as missing; longer than 256 bytes or
// containing a control character (< 0x20 or 0x7f) is bad_value.
enum class IdCheck : uint8_t { ok, empty, too_long, control_char };
inline constexpr size_t kMaxIdBytes = 256;
std::string_view trim_blanks(std::string_view s);
IdCheck check_id(std::string_view trimmed);

// `https://WWW.News.Example.com:443/a?b` -> `news.example.com`: lower case, no scheme, user info, port,
// path, query, fragment, trailing dot or leading `www.`. Empty when nothing host-like remains. The result
// is a view of `input` when no rewriting was needed, else allocated in `arena`.
std::string_view normalize_site(std::string_view input, Arena& arena);

// ISO 3166-1 alpha-2, upper case. Accepts alpha-2 in any case and the alpha-3 codes; empty otherwise.
std::string_view normalize_country(std::string_view input);

// One of desktop, mobile, tablet, ctv, other: from a name ("Mobile", "smartphone", "Connected TV", …)
// or an OpenRTB 2.6 device type number (1..7).
std::string_view normalize_device_type(std::string_view input);
std::string_view device_type_from_openrtb(int64_t code);

// ISO 4217: three ASCII letters, returned upper case in `out` (3 bytes); false otherwise.
bool normalize_currency(std::string_view input, char out[3]);

// ASCII lower case into `arena` (a view of `input` when already lower case).
std::string_view to_lower(std::string_view input, Arena& arena);

}  // namespace advx
