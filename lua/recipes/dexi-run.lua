-- Recipe: start a Dexi run, optionally wait for it and download its files.
local dexi = require "dexi"
local bulk = require "dexi.bulk"
local json = require "autolua.json"
local sys = require "autolua.sys"
local errors = require "autolua.error"
local dryrun = require "autolua.dryrun"
local finished = require "dexi.finished"

local function start(client, o)
  if o.input == nil then return client.runs.execute(o.run) end
  if getmetatable(o.input) == json.array_mt or #o.input > 0 then return client.runs.execute_bulk(o.run, o.input) end
  return client.runs.execute_with_input(o.run, o.input)
end

return {
  summary = "start a Dexi run, optionally wait for it and download its files",
  description = "Starts --run with its stored inputs, or with --input (a JSON object for one input,\n"
    .. "a JSON array for several). With --wait it follows the execution to OK, FAILED or STOPPED\n"
    .. "and exits 1 unless it ended OK (or --any-state); --download DIR waits too and then\n"
    .. "fetches every file. --dry-run prints the request that would start it and sends nothing.\n"
    .. "Credentials: DEXI_ACCOUNT, DEXI_API_KEY.",
  options = {
    { name = "run", type = "string", metavar = "ID", required = true, help = "the run to start" },
    { name = "input", type = "json", metavar = "JSON", help = "inputs: an object, or an array of objects" },
    { name = "wait", type = "boolean", help = "wait until the execution ends" },
    { name = "download", type = "string", metavar = "DIR", help = "wait, then download every file into DIR" },
    { name = "timeout", type = "number", default = 3600, positive = true, help = "seconds to wait at most" },
    { name = "interval", type = "number", default = 5, min = 0, help = "seconds between status checks" },
    { name = "concurrency", type = "integer", default = 8, min = 1, help = "downloads at once" },
    finished.options.any_state,
    { name = "dry-run", type = "boolean", help = "print the request that would start the run; send nothing" },
  },
  examples = {
    "autolua recipe dexi-run --run 27c719bb-f28f-49f5-aedf-dba2f8e60ba3 --wait",
    [[autolua recipe dexi-run --run 27c719bb-f28f-49f5-aedf-dba2f8e60ba3 --input '{"url": "https://example.com"}' --download files/]],
    "autolua recipe dexi-run --run 27c719bb-f28f-49f5-aedf-dba2f8e60ba3 --dry-run",
  },
  check = function(o)
    if o.input ~= nil and type(o.input) ~= "table" then return "--input must be a JSON object or array" end
    if type(o.input) == "table" and (getmetatable(o.input) == json.array_mt or #o.input > 0) then
      for i, x in ipairs(o.input) do
        if type(x) ~= "table" or getmetatable(x) == json.array_mt then
          return ("--input: item %d of the array must be a JSON object"):format(i)
        end
      end
    end
  end,
  -- everything that can be wrong is found here, before the run is started
  prepare = function(o)
    local client = dexi.client()
    dryrun.run(start, client, o)           -- the run id and inputs checked; nothing is sent
    if o.download and not o["dry-run"] then
      local ok, why = sys.mkdir(o.download)
      if not ok then errors.raise { kind = "argument", message = "cannot create --download " .. o.download .. ": " .. tostring(why) } end
    end
    return client
  end,
  run = function(o, _, client)
    if o["dry-run"] then
      local requests = dryrun.run(start, client, o)
      local after = (o.wait or o.download) and ("poll GET executions/{id} every %g s until it ends%s"):format(
        o.interval, o.download and (", then download its files into " .. o.download) or "") or nil
      return dryrun.summary(o, requests, after), 0
    end
    local e = start(client, o)
    io.stderr:write(("started execution %s (%s)\n"):format(e._id, e.state))
    local s = { execution = e._id, state = e.state, run = o.run }
    if not (o.wait or o.download) then
      s.line = ("execution %s started (%s)"):format(e._id, e.state)
      return s, 0
    end
    e = client:wait_execution(e._id, { timeout = o.timeout, interval = o.interval })
    s.state = e.state
    s.line = ("execution %s ended %s"):format(e._id, e.state)
    local usable = e.state == "OK" or o["any-state"]
    if usable and o.download then
      s.download = bulk.download_all(client, e._id, o.download, o.concurrency)
      s.line = s.line .. (", %d files downloaded, %d failed -> %s"):format(
        s.download.downloaded + s.download.skipped, s.download.failed, o.download)
    elseif not usable then
      s.line = s.line .. (o.download and ": nothing downloaded (--any-state downloads its files anyway)"
                                      or " (--any-state exits 0 for it)")
    end
    local failed = not usable or (s.download and s.download.failed > 0)
    return s, failed and 1 or 0
  end,
}
