-- The server of the serve job: a small JSON answer, and the same after one outbound request.
--   BENCH_BODY=FILE BENCH_UPSTREAM=URL autolua serve scripts/bench/serve.lua --listen 127.0.0.1:PORT
local http = require "autolua.http"

local f = assert(io.open(assert(os.getenv("BENCH_BODY"), "BENCH_BODY is not set"), "rb"))
local body = f:read("a")
f:close()
local upstream = os.getenv("BENCH_UPSTREAM")
local headers = { ["content-type"] = "application/json" }

return {
  ["GET /small.json"] = function() return { headers = headers, body = body } end,
  ["GET /outbound"] = function()
    local res = http.request { url = upstream }
    return { status = res.status == 200 and 200 or 502, headers = headers, body = res.body }
  end,
}
