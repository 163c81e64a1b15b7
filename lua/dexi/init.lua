-- dexi: a client for the Dexi.io API (robots, runs, executions, results, datasets, files).
--   local dexi = require "dexi"
--   local client = dexi.client()        -- DEXI_ACCOUNT, DEXI_API_KEY, DEXI_BASE_URL
local core = require "dexi.core"
local http = require "autolua.http"

local M = {}

-- dexi.file_pointer(value) -> {mime =, size =, id =, extra = {...}} or nil, reason
function M.file_pointer(value)
  return core.parse_pointer(value)
end

function M.is_file_pointer(value)
  return core.parse_pointer(value) ~= nil
end

-- dexi.file_path(file_id): the id as the result-file endpoint wants it: everything before
-- "accounts/" dropped, then every byte outside RFC 3986's unreserved set percent-encoded.
function M.file_path(file_id)
  if type(file_id) ~= "string" or file_id == "" then
    require("autolua.error").raise { kind = "argument", message = "dexi.file_path: expects a file id string" }
  end
  local at = file_id:find("accounts/", 1, true)
  if at then file_id = file_id:sub(at) end
  return http.escape(file_id)
end

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
  return require("dexi.client").new(opts)
end

return M
