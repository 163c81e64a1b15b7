-- Functions that know their own documentation: the API clients register theirs here, and
-- help() and the REPL's printing read it. A basic module, so that a client can register
-- without requiring the command-line layer that shows the text.
local M = {}

local documented = setmetatable({}, { __mode = "k" })

-- register(fn, text): text is a string or a function returning one
function M.register(fn, text)
  documented[fn] = text
end

-- doc(fn) -> the documentation of a registered function, or nil
function M.doc(fn)
  local d = documented[fn]
  if type(d) == "function" then d = d() end
  return d
end

return M
