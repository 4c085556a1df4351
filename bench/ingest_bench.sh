#!/usr/bin/env bash
# advx ingest end to end, beside the DuckDB-SQL peer pipeline (../shared/peers) on the same files, in the
# same run. Prints events/s, peak RSS and the ratio. Usage: bench/ingest_bench.sh [IMPRESSIONS] [SEED]
# Needs a release build in build/ (cmake -S . -B build && cmake --build build).
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-1000000}
seed=${2:-42}
root=$PWD
data=bench/data/imp-$n-seed-$seed
out=bench/out
mkdir -p "$out"
[ -x build/advx ] || { echo "bench: build/advx missing: cmake -S . -B build && cmake --build build" >&2; exit 2; }
if [ ! -f "$data/_manifest.json" ]; then
  rm -rf "$data"
  build/advx gen --out "$data" --impressions "$n" --seed "$seed" --quiet
fi
gcc -O2 -o "$out/duckrun" ../shared/peers/duckrun.c -Ithird_party/duckdb -Lthird_party/duckdb -lduckdb \
  -Wl,-rpath,"$root/third_party/duckdb"
sed "s|@DIR@|$root/$data|g" ../shared/peers/duckdb_pipeline.sql.in > "$out/peer.sql"

# measure NAME LABEL EVENTS COMMAND...: prints the run's events/s and peak RSS; sets SECS.
measure() {
  local name=$1 label=$2 events=$3; shift 3
  /usr/bin/time -f "%e %M" -o "$out/time.txt" "$@" > "$out/$name.out" 2> "$out/$name.err"
  read -r SECS kb < "$out/time.txt"
  printf '%-44s %10s events %7.2f s %10.0f events/s %6.0f MB peak RSS\n' "$label" "$events" "$SECS" \
    "$(echo "$events / $SECS" | bc -l)" "$(echo "$kb / 1024" | bc -l)"
}

imp=$(python3 -c "import json;m=json.load(open('$data/_manifest.json'));print(m['impressions']['read'])")
ev=$(python3 -c "import json;m=json.load(open('$data/_manifest.json'));print(m['clicks_conversions']['read'])")
bids=$(python3 -c "import json;m=json.load(open('$data/_manifest.json'));print(m['bid_requests']['read'])")
echo "data: $data  impressions $imp, clicks/conversions $ev, bid requests $bids  ($(date -u +%F), $(nproc) cores)"

rm -f "$out"/advx.duckdb* "$out"/peer.duckdb* "$out"/bare.duckdb* "$out"/advx-*.duckdb*
measure advx "advx ingest impressions + clicks/conversions" $((imp + ev)) \
  build/advx ingest --db "$out/advx.duckdb" --dims "$data/dims" -q "$data/impressions" "$data/clicks_conversions"
advx_secs=$SECS
measure peer "DuckDB-SQL peer, same inputs (2 threads)" $((imp + ev)) \
  "$out/duckrun" "$out/peer.duckdb" "$out/peer.sql" 2
printf 'ratio advx / peer in events/s: %.2fx\n' "$(echo "$SECS / $advx_secs" | bc -l)"
echo "CREATE TABLE raw AS SELECT * FROM read_json('$root/$data/impressions/*.jsonl', ignore_errors = true);" \
  > "$out/bare.sql"
measure bare "DuckDB bare read_json into a table (no rules)" "$imp" \
  "$out/duckrun" "$out/bare.duckdb" "$out/bare.sql" 2
measure advx-bids "advx ingest bid requests (Avro)" "$bids" \
  build/advx ingest --db "$out/advx-bids.duckdb" --dims "$data/dims" -q "$data/bid_requests"
measure advx-all "advx ingest everything" $((imp + ev + bids)) \
  build/advx ingest --db "$out/advx-all.duckdb" --json "$data"
python3 - "$out/advx-all.out" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
print(f"dedup state: {s['dedup_keys']:,} keys, {s['dedup_bytes'] / s['dedup_keys']:.1f} bytes/key in memory")
PY
