-- responses.lua: wrk script for the Responses benchmark, the counterpart of chat.lua:
-- POST /v1/responses with the same message as a string `input` and "store":false, so the
-- response store is not part of the measurement. Knobs and the result line: wrk_common.lua.
dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "wrk_common.lua")
post_json('{"model":"%s",%s"store":false,"input":"%s"}')
