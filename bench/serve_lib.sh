# Sourced by the advx serve benches (serve_bench.sh, monitor_bench.sh), from the project root: the binary
# and wrk, the dimension files, and starting and stopping a server on a free loopback port.
advx=${ADVX:-build/advx}  # the binary under test
command -v wrk >/dev/null || { echo "bench: wrk missing (scripts/setup installs it)" >&2; exit 2; }
[ -x "$advx" ] || { echo "bench: $advx missing" >&2; exit 2; }
[ -f bench/data/dims-gen/dims/campaigns.csv ] || "$advx" gen --out bench/data/dims-gen --impressions 1000 --quiet
dims=bench/data/dims-gen/dims
[ -d bench/data/dims ] && dims=bench/data/dims

# start_server OUT_DIR STDERR_FILE [ARGS…]: advx serve on a fresh OUT_DIR/serve.duckdb; sets pid, port, url.
start_server() {
  local out=$1 err=$2
  shift 2
  rm -f "$out"/serve.duckdb*
  "$advx" serve --db "$out/serve.duckdb" --dims "$dims" --http 127.0.0.1:0 "$@" > "$out/serve.out" 2> "$err" &
  pid=$!
  for _ in $(seq 100); do grep -q listening "$out/serve.out" 2>/dev/null && break; sleep 0.1; done
  port=$(sed -n 's/.*127.0.0.1:\([0-9]*\).*/\1/p' "$out/serve.out" | head -1)
  url=http://127.0.0.1:$port
}
stop_server() { kill -TERM "$pid"; wait "$pid" || true; }
stored() { curl -s --data 'SELECT count(*) AS n FROM impressions' "$url/v1/sql" | sed -n 's/.*"n": *\([0-9]*\).*/\1/p'; }
