-- One download streamed to a file: http.request with a file sink.
--   autolua scripts/bench/big.lua URL PATH   ->  "big: BYTES bytes in T s, R MiB/s; peak RSS M MiB"
local http = require "autolua.http"
local task = require "autolua.task"

local url, path = assert(arg[1], "URL"), assert(arg[2], "PATH")
local function hwm()
  for line in io.lines("/proc/self/status") do
    local kb = line:match("^VmHWM:%s+(%d+)")
    if kb then return tonumber(kb) / 1024 end
  end
end
local t0 = task.now()
local res = http.request { url = url, sink = path, timeout = 3600 }
local dt = task.now() - t0
if res.status ~= 200 then error(("big: HTTP %d from %s"):format(res.status, url)) end
print(("big: %d bytes in %.3f s, %.1f MiB/s; peak RSS %.1f MiB"):format(res.bytes, dt, res.bytes / 1048576 / dt, hwm()))
