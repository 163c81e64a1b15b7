-- The backend of an EVENT_DRIVEN DX self-service workflow. When a run starts, DX posts the
-- workflow's http_request here; the run then waits (WAITING_FOR_EVENTS) until this backend
-- ends it. It answers 202 at once and does the work in a task of its own:
--   starts a Dexi run with the workflow's data as input, posts a message and a link to the
--   execution, waits for it, downloads its files, and calls changeStatus SUCCEEDED or FAILED
--   with the reason as a message.
--
--   DEXI_ACCOUNT=... DEXI_API_KEY=... DX_TOKEN=... \
--   autolua serve examples/dx_backend.lua [--listen 127.0.0.1:8080] [--token T]
--
-- The workflow's http_request: POST http://HOST:PORT/dx/run with the JSON body
--   {"run_id": "{{run.id}}", "workflow": "{{workflow.identifier}}",
--    "dexi_run": "{{data.dexi_run}}", "input": {"url": "{{data.url}}"}}
-- (the placeholders are the DX fake's convention; map the same fields in your real workflow).
-- Files go under $DX_BACKEND_DIR (default ./dx-backend-files), one folder per workflow run.
local dexi = require "dexi"
local dx = require "dx"
local task = require "autolua.task"
local log = require "autolua.log"
local json = require "autolua.json"

local OUT = os.getenv("DX_BACKEND_DIR") or "dx-backend-files"
local WAIT = tonumber(os.getenv("DX_BACKEND_TIMEOUT") or "") or 3600

-- The input row for Dexi: the workflow's data without empty values.
local function input_of(body)
  local input = {}
  for k, v in pairs(type(body.input) == "table" and body.input or {}) do
    if v ~= nil and v ~= "" and v ~= json.null then input[k] = v end
  end
  return next(input) and input or nil
end

local function file_pointers(robot, execution_id)
  local files = {}
  for row in robot.executions.each_row(execution_id) do
    for _, cell in ipairs(row) do
      if dexi.is_file_pointer(cell) then files[#files + 1] = cell end
    end
  end
  return files
end

-- The work of one workflow run; raises with the reason when it fails.
local function work(robot, c, run_id, body)
  local function say(msg)
    log.info("message", { run = run_id, message = msg })
    c.workflowRuns.postMessage { workflow_run_id = run_id, message = msg }
  end
  local input = input_of(body)
  local started = input and robot.runs.execute_with_input(body.dexi_run, input) or robot.runs.execute(body.dexi_run)
  local id = started._id
  say(("started Dexi execution %s of run %s"):format(id, body.dexi_run))
  c.workflowRuns.addLink { workflow_run_id = run_id,
                           link = { url = robot.base_url .. "executions/" .. id, label = "Dexi execution" } }
  local execution = robot:wait_execution(id, { interval = 1, timeout = WAIT })
  if execution.state ~= "OK" then
    error(("Dexi execution %s ended %s"):format(id, execution.state), 0)
  end
  local dir = OUT .. "/" .. run_id
  os.execute(("mkdir -p '%s'"):format(dir:gsub("'", "'\\''")))
  local saved = task.map(file_pointers(robot, id), function(p)
    return robot:download(p, dir .. "/", { execution = id })
  end, { concurrency = 8 })
  local bytes = 0
  for _, f in ipairs(saved) do bytes = bytes + f.bytes end
  say(("Dexi execution %s ended OK: %d files, %d bytes saved in %s"):format(id, #saved, bytes, dir))
end

local function run(run_id, body)
  local robot, c = dexi.client(), dx.client()
  log.info("workflow run started", { run = run_id, dexi_run = body.dexi_run })
  local ok, err = pcall(work, robot, c, run_id, body)
  local status = ok and "SUCCEEDED" or "FAILED"
  if not ok then
    log.warn("workflow run failed", { run = run_id, error = tostring(err) })
    pcall(c.workflowRuns.postMessage, { workflow_run_id = run_id, message = "failed: " .. tostring(err) })
  end
  c.workflowRuns.changeStatus { workflow_run_id = run_id, status = status }
  log.info("workflow run ended", { run = run_id, status = status })
end

return {
  ["POST /dx/run"] = function(req)
    local ok, body = pcall(req.json, req)
    if not ok or type(body) ~= "table" or type(body.run_id) ~= "string" or type(body.dexi_run) ~= "string"
       or body.dexi_run == "" then
      return { status = 400, json = { ok = false, error = "bad_request",
                                      message = "expected a JSON object with run_id and dexi_run" } }
    end
    task.spawn(run, body.run_id, body)   -- outlives this request: DX waits for changeStatus
    return { status = 202, json = { ok = true, run_id = body.run_id } }
  end,
}
