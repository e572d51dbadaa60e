-- chat.lua: wrk script for the chat benchmark: POST /v1/chat/completions with one user
-- message. Knobs and the result line: wrk_common.lua.
dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "wrk_common.lua")
post_json('{"model":"%s",%s"messages":[{"role":"user","content":"%s"}]}')
