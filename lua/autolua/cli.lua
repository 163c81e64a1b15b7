-- What the command line runs in Lua: `autolua eval CODE`.
local pretty = require "autolua.pretty"

local M = {}

-- Compiles 'code' the way lua.c's REPL does: first as an expression to print, then as a chunk.
function M.compile(code, name)
  local fn, err = load("return " .. code, name)
  if not fn then fn, err = load(code, name) end
  return fn, err
end

-- Prints every value a chunk returned, one per line.
function M.print_values(n, ...)
  for i = 1, n do
    io.stdout:write(pretty.format((select(i, ...))), "\n")
  end
end

function M.eval(code, ...)
  local fn, err = M.compile(code, "=(eval)")
  if not fn then error(err, 0) end
  local r = table.pack(fn(...))
  M.print_values(r.n, table.unpack(r, 1, r.n))
end

return M
