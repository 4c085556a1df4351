// A record's Kafka key, its user_id (docs/FLEET.md, "The producer contract"): what advx publish keys a
// record by, and what a fleet worker checks the partition of a record it reads against. Both must agree
// for every form a user_id arrives in, so both use this.
#pragma once
#include <optional>
#include <string_view>

#include "core/raw_batch.hpp"
#include "core/stream.hpp"

namespace advx {

// The standard field holding a stream's user id.
int user_id_field(Stream s);

// The standard field holding a stream's event id: impression_id, event_id, auction_id.
int event_id_field(Stream s);

// An id as the validator stores it: a string or an integer, trimmed of blanks; an integer read as a number
// (JSON, Avro) in decimal, written into `digits`. None when there is none, it is empty, or it is of a type
// validation rejects.
std::optional<std::string_view> id_key_of(const Cell& c, char (&digits)[24]);

// The Kafka key of a record: its user_id, else its event id (a bid request without a user: its copies
// still meet on one partition, where dedup sees them both). None when it has neither (validation rejects
// it, on whichever partition it is).
std::optional<std::string_view> kafka_key_of(const RawBatch& raw, size_t row, char (&digits)[24]);

}  // namespace advx
