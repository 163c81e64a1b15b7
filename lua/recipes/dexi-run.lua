-- Recipe: start a Dexi run, optionally wait for it and download its files.
local dexi = require "dexi"
local bulk = require "dexi.bulk"
local json = require "autolua.json"

return {
  summary = "start a Dexi run, optionally wait for it and download its files",
  description = "Starts --run with its stored inputs, or with --input (a JSON object for one input,\n"
    .. "a JSON array for several). With --wait it follows the execution to OK, FAILED or STOPPED\n"
    .. "and exits 1 unless it ended OK; --download DIR waits too and then fetches every file.",
  options = {
    { name = "run", type = "string", metavar = "ID", required = true, help = "the run to start" },
    { name = "input", type = "json", metavar = "JSON", help = "inputs: an object, or an array of objects" },
    { name = "wait", type = "boolean", help = "wait until the execution ends" },
    { name = "download", type = "string", metavar = "DIR", help = "wait, then download every file into DIR" },
    { name = "timeout", type = "number", default = 3600, help = "seconds to wait at most" },
    { name = "interval", type = "number", default = 5, help = "seconds between status checks" },
    { name = "concurrency", type = "integer", default = 8, min = 1, help = "downloads at once" },
  },
  examples = {
    "autolua recipe dexi-run --run 27c719bb-f28f-49f5-aedf-dba2f8e60ba3 --wait",
    [[autolua recipe dexi-run --run 27c719bb-f28f-49f5-aedf-dba2f8e60ba3 --input '{"url": "https://example.com"}' --download files/]],
  },
  check = function(o)
    if o.input ~= nil and type(o.input) ~= "table" then return "--input must be a JSON object or array" end
  end,
  run = function(o)
    local client = dexi.client()
    local e
    if o.input == nil then e = client.runs.execute(o.run)
    elseif getmetatable(o.input) == json.array_mt or #o.input > 0 then e = client.runs.execute_bulk(o.run, o.input)
    else e = client.runs.execute_with_input(o.run, o.input) end
    io.stderr:write(("started execution %s (%s)\n"):format(e._id, e.state))
    local s = { execution = e._id, state = e.state, run = o.run }
    if not (o.wait or o.download) then
      s.line = ("execution %s started (%s)"):format(e._id, e.state)
      return s, 0
    end
    e = client:wait_execution(e._id, { timeout = o.timeout, interval = o.interval })
    s.state = e.state
    s.line = ("execution %s ended %s"):format(e._id, e.state)
    if e.state == "OK" and o.download then
      s.download = bulk.download_all(client, e._id, o.download, o.concurrency)
      s.line = s.line .. (", %d files downloaded, %d failed -> %s"):format(
        s.download.downloaded + s.download.skipped, s.download.failed, o.download)
    end
    local failed = e.state ~= "OK" or (s.download and s.download.failed > 0)
    return s, failed and 1 or 0
  end,
}
