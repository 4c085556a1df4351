// libFuzzer entry point for the Avro decoders: the input is split in two at a position taken from its first
// byte and fed to the OCF decoder as the pipeline does (carrying the unconsumed tail); the same bytes also go
// to the single-datum decoder with the reference-like schema below. Any crash, hang, sanitizer report or
// broken accounting is a bug.
//   clang++ -std=c++20 -g -O1 -fsanitize=fuzzer,address,undefined -Isrc fuzz/avro_fuzz.cpp \
//     src/formats/avro/avro_decoder.cpp src/formats/avro/avro_schema.cpp -lsimdjson -lsnappy -lz -o avro_fuzz
//   ./avro_fuzz -max_len=65536 corpus/   (seed corpus: any .avro files, e.g. tests' outputs)
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "formats/avro/avro_decoder.hpp"
#include "formats/decoder.hpp"

namespace {

const char* kDatumSchema = R"({"type":"record","name":"BidRequest","namespace":"f","fields":[
  {"name":"id","type":"string"},{"name":"timestamp","type":{"type":"long","logicalType":"timestamp-millis"}},
  {"name":"imp","type":{"type":"array","items":{"type":"record","name":"Imp","fields":[
    {"name":"bidfloor","type":"double"},{"name":"tags","type":{"type":"map","values":["null","string"]}}]}}},
  {"name":"device","type":["null",{"type":"record","name":"Device","fields":[{"name":"ua","type":"string"},
    {"name":"geo","type":["null",{"type":"record","name":"Geo","fields":[{"name":"country","type":"string"}]}]}]}]},
  {"name":"ad_targeting","type":{"type":"record","name":"T","fields":[
    {"name":"criteria","type":{"type":"map","values":{"type":"array","items":"Imp"}}}]}},
  {"name":"next","type":["null","BidRequest"]}]})";

void check(bool ok) {
  if (!ok) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string input(reinterpret_cast<const char*>(data), size);
  size_t cut = size ? size_t(data[0]) * size / 256 : 0;

  auto dec = advx::make_avro_decoder();
  std::string carry;
  size_t records = 0;
  for (int part = 0; part < 2; ++part) {
    carry.append(part == 0 ? input.substr(0, cut) : input.substr(cut));
    bool at_end = part == 1;
    std::string padded = carry + std::string(advx::kInputPadding, '\0');
    advx::RawBatch batch(advx::Stream::bid_requests);
    size_t used = dec->decode(std::string_view(padded.data(), carry.size()), at_end, batch);
    check(used <= carry.size());
    check(!at_end || used == carry.size());
    records += batch.records_read();
    carry.erase(0, used);
  }
  check(records <= size + 1);  // every record takes a byte, or is one reject for a bad block

  static auto datum = advx::AvroDatumDecoder::create(kDatumSchema, nullptr);
  advx::RawBatch batch(advx::Stream::bid_requests);
  bool ok = datum->decode(input, 1, batch);
  check(ok ? batch.rows() == 1 && batch.rejects.empty() : batch.rows() == 0 && batch.rejects.size() == 1);
  return 0;
}
