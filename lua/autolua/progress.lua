-- One progress line on stderr for long jobs (downloads: bytes, rate, ETA; paging: rows),
-- drawn only when stderr is a terminal and at most ten times a second; silent otherwise.
local sys = require "autolua.sys"
local task = require "autolua.task"

local M = {}
M.__index = M

-- The bar of the job under way, so that an interrupted job can say how far it got.
local current

local function human(n, unit)
  if unit ~= "bytes" then return ("%d"):format(math.floor(n + 0.5)) end   -- a rate is rarely whole
  local units = { "B", "KiB", "MiB", "GiB", "TiB" }
  local i = 1
  while n >= 1024 and i < #units do n, i = n / 1024, i + 1 end
  return i == 1 and ("%d B"):format(n) or ("%.1f %s"):format(n, units[i])
end

-- progress.new{label =, total =, unit = "items"|"bytes", enabled =} -> p
function M.new(o)
  o = o or {}
  local enabled = o.enabled
  if enabled == nil then enabled = sys.isatty(2) end
  current = setmetatable({ label = o.label or "", total = o.total, unit = o.unit or "items", done = 0,
                           extra = 0, extra_unit = o.extra_unit, started = task.now(), drawn = 0,
                           enabled = enabled }, M)
  return current
end

-- The bar not yet finished, if any.
function M.active() return current end

-- How far it got, for one line: "downloading: 1.2 MiB of 4.0 MiB done".
function M:describe()
  local done = human(self.done, self.unit)
  if self.unit ~= "bytes" then done = done .. " " .. self.unit end
  if self.total then
    done = ("%s of %s"):format(human(self.done, self.unit), human(self.total, self.unit))
    if self.unit ~= "bytes" then done = done .. " " .. self.unit end
  end
  if self.extra_unit then done = done .. (", %s %s"):format(human(self.extra, self.extra_unit), self.extra_unit) end
  return ("%s%s%s done"):format(self.label, self.label ~= "" and ": " or "", done)
end

function M:draw(force)
  if not self.enabled then return end
  local now = task.now()
  if not force and now - self.drawn < 0.1 then return end
  self.drawn = now
  local elapsed = math.max(now - self.started, 1e-6)
  local rate = self.done / elapsed
  local parts = { self.label }
  if self.total and self.total > 0 then
    local pct = math.min(100, self.done * 100 / self.total)
    local width = 20
    local fill = math.floor(pct / 100 * width)
    parts[#parts + 1] = "[" .. ("#"):rep(fill) .. ("."):rep(width - fill) .. "]"
    parts[#parts + 1] = ("%s/%s"):format(human(self.done, self.unit), human(self.total, self.unit))
    if rate > 0 and self.done < self.total then
      parts[#parts + 1] = ("ETA %ds"):format(math.floor((self.total - self.done) / rate + 0.5))
    end
  else
    parts[#parts + 1] = human(self.done, self.unit)
  end
  parts[#parts + 1] = ("%s/s"):format(human(rate, self.unit))
  if self.extra_unit then
    parts[#parts + 1] = human(self.extra, self.extra_unit) .. (self.extra_unit ~= "bytes" and (" " .. self.extra_unit) or "")
  end
  io.stderr:write("\r\27[K", table.concat(parts, " "))
  io.stderr:flush()
end

-- p:add(n [, extra]): n more units done (extra: a second count, bytes beside files).
function M:add(n, extra)
  self.done = self.done + (n or 1)
  self.extra = self.extra + (extra or 0)
  self:draw(false)
end

function M:set_total(total)
  self.total = total
  self:draw(false)
end

function M:finish()
  if current == self then current = nil end
  if not self.enabled then return end
  self:draw(true)
  io.stderr:write("\n")
end

return M
