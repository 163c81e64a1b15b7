-- Both services in one script: runs a Dexi robot and waits for it, downloads its files, then
-- reports on a DX workflow run: a message with the counts and a link to the execution.
--   DEXI_ACCOUNT=... DEXI_API_KEY=... DX_TOKEN=... \
--   autolua examples/dexi_to_dx.lua DEXI_RUN_ID DX_WORKFLOW_RUN_ID [DIR]
local dexi = require "dexi"
local dx = require "dx"
local task = require "autolua.task"

local run_id = assert(arg[1], "usage: dexi_to_dx.lua DEXI_RUN_ID DX_WORKFLOW_RUN_ID [DIR]")
local workflow_run = assert(arg[2], "usage: dexi_to_dx.lua DEXI_RUN_ID DX_WORKFLOW_RUN_ID [DIR]")
local dir = arg[3] or "dexi-files"
local robot, c = dexi.client(), dx.client()

c.workflowRuns.postMessage { workflow_run_id = workflow_run, message = "starting Dexi run " .. run_id }
local execution = robot:wait_execution(robot.runs.execute(run_id)._id, { interval = 1 })

local files = {}
if execution.state == "OK" then
  for row in robot.executions.each_row(execution._id) do
    for _, cell in ipairs(row) do
      if dexi.is_file_pointer(cell) then files[#files + 1] = cell end
    end
  end
end
os.execute("mkdir -p " .. dir)
local saved = task.map(files, function(p)
  return robot:download(p, dir .. "/", { execution = execution._id })
end, { concurrency = 8 })
local bytes = 0
for _, f in ipairs(saved) do bytes = bytes + f.bytes end

c.workflowRuns.postMessage {
  workflow_run_id = workflow_run,
  message = ("Dexi execution %s ended %s: %d files, %d bytes"):format(execution._id, execution.state, #saved, bytes),
}
c.workflowRuns.addLink {
  workflow_run_id = workflow_run,
  link = { url = robot.base_url .. "executions/" .. execution._id, label = "Dexi execution" },
}
print(("execution %s: %s, %d files -> %s; reported to DX run %s"):format(
  execution._id, execution.state, #saved, dir, workflow_run))
