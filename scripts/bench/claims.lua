-- One worker of the claims job (redis_claims.py): every worker enumerates the same M items and
-- takes them through task.each with job = NAME (claim by key, a lease, a done record each),
-- doing no work of its own, so that what is measured is the store's part.
-- With DIE_K, the worker kills itself with SIGKILL after its DIE_K-th item, holding the claims
-- it has in flight (up to its concurrency), which the other workers take once their lease ends.
--   AUTOLUA_STORE=redis://... autolua scripts/bench/claims.lua NAME M [LEASE] [DIE_K]
local task = require "autolua.task"

local name, m, lease, die_k = arg[1], tonumber(arg[2]), tonumber(arg[3] or 30), tonumber(arg[4] or 0)
local items = {}
for i = 1, m do items[i] = ("item-%06d"):format(i) end
local ran = 0
task.each(items, function()
  ran = ran + 1
  if ran == die_k then
    local f = assert(io.open("/proc/self/stat"))
    local pid = f:read("a"):match("^(%d+)")
    f:close()
    os.execute("kill -9 " .. pid)
  end
end, { job = name, concurrency = 8, lease = lease })
print(("claims: ran %d of %d items"):format(ran, m))
