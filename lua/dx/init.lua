-- dx: a client for the DX Web API (workflows and their runs, Data Studio queries, snapshots,
-- teams, users, catalog, scorecards, ...).
--   local dx = require "dx"
--   local c = dx.client()               -- DX_TOKEN (or DX_API_TOKEN), DX_BASE_URL
--   c.workflowRuns.trigger{workflow_identifier = "deploy", data = {...}}
local Client = require "dx.client"
local METHODS = require "dx.methods"

local M = {}

function M.client(opts)
  return Client.new(opts)
end

-- Every method name the client knows, sorted.
function M.methods()
  local names = {}
  for name in pairs(METHODS) do names[#names + 1] = name end
  table.sort(names)
  return names
end

return M
