-- The interactive prompt. Each chunk runs as its own task while the loop stays live, so
-- tasks spawned earlier keep running between prompts; Ctrl-C cancels the running chunk
-- (aborting its transfers) or clears the line being typed; Ctrl-D leaves. On a terminal:
-- line editing, history in $XDG_STATE_HOME/autolua/history, tab completion.
local line = require "autolua.line"
local sys = require "autolua.sys"
local task = require "autolua.task"
local cli = require "autolua.cli"
local pretty = require "autolua.pretty"
local complete = require "autolua.complete"
local errors = require "autolua.error"

local M = {}

-- lua.c's rule: a chunk whose syntax error is at <eof> is incomplete; read another line.
local function incomplete(err)
  return err and err:find("<eof>$") ~= nil
end

local function read_chunk()
  local first = line.read("> ")
  if first == nil then return nil end
  local code = first:gsub("^=", "return ")
  while true do
    local fn, err = cli.compile(code, "=stdin")
    if fn or not incomplete(err) then return code, fn, err end
    local more = line.read(">> ")
    if more == nil then return code, nil, err end
    code = code .. "\n" .. more
  end
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
    io.stderr:write(r[2].text, "\n")
  end
end

function M.run()
  local tty = sys.isatty(0)
  local state = {}
  local hist = tty and history_path()
  if hist then
    sys.mkdir(hist:match("^(.*)/"))
    line.history_load(hist)
  end
  if tty then line.set_completer(complete.complete) end
  line.on_interrupt(function()
    if state.current then state.current:cancel() else line.reset() end
  end)
  io.stdout:write(("autolua %s (%s); Ctrl-D exits, Ctrl-C cancels\n"):format(sys.version(), _VERSION))
  local warned = false
  while true do
    local code, fn, err = read_chunk()
    if code == nil then io.stdout:write("\n"); return end
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
