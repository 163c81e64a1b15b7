-- dexi: a client for the Dexi.io API (robots, runs, executions, results, datasets, files).
--   local dexi = require "dexi"
--   local client = dexi.client()        -- DEXI_ACCOUNT, DEXI_API_KEY, DEXI_BASE_URL
local files = require "dexi.files"
local Client = require "dexi.client"

local M = {}

-- dexi.file_pointer(value) -> {mime =, size =, id =, extra = {...}} or nil, reason
M.file_pointer = files.pointer
M.is_file_pointer = files.is_pointer

-- dexi.file_path(file_id): the id as the result-file endpoint wants it (dexi/files.lua)
M.file_path = files.path

-- dexi.rows_as_records(result) -> list of tables keyed by header (JSON null cells are left out)
function M.rows_as_records(result)
  if type(result) ~= "table" then
    require("autolua.error").raise { kind = "argument", message = "dexi.rows_as_records: expects a result table" }
  end
  local null = require("autolua.json").null
  local headers, out = result.headers or {}, {}
  for i, row in ipairs(result.rows or {}) do
    local rec = {}
    for j, name in ipairs(headers) do
      local v = row[j]
      if v ~= null then rec[name] = v end
    end
    out[i] = rec
  end
  return out
end

function M.client(opts)
  return Client.new(opts)
end

return M
