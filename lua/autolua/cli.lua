-- What the command line runs in Lua: `autolua eval CODE` and `autolua eval --json CODE`.
local pretty = require "autolua.pretty"
local json = require "autolua.json"
local errors = require "autolua.error"

local M = {}

-- Compiles 'code' the way lua.c's REPL does: first as an expression to print, then as a chunk.
function M.compile(code, name)
  local fn, err = load("return " .. code, name)
  if not fn then fn, err = load(code, name) end
  return fn, err
end

-- Prints every value a chunk returned, one per line: a string as it is (as `node -p` does, so
-- `id=$(autolua -e ...)` gets the bare text), anything else pretty-printed. Secrets show as ***.
function M.print_values(n, ...)
  for i = 1, n do
    local v = select(i, ...)
    io.stdout:write(type(v) == "string" and pretty.mask(v) or pretty.format(v), "\n")
  end
end

-- The same as JSON: one line per value, nil as null; secrets masked in the values first, so
-- that a secret JSON would escape (one with a quote in it) is masked too.
function M.print_json(n, ...)
  local lines = {}
  for i = 1, n do
    local v = select(i, ...)
    local ok, text = pcall(json.encode, pretty.masked(v))
    if not ok then
      errors.raise { kind = "argument", message = ("eval --json: value #%d cannot be written as JSON: %s"):format(i, tostring(text)) }
    end
    lines[i] = text
  end
  for i = 1, n do io.stdout:write(lines[i], "\n") end
end

local function run(code, print, ...)
  local fn, err = M.compile(code, "=(eval)")
  if not fn then error(err, 0) end
  local r = table.pack(fn(...))
  print(r.n, table.unpack(r, 1, r.n))
end

function M.eval(code, ...)
  run(code, M.print_values, ...)
end

function M.eval_json(code, ...)
  run(code, M.print_json, ...)
end

return M
