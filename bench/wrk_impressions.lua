-- wrk script for bench/serve_bench.sh: POST /v1/impressions with ADVX_BATCH (default 1000) new impressions
-- per request, ids unique per wrk thread and request, so nothing is a duplicate.
local batch = tonumber(os.getenv("ADVX_BATCH") or "1000")
local path = os.getenv("ADVX_PATH") or "/v1/impressions"
local threads = {}
local counter = 0

function setup(thread)
  thread:set("tid", #threads)
  table.insert(threads, thread)
end

request = function()
  local lines = {}
  for i = 1, batch do
    counter = counter + 1
    lines[i] = string.format(
      '{"impression_id":"w%d-%d","ad_creative_id":"1000%02d","user_id":"u-%d","timestamp":"2026-11-23T%02d:%02d:%02d.000Z","website":"news.example.com","win_price_cpm":1.25,"user_agent":"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0 Safari/537.36","ip":"203.0.113.7","country":"US","device_type":"desktop"}',
      tid, counter, 1 + counter % 40, counter % 200000, math.floor(counter / 3600) % 24, math.floor(counter / 60) % 60, counter % 60)
  end
  return wrk.format("POST", path, {["Content-Type"] = "application/x-ndjson"}, table.concat(lines, "\n"))
end

done = function(summary, latency, requests)
  io.write(string.format("WRK requests=%d errors_status=%d p50_ms=%.2f p99_ms=%.2f duration_s=%.2f\n",
    summary.requests, summary.errors.status, latency:percentile(50) / 1000, latency:percentile(99) / 1000,
    summary.duration / 1e6))
end
