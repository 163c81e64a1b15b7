-- autolua.log: leveled logs on stderr. AUTOLUA_LOG=error|warn|info|debug (default warn),
-- AUTOLUA_LOG_FORMAT=text|json (json: one object per line).
local json = require "autolua.json"

local LEVELS = { error = 1, warn = 2, info = 3, debug = 4 }

local M = {}

local threshold = LEVELS[(os.getenv("AUTOLUA_LOG") or "warn"):lower()] or LEVELS.warn
local as_json = (os.getenv("AUTOLUA_LOG_FORMAT") or ""):lower() == "json"

function M.enabled(level)
  return (LEVELS[level] or 0) <= threshold
end

function M.set_level(level)
  threshold = assert(LEVELS[level], "unknown log level")
end

local function text_value(v)
  local s = tostring(v)
  return s:find("[%s\"=]") and ("%q"):format(s) or s
end

-- log.write(level, message, {field = value, ...})
function M.write(level, msg, fields)
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
  io.stderr:write(line, "\n")
end

for level in pairs(LEVELS) do
  M[level] = function(msg, fields) M.write(level, msg, fields) end
end

return M
