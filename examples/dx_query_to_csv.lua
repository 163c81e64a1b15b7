-- Runs a Data Studio query and writes the rows to a CSV file.
--   DX_TOKEN=... autolua examples/dx_query_to_csv.lua "SELECT ..." out.csv
local dx = require "dx"
local atomic = require "autolua.atomic"

local sql = assert(arg[1], "usage: dx_query_to_csv.lua SQL OUT.csv")
local out = assert(arg[2], "usage: dx_query_to_csv.lua SQL OUT.csv")

local function field(v)
  local s = type(v) == "string" and v or (v == nil and "" or tostring(v))
  if s:find('[,"\n]') then s = '"' .. s:gsub('"', '""') .. '"' end
  return s
end

local result = dx.client():query(sql, { timeout = 300 })
-- the file appears whole or not at all: a failure half way leaves nothing behind
atomic.write(out, function(f)
  local line = {}
  for i, name in ipairs(result.columns) do line[i] = field(name) end
  f:write(table.concat(line, ","), "\n")
  for _, row in ipairs(result.rows) do
    for i = 1, #result.columns do line[i] = field(row[i]) end
    f:write(table.concat(line, ","), "\n")
  end
end)
print(("%d rows, %d columns -> %s"):format(#result.rows, #result.columns, out))
