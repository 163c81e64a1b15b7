-- Recipe: write every row of a Dexi execution's result or of a data set to a file.
local dexi = require "dexi"
local json = require "autolua.json"
local csv = require "autolua.csv"
local atomic = require "autolua.atomic"
local progress = require "autolua.progress"
local finished = require "dexi.finished"
local recipe = require "autolua.recipe"
local task = require "autolua.task"
local sys = require "autolua.sys"
local store = require "autolua.store"

-- Rows as records (keyed by column), with the columns in order, from either source.
local function source(client, o)
  if o.execution then
    local it = client.executions.each_row(o.execution)
    return function()
      local row, page = it()
      if row == nil then return nil end
      return row, page.headers
    end
  end
  local it = client.datasets.each_row(o.dataset)
  return function() return (it()) end
end

local function write_jsonl(f, next_row, bar)
  local n = 0
  for row, headers in next_row do
    local rec = row
    if headers then rec = dexi.rows_as_records { headers = headers, rows = { row } }[1] end
    f:write(json.encode(rec), "\n")
    n = n + 1
    bar:add(1)
  end
  return n
end

-- CSV needs the columns first: a result has its headers; data set rows are collected and their
-- keys united in order of first appearance.
local function write_csv(f, next_row, bar)
  local rows, columns, seen, headers = {}, {}, {}, nil
  for row, h in next_row do
    headers = headers or h
    rows[#rows + 1] = row
    if not h then
      local keys = {}
      for k in pairs(row) do keys[#keys + 1] = k end
      table.sort(keys)
      for _, k in ipairs(keys) do if not seen[k] then seen[k] = true; columns[#columns + 1] = k end end
    end
    bar:add(1)
  end
  columns = headers or columns
  f:write(csv.line(columns))
  for _, row in ipairs(rows) do
    if headers then f:write(csv.line(row, #columns))
    else
      local vals = {}
      for i, c in ipairs(columns) do vals[i] = row[c] end
      f:write(csv.line(vals, #columns))
    end
  end
  return #rows
end

return {
  summary = "write every row of a Dexi execution's result or data set to a file",
  description = "Pages through the whole result of --execution, or the rows of --dataset, and writes\n"
    .. "them to --out as JSON lines or CSV (as its extension says: .csv is CSV, anything else\n"
    .. "JSON lines; --format decides otherwise). The file appears only once it is complete.\n"
    .. "An execution not finished is refused (--wait waits for it); one that did not end OK\n"
    .. "writes nothing and exits 1, unless --any-state. Credentials: DEXI_ACCOUNT, DEXI_API_KEY.",
  options = {
    { name = "execution", type = "string", metavar = "ID", help = "export this execution's result" },
    { name = "dataset", type = "string", metavar = "ID", help = "export this data set's rows" },
    { name = "out", type = "string", metavar = "FILE", required = true, help = "the file to write" },
    { name = "format", type = "string", choices = { "jsonl", "csv" }, help = "output format (default: from --out's extension)" },
    { name = "job", type = "string", metavar = "NAME", help = "a durable job in the store: a re-run skips the export while --out is still there as written" },
    finished.options.wait, finished.options.timeout, finished.options.interval, finished.options.any_state,
  },
  examples = {
    "autolua recipe dexi-export --execution 3a8ea1f2-6781-4371-841f-66f6210a27b9 --out result.jsonl",
    "autolua recipe dexi-export --dataset 40000000-0000-4000-8000-000000000001 --out rows.csv",
  },
  check = function(o)
    if (o.execution == nil) == (o.dataset == nil) then return "give --execution ID or --dataset ID (one of them)" end
    o.format = o.format or recipe.format_of(o.out, { csv = "csv" }, "jsonl")
  end,
  prepare = function(o)
    recipe.check_out(o.out)
    return dexi.client()
  end,
  run = function(o, _, client)
    local state
    if o.execution then
      local e = finished.execution(client, o)
      local refused = finished.refuse(e, o)
      if refused then return refused, 1 end
      state = e.state
    end
    local function export()
      local bar = progress.new { label = "exporting rows", unit = "rows" }
      local rows
      atomic.write(o.out, function(f)
        local it = source(client, o)
        rows = o.format == "csv" and write_csv(f, it, bar) or write_jsonl(f, it, bar)
      end)
      bar:finish()
      local st = sys.stat(o.out)
      return { rows = rows, size = st and st.size }
    end
    local n
    if o.job then
      -- a durable job of one item: a re-run finds it done, and exports again only when the file
      -- it wrote is gone or changed size
      local key = ("%s:%s:%s"):format(o.execution and "execution" or "dataset", o.execution or o.dataset, o.out)
      local opts = { job = o.job, key = function(k) return k end }
      local r = task.map({ key }, export, opts)[1]
      local st = sys.stat(o.out)
      if not (st and r and st.size == r.size) then
        store.must(nil, "dexi-export"):forget(o.job, key)
        r = task.map({ key }, export, opts)[1]
      end
      n = r.rows
    else
      n = export().rows
    end
    return { rows = n, out = o.out, format = o.format, execution = o.execution, state = state, dataset = o.dataset,
             line = ("%s%d rows -> %s (%s)"):format(
               o.execution and ("execution %s (%s): "):format(o.execution, state) or "", n, o.out, o.format) }
  end,
}
