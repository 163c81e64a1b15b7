-- Which execution a recipe works on, and whether it may: the options the Dexi recipes share
-- (--wait, --timeout, --interval, --any-state), the execution they name (a finished one), and
-- the refusal of one that did not end OK.
local errors = require "autolua.error"

local M = {}

local FINAL = { OK = true, FAILED = true, STOPPED = true }

M.options = {
  wait = { name = "wait", type = "boolean", help = "wait for an execution still queued or running" },
  timeout = { name = "timeout", type = "number", default = 3600, positive = true, help = "seconds to wait at most" },
  interval = { name = "interval", type = "number", default = 5, min = 0, help = "seconds between status checks" },
  any_state = { name = "any-state", type = "boolean", help = "use an execution that ended FAILED or STOPPED too (exit 0)" },
}

local function waiting(o) return { timeout = o.timeout, interval = o.interval } end

-- The execution of --execution ID, or the newest finished one of --run ID; one not finished
-- yet is waited for with --wait and refused without.
function M.execution(client, o)
  if o.run then
    local w = waiting(o)
    w.wait = o.wait
    return client:latest_execution(o.run, w)
  end
  local e = client.executions.get(o.execution)
  if type(e) == "table" and FINAL[e.state] then return e end
  if o.wait then return client:wait_execution(o.execution, waiting(o)) end
  errors.raise { kind = "api", code = "not_finished", execution = o.execution,
                 message = ("execution %s is %s, not finished"):format(o.execution, tostring(type(e) == "table" and e.state)),
                 hint = "--wait waits for it" }
end

-- The summary and exit status for an execution that did not end OK, unless --any-state.
function M.refuse(e, o)
  if e.state == "OK" or o["any-state"] then return nil end
  return { execution = e._id, state = e.state,
           line = ("execution %s ended %s: nothing done (--any-state uses it anyway)"):format(e._id, e.state) }
end

return M
