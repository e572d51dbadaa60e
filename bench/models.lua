-- models.lua: wrk script for GET /v1/models; done() comes from report.lua.
wrk.method = "GET"
wrk.path = "/v1/models"

dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "report.lua")
