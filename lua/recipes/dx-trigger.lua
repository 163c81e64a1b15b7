-- Recipe: trigger a DX self-service workflow run, and optionally follow it to its end.
local dx = require "dx"
local sys = require "autolua.sys"
local dryrun = require "autolua.dryrun"

local function trigger(c, o)
  return c.workflowRuns.trigger { workflow_identifier = o.workflow, entity_identifier = o.entity, data = o.data }
end

return {
  summary = "trigger a DX workflow run; with --wait, follow it to a final status",
  description = "Triggers --workflow (for an ENTITY-scoped workflow, on --entity) with the parameters in\n"
    .. "--data. With --wait it polls the run until SUCCEEDED, FAILED, REJECTED, TIMEOUT or\n"
    .. "CANCELLED and exits 1 unless it SUCCEEDED. --dry-run prints the request that would\n"
    .. "trigger it and sends nothing. Token: DX_TOKEN (or DX_API_TOKEN).",
  options = {
    { name = "workflow", type = "string", metavar = "ID", required = true, help = "the workflow's identifier" },
    { name = "entity", type = "string", metavar = "ID", help = "the catalog entity to run it on" },
    { name = "data", type = "json", metavar = "JSON", help = "parameters, a JSON object" },
    { name = "wait", type = "boolean", help = "wait for a final status" },
    { name = "timeout", type = "number", default = 3600, positive = true, help = "seconds to wait at most" },
    { name = "interval", type = "number", default = 2, min = 0, help = "seconds between status checks" },
    { name = "dry-run", type = "boolean", help = "print the request that would trigger the run; send nothing" },
  },
  examples = {
    "autolua recipe dx-trigger --workflow rotate-secrets --wait",
    [[autolua recipe dx-trigger --workflow deploy-service --entity payments-api --data '{"version": "1.4.2"}' --wait --json]],
    "autolua recipe dx-trigger --workflow rotate-secrets --dry-run",
  },
  check = function(o)
    if o.data ~= nil and (type(o.data) ~= "table" or #o.data > 0) then return "--data must be a JSON object" end
  end,
  -- the token, and the arguments checked against the method's declaration: nothing is sent
  prepare = function(o)
    local c = dx.client()
    dryrun.run(trigger, c, o)
    return c
  end,
  run = function(o, _, c)
    if o["dry-run"] then
      local requests = dryrun.run(trigger, c, o)
      local after = o.wait and ("poll workflowRuns.info every %g s until a final status"):format(o.interval) or nil
      return dryrun.summary(o, requests, after), 0
    end
    local res = trigger(c, o)
    local id = res.workflow_run and res.workflow_run.id
    local s = { workflow = o.workflow, entity = o.entity, run = id }
    if not o.wait then
      s.line = ("workflow run %s triggered"):format(id)
      return s, 0
    end
    local tty = sys.isatty(2)
    local run = c:wait_workflow_run(id, { timeout = o.timeout, interval = o.interval, on_status = function(r)
      if tty then io.stderr:write(("run %s: %s\n"):format(id, tostring(r.status))) end
    end })
    s.status, s.links = run.status, run.links
    s.line = ("workflow run %s ended %s"):format(id, run.status)
    return s, run.status == "SUCCEEDED" and 0 or 1
  end,
}
