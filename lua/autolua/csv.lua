-- CSV output (RFC 4180): fields with a comma, quote or line break are quoted.
local json = require "autolua.json"
local errors = require "autolua.error"

local M = {}

local FIELD = { string = true, number = true, boolean = true, table = true }

function M.field(v)
  if v == nil or v == json.null then return "" end
  if not FIELD[type(v)] then
    errors.raise { kind = "argument", message = "csv.field: cannot write a " .. type(v) .. " in a CSV field" }
  end
  if type(v) == "table" then v = json.encode(v) end
  local s = tostring(v)
  if s:find('[,"\r\n]') then s = '"' .. s:gsub('"', '""') .. '"' end
  return s
end

function M.line(values, n)
  if type(values) ~= "table" then
    errors.raise { kind = "argument", message = "csv.line: expects a list of values, got " .. type(values) }
  end
  if n ~= nil and math.type(n) ~= "integer" then
    errors.raise { kind = "argument", message = "csv.line: the count must be an integer, got " .. type(n) }
  end
  local out = {}
  for i = 1, n or #values do out[i] = M.field(values[i]) end
  return table.concat(out, ",") .. "\r\n"
end

return M
