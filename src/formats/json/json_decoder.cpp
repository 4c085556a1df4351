// STUB: replaced by the JSON decoder.
#include "formats/decoder.hpp"
namespace advx {
std::unique_ptr<Decoder> make_json_decoder() { return nullptr; }
}  // namespace advx
