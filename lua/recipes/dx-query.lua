-- Recipe: run a Data Studio query and write its result.
local dx = require "dx"
local json = require "autolua.json"
local csv = require "autolua.csv"
local atomic = require "autolua.atomic"
local sys = require "autolua.sys"
local recipe = require "autolua.recipe"

local function read_file(path)
  local f, why = io.open(path, "rb")
  if not f then require("autolua.error").raise { kind = "argument", message = "cannot read --file " .. why } end
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
    .. "the columns and rows to --out (standard output when absent) as CSV or JSON: as --out's\n"
    .. "extension says (.json is JSON, anything else CSV) unless --format says otherwise. The\n"
    .. "file appears only once it is complete. The summary goes to standard error, or with\n"
    .. "--json to standard output when the data went to a file. Token: DX_TOKEN (or DX_API_TOKEN).",
  options = {
    { name = "sql", type = "string", metavar = "SQL", help = "the query" },
    { name = "file", type = "string", metavar = "F.sql", help = "read the query from this file" },
    { name = "out", type = "string", metavar = "FILE", help = "where to write (default: standard output)" },
    { name = "format", type = "string", choices = { "csv", "json" }, help = "output format (default: from --out's extension, else csv)" },
    { name = "timeout", type = "number", default = 600, positive = true, help = "seconds to wait for the run at most" },
  },
  examples = {
    [[autolua recipe dx-query --sql "SELECT name, score FROM teams" --out teams.csv]],
    "autolua recipe dx-query --file weekly.sql --out weekly.json",
  },
  check = function(o)
    if (o.sql == nil) == (o.file == nil) then return "give --sql SQL or --file F.sql (one of them)" end
    o.format = o.format or recipe.format_of(o.out, { json = "json" }, "csv")
  end,
  prepare = function(o)
    if o.out then recipe.check_out(o.out) end
    return { client = dx.client(), sql = o.sql or read_file(o.file) }
  end,
  run = function(o, _, ctx)
    local c = ctx.client
    if sys.isatty(2) then io.stderr:write("running the query...\n") end
    local result = c:query(ctx.sql, { timeout = o.timeout })
    if o.out then
      atomic.write(o.out, function(f) write(f, result, o.format) end)
    else
      write(io.stdout, result, o.format)
    end
    local s = { run = result.id, rows = #result.rows, columns = #result.columns, out = o.out, format = o.format,
                stdout_data = o.out == nil }
    s.line = ("%d rows, %d columns%s"):format(s.rows, s.columns, o.out and (" -> " .. o.out) or "")
    return s
  end,
}
