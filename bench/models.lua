-- models.lua: wrk script for GET /v1/models; done() comes from wrk_common.lua.
dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "wrk_common.lua")
wrk.method = "GET"
wrk.path = "/v1/models"
