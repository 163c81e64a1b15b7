-- Recipe: download every file referenced in a Dexi execution's result.
local dexi = require "dexi"
local bulk = require "dexi.bulk"
local finished = require "dexi.finished"

return {
  summary = "download every file referenced in a Dexi execution's result",
  description = "Walks every page of the result of --execution (or of the newest finished execution of\n"
    .. "--run; --wait waits for one still running), downloads each file a cell points to into\n"
    .. "--out through the account's file limit. Each file id gets a name of its own (NAME~2.EXT\n"
    .. "when another id or a file of yours has NAME); --out/.autolua-downloads.json records which\n"
    .. "file came from which id, so a re-run skips what it downloaded before. An execution that did\n"
    .. "not end OK downloads nothing and exits 1, unless --any-state.\n"
    .. "Credentials: DEXI_ACCOUNT, DEXI_API_KEY.",
  options = {
    { name = "execution", type = "string", metavar = "ID", help = "the execution whose files to fetch" },
    { name = "run", type = "string", metavar = "ID", help = "take the newest finished execution of this run" },
    { name = "out", type = "string", metavar = "DIR", required = true, help = "directory for the files (created if missing)" },
    { name = "concurrency", type = "integer", default = 8, min = 1, help = "downloads at once" },
    { name = "job", type = "string", metavar = "NAME", help = "a durable job in the store: a re-run skips the files done before (still there, whole), even into a new --out" },
    finished.options.wait, finished.options.timeout, finished.options.interval, finished.options.any_state,
  },
  examples = {
    "autolua recipe dexi-download --execution 3a8ea1f2-6781-4371-841f-66f6210a27b9 --out files/",
    "autolua recipe dexi-download --run 27c719bb-f28f-49f5-aedf-dba2f8e60ba3 --out files/ --wait --json",
  },
  check = function(o)
    if (o.execution == nil) == (o.run == nil) then return "give --execution ID or --run ID (one of them)" end
  end,
  prepare = function() return dexi.client() end,
  run = function(o, _, client)
    local e = finished.execution(client, o)
    local refused = finished.refuse(e, o)
    if refused then return refused, 1 end
    local s = bulk.download_all(client, e._id, o.out, o.concurrency, o.job)
    s.execution, s.state, s.out = e._id, e.state, o.out
    s.line = ("execution %s (%s): %d files: %d downloaded (%d bytes), %d already there, %d failed -> %s"):format(
      e._id, e.state, s.files, s.downloaded, s.bytes, s.skipped, s.failed, o.out)
    return s, s.failed > 0 and 1 or 0
  end,
}
