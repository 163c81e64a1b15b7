-- Fetches 40 slow pages through a limiter of 20 requests per second, 10 at a time, and shows
-- that they overlap: the run takes two to three seconds, not the twenty of one at a time.
--   autolua examples/concurrent_fetch.lua BASE_URL     (e.g. the fake API's misc URL)
local http = require "autolua.http"
local task = require "autolua.task"
local limiter = require "autolua.limiter"

local base = assert(arg[1], "usage: autolua examples/concurrent_fetch.lua BASE_URL")
local lim = limiter.rate { rate = 20, per = 1 }

local pages = {}
for i = 1, 40 do pages[i] = ("%s/delay?s=0.5&page=%d"):format(base, i) end

local t0 = task.now()
local statuses = task.map(pages, function(url)
  return http.request { url = url, limiter = lim, timeout = 10 }.status
end, { concurrency = 10 })

local ok = 0
for _, s in ipairs(statuses) do if s == 200 then ok = ok + 1 end end
print(("%d of %d pages fetched in %.2f s (limiter: %d acquired)"):format(
  ok, #pages, task.now() - t0, lim:stats().acquired))
