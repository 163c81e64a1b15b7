-- N GETs at concurrency C, each answer a real response table as a script sees it.
--   autolua scripts/bench/flood.lua URL N C
local http = require "autolua.http"
local task = require "autolua.task"

local url, n, conc = arg[1], tonumber(arg[2] or 20000), tonumber(arg[3] or 64)
local urls = {}
for i = 1, n do urls[i] = url end
local bad, bytes = 0, 0
local t0 = task.now()
task.each(urls, function(u)
  local res = http.request { url = u }
  if res.status ~= 200 then bad = bad + 1 end
  bytes = bytes + #res.body
end, { concurrency = conc })
local dt = task.now() - t0
print(("flood: %d requests, %d not 200, %.0f requests/s, %.3f s"):format(n, bad, n / dt, dt))
