#!/usr/bin/env bash
# advx ingest into ClickHouse beside its peers, on the same files in the same run (issue 12): advx into a
# local clickhouse-server, advx into DuckDB, the DuckDB-SQL peer (../shared/peers), and ClickHouse's own
# insert of the same impression lines (clickhouse-client, FORMAT JSONEachRow into a MergeTree table). Then
# `advx report campaigns --by day` timed on both stores. Prints events/s and the ratios.
# Usage: bench/clickhouse_ingest_bench.sh [IMPRESSIONS] [SEED]. Needs a release build in build/.
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-1000000}
seed=${2:-42}
root=$PWD
data=bench/data/imp-$n-seed-$seed
out=bench/out
mkdir -p "$out"
[ -x build/advx ] || { echo "bench: build/advx missing: cmake -S . -B build && cmake --build build" >&2; exit 2; }
server=$(command -v clickhouse-server || echo /usr/sbin/clickhouse-server)
[ -x "$server" ] || { echo "bench: clickhouse-server missing: scripts/setup installs it" >&2; exit 2; }
if [ ! -f "$data/_manifest.json" ]; then
  rm -rf "$data"
  build/advx gen --out "$data" --impressions "$n" --seed "$seed" --quiet
fi

# A server of our own on free loopback ports, stopped on exit (the same config the tests write).
ch=$(mktemp -d /tmp/advx-bench-ch-XXXXXX)
read -r http_port tcp_port < <(python3 -c "
import socket
s=[socket.socket() for _ in range(2)]
[x.bind(('127.0.0.1',0)) for x in s]
print(*[x.getsockname()[1] for x in s])")
cat > "$ch/config.xml" <<EOF
<?xml version="1.0"?>
<yandex>
  <logger><level>warning</level><log>$ch/server.log</log><errorlog>$ch/server.err.log</errorlog></logger>
  <http_port>$http_port</http_port><tcp_port>$tcp_port</tcp_port><listen_host>127.0.0.1</listen_host>
  <path>$ch/data/</path><tmp_path>$ch/data/tmp/</tmp_path><user_files_path>$ch/data/user_files/</user_files_path>
  <format_schema_path>$ch/data/format_schemas/</format_schema_path><users_config>$ch/users.xml</users_config>
  <default_profile>default</default_profile><default_database>default</default_database><timezone>UTC</timezone>
  <mark_cache_size>268435456</mark_cache_size><keep_alive_timeout>2</keep_alive_timeout>
</yandex>
EOF
cat > "$ch/users.xml" <<'EOF'
<?xml version="1.0"?>
<yandex>
  <profiles><default></default><readonly><readonly>1</readonly></readonly></profiles>
  <users><default><password></password><networks><ip>127.0.0.1</ip></networks><profile>default</profile>
    <quota>default</quota></default></users>
  <quotas><default><interval><duration>3600</duration><queries>0</queries><errors>0</errors>
    <result_rows>0</result_rows><read_rows>0</read_rows><execution_time>0</execution_time></interval></default></quotas>
</yandex>
EOF
"$server" --config-file="$ch/config.xml" > "$ch/stdout" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null; rm -rf "$ch"' EXIT
for _ in $(seq 300); do
  [ "$(curl -s "http://127.0.0.1:$http_port/ping" || true)" = "Ok." ] && break
  sleep 0.1
done
chq() { curl -sS --fail-with-body "http://127.0.0.1:$http_port/" --data-binary "$1"; }

gcc -O2 -o "$out/duckrun" ../shared/peers/duckrun.c -Ithird_party/duckdb -Lthird_party/duckdb -lduckdb \
  -Wl,-rpath,"$root/third_party/duckdb"
sed "s|@DIR@|$root/$data|g" ../shared/peers/duckdb_pipeline.sql.in > "$out/peer.sql"

measure() {
  local name=$1 label=$2 events=$3; shift 3
  if ! /usr/bin/time -f "%e %M" -o "$out/time.txt" "$@" > "$out/$name.out" 2> "$out/$name.err"; then
    printf '%-52s FAILED: %s\n' "$label" "$(grep -v '^Command exited' "$out/$name.err" | head -1)"
    SECS=nan
    return
  fi
  read -r SECS kb < "$out/time.txt"
  printf '%-52s %10s events %7.2f s %10.0f events/s %6.0f MB peak RSS\n' "$label" "$events" "$SECS" \
    "$(echo "$events / $SECS" | bc -l)" "$(echo "$kb / 1024" | bc -l)"
}

imp=$(python3 -c "import json;m=json.load(open('$data/_manifest.json'));print(m['impressions']['read'])")
ev=$(python3 -c "import json;m=json.load(open('$data/_manifest.json'));print(m['clicks_conversions']['read'])")
echo "data: $data  impressions $imp, clicks/conversions $ev  ($(date -u +%F), $(nproc) cores, ClickHouse $(chq 'SELECT version()'))"

rm -f "$out"/advx.duckdb* "$out"/peer.duckdb*
url="clickhouse://127.0.0.1:$http_port/advx_bench"
measure advx-ch "advx ingest into ClickHouse" $((imp + ev)) \
  build/advx ingest --store "$url" --dims "$data/dims" -q "$data/impressions" "$data/clicks_conversions"
ch_secs=$SECS
measure advx-duck "advx ingest into DuckDB" $((imp + ev)) \
  build/advx ingest --db "$out/advx.duckdb" --dims "$data/dims" -q "$data/impressions" "$data/clicks_conversions"
duck_secs=$SECS
measure peer "DuckDB-SQL peer, same inputs (2 threads)" $((imp + ev)) \
  "$out/duckrun" "$out/peer.duckdb" "$out/peer.sql" 2
peer_secs=$SECS
# ClickHouse's own insert of the impression rows advx stored (written out of the DuckDB store as CSV, not
# timed), into a table made like advx's: the server's parse + sort + store of the same rows, no rules, no
# dedup. (18.16's JSONEachRow cannot take the raw lines: a number where a String column is, e.g.
# "ad_creative_id":100096, fails the row, and ~70% of generated lines have one.)
cat > "$out/peer_csv.sql" <<EOF
COPY (SELECT event_key, impression_id, epoch_us(event_time), event_date, event_hour, creative_id, campaign_id,
  advertiser_id, user_id, site, auction_id, win_price_cpm, country, device_type, os, browser, user_agent, ip,
  unknown_creative::INT, source, source_record, epoch_us(ingested_at) FROM impressions)
  TO '$root/$out/impressions.csv' (FORMAT csv, HEADER false, NULLSTR '\\N');
EOF
"$out/duckrun" "$out/advx.duckdb" "$out/peer_csv.sql" 2 > /dev/null 2>&1
chq "CREATE TABLE IF NOT EXISTS default.peer_impressions AS advx_bench.impressions"
cols="event_key, impression_id, event_time_us, event_date, event_hour, creative_id, campaign_id, advertiser_id,
  user_id, site, auction_id, win_price_cpm, country, device_type, os, browser, user_agent, ip, unknown_creative,
  source, source_record, ingested_at_us"
query=$(python3 -c "import urllib.parse,sys;print(urllib.parse.quote(sys.argv[1]))" \
  "INSERT INTO default.peer_impressions ($cols) FORMAT CSV")
cat > "$out/ch_peer.sh" <<EOF
curl -sS --fail-with-body -X POST -T "$root/$out/impressions.csv" "http://127.0.0.1:$http_port/?query=$query"
EOF
stored_imp=$(chq "SELECT count() FROM advx_bench.impressions")
measure ch-peer "ClickHouse's own CSV insert of those impression rows" "$stored_imp" bash "$out/ch_peer.sh"
echo "  (rows the peer stored: $(chq "SELECT count() FROM default.peer_impressions"))"
ratio() { [ "$1" = nan ] || [ "$2" = nan ] && echo "n/a" || printf '%.2fx' "$(echo "$1 / $2" | bc -l)"; }
echo "ratio advx into ClickHouse / advx into DuckDB (events/s): $(ratio "$duck_secs" "$ch_secs")"
echo "ratio advx into ClickHouse / DuckDB-SQL peer (events/s):  $(ratio "$peer_secs" "$ch_secs")"

# The campaign report by day, on both stores (best of 5 runs of the whole command).
best() {
  local best=999
  for _ in 1 2 3 4 5; do
    local t0 t1
    t0=$(date +%s.%N)
    "$@" > /dev/null
    t1=$(date +%s.%N)
    best=$(echo "if ($t1 - $t0 < $best) $t1 - $t0 else $best" | bc -l)
  done
  printf '%.0f ms' "$(echo "$best * 1000" | bc -l)"
}
echo "report campaigns --by day: DuckDB $(best build/advx report campaigns --by day --db "$out/advx.duckdb" --format csv)," \
  "ClickHouse $(best build/advx report campaigns --by day --store "$url" --format csv)"
