#!/usr/bin/env bash
# What the data-quality monitor costs advx serve's ingest: 1,000-impression NDJSON POSTs from wrk with the
# monitor off and on, alternating (ROUNDS rounds, SECONDS each), in one run of this script. With the
# monitor on it evaluates every 10 s bucket (a minute in production: the same reads per ingested row, as
# each evaluation reads the new bucket and the one before it again) with the default rules. Target: on >=
# 95 % of off.
# Usage: bench/monitor_bench.sh [SECONDS=40] [ROUNDS=2]. Needs build/advx (Release) and wrk.
set -euo pipefail
advx=${ADVX:-build/advx}
cd "$(dirname "$0")/.."
secs=${1:-40}
rounds=${2:-2}
out=bench/out/monitor
mkdir -p "$out"
command -v wrk >/dev/null || { echo "bench: wrk missing (scripts/setup installs it)" >&2; exit 2; }
[ -x "$advx" ] || { echo "bench: $advx missing" >&2; exit 2; }
[ -f bench/data/dims-gen/dims/campaigns.csv ] || "$advx" gen --out bench/data/dims-gen --impressions 1000 --quiet
dims=bench/data/dims-gen/dims

run() {  # $1 = on|off; prints events/s
  rm -f "$out"/serve.duckdb*
  printf '[monitor]\nenabled = %s\nbucket = "10s"\n' "$([ "$1" = on ] && echo true || echo false)" > "$out/advx.toml"
  "$advx" serve --config "$out/advx.toml" --db "$out/serve.duckdb" --dims "$dims" --http 127.0.0.1:0 \
    > "$out/serve.out" 2> "$out/serve-$1.err" &
  pid=$!
  for _ in $(seq 100); do grep -q listening "$out/serve.out" 2>/dev/null && break; sleep 0.1; done
  port=$(sed -n 's/.*127.0.0.1:\([0-9]*\).*/\1/p' "$out/serve.out" | head -1)
  ADVX_BATCH=1000 wrk -t1 -c8 -d"${secs}s" -s bench/wrk_impressions.lua "http://127.0.0.1:$port/v1/impressions" \
    > "$out/wrk-$1.txt"
  n=$(curl -s --data 'SELECT count(*) AS n FROM impressions' "http://127.0.0.1:$port/v1/sql" |
    sed -n 's/.*"n": *\([0-9]*\).*/\1/p')
  metrics=$(curl -s "http://127.0.0.1:$port/metrics")
  evals=$(echo "$metrics" | sed -n 's/^advx_rule_evaluations_total \([0-9]*\).*/\1/p')
  eval_s=$(echo "$metrics" | sed -n 's/^advx_rule_evaluation_seconds \([0-9.e+-]*\).*/\1/p')
  kill -TERM "$pid"; wait "$pid" || true
  echo "$((n / secs)) ${evals:-0} ${eval_s:-0}"
}

echo "advx serve ingest with the monitor off and on, $(date -u +%F), $(nproc) cores, ${secs}s x $rounds rounds"
off_sum=0; on_sum=0
for r in $(seq "$rounds"); do
  read -r off _ _ < <(run off)
  read -r on evals eval_s < <(run on)
  echo "round $r: off $off events/s, on $on events/s ($evals evaluations, the last one ${eval_s} s)"
  off_sum=$((off_sum + off)); on_sum=$((on_sum + on))
done
echo "mean: off $((off_sum / rounds)) events/s, on $((on_sum / rounds)) events/s: on/off = $(echo "scale=3; $on_sum / $off_sum" | bc)"
