-- autolua.log: leveled logs on stderr. AUTOLUA_LOG=error|warn|info|debug (default warn),
-- AUTOLUA_LOG_FORMAT=text|json (json: one object per line).
local json = require "autolua.json"
local errors = require "autolua.error"
local secret = require "autolua.secret"

local LEVELS = { error = 1, warn = 2, info = 3, debug = 4 }

local M = {}

local threshold = LEVELS[(os.getenv("AUTOLUA_LOG") or "warn"):lower()] or LEVELS.warn
local as_json = (os.getenv("AUTOLUA_LOG_FORMAT") or ""):lower() == "json"

local function check_level(fname, level)
  if not LEVELS[level] then
    errors.raise { kind = "argument", message = ("%s: the level must be error, warn, info or debug, got %s"):format(
      fname, type(level) == "string" and ("%q"):format(level) or type(level)) }
  end
end

function M.enabled(level)
  check_level("log.enabled", level)
  return LEVELS[level] <= threshold
end

function M.set_level(level)
  check_level("log.set_level", level)
  threshold = LEVELS[level]
end

local function text_value(v)
  local s = tostring(v)
  return s:find("[%s\"=]") and ("%q"):format(s) or s
end

-- log.write(level, message, {field = value, ...})
function M.write(level, msg, fields)
  check_level("log.write", level)
  if type(msg) ~= "string" and type(msg) ~= "number" then
    errors.raise { kind = "argument", message = "log.write: the message must be a string, got " .. type(msg) }
  end
  if fields ~= nil and type(fields) ~= "table" then
    errors.raise { kind = "argument", message = "log.write: the fields must be a table, got " .. type(fields) }
  end
  if not M.enabled(level) then return end
  local line
  if as_json then
    local obj = { level = level, msg = msg, time = os.time() }
    for k, v in pairs(fields or {}) do obj[k] = v end
    line = json.encode(obj)
  else
    local parts = { ("autolua %s: %s"):format(level, msg) }
    local keys = {}
    for k in pairs(fields or {}) do keys[#keys + 1] = k end
    table.sort(keys)
    for _, k in ipairs(keys) do parts[#parts + 1] = k .. "=" .. text_value(fields[k]) end
    line = table.concat(parts, " ")
  end
  io.stderr:write(secret.mask(line), "\n")
end

for level in pairs(LEVELS) do
  M[level] = function(msg, fields) M.write(level, msg, fields) end
end

return M
