-- Recipe: run a Data Studio query and write its result.
local dx = require "dx"
local json = require "autolua.json"
local csv = require "autolua.csv"
local atomic = require "autolua.atomic"
local sys = require "autolua.sys"

local function read_file(path)
  local f, why = io.open(path, "rb")
  if not f then require("autolua.error").raise { kind = "argument", message = "cannot read --file: " .. why } end
  local s = f:read("a")
  f:close()
  return s
end

local function write(f, result, format)
  if format == "json" then
    f:write(json.encode { columns = json.array(result.columns), rows = json.array(result.rows) }, "\n")
    return
  end
  f:write(csv.line(result.columns))
  for _, row in ipairs(result.rows) do f:write(csv.line(row, #result.columns)) end
end

return {
  summary = "run a DX Data Studio query and write the result as CSV or JSON",
  description = "Runs --sql (or the SQL in --file) as a Data Studio query run, waits for it, and writes\n"
    .. "the columns and rows to --out (standard output when absent). The file appears only once\n"
    .. "it is complete. Token: DX_TOKEN (or DX_API_TOKEN).",
  options = {
    { name = "sql", type = "string", metavar = "SQL", help = "the query" },
    { name = "file", type = "string", metavar = "F.sql", help = "read the query from this file" },
    { name = "out", type = "string", metavar = "FILE", help = "where to write (default: standard output)" },
    { name = "format", type = "string", default = "csv", choices = { "csv", "json" }, help = "output format" },
    { name = "timeout", type = "number", default = 600, help = "seconds to wait for the run at most" },
  },
  examples = {
    [[autolua recipe dx-query --sql "SELECT name, score FROM teams" --out teams.csv]],
    "autolua recipe dx-query --file weekly.sql --format json --out weekly.json",
  },
  check = function(o)
    if (o.sql == nil) == (o.file == nil) then return "give --sql SQL or --file F.sql (one of them)" end
  end,
  run = function(o)
    local sql = o.sql or read_file(o.file)
    local c = dx.client()
    if sys.isatty(2) then io.stderr:write("running the query...\n") end
    local result = c:query(sql, { timeout = o.timeout })
    if o.out then
      atomic.write(o.out, function(f) write(f, result, o.format) end)
    else
      write(io.stdout, result, o.format)
    end
    local s = { run = result.id, rows = #result.rows, columns = #result.columns, out = o.out, format = o.format }
    s.line = ("%d rows, %d columns%s"):format(s.rows, s.columns, o.out and (" -> " .. o.out) or "")
    if not o.out then
      if not o.json then io.stderr:write(s.line, "\n") end
      s.line = nil
    end
    return s
  end,
}
