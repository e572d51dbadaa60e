-- chat.lua: wrk script for the chat benchmark. Every request is POST /v1/chat/completions with
-- one user message (BENCH_MESSAGE, default "fake:text"); BENCH_STREAM=1 asks for a stream
-- (wrk reads the chunked SSE body to its end). done() comes from report.lua.
local message = os.getenv("BENCH_MESSAGE") or "fake:text"
local model = os.getenv("BENCH_MODEL") or "codex-5"
local stream = os.getenv("BENCH_STREAM") == "1"

wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = string.format('{"model":"%s",%s"messages":[{"role":"user","content":"%s"}]}',
    model, stream and '"stream":true,' or "", message)

dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "report.lua")
