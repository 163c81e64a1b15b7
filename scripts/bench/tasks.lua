-- N tasks parked on one limiter, then drained by it: RSS while they wait, and drain time.
--   autolua scripts/bench/tasks.lua N
local task = require "autolua.task"
local limiter = require "autolua.limiter"

local n = tonumber(arg[1] or 100000)
local rate = n / 2                      -- the queue takes about two seconds to drain
local lim = limiter.rate { rate = rate, per = 1 }

local function status(field)
  for line in io.lines("/proc/self/status") do
    local kb = line:match("^" .. field .. ":%s+(%d+)")
    if kb then return tonumber(kb) / 1024 end
  end
end

local base = status("VmRSS")
local started, finished = 0, 0
local t0 = task.now()
for _ = 1, n do
  task.spawn(function()
    started = started + 1
    lim:acquire()
    finished = finished + 1
  end)
end
while started < n do task.yield() end
local queued, rss = lim:stats().queued, status("VmRSS")
local t1 = task.now()
while finished < n do task.sleep(0.01) end
local t2 = task.now()
print(("tasks: %d spawned in %.2f s; %d parked at once, RSS %.1f MiB (%.1f before; %.0f bytes a task); "
  .. "drained at %.0f/s in %.2f s (ideal %.2f s); peak RSS %.1f MiB"):format(
  n, t1 - t0, queued, rss, base, (rss - base) * 1048576 / n, rate, t2 - t1, (n - (n - queued)) / rate,
  status("VmHWM")))
