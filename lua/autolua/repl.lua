-- The interactive prompt. Each chunk runs as its own task while the loop stays live, so
-- tasks spawned earlier keep running between prompts, and an error in one is reported at the
-- prompt when it happens; Ctrl-C cancels the running chunk (aborting its transfers) or drops
-- what is being typed, a multi-line block too; Ctrl-D leaves, after saying which tasks still
-- run and waiting for them (a second Ctrl-D or a Ctrl-C cancels them). The modules a user came
-- for (dexi, dx, task, http, limiter, json) are globals, loaded on first use. On a terminal:
-- line editing, history in $XDG_STATE_HOME/autolua/history, tab completion.
local line = require "autolua.line"
local sys = require "autolua.sys"
local task = require "autolua.task"
local cli = require "autolua.cli"
local pretty = require "autolua.pretty"
local complete = require "autolua.complete"
local errors = require "autolua.error"
local core = require "autolua.task.core"

local M = {}

-- lua.c's rule: a chunk whose syntax error is at <eof> is incomplete; read another line.
local function incomplete(err)
  return err and err:find("<eof>$") ~= nil
end

-- The code of the next chunk (nil at end of input, "" after Ctrl-C), and its function or error.
local function read_chunk()
  local first = line.read("> ")
  if first == nil then return nil end
  if first == false then return "" end
  local code = first:gsub("^=", "return ")
  while true do
    local fn, err = cli.compile(code, "=stdin")
    if fn or not incomplete(err) then return code, fn, err end
    local more = line.read(">> ")
    if more == nil then return code, nil, err end
    if more == false then return "" end
    code = code .. "\n" .. more
  end
end

-- Globals loaded on first use, as Node's REPL offers its built-in modules; start-up stays fast.
local LAZY = { dexi = "dexi", dx = "dx", task = "autolua.task", http = "autolua.http",
               limiter = "autolua.limiter", json = "autolua.json" }

local function lazy_globals()
  local names = {}
  for k in pairs(LAZY) do names[#names + 1] = k end
  table.sort(names)
  setmetatable(_G, {
    __index = function(g, k)
      local mod = LAZY[k]
      if mod == nil then return nil end
      local v = require(mod)
      rawset(g, k, v)
      return v
    end,
    __complete = function() return names end,
  })
end

-- Where a task is: its first Lua frame, and the C function it waits in.
local function whereabouts(t)
  local co = debug.getuservalue(t, 1)
  if type(co) ~= "thread" then return tostring(t) end
  local at, waits
  for level = 0, 20 do
    local info = debug.getinfo(co, level, "Sln")
    if not info then break end
    if info.what == "C" then
      waits = waits or info.name
    elseif not at then
      at = ("%s:%d"):format(info.short_src, info.currentline)
    end
  end
  return ("task (%s) at %s%s"):format(t:status(), at or "?", waits and (", in " .. waits) or "")
end

-- Ctrl-D with background tasks left: says which, and waits for them to end; a second Ctrl-D or
-- a Ctrl-C cancels them.
local function wait_for_others(state)
  local others = core.others()
  if #others == 0 then return end
  local lines = { ("%d background task(s) still running; waiting for them (%s cancels them):\n")
                  :format(#others, state.tty and "Ctrl-D again or Ctrl-C" or "Ctrl-C") }
  for _, t in ipairs(others) do lines[#lines + 1] = "  " .. whereabouts(t) .. "\n" end
  io.stderr:write(table.concat(lines))
  local function cancel()
    if state.leaving == "cancelled" then return end
    state.leaving = "cancelled"
    local n = 0
    for _, t in ipairs(core.others()) do
      if t ~= state.reader then t:cancel(); n = n + 1 end
    end
    io.stderr:write(("cancelled %d background task(s)\n"):format(n))
  end
  state.leaving = "waiting"
  state.cancel_others = cancel
  if state.tty then            -- piped input has ended for good: only Ctrl-C cancels then
    state.reader = task.spawn(function()
      repeat local l = line.read("") until l == nil or l == false
      cancel()
    end)
  end
  while true do
    local left = 0
    for _, t in ipairs(core.others()) do if t ~= state.reader then left = left + 1 end end
    if left == 0 then break end
    task.sleep(0.05)
  end
  if state.reader then state.reader:cancel() end
end

local function history_path()
  local state = os.getenv("XDG_STATE_HOME")
  if not state or state == "" then
    local home = os.getenv("HOME")
    if not home or home == "" then return nil end
    state = home .. "/.local/state"
  end
  return state .. "/autolua/history"
end

-- An error in a chunk with its traceback, without the REPL's own frames below it.
local function traceback(err)
  local ok, msg = pcall(tostring, err)   -- an error's own __tostring may raise
  if not ok then msg = ("(a %s error value whose __tostring failed)"):format(type(err)) end
  local tb = debug.traceback(msg, 2)
  return { err = err, text = (tb:gsub("\n%s*%[C%]: in function 'xpcall'.*$", "")) }
end

-- A background task failed and nobody waits for it: say so now, above the prompt.
local function report_failure(_, text)
  line.print_above("error in a background task: " .. tostring(text) .. "\n")
end

-- Runs one chunk as a task; prints its values, or its error with a traceback.
local function run_chunk(fn, state)
  state.current = task.spawn(function() return table.pack(xpcall(fn, traceback)) end)
  local ok, r = pcall(state.current.wait, state.current)
  state.current = nil
  if not ok then
    io.stderr:write("interrupted\n")
  elseif r[1] then
    for i = 2, r.n do io.stdout:write(pretty.format(r[i]), "\n") end
  elseif errors.is(r[2].err, "cancelled") then
    io.stderr:write("interrupted\n")
  else
    io.stderr:write(pretty.mask(r[2].text), "\n")
  end
end

function M.run()
  local tty = sys.isatty(0)
  local state = { tty = tty }
  local hist = tty and history_path()
  if hist then
    sys.mkdir(hist:match("^(.*)/"), tonumber("700", 8))   -- the history may hold secrets typed in code
    line.history_load(hist)
  end
  if tty then line.set_completer(complete.complete) end
  lazy_globals()
  core.on_failure(report_failure)
  line.on_interrupt(function()
    if state.cancel_others then state.cancel_others()
    elseif state.current then state.current:cancel() else line.reset() end
  end)
  io.stdout:write(("autolua %s (%s); Ctrl-D exits, Ctrl-C cancels\n"):format(sys.version(), _VERSION))
  local warned = false
  while true do
    local code, fn, err = read_chunk()
    if code == nil then
      io.stdout:write("\n")
      return wait_for_others(state)
    end
    if tty and code:match("%S") then
      local saved, why = line.history_add(code, hist)
      if not saved and hist and not warned then
        warned = true
        io.stderr:write(("autolua: cannot write the history file (%s); going on without saving it\n"):format(why))
      end
    end
    if fn then run_chunk(fn, state) elseif code:match("%S") then io.stderr:write(err, "\n") end
  end
end

return M
