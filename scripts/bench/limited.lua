-- GETs of one Dexi run for SECONDS through the dexi client's own `get` limiter (its default
-- limits: 75 a second), W tasks at once; the fake enforces 75 per sliding second and counts
-- the 200s and 429s on its side.   autolua scripts/bench/limited.lua BASE_URL [SECONDS] [W] [RUN]
local dexi = require "dexi"
local task = require "autolua.task"

local base, seconds, workers = arg[1], tonumber(arg[2] or 20), tonumber(arg[3] or 8)
local run = arg[4] or "27c719bb-f28f-49f5-aedf-dba2f8e60ba3"
local client = dexi.client { account = "acc-test", api_key = "key-test", base_url = base }
local ok = 0
local t0 = task.now()
local deadline = t0 + seconds
local fns = {}
for w = 1, workers do
  fns[w] = function()
    while task.now() < deadline do
      client.runs.get(run)
      ok = ok + 1
    end
  end
end
task.all(fns)
local dt = task.now() - t0
print(("limited: %d answered 200 in %.2f s (%.2f/s)"):format(ok, dt, ok / dt))
