-- autolua.task: tasks are coroutines run by the C scheduler (autolua.task.core); this module
-- adds the combinators built on its park/wake pair.
local core = require "autolua.task.core"
local errors = require "autolua.error"
local job = require "autolua.job"

local M = {
  spawn = core.spawn, sleep = core.sleep, yield = core.yield,
  now = core.now, current = core.current,
}

local function argerror(fname, msg)
  errors.raise { kind = "argument", message = fname .. ": " .. msg }
end

-- Runs 'worker' in 'n' tasks and waits until all end or one fails; the failure cancels the
-- others and is raised here. A cancellation of the caller cancels the workers too.
local function supervise(n, worker)
  local me = core.current()
  local active, failure, waiting = n, nil, false
  local tasks = {}
  local function run(...)
    local ok, err = pcall(worker, ...)
    if not ok and not failure then failure = { err } end
    active = active - 1
    if waiting and (active == 0 or failure) then
      waiting = false
      core.wake(me)
    end
  end
  for i = 1, n do tasks[i] = core.spawn(run, i) end
  local ok, err = pcall(function()
    while active > 0 and not failure do
      waiting = true
      core.park()
    end
  end)
  if not ok or failure then
    for _, t in ipairs(tasks) do t:cancel() end
    error(failure and failure[1] or err, 0)
  end
end

-- task.all{f1, f2, ...} -> {r1, r2, ...}: the first result of each, in order.
function M.all(fns)
  if type(fns) ~= "table" then argerror("task.all", "expects a list of functions") end
  for i, fn in ipairs(fns) do
    if type(fn) ~= "function" then argerror("task.all", ("item %d is not a function"):format(i)) end
  end
  local results = {}
  if #fns > 0 then
    supervise(#fns, function(i) results[i] = fns[i]() end)
  end
  return results
end

-- Items pulled one at a time from an iterator function; the iterator may itself wait (a paging
-- iterator), so only one task pulls at a time.
local function source(items, fname)
  if type(items) == "function" then
    local i, pulling, queue, finished = 0, false, {}, false
    local function wake_next()   -- a queued puller may have been cancelled: skip it
      repeat
        local nxt = table.remove(queue, 1)
      until nxt == nil or core.wake(nxt)
    end
    return function()
      while pulling do
        queue[#queue + 1] = core.current()
        core.park()
      end
      if finished then wake_next(); return nil end
      pulling = true
      local ok, v = pcall(items)
      pulling = false
      wake_next()
      if not ok then finished = true; error(v, 0) end
      if v == nil then finished = true; return nil end
      i = i + 1
      return i, v
    end, math.huge
  end
  argerror(fname, "expects a list or an iterator function")
end

local function pool(fname, items, fn, opts, results)
  if type(fn) ~= "function" then argerror(fname, "expects a function to apply") end
  if opts ~= nil and type(opts) ~= "table" then argerror(fname, "options must be a table") end
  local conc = opts and opts.concurrency or 16
  if math.type(conc) ~= "integer" or conc < 1 then
    argerror(fname, "'concurrency' must be a positive integer")
  end
  if type(items) == "table" then   -- taking the next index of a list never waits: no puller
    local i, n = 0, #items
    supervise(math.min(conc, n), function()
      while i < n do
        i = i + 1
        local k = i
        local r = fn(items[k], k)
        if results then results[k] = r end
      end
    end)
    return results
  end
  local pull, n = source(items, fname)
  local done = false
  supervise(math.min(conc, n), function()
    while not done do
      local i, item = pull()
      if i == nil then done = true; return end
      local r = fn(item, i)
      if results then results[i] = r end
    end
  end)
  return results
end

-- task.map(items, fn, {concurrency = 16}) -> results in input order. With job = NAME (and key,
-- once, lease, retry_unknown, store) the work is durable: autolua.job.
function M.map(items, fn, opts)
  if type(opts) == "table" and opts.job ~= nil then return job.run("task.map", items, fn, opts, {}, pool) end
  return pool("task.map", items, fn, opts, {}) or {}
end

-- task.each(items, fn, opts): the same without keeping results.
function M.each(items, fn, opts)
  if type(opts) == "table" and opts.job ~= nil then job.run("task.each", items, fn, opts, nil, pool); return end
  pool("task.each", items, fn, opts, nil)
end

return M
