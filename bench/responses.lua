-- responses.lua: wrk script for the Responses benchmark, the counterpart of chat.lua. Every
-- request is POST /v1/responses with the same user message as a string `input`
-- (BENCH_MESSAGE, default "fake:text") and "store":false, so the response store is not part
-- of the measurement; BENCH_STREAM=1 asks for a stream. done() comes from report.lua.
local message = os.getenv("BENCH_MESSAGE") or "fake:text"
local model = os.getenv("BENCH_MODEL") or "codex-5"
local stream = os.getenv("BENCH_STREAM") == "1"

wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = string.format('{"model":"%s",%s"store":false,"input":"%s"}',
    model, stream and '"stream":true,' or "", message)

dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "report.lua")
