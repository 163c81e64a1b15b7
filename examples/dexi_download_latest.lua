-- Downloads every file of the newest finished execution of a Dexi run (one still running is
-- waited for), if it ended OK.
--   DEXI_ACCOUNT=... DEXI_API_KEY=... autolua examples/dexi_download_latest.lua RUN_ID [DIR]
local dexi = require "dexi"
local task = require "autolua.task"

local run_id, dir = assert(arg[1], "usage: dexi_download_latest.lua RUN_ID [DIR]"), arg[2] or "downloads"
local client = dexi.client()

local latest = client:latest_execution(run_id, { wait = true })
print(("newest execution %s ended %s"):format(latest._id, latest.state))
if latest.state ~= "OK" then os.exit(1) end

-- every file pointer in every page of the result
local files = {}
for row in client.executions.each_row(latest._id) do
  for _, cell in ipairs(row) do
    if dexi.is_file_pointer(cell) then files[#files + 1] = cell end
  end
end

os.execute("mkdir -p " .. dir)
local got = task.map(files, function(pointer)
  return client:download(pointer, dir .. "/", { execution = latest._id })
end, { concurrency = 8 })

for _, f in ipairs(got) do print(("%8d bytes  %s  %s"):format(f.bytes, f.mime, f.path)) end
print(("%d files downloaded"):format(#got))
