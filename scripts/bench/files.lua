-- Dexi file downloads through the dexi client's default `file` limit (15 a second): every file
-- of a manifest that scripts/bench/harness.py wrote (pointers of one execution of the fake),
-- C at once, each streamed to its path by client:download. The harness compares every file
-- with its source (sha256) and counts the fake's 429s.
--   autolua scripts/bench/files.lua MANIFEST [C]
-- MANIFEST: {"base":, "account":, "api_key":, "execution":, "files": [{"pointer":, "path":}...]}
local dexi = require "dexi"
local json = require "autolua.json"
local task = require "autolua.task"

local f = assert(io.open((assert(arg[1], "usage: files.lua MANIFEST [C]"))))
local m = json.decode(f:read("a"))
f:close()
local conc = tonumber(arg[2] or 16)
local client = dexi.client { account = m.account, api_key = m.api_key, base_url = m.base }
local function hwm()
  for line in io.lines("/proc/self/status") do
    local kb = line:match("^VmHWM:%s+(%d+)")
    if kb then return tonumber(kb) / 1024 end
  end
end
local t0 = task.now()
local got = task.map(m.files, function(file)
  return client:download(file.pointer, file.path, { execution = m.execution }).bytes
end, { concurrency = conc })
print(("files: %d downloaded in %.2f s; peak RSS %.1f MiB")
  :format(#got, task.now() - t0, hwm()))
