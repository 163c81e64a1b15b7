-- Recipe: trigger a DX self-service workflow run, and optionally follow it to its end.
local dx = require "dx"
local sys = require "autolua.sys"
local dryrun = require "autolua.dryrun"
local task = require "autolua.task"
local progress = require "autolua.progress"
local json = require "autolua.json"

local function trigger(c, o)
  return c.workflowRuns.trigger { workflow_identifier = o.workflow, entity_identifier = o.entity, data = o.data }
end

-- The entities of --entities FILE: one a line, blank lines and surrounding spaces ignored.
local function read_entities(path)
  local f, why = io.open(path, "r")
  if not f then return nil, "--entities: " .. tostring(why) end
  local list, seen = {}, {}
  for line in f:lines() do
    local e = line:match("^%s*(.-)%s*$")
    if e ~= "" and not seen[e] then seen[e] = true; list[#list + 1] = e end
  end
  f:close()
  if #list == 0 then return nil, "--entities: " .. path .. " names no entity" end
  return list
end

-- Triggers the workflow on every entity as a 'once' job (a run is never triggered twice, even
-- across a crash), then with --wait follows all the runs; a table of final statuses.
local function trigger_many(c, o)
  local ents = assert(read_entities(o.entities))
  local name = o.job or ("dx-trigger:%s:%s"):format(o.workflow, o.entities)
  local runs = task.map(ents, function(e)
    local res = trigger(c, { workflow = o.workflow, entity = e, data = o.data })
    return { entity = e, run = res.workflow_run and res.workflow_run.id }
  end, { job = name, once = true, concurrency = 8 })
  local s = { workflow = o.workflow, job = name, runs = json.array(runs) }
  if o.wait then
    local bar = progress.new { label = "runs", total = #runs }
    task.each(runs, function(r)
      local ok, run = pcall(c.wait_workflow_run, c, r.run, { timeout = o.timeout, interval = o.interval })
      r.status = ok and run.status or ("error: " .. tostring(run.message or run))
      bar:add(1)
    end, { concurrency = 16 })
    bar:finish()
  end
  local lines, failed = { ("%-32s %-38s %s"):format("ENTITY", "RUN", o.wait and "STATUS" or "") }, 0
  for _, r in ipairs(runs) do
    lines[#lines + 1] = ("%-32s %-38s %s"):format(r.entity, tostring(r.run), r.status or "")
    if o.wait and r.status ~= "SUCCEEDED" then failed = failed + 1 end
  end
  s.line = table.concat(lines, "\n")
  return s, failed > 0 and 1 or 0
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
    { name = "entities", type = "string", metavar = "FILE", help = "trigger on every entity of FILE (one a line) as a 'once' job: never twice" },
    { name = "job", type = "string", metavar = "NAME", help = "the durable job's name in the store (with --entities; default dx-trigger:WORKFLOW:FILE)" },
  },
  examples = {
    "autolua recipe dx-trigger --workflow rotate-secrets --wait",
    [[autolua recipe dx-trigger --workflow deploy-service --entity payments-api --data '{"version": "1.4.2"}' --wait --json]],
    "autolua recipe dx-trigger --workflow rotate-secrets --dry-run",
    "autolua recipe dx-trigger --workflow deploy-service --entities services.txt --job deploy-1.4 --wait",
  },
  check = function(o)
    if o.data ~= nil and (type(o.data) ~= "table" or #o.data > 0) then return "--data must be a JSON object" end
    if o.entities and o.entity then return "give --entity ID or --entities FILE, not both" end
    if o.entities and o["dry-run"] then return "--dry-run triggers one run: give --entity, not --entities" end
    if o.entities then
      local _, why = read_entities(o.entities)
      if why then return why end
    end
  end,
  -- the token, and the arguments checked against the method's declaration: nothing is sent
  prepare = function(o)
    local c = dx.client()
    if not o.entities then dryrun.run(trigger, c, o) end
    return c
  end,
  run = function(o, _, c)
    if o["dry-run"] then
      local requests = dryrun.run(trigger, c, o)
      local after = o.wait and ("poll workflowRuns.info every %g s until a final status"):format(o.interval) or nil
      return dryrun.summary(o, requests, after), 0
    end
    if o.entities then return trigger_many(c, o) end
    local res
    if o.job then      -- one run, as a 'once' job: a re-run never triggers it twice
      res = task.map({ o.entity or o.workflow }, function() return trigger(c, o) end, { job = o.job, once = true })[1]
    else
      res = trigger(c, o)
    end
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
