-- wrk_common.lua: loaded by the wrk scripts. post_json(fmt) makes every request a JSON POST
-- whose body is fmt with model, stream member and message filled in (BENCH_MODEL, default
-- "codex-5"; BENCH_STREAM=1 adds "stream":true, and wrk reads the SSE body to its end;
-- BENCH_MESSAGE, default "fake:text"). done() prints the one machine-readable line that
-- bench/run and bench/cpu parse:
--   WRK requests=N rps=R p50_us=.. p90_us=.. p99_us=.. max_us=.. errors=E non2xx=S
-- where errors counts connect/read/write/timeout errors and non2xx the other statuses.
function post_json(fmt)
    wrk.method = "POST"
    wrk.headers["Content-Type"] = "application/json"
    wrk.body = string.format(fmt, os.getenv("BENCH_MODEL") or "codex-5",
        os.getenv("BENCH_STREAM") == "1" and '"stream":true,' or "",
        os.getenv("BENCH_MESSAGE") or "fake:text")
end

function done(summary, latency, requests)
    local secs = summary.duration / 1e6
    local e = summary.errors
    io.write(string.format(
        "WRK requests=%d rps=%.1f p50_us=%d p90_us=%d p99_us=%d max_us=%d errors=%d non2xx=%d\n",
        summary.requests, summary.requests / secs, latency:percentile(50),
        latency:percentile(90), latency:percentile(99), latency.max,
        e.connect + e.read + e.write + e.timeout, e.status))
end
