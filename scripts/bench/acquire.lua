-- M acquisitions of one limiter, one after the other, at a rate that never binds (1e6/s, a burst
-- of 1000) and with no HTTP: what an acquisition itself costs in time and in CPU (the loop's
-- process CPU, start-up left out), in-process or through the store.
--   AUTOLUA_STORE=URL autolua scripts/bench/acquire.lua [M] [KEY] [shared]
local limiter = require "autolua.limiter"
local task = require "autolua.task"

local m, key, shared = tonumber(arg[1] or 2000), arg[2] or "acquire-bench", arg[3] ~= "local"
local l = limiter.rate { key = key, rate = 1e6, burst = 1000, shared = shared }
l:acquire()                     -- the connection, the scripts and the first heartbeat
local t0, c0 = task.now(), os.clock()
for _ = 1, m do l:acquire() end
local dt, cpu = task.now() - t0, os.clock() - c0
print(("latency: %d acquisitions in %.3f s, %.1f us per acquisition, %.2f us cpu per acquisition (shared=%s)"):format(
  m, dt, dt / m * 1e6, cpu / m * 1e6, tostring(l:stats().shared)))
