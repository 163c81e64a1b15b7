-- The interactive prompt: reads a line without stopping the loop (tasks spawned earlier keep
-- running between prompts), runs it as Lua, prints what it returns.
local sys = require "autolua.sys"
local cli = require "autolua.cli"

local M = {}

-- lua.c's rule: a chunk whose syntax error is at <eof> is incomplete; read another line.
local function incomplete(err)
  return err and err:find("<eof>$") ~= nil
end

local function read_chunk()
  local line = sys.readline("> ")
  if line == nil then return nil end
  local code = line:gsub("^=", "return ")
  while true do
    local fn, err = cli.compile(code, "=stdin")
    if fn or not incomplete(err) then return code, fn, err end
    local more = sys.readline(">> ")
    if more == nil then return code, nil, err end
    code = code .. "\n" .. more
  end
end

local function traceback(err)
  local msg = tostring(err)
  if type(err) == "table" and getmetatable(err) and getmetatable(err).__tostring then
    msg = tostring(err)
  end
  return debug.traceback(msg, 2)
end

function M.run()
  io.stdout:write(("autolua %s (%s); Ctrl-D exits\n"):format(sys.version(), _VERSION))
  while true do
    local code, fn, err = read_chunk()
    if code == nil then io.stdout:write("\n"); return end
    if not fn then
      io.stderr:write(err, "\n")
    else
      local r = table.pack(xpcall(fn, traceback))
      if r[1] then cli.print_values(r.n - 1, table.unpack(r, 2, r.n))
      else io.stderr:write(tostring(r[2]), "\n") end
    end
  end
end

return M
