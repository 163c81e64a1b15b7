-- Dexi downloads through the default `file` limit (15/s): N files of SIZE bytes from one
-- execution of the fake, then one BIG file alone; prints the achieved rate, the 429s the fake
-- answered, and peak RSS.      autolua scripts/bench/files.lua [N] [SIZE] [BIG]
local dexi = require "dexi"
local http = require "autolua.http"
local json = require "autolua.json"
local task = require "autolua.task"
local sys = require "autolua.sys"

local n, size, big = tonumber(arg[1] or 200), tonumber(arg[2] or 1048576), tonumber(arg[3] or 256 * 1048576)
local state = json.decode(io.open(assert(os.getenv("AUTOLUA_FAKE_STATE"))):read("a"))
local base = state.dexi
local control = base:gsub("/$", "")

local function config(t) http.request { method = "POST", url = control .. "/_config", json = t } end
local function hwm()
  for line in io.lines("/proc/self/status") do
    local kb = line:match("^VmHWM:%s+(%d+)")
    if kb then return tonumber(kb) / 1024 end
  end
end
local function recorded() return #http.request { url = control .. "/_requests" }:json() end
local function count_429(since)
  local c = 0
  for _, r in ipairs(http.request { url = control .. "/_requests?since=" .. since }:json()) do
    if r.status == 429 then c = c + 1 end
  end
  return c
end

-- an execution whose result points at n files of the given size
local function execution_with(files, bytes)
  http.request { method = "POST", url = control .. "/_reset" }
  config { polls_per_state = 0, file_size = bytes, result_rows = math.ceil(files / 2) }
  local client = dexi.client { account = "acc-test", api_key = "key-test", base_url = base }
  local e = client.runs.execute("27c719bb-f28f-49f5-aedf-dba2f8e60ba3")
  client:wait_execution(e._id, { interval = 0.05 })
  local pointers = {}
  for row in client.executions.each_row(e._id) do
    for _, cell in ipairs(row) do
      if dexi.is_file_pointer(cell) and #pointers < files then pointers[#pointers + 1] = cell end
    end
  end
  return client, e._id, pointers, recorded()
end

local dir = os.tmpname()
os.remove(dir)
sys.mkdir(dir)

local client, id, pointers, since = execution_with(n, size)
local first, last = math.huge, 0
local t0 = task.now()
local got = task.map(pointers, function(p, i)
  local r = client:download(p, ("%s/f%04d"):format(dir, i), { execution = id })
  first = math.min(first, task.now())
  last = math.max(last, task.now())
  return r.bytes
end, { concurrency = 16 })
local elapsed = task.now() - t0
local ok = 0
for _, b in ipairs(got) do if b == size then ok = ok + 1 end end
local rate = (#got - 1) / (last - first)
print(("files: %d x %d bytes in %.2f s, %d complete; %.2f downloads/s = %.1f %% of 15/s; %d answered 429; peak RSS %.1f MiB")
  :format(#got, size, elapsed, ok, rate, rate / 15 * 100, count_429(since), hwm()))
os.execute("rm -rf " .. dir .. "/*")

if big > 0 then
  local bclient, bid, bp = execution_with(1, big)
  local before = hwm()
  local t1 = task.now()
  local r = bclient:download(bp[1], dir .. "/big", { execution = bid })
  local dt = task.now() - t1
  print(("big: %d MiB in %.2f s (%.0f MiB/s); peak RSS %.1f MiB (%.1f MiB before)"):format(
    r.bytes // 1048576, dt, r.bytes / 1048576 / dt, hwm(), before))
end
os.execute("rm -rf " .. dir)
