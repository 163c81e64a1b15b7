-- autolua job list | show NAME | forget NAME [--key K], each with --json: the jobs recorded in
-- the store (AUTOLUA_STORE, or --store URL).
local store = require "autolua.store"
local json = require "autolua.json"

local M = {}

local USAGE = [[
usage: autolua job list [--json] [--store URL]
       autolua job show NAME [--json] [--store URL]
       autolua job forget NAME [--key K] [--json] [--store URL]

The durable jobs (task.map / task.each with job = NAME, recipes with --job NAME) recorded in the
store: AUTOLUA_STORE, or --store (memory, sqlite:PATH, redis://...); the default is
sqlite:$XDG_STATE_HOME/autolua/state.db.
  list     every job, with its counts and when it last changed
  show     one job's counts: done, failed, running, unknown (started, never finished: a
           'once' item is not run again until it is forgotten), pending (a lease ran out)
  forget   deletes the job's records, or with --key K one item's (then it runs again)
]]

local function usage(msg)
  io.stderr:write("autolua job: ", msg, "\n", USAGE)
  os.exit(2)
end

local function fail(err)
  io.stderr:write("autolua job: ", tostring(err.message or err), "\n")
  os.exit(1)
end

local function parse(args)
  local o = { words = {} }
  local i = 1
  while i <= #args do
    local a = args[i]
    if a == "--json" then o.json = true
    elseif a == "--help" or a == "-h" then io.stdout:write(USAGE); os.exit(0)
    elseif a == "--key" or a == "--store" then
      if not args[i + 1] then usage(a .. " needs a value") end
      o[a:sub(3)] = args[i + 1]
      i = i + 1
    elseif a:match("^%-%-") then usage("unknown option " .. a)
    else o.words[#o.words + 1] = a end
    i = i + 1
  end
  return o
end

local function when(t)
  if not t or t == 0 then return "-" end
  return os.date("!%Y-%m-%d %H:%M:%SZ", math.floor(t))
end

local function counts_of(s, name)
  local c, err = s:counts(name)
  if not c then fail(err) end
  return { name = name, done = c.done, failed = c.failed, running = c.running, unknown = c.unknown,
           pending = c.pending, changed = c.changed }
end

local COLS = { "done", "failed", "running", "unknown", "pending" }

local function print_rows(rows)
  local head = ("%-24s"):format("JOB")
  for _, c in ipairs(COLS) do head = head .. ("%9s"):format(c:upper()) end
  print(head .. "  CHANGED")
  for _, r in ipairs(rows) do
    local line = ("%-24s"):format(r.name)
    for _, c in ipairs(COLS) do line = line .. ("%9d"):format(r[c] or 0) end
    print(line .. "  " .. when(r.changed))
  end
end

local function open(o)
  local s, err = store.open(o.store)
  if not s then fail(err) end
  return s
end

function M.main(...)
  local o = parse({ ... })
  local cmd, name = o.words[1], o.words[2]
  if not cmd then usage("needs a command: list, show or forget") end
  if cmd == "list" then
    if name then usage("list takes no name") end
    local s = open(o)
    local jobs, err = s:list()
    if not jobs then fail(err) end
    local rows = {}
    for _, j in ipairs(jobs) do rows[#rows + 1] = counts_of(s, j.name) end
    table.sort(rows, function(a, b) return a.name < b.name end)
    if o.json then print(json.encode(json.array(rows))) else print_rows(rows) end
  elseif cmd == "show" then
    if not name or o.words[3] then usage("show needs one job name") end
    local row = counts_of(open(o), name)
    if o.json then print(json.encode(row))
    else
      print_rows({ row })
      if row.unknown > 0 then
        print(("%d item(s) started and never finished: check them, then `autolua job forget %s --key K`"):format(row.unknown, name))
      end
    end
  elseif cmd == "forget" then
    if not name or o.words[3] then usage("forget needs one job name") end
    local n, err = open(o):forget(name, o.key)
    if not n then fail(err) end
    if o.json then print(json.encode({ job = name, key = o.key, forgotten = n }))
    else print(("forgot %d item(s) of job %s%s"):format(n, name, o.key and (" (key " .. o.key .. ")") or "")) end
  else
    usage("unknown command " .. cmd)
  end
end

return M
