-- chat.lua: wrk script for the non-stream chat benchmark. Every request is
-- POST /v1/chat/completions with one user message (BENCH_MESSAGE, default "fake:text");
-- done() prints one machine-readable line that bench/run parses:
--   WRK requests=N rps=R p50_us=.. p90_us=.. p99_us=.. max_us=.. errors=E non2xx=S
-- where errors counts connect/read/write/timeout errors and non2xx the other statuses.
local message = os.getenv("BENCH_MESSAGE") or "fake:text"
local model = os.getenv("BENCH_MODEL") or "codex-5"

wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = string.format(
    '{"model":"%s","messages":[{"role":"user","content":"%s"}]}', model, message)

function done(summary, latency, requests)
    local secs = summary.duration / 1e6
    local e = summary.errors
    io.write(string.format(
        "WRK requests=%d rps=%.1f p50_us=%d p90_us=%d p99_us=%d max_us=%d errors=%d non2xx=%d\n",
        summary.requests, summary.requests / secs, latency:percentile(50),
        latency:percentile(90), latency:percentile(99), latency.max,
        e.connect + e.read + e.write + e.timeout, e.status))
end
