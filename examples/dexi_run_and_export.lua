-- Starts a Dexi run with two inputs, waits for it, and writes its result as JSON lines.
--   DEXI_ACCOUNT=... DEXI_API_KEY=... autolua examples/dexi_run_and_export.lua RUN_ID OUT.jsonl
local dexi = require "dexi"
local json = require "cjson"
local atomic = require "autolua.atomic"

local run_id = assert(arg[1], "usage: dexi_run_and_export.lua RUN_ID OUT.jsonl")
local out = assert(arg[2], "usage: dexi_run_and_export.lua RUN_ID OUT.jsonl")
local client = dexi.client()

local execution = client.runs.execute_bulk(run_id, {
  { url = "https://example.com/a" },
  { url = "https://example.com/b" },
})
print("started", execution._id)

execution = client:wait_execution(execution._id, { interval = 1, timeout = 600 })
print("finished", execution.state)
if execution.state ~= "OK" then os.exit(1) end

local result = client.executions.result(execution._id)
-- the file appears whole or not at all: a failure half way leaves nothing behind
atomic.write(out, function(f)
  for _, record in ipairs(dexi.rows_as_records(result)) do
    f:write(json.encode(record), "\n")
  end
end)
print(("%d rows written to %s"):format(#result.rows, out))
