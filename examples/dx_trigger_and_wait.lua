-- Triggers a DX self-service workflow on a catalog entity and follows it to its end.
--   DX_TOKEN=... autolua examples/dx_trigger_and_wait.lua WORKFLOW ENTITY [VERSION]
local dx = require "dx"

local workflow = assert(arg[1], "usage: dx_trigger_and_wait.lua WORKFLOW ENTITY [VERSION]")
local entity = arg[2]
local c = dx.client()

local run = c.workflowRuns.trigger {
  workflow_identifier = workflow,
  entity_identifier = entity,
  data = { version = arg[3] or "1.0.0" },
}.workflow_run
print("triggered run", run.id)

run = c:wait_workflow_run(run.id, {
  interval = 1,
  on_status = function(r) print("  status", r.status) end,
})
for _, e in ipairs(run.events or {}) do print("  event", e.type, e.message or "") end
print(("run %s ended %s"):format(run.id, run.status))
os.exit(run.status == "SUCCEEDED" and 0 or 1)
