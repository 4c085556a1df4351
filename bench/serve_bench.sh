#!/usr/bin/env bash
# advx serve's HTTP collector under load from wrk (a second process), on loopback:
#   1. 1,000-impression NDJSON POSTs (target >= 200k events/s)
#   2. single-impression POSTs with keep-alive, 64 and 256 connections (target >= 20k requests/s)
#   3. p50/p99 from receipt to stored-and-visible: the answer comes after the commit, so it is the latency
#   4. overload: OVERLOAD_S seconds (default 300) at twice the connections, RSS sampled every 10 s
# Usage: bench/serve_bench.sh [SECONDS_PER_RUN=15] [OVERLOAD_S=300]. Needs build/advx (Release) and wrk.
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-15}
overload=${2:-300}
out=bench/out/serve
mkdir -p "$out"
source bench/serve_lib.sh
rss_mb() { awk '/VmRSS/ {printf "%.0f", $2 / 1024}' "/proc/$pid/status"; }

echo "advx serve collector, $(date -u +%F), $(nproc) cores, ${secs}s per run"
start_server "$out" "$out/serve.err"
ADVX_BATCH=1000 wrk -t1 -c8 -d"${secs}s" -s bench/wrk_impressions.lua "$url/v1/impressions" > "$out/batch.txt"
line=$(grep WRK "$out/batch.txt")
n=$(stored)
echo "1000-event POSTs, 8 connections: $line"
echo "  stored $n impressions: $(echo "$n / $secs" | bc) events/s (target 200k)   RSS $(rss_mb) MB"
stop_server

# Single events: every answer waits for its group commit, so requests/s grows with the connections in
# flight. The default 64 threads, and 256 with small bodies (memory bound threads x max_body_mb: 256 MB).
printf '[http]\nthreads = 256\nmax_body_mb = 1\n' > "$out/single.toml"
for conns in 64 256; do
  config=()
  [ "$conns" -gt 64 ] && config=(--config "$out/single.toml")
  start_server "$out" "$out/serve.err" "${config[@]}"
  ADVX_BATCH=1 wrk -t1 -c$conns -d"${secs}s" -s bench/wrk_impressions.lua "$url/v1/impressions" > "$out/single.txt"
  line=$(grep WRK "$out/single.txt")
  reqs=$(echo "$line" | sed -n 's/.*requests=\([0-9]*\).*/\1/p')
  echo "single-event POSTs, keep-alive, $conns connections: $line"
  echo "  $(echo "$reqs / $secs" | bc) requests/s (target 20k); stored $(stored)   RSS $(rss_mb) MB"
  stop_server
done

if [ "$overload" -gt 0 ]; then
  start_server "$out" "$out/serve.err"
  ADVX_BATCH=1000 wrk -t2 -c32 -d"${overload}s" -s bench/wrk_impressions.lua "$url/v1/impressions" \
    > "$out/overload.txt" &
  wrk_pid=$!
  samples=""
  for _ in $(seq $((overload / 10))); do sleep 10; samples="$samples $(rss_mb)"; done
  wait "$wrk_pid" || true
  echo "overload ${overload}s, 1000-event POSTs on 32 connections: $(grep WRK "$out/overload.txt")"
  non2xx=$(grep -o 'Non-2xx or 3xx responses: [0-9]*' "$out/overload.txt" || echo "Non-2xx: 0")
  echo "  RSS every 10 s (MB):$samples   $non2xx (503 = backpressure)"
  stop_server
fi
