-- wrk script of benches/serve_vs_hello.sh: POST the basket in $BODY_FILE as
-- JSON and print one machine-readable line (errors: connection errors,
-- timeouts and answers other than 2xx/3xx).
local f = assert(io.open(os.getenv("BODY_FILE"), "r"))
wrk.method = "POST"
wrk.body = f:read("*a")
wrk.headers["Content-Type"] = "application/json"
f:close()

done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "RESULT p50_us=%d p99_us=%d rps=%.0f requests=%d errors=%d\n",
    latency:percentile(50), latency:percentile(99),
    summary.requests / (summary.duration / 1e6), summary.requests,
    e.connect + e.read + e.write + e.timeout + e.status))
end
