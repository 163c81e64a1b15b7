-- N GETs at concurrency C, each answer a real response table as a script sees it.
--   autolua scripts/bench/flood.lua URL N C
-- BENCH_CA=FILE trusts a throwaway certificate (the TLS jobs); BENCH_FRESH=1 opens a fresh
-- connection for every request (cold-tls).
local http = require "autolua.http"
local task = require "autolua.task"

local url, n, conc = arg[1], tonumber(arg[2] or 20000), tonumber(arg[3] or 64)
local ca, fresh = os.getenv("BENCH_CA"), os.getenv("BENCH_FRESH") == "1"
local urls = {}
for i = 1, n do urls[i] = url end
local bad, bytes = 0, 0
local get
if fresh then
  get = function(u) return http.request { url = u, ca_file = ca, reuse = false } end
elseif ca then   -- reuse = true is the default: a script would not say it
  get = function(u) return http.request { url = u, ca_file = ca } end
else
  get = function(u) return http.request { url = u } end
end
-- The clock starts once the HTTP core is up (libcurl loaded and initialized: ~6 ms on the first
-- request otherwise), as the floor's starts after curl_global_init and its handles' set-up.
-- Both runs' CPU counts it all the same.
http.configure()
local t0 = task.now()
task.each(urls, function(u)
  local res = get(u)
  if res.status ~= 200 then bad = bad + 1 end
  bytes = bytes + #res.body
end, { concurrency = conc })
local dt = task.now() - t0
print(("flood: %d requests, %d not 200, %.0f requests/s, %.3f s"):format(n, bad, n / dt, dt))
