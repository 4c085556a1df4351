#!/usr/bin/env bash
# What the data-quality monitor costs advx serve's ingest: 1,000-impression NDJSON POSTs from wrk with the
# monitor off and on, alternating (ROUNDS rounds, SECONDS each), in one run of this script. With the
# monitor on it evaluates every 10 s bucket (a minute in production: the same reads per ingested row, as
# each evaluation reads the new bucket and the one before it again) with the default rules. Target: on >=
# 95 % of off.
# Usage: bench/monitor_bench.sh [SECONDS=40] [ROUNDS=2]. Needs build/advx (Release) and wrk.
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-40}
rounds=${2:-2}
out=bench/out/monitor
mkdir -p "$out"
source bench/serve_lib.sh

run() {  # $1 = on|off; prints events/s
  printf '[monitor]\nenabled = %s\nbucket = "10s"\n' "$([ "$1" = on ] && echo true || echo false)" > "$out/advx.toml"
  start_server "$out" "$out/serve-$1.err" --config "$out/advx.toml"
  ADVX_BATCH=1000 wrk -t1 -c8 -d"${secs}s" -s bench/wrk_impressions.lua "$url/v1/impressions" > "$out/wrk-$1.txt"
  n=$(stored)
  metrics=$(curl -s "$url/metrics")
  evals=$(echo "$metrics" | sed -n 's/^advx_rule_evaluations_total \([0-9]*\).*/\1/p')
  eval_s=$(echo "$metrics" | sed -n 's/^advx_rule_evaluation_seconds \([0-9.e+-]*\).*/\1/p')
  stop_server
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
