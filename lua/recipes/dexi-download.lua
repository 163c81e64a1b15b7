-- Recipe: download every file referenced in a Dexi execution's result.
local dexi = require "dexi"
local bulk = require "dexi.bulk"

return {
  summary = "download every file referenced in a Dexi execution's result",
  description = "Walks every page of the result of --execution (or of the newest execution of --run),\n"
    .. "downloads each file a cell points to into --out through the account's file limit. Each\n"
    .. "file id gets a name of its own (NAME~2.EXT when another id or a file of yours has NAME);\n"
    .. "--out/.autolua-downloads.json records which file came from which id, so a re-run skips\n"
    .. "what it downloaded before. Credentials: DEXI_ACCOUNT, DEXI_API_KEY.",
  options = {
    { name = "execution", type = "string", metavar = "ID", help = "the execution whose files to fetch" },
    { name = "run", type = "string", metavar = "ID", help = "take the newest execution of this run" },
    { name = "out", type = "string", metavar = "DIR", required = true, help = "directory for the files (created if missing)" },
    { name = "concurrency", type = "integer", default = 8, min = 1, help = "downloads at once" },
  },
  examples = {
    "autolua recipe dexi-download --execution 3a8ea1f2-6781-4371-841f-66f6210a27b9 --out files/",
    "autolua recipe dexi-download --run 27c719bb-f28f-49f5-aedf-dba2f8e60ba3 --out files/ --json",
  },
  check = function(o)
    if (o.execution == nil) == (o.run == nil) then return "give --execution ID or --run ID (one of them)" end
  end,
  run = function(o)
    local client = dexi.client()
    local execution = o.execution or bulk.latest_execution(client, o.run)
    local s = bulk.download_all(client, execution, o.out, o.concurrency)
    s.execution, s.out = execution, o.out
    s.line = ("%d files: %d downloaded (%d bytes), %d already there, %d failed -> %s"):format(
      s.files, s.downloaded, s.bytes, s.skipped, s.failed, o.out)
    return s, s.failed > 0 and 1 or 0
  end,
}
