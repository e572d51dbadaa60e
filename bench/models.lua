-- models.lua: wrk script for GET /v1/models; done() prints the same WRK line as chat.lua.
wrk.method = "GET"
wrk.path = "/v1/models"

function done(summary, latency, requests)
    local secs = summary.duration / 1e6
    local e = summary.errors
    io.write(string.format(
        "WRK requests=%d rps=%.1f p50_us=%d p90_us=%d p99_us=%d max_us=%d errors=%d non2xx=%d\n",
        summary.requests, summary.requests / secs, latency:percentile(50),
        latency:percentile(90), latency:percentile(99), latency.max,
        e.connect + e.read + e.write + e.timeout, e.status))
end
