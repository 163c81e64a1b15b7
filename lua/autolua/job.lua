-- autolua.job: task.map / task.each with {job = NAME} made durable through the store. Each item
-- is claimed with a lease (renewed while its function runs), recorded done with its JSON result
-- or failed with its error; a re-run skips what is done, and a `once` item found started but
-- never finished is reported, never run again by itself.
local core = require "autolua.task.core"
local store = require "autolua.store"
local json = require "autolua.json"
local errors = require "autolua.error"
local log = require "autolua.log"

local M = {}

local UNSURE = { timeout = true, network = true, cancelled = true, error = true }
local FLUSH_FOR = 30     -- seconds the end of a job keeps retrying done records the store refused
local CLAIM_WAIT_FOR = 30  -- seconds a claim keeps retrying a store that is down, slow or locked
-- what passes (a server restarting, a lock held a while); a refused password or script, a
-- corrupt file do not, and are raised at once
local TRANSIENT = { unreachable = true, timeout = true, busy = true }

local function argerror(fname, msg)
  errors.raise { kind = "argument", message = fname .. ": " .. msg }
end

local function check(fname, opts)
  if type(opts.job) ~= "string" or opts.job == "" then argerror(fname, "'job' must be a non-empty string") end
  if opts.key ~= nil and type(opts.key) ~= "function" then argerror(fname, "'key' must be a function(item, index)") end
  if opts.once ~= nil and type(opts.once) ~= "boolean" then argerror(fname, "'once' must be a boolean") end
  if opts.retry_unknown ~= nil and type(opts.retry_unknown) ~= "boolean" then
    argerror(fname, "'retry_unknown' must be a boolean")
  end
  if opts.lease ~= nil and (type(opts.lease) ~= "number" or not (opts.lease > 0)) then
    argerror(fname, "'lease' must be a positive number of seconds")
  end
end

local function keyof(fname, opts, item, i)
  local k
  if opts.key then k = opts.key(item, i)
  else
    if type(item) ~= "string" and type(item) ~= "number" then
      argerror(fname, ("item %d is a %s: a job needs 'key = function(item, index)' to name it"):format(i, type(item)))
    end
    k = item
  end
  if type(k) == "number" then k = tostring(k) end
  if type(k) ~= "string" or k == "" then
    argerror(fname, ("the key of item %d must be a non-empty string or a number, got %s"):format(i, type(k)))
  end
  return k
end

local function store_error(err, name, what)
  err.message = ("job '%s': %s: %s"):format(name, what, err.message)
  err.job = name
  error(err, 0)
end

-- A task that renews the item's lease every third of it while the function runs.
local function renewer(s, name, k, lease)
  return core.spawn(function()
    while true do
      core.sleep(lease / 3)
      local ok, owned = pcall(s.renew, s, name, k, lease)
      if ok and owned == false then
        log.write("warn", ("job '%s': the lease on item %s was lost (another process may run it too)"):format(name, k))
      end
    end
  end)
end

-- s:claim, retried with backoff (0.1 s doubling to 2 s) while the store is down, slow or locked,
-- up to CLAIM_WAIT_FOR seconds; the tasks that wait meanwhile start nothing new.
local function claim(st, name, k, claim_opts)
  local delay, give_up = 0.1, nil
  while true do
    local c, err = st.store:claim(name, k, claim_opts)
    if c or not TRANSIENT[err.code] then return c, err end
    give_up = give_up or core.now() + CLAIM_WAIT_FOR
    if core.now() >= give_up then return nil, err end
    if not st.claim_warned then
      log.write("warn", ("job '%s': the store failed (%s); new items wait for it (up to %d s)"):format(
        name, err.code, CLAIM_WAIT_FOR))
      st.claim_warned = true
    end
    core.sleep(delay)
    delay = math.min(delay * 2, 2)
  end
end

local function decode(text)
  if text == nil then return nil end
  return (json.decode(text))
end

-- A done or failed record the store refused, kept here until it answers (catch_up, flush).
local function keep(st, rec, err)
  if not st.warned then
    log.write("warn", ("job '%s': the store failed (%s); finished items are kept here and written when it answers"):format(
      st.opts.job, err and (err.code or err.message) or "error"))
    st.warned = true
  end
  st.pending[#st.pending + 1] = rec
end

-- Writes one kept record: done (its result) or failed (its error).
local function write(st, rec)
  if rec.kind then return st.store:failed(st.opts.job, rec[1], rec.kind, rec.code, rec.message) end
  return st.store:done(st.opts.job, rec[1], rec[2])
end

-- The kept records, written as soon as the store answers again rather than only at the end,
-- so that a process that dies later in the run has lost none of them (one task at a time).
local function catch_up(st)
  if st.flushing or #st.pending == 0 then return end
  st.flushing = true
  local ok, written = pcall(function()
    while #st.pending > 0 and write(st, st.pending[1]) do table.remove(st.pending, 1) end
  end)
  st.flushing = false
  if not ok then error(written, 0) end
end

-- One item: claimed, run and recorded. An item another process holds is put off ('wait'
-- false: to the end of the run, so the workers take the next items meanwhile; 'wait' true:
-- until that process finishes it or its lease runs out and this one claims it).
local function run_item(st, item, i, wait)
  local fname, opts, s, name = st.fname, st.opts, st.store, st.opts.job
  local k = keyof(fname, opts, item, i)
  local claim_opts = { lease = st.lease, once = opts.once, retry_unknown = opts.retry_unknown }
  while true do
    local c, err = claim(st, name, k, claim_opts)
    if not c then store_error(err, name, "cannot claim item " .. k) end
    catch_up(st)
    if c.state == "done" then st.skipped = st.skipped + 1; return decode(c.result) end
    if c.state == "unknown" then st.unknown[#st.unknown + 1] = k; return nil end
    if c.state == "granted" then break end
    if not wait then st.deferred[#st.deferred + 1] = { item, i }; return nil end
    core.sleep(math.min(math.max(c.lease_left or 1, 0.05), 1))
  end
  local renew = renewer(s, name, k, st.lease)
  local ok, res = pcall(st.fn, item, i)
  renew:cancel()
  if not ok then
    local e = type(res) == "table" and res or { kind = "error", message = tostring(res) }
    -- a 'once' call that may have gone out (no answer, cancelled) is not a failure to retry: it
    -- stays started, so its outcome is unknown and it is never sent again by itself
    if not (opts.once and UNSURE[e.kind]) then
      local rec = { k, kind = tostring(e.kind or "error"), code = e.code and tostring(e.code) or nil,
                    message = tostring(e.message or res) }
      local called, written, err = pcall(s.failed, s, name, k, rec.kind, rec.code, rec.message)
      if not (called and written) then keep(st, rec, called and err or nil) end
    end
    error(res, 0)
  end
  local text = st.results and json.encode(res == nil and json.null or res) or nil
  local done, err = s:done(name, k, text)
  if not done then keep(st, { k, text }, err) end
  st.ran = st.ran + 1
  return res
end

-- Records the store refused, written now; raises kind = "store", naming their items, if it
-- still refuses after FLUSH_FOR seconds.
local function flush(st)
  local until_ = core.now() + FLUSH_FOR
  while #st.pending > 0 do
    local ok, err = write(st, st.pending[1])
    if ok then table.remove(st.pending, 1)
    elseif core.now() >= until_ then
      local keys = {}
      for i = 1, math.min(#st.pending, 20) do keys[i] = st.pending[i][1] end
      err.keys = keys
      store_error(err, st.opts.job, ("%d item record(s) could not be written, so these items will run again: %s%s"):format(
        #st.pending, table.concat(keys, ", "), #st.pending > #keys and ", ..." or ""))
    else core.sleep(0.5) end
  end
end

-- M.run(fname, items, fn, opts, results, pool) -> results: pool(fname, items, fn', opts,
-- results) is task.lua's worker pool, given here so that this module does not require it.
function M.run(fname, items, fn, opts, results, pool)
  check(fname, opts)
  local st = {
    fname = fname, opts = opts, fn = fn, results = results, lease = opts.lease or 60,
    store = store.must(opts.store, fname), unknown = {}, pending = {}, deferred = {}, skipped = 0, ran = 0,
  }
  local popts = {}
  for k, v in pairs(opts) do popts[k] = v end
  local ok, err = pcall(pool, fname, items, function(item, i) return run_item(st, item, i, false) end, popts, results)
  if ok and #st.deferred > 0 then
    -- the items other processes held: wait for them (or for their leases to run out)
    ok, err = pcall(pool, fname, st.deferred, function(d)
      local r = run_item(st, d[1], d[2], true)
      if results then results[d[2]] = r end
    end, popts, nil)
  end
  if #st.pending > 0 then flush(st) end
  if not ok then error(err, 0) end
  if #st.unknown > 0 then
    table.sort(st.unknown)
    errors.raise { kind = "job", code = "unknown_outcome", job = opts.job, keys = st.unknown,
      message = ("job '%s': %d item(s) started but never finished, their outcome is unknown: %s; check them, then run `autolua job forget %s --key K` or pass retry_unknown = true"):format(
        opts.job, #st.unknown, table.concat(st.unknown, ", "), opts.job) }
  end
  return results
end

return M
