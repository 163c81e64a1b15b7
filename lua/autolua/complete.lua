-- Tab completion for the REPL: globals and keywords, fields and methods of tables (through
-- their __index tables), module names inside require "...", and whatever an object lists in
-- its metatable's __complete (the dx client lists its method families that way).
local sys = require "autolua.sys"

local M = {}

local KEYWORDS = { "and", "break", "do", "else", "elseif", "end", "false", "for", "function", "goto",
                   "if", "in", "local", "nil", "not", "or", "repeat", "return", "then", "true", "until", "while" }

local function collector()
  local names, seen = {}, {}
  return names, function(k)
    if type(k) == "string" and k:match("^[%a_][%w_]*$") and not seen[k] then
      seen[k] = true
      names[#names + 1] = k
    end
  end
end

-- The names reachable with '.' or ':' from 'obj'.
function M.members(obj)
  local names, add = collector()
  local mt = getmetatable(obj)
  if mt and type(rawget(mt, "__complete")) == "function" then
    local ok, list = pcall(mt.__complete, obj)
    if ok and type(list) == "table" then for _, k in ipairs(list) do add(k) end end
  end
  if type(obj) == "table" then for k in pairs(obj) do add(k) end end
  if type(obj) == "string" then for k in pairs(string) do add(k) end end
  for _ = 1, 8 do                       -- methods behind __index tables
    local idx = mt and rawget(mt, "__index")
    if type(idx) ~= "table" then break end
    for k in pairs(idx) do add(k) end
    mt = getmetatable(idx)
  end
  table.sort(names)
  return names
end

local function resolve(path)
  local v = _G
  for name in path:gmatch("[^.:]+") do
    local ok, nv = pcall(function() return v[name] end)
    if not ok or nv == nil then return nil end
    v = nv
  end
  return v
end

local function modules()
  local names, seen = {}, {}
  local function add(m)
    if type(m) == "string" and not seen[m] and not m:find("^_") then seen[m] = true; names[#names + 1] = m end
  end
  for _, m in ipairs(sys.embedded()) do add(m) end
  for m in pairs(package.loaded) do add(m) end
  add("cjson")
  table.sort(names)
  return names
end

local function matching(list, prefix, build)
  local out = {}
  for _, k in ipairs(list) do
    if k:sub(1, #prefix) == prefix then out[#out + 1] = build and build(k) or k end
  end
  return out
end

-- complete(text, before) -> candidates for the word 'text' (the line before it is 'before').
function M.complete(text, before)
  if (before or ""):match("require%s*%(?%s*[\"']$") then return matching(modules(), text) end
  local path, sep, partial = text:match("^([%a_][%w_.:]-)([.:])([%w_]*)$")
  if path then
    local obj = resolve(path)
    if obj == nil then return {} end
    return matching(M.members(obj), partial, function(k) return path .. sep .. k end)
  end
  local names, add = collector()
  for k in pairs(_G) do add(k) end
  local mt = getmetatable(_G)        -- the REPL's globals that load on first use
  if mt and type(rawget(mt, "__complete")) == "function" then
    local ok, list = pcall(mt.__complete, _G)
    if ok and type(list) == "table" then for _, k in ipairs(list) do add(k) end end
  end
  for _, k in ipairs(KEYWORDS) do add(k) end
  table.sort(names)
  return matching(names, text)
end

return M
