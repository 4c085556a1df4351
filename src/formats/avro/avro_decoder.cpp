// STUB: replaced by the Avro decoder.
#include "formats/decoder.hpp"
namespace advx {
std::unique_ptr<Decoder> make_avro_decoder() { return nullptr; }
}  // namespace advx
