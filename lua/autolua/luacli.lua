-- The lua-compatible command line, as lua.c's pmain runs it, inside the main task (so that
-- every chunk may wait on HTTP): LUA_INIT_5_4 or LUA_INIT, then -e, -l and -W in their order,
-- the script with its arguments, then -i. src/host/luacli.c has read the options into a plan.
local core = require "autolua.luacli.core"
local sys = require "autolua.sys"

-- Taken now, as lua.c uses the C API: a chunk that replaces one of them changes nothing here
-- (but -l calls the global require and -i the global print, as lua.c does).
local load, loadfile, xpcall, pcall, error, rawget, warn = load, loadfile, xpcall, pcall, error, rawget, warn
local pack, unpack, getenv, stdin, stdout, stderr = table.pack, table.unpack, os.getenv, io.stdin, io.stdout, io.stderr

local M = {}

-- Calls f; on an error, reports it as lua.c does (program name, message, traceback) and
-- returns nil; a cancellation goes on up to the scheduler.
local function docall(f, ...)
  local r = pack(xpcall(f, core.msghandler, ...))
  if r[1] then return r end
  if core.is_cancel(r[2]) then error(r[2], 0) end
  core.fail((r[2]:gsub("\n%s*%[C%]: in function 'xpcall'.*$", "")))
  return nil
end

-- Runs a loaded chunk (or reports why it did not load); true when all went well.
local function dochunk(f, err, show)
  if not f then core.fail(err); return false end
  local r = docall(f)
  if r and show and r.n > 1 then   -- required only then: most runs start without it
    require("autolua.cli").print_values(r.n - 1, unpack(r, 2, r.n))
  end
  return r ~= nil
end

local function luainit()
  local name, init = "LUA_INIT_5_4", getenv("LUA_INIT_5_4")
  if init == nil then name, init = "LUA_INIT", getenv("LUA_INIT") end
  if init == nil then return true end
  if init:sub(1, 1) == "@" then return dochunk(loadfile(init:sub(2))) end
  return dochunk(load(init, "=" .. name))
end

-- -l g=mod: g = require "mod"; -l mod: mod = require "mod".
local function library(spec)
  local glob, mod = spec:match("^(.-)=(.*)$")
  if not glob then glob, mod = spec, spec end
  local r = docall(_G.require, mod)
  if r then _G[glob] = r[2] end
  return r ~= nil
end

local function script(plan)
  local f, err = loadfile(not plan.stdin_script and plan.script or nil)
  if not f then core.fail(err); return false end
  if type(arg) ~= "table" then core.fail("'arg' is not a table"); return false end
  local args, n = {}, #arg
  for i = 1, n do args[i] = rawget(arg, i) end
  return docall(f, unpack(args, 1, n)) ~= nil
end

-- {==================================================== lua.c's read-eval-print loop
-- For -i without a terminal: prompts from _PROMPT and _PROMPT2 on stdout, each line tried
-- first as an expression, lines added while the chunk is incomplete, values shown with the
-- global print, each line echoed. On a terminal, -i opens autolua's own prompt instead.

local function prompt(first)
  local p = rawget(_G, first and "_PROMPT" or "_PROMPT2")
  if p == nil then p = first and "> " or ">> " end
  stdout:write(tostring(p))
  local line = stdin:read("L")
  if line then stdout:write(line) end   -- echoed, as lua's readline does off a terminal
  stdout:flush()
  return line
end

local function readchunk()
  local line = prompt(true)
  if line == nil then return nil end
  line = line:gsub("\n$", ""):gsub("^=", "return ")
  local f = load("return " .. line, "=stdin")
  if f then return f end
  while true do
    local err
    f, err = load(line, "=stdin")
    if f or not err:find("<eof>$") then return f, err end
    local more = prompt(false)
    if more == nil then return f, err end
    line = line .. "\n" .. more:gsub("\n$", "")
  end
end

local function lua_repl()
  while true do
    local f, err = readchunk()
    if f == nil and err == nil then break end
    if not f then
      stderr:write(core.progname(), ": ", err, "\n")
    else
      local r = pack(xpcall(f, core.msghandler))
      if not r[1] then
        if core.is_cancel(r[2]) then error(r[2], 0) end
        stderr:write(core.progname(), ": ", r[2], "\n")
      elseif r.n > 1 then
        local ok, perr = pcall(print, unpack(r, 2, r.n))
        if not ok then
          stderr:write(core.progname(), ": error calling 'print' (", tostring(perr), ")\n")
        end
      end
    end
  end
  stdout:write("\n")
end

local function repl()
  if sys.isatty(0) then return require("autolua.repl").run() end
  return lua_repl()
end

-- }====================================================

function M.main(plan)
  if not plan.noenv and not luainit() then return end
  for _, step in ipairs(plan.steps) do
    local what, extra = step[1], step[2]
    local ok = true
    if what == "e" then
      local f, err = load(extra, "=(command line)")
      ok = dochunk(f, err, true)    -- autolua prints what the chunk returns; lua does not
    elseif what == "l" then ok = library(extra)
    else warn("@on") end
    if not ok then return end
  end
  if plan.script and not script(plan) then return end
  if plan.interactive then return repl() end
  if plan.bare then
    if sys.isatty(0) then return require("autolua.repl").run() end
    dochunk(loadfile(nil))
  end
end

return M
