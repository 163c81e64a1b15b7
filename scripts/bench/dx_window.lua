-- DX calls through the per-token sliding window, the fake enforcing the same window. First a
-- burst below the limit: 201 teams.list calls (50 triggers and their polls, say) at 50 at once
-- under 1000 per 60 s, which must take about the time of the calls themselves; then a flood:
-- N calls at 64 at once; prints the achieved rate against the window and the 429s.
--   autolua scripts/bench/dx_window.lua [N] [LIMIT] [WINDOW]
local dx = require "dx"
local http = require "autolua.http"
local json = require "autolua.json"
local task = require "autolua.task"

local n, limit, window = tonumber(arg[1] or 3000), tonumber(arg[2] or 100), tonumber(arg[3] or 6)
local state = json.decode(io.open(assert(os.getenv("AUTOLUA_FAKE_STATE"))):read("a"))
http.request { method = "POST", url = state.dx .. "/_reset" }

local burst = dx.client { token = "dx-test-token", base_url = state.dx }
local b0 = task.now()
task.map(setmetatable({}, { __len = function() return 201 end }), function() burst.teams.list {} end, { concurrency = 50 })
local burst_s = task.now() - b0
http.request { method = "POST", url = state.dx .. "/_reset" }
http.request { method = "POST", url = state.dx .. "/_config", json = { limit = limit, window = window } }

local c = dx.client { token = "dx-test-token", base_url = state.dx, limit = math.tointeger(limit), window = window }
local times = {}
local t0 = task.now()
task.map(setmetatable({}, { __len = function() return n end }), function() end)  -- warm the module
local items = {}
for i = 1, n do items[i] = i end
task.each(items, function(i)
  c.teams.list {}
  times[i] = task.now()
end, { concurrency = 64 })
local elapsed = task.now() - t0
table.sort(times)
-- The most calls that ended within any one window: never above the limit if nothing went over.
local most, j = 0, 1
for i = 1, n do
  while times[i] - times[j] >= window do j = j + 1 end
  most = math.max(most, i - j + 1)
end
-- The rate that counts is the steady one: calls per window after the first window's worth
-- (which goes at once, then waits for the window to move on).
local steady = (n - limit - 1) / (times[n] - times[limit + 1]) * window
local r429 = 0
for _, r in ipairs(http.request { url = state.dx .. "/_requests" }:json()) do
  if r.status == 429 then r429 = r429 + 1 end
end
print(("dx burst: 201 calls below 1000 per 60 s in %.2f s"):format(burst_s))
print(("dx: %d calls in %.1f s; %.1f per %g s window = %.1f %% of %d (at most %d ended in one window); %d answered 429"):format(
  n, elapsed, steady, window, steady / limit * 100, limit, most, r429))
