-- CSV output (RFC 4180): fields with a comma, quote or line break are quoted.
local json = require "autolua.json"

local M = {}

function M.field(v)
  if v == nil or v == json.null then return "" end
  if type(v) == "table" then v = json.encode(v) end
  local s = tostring(v)
  if s:find('[,"\r\n]') then s = '"' .. s:gsub('"', '""') .. '"' end
  return s
end

function M.line(values, n)
  local out = {}
  for i = 1, n or #values do out[i] = M.field(values[i]) end
  return table.concat(out, ",") .. "\r\n"
end

return M
