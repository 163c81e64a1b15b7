-- autolua.shared_limiter: limiter.rate{key =, shared = true} and limiter.window{...} whose
-- budget lives in the store, shared by every process that uses the key. An acquisition
-- reserves the next slot in one store call and sleeps here until it, in one C call
-- (autolua.store.core's slots); inside a process the acquisitions go in order, one store call at
-- a time. When the store
-- fails, one warning, and an in-process limiter at this process's share of the budget (the
-- rate divided by the processes seen last) stands in until the store answers again.
local core = require "autolua.task.core"
local limiter = require "autolua.limiter"
local store = require "autolua.store"
local errors = require "autolua.error"
local log = require "autolua.log"

local M = {}

local BEAT_EVERY = 1     -- seconds between heartbeats of a limiter in use
local BEAT_TTL = 3       -- a process that stopped beating this long ago no longer counts
local RETRY_EVERY = 1    -- seconds between attempts to rejoin a store that failed
-- A task that wakes more than this after its slot reserves again instead of sending: the slot
-- spacing leaves the client's margin (Dexi's 0.9 %, 9 ms a second) for the whole path from the
-- slot to the server's clock, and a wake this late would use half of it before the send begins.
-- A window's client keeps slack in its window (dx: at least 50 ms), so a send up to half a
-- paced spacing late (at most 25 ms) still counts in the window it was reserved in.
local LATE = 0.004
local function late_for(spec)
  if spec.kind == "rate" then return LATE end
  return math.max(LATE, math.min(0.025, spec.window / spec.limit / 2))
end

local Shared = {}
Shared.__index = Shared
Shared.__name = "autolua.shared_limiter"   -- http.request{limiter =} knows it by this

local registry = {}      -- key -> shared limiter (the first definition wins, as in-process)

local function argerror(fname, fmt, ...)
  errors.raise { kind = "argument", message = fname .. ": " .. fmt:format(...) }
end

-- The options without 'shared', 'store' and 'key': an in-process limiter of the same shape.
local function plain(opts)
  local o = {}
  for k, v in pairs(opts) do
    if k ~= "shared" and k ~= "store" and k ~= "key" then o[k] = v end
  end
  return o
end

-- {====================================================== the in-process stand-in

-- The in-process limiter for this process's share: the budget over the processes seen last.
function Shared:share()
  local n = math.max(1, self.processes)
  if self.fallback and self.fallback_n == n then return self.fallback end
  local o = plain(self.opts)
  if self.kind == "rate" then
    o.rate = (o.rate) / n
    o.burst = 1
    self.fallback = limiter.rate(o)
  else
    o.limit = math.max(1, math.floor(o.limit / n))
    self.fallback = limiter.window(o)
  end
  self.fallback_n = n
  return self.fallback
end

function Shared:down(err)
  if not self.is_down then
    log.write("warn", ("limiter '%s': the store %s failed (%s); using this process's share (1/%d) until it answers"):format(
      self.key, self.url, err and (err.code or err.message) or "unreachable", math.max(1, self.processes)))
  end
  self.is_down = true
  self.retry_at = core.now() + RETRY_EVERY
end

function Shared:up()
  if self.is_down then
    log.write("info", ("limiter '%s': the store %s answers again; shared again"):format(self.key, self.url))
  end
  self.is_down = false
end

-- }======================================================

-- While the store is down, a task of its own asks it again every RETRY_EVERY seconds: a store
-- that holds each call up to its deadline (a held lock, a silent server) never holds up the
-- acquisitions, which go on at this process's share meanwhile.
function Shared:probe()
  if self.probing then return end
  self.probing = true
  core.spawn(function()
    local ok, procs, err = pcall(function()
      local s, err = self.store
      if not s then
        s, err = store.open(self.url)
        if not s then return nil, err end
        self:attach(s)
      end
      return s:heartbeat(self.key, BEAT_TTL)
    end)
    self.probing = false
    if ok and procs then
      self.processes, self.next_beat = procs, core.now() + BEAT_EVERY
      self:up()
    else
      self:down(ok and err or nil)
    end
  end)
end

-- The heartbeat, at most once every BEAT_EVERY seconds (the first task past the time sends it):
-- whether the store answered.
function Shared:beat()
  self.next_beat = core.now() + BEAT_EVERY
  local procs, err = self.store:heartbeat(self.key, BEAT_TTL)
  if not procs then self:down(err); return false end
  self.processes = procs
  return true
end

function Shared:attach(s)
  self.store = s
  self.slots = s:slots(self.key, self.spec, late_for(self.spec))
end

local function check_n(self, n, fname)
  if n == nil then return 1 end
  if type(n) ~= "number" then argerror(fname, "the units must be a number, got %s", type(n)) end
  local cap = self.kind == "rate" and self.spec.burst or self.spec.limit
  if not (n > 0) or n > cap then argerror(fname, "cannot take %s units at once (capacity %s)", n, cap) end
  return n
end

local function check_max_wait(opts, fname)
  if opts == nil then return nil end
  if type(opts) ~= "table" then argerror(fname, "options must be a table") end
  local mw = opts.max_wait
  if mw ~= nil and (type(mw) ~= "number" or mw < 0) then argerror(fname, "max_wait must be >= 0") end
  return mw
end

-- The store's answer for n units, in one C call that also sleeps until the slot: true, false
-- and the wait when max_wait refused it, or nil while the store is down (the caller then uses
-- this process's share).
function Shared:take(n, max_wait)
  if self.is_down then
    if core.now() >= self.retry_at then self:probe() end
    return nil
  end
  if core.now() >= self.next_beat and not self:beat() then return nil end
  local ok, w = self.slots:take(n, max_wait)
  if ok == nil then self:down(w) end
  return ok, w
end

local function refused(self, wait)
  errors.raise { kind = "rate_limited", message = ("waited longer than max_wait for limiter '%s' (the next slot is %.3f s away)"):format(
    self.key, wait or 0) }
end

-- lim:acquire([n], [{max_wait = s}]) -> true, or raises kind = "rate_limited".
function Shared:acquire(n, opts)
  if type(n) == "table" then n, opts = nil, n end
  n = check_n(self, n, "limiter:acquire")
  local max_wait = check_max_wait(opts, "limiter:acquire")
  local t0 = max_wait and core.now()
  local ok, wait = self:take(n, max_wait or -1)
  if ok then return true end
  if ok == false then refused(self, wait) end
  t0 = t0 or core.now()
  self:share():acquire(n, max_wait and { max_wait = math.max(0, max_wait - (core.now() - t0)) } or nil)
  self.acquired = self.acquired + n
  self.waited = self.waited + (core.now() - t0)
  return true
end

-- lim:try([n]) -> bool: a unit now or not at all (one store call).
function Shared:try(n)
  n = check_n(self, n, "limiter:try")
  local ok = self:take(n, 0)
  if ok ~= nil then return ok end
  if not self:share():try(n) then return false end
  self.acquired = self.acquired + n
  return true
end

-- lim:pause_until(t): nothing is admitted, in any process, before task.now() reaches t.
function Shared:pause_until(t)
  if type(t) ~= "number" then argerror("limiter:pause_until", "expects a time (task.now() value), got %s", type(t)) end
  if t > self.paused_until then self.paused_until = t end
  if self.fallback then self.fallback:pause_until(t) end
  local secs = t - core.now()
  if secs <= 0 then return end
  local s = self.store
  if s and not self.is_down then
    local ok, err = s:pause(self.key, secs)
    if not ok then self:down(err) end
  end
  if self.is_down then self:share():pause_until(t) end
end

function Shared:stats()
  local acquired, waited, queued = 0, 0, 0
  if self.slots then acquired, waited, queued = self.slots:stats() end
  local st = {
    acquired = self.acquired + acquired, waited_seconds = self.waited + waited, queued = queued,
    shared = not self.is_down and self.store ~= nil, processes = math.max(1, self.processes),
  }
  if self.paused_until > core.now() then st.paused_until = self.paused_until end
  return st
end

function Shared:__tostring()
  local o = self.opts
  if self.kind == "rate" then
    return ("limiter.rate '%s' (%s/%s s, burst %s, shared in %s)"):format(self.key, o.rate, o.per or 1, o.burst or 1, self.url)
  end
  return ("limiter.window '%s' (%d per %s s, shared in %s)"):format(self.key, o.limit, o.window, self.url)
end

-- M.new("rate" | "window", opts) -> a shared limiter, or today's in-process one for the
-- memory store.
function M.new(kind, opts)
  local fname = "limiter." .. kind
  if type(opts.key) ~= "string" or opts.key == "" then
    argerror(fname, "shared = true needs a 'key' naming the budget every process shares")
  end
  local url = store.url(opts.store, fname)
  local mk = kind == "rate" and limiter.rate or limiter.window
  -- the in-process constructor checks the numbers and gives the memory store's limiter
  if store.is_memory(url) then
    local o = plain(opts)
    o.key = opts.key
    return mk(o)
  end
  mk(plain(opts))
  local id = url .. "\0" .. opts.key
  if registry[id] then return registry[id] end
  local spec
  if kind == "rate" then
    spec = { kind = "rate", interval = (opts.per or 1) / opts.rate, burst = opts.burst or 1 }
  else
    -- a paced window spaces a backlog as the in-process one does
    spec = { kind = "window", limit = opts.limit, window = opts.window, spacing = opts.pace and opts.window / opts.limit or 0 }
  end
  local self = setmetatable({
    kind = kind, key = opts.key, opts = plain(opts), spec = spec, url = url, processes = 1,
    acquired = 0, waited = 0, next_beat = 0, paused_until = 0, is_down = false,
    retry_at = 0,
  }, Shared)
  local s, err = store.open(url)
  if s then self:attach(s) else self:down(err); self.retry_at = 0 end
  registry[id] = self
  return self
end

function M.is(v)
  return getmetatable(v) == Shared
end

-- Every shared limiter of this process by key, for /metrics.
function M.registered()
  local out = {}
  for _, l in pairs(registry) do out[l.key] = l end
  return out
end

return M
