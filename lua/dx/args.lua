-- Checks a DX call's arguments against the method's declared spec (dx/methods.lua) before
-- anything is sent, and encodes them: GET arguments go into the query string (lists joined
-- with commas, as the API reads them), POST arguments into a JSON body.
local errors = require "autolua.error"
local json = require "autolua.json"

local M = {}

local cache = {}

-- "id! limit:int format:enum(json|csv)" -> {{name =, type =, required =, choices =}, ...}
function M.parse(spec)
  local parsed = cache[spec]
  if parsed then return parsed end
  parsed = {}
  for tok in spec:gmatch("%S+") do
    local required = tok:sub(-1) == "!"
    if required then tok = tok:sub(1, -2) end
    local name, typ = tok:match("^([^:]+):?(.*)$")
    local choices
    local list = typ:match("^enum%((.*)%)$")
    if list then
      typ, choices = "enum", {}
      for c in list:gmatch("[^|]+") do choices[#choices + 1] = c end
    end
    parsed[#parsed + 1] = { name = name, type = typ ~= "" and typ or "str", required = required, choices = choices }
  end
  cache[spec] = parsed
  return parsed
end

local function is_list(v)
  if type(v) ~= "table" then return false end
  if getmetatable(v) == json.array_mt then return true end
  local n = 0
  for k in pairs(v) do
    if math.type(k) ~= "integer" then return false end
    n = n + 1
  end
  return n == #v
end

local CHECK = {
  str = function(v) return type(v) == "string" or math.type(v) == "integer" end,
  int = function(v) return math.type(v) == "integer" or (type(v) == "string" and v:match("^%-?%d+$") ~= nil) end,
  strint = function(v) return type(v) == "string" or math.type(v) == "integer" end,
  bool = function(v) return type(v) == "boolean" end,
  obj = function(v) return type(v) == "table" and (next(v) == nil or not is_list(v)) end,
  list = function(v) return is_list(v) or type(v) == "string" end,
  any = function() return true end,
}

local WANT = { str = "a string", int = "an integer", strint = "a string or an integer", bool = "a boolean",
               obj = "a table of named fields", list = "a list", any = "a value" }

local function fail(method, fmt, ...)
  errors.raise { kind = "argument", method = method, message = fmt:format(...) }
end

-- check(method, spec, args): raises kind = "argument" naming the first problem.
function M.check(method, spec, args)
  if args ~= nil and type(args) ~= "table" then fail(method, "arguments must be a table, got %s", type(args)) end
  args = args or {}
  local declared = {}
  for _, a in ipairs(M.parse(spec)) do
    declared[a.name] = true
    local v = args[a.name]
    if v == nil or v == json.null then
      if a.required then fail(method, "missing required argument '%s'", a.name) end
    elseif a.type == "enum" then
      local ok = false
      for _, c in ipairs(a.choices) do if c == v then ok = true end end
      if not ok then fail(method, "argument '%s' must be one of %s, got %s", a.name, table.concat(a.choices, ", "), tostring(v)) end
    elseif not CHECK[a.type](v) then
      fail(method, "argument '%s' must be %s, got %s", a.name, WANT[a.type], type(v))
    end
  end
  return args, declared
end

-- POST: the JSON body, a copy of the arguments in which an empty table given for a list
-- argument goes out as [] (a plain {} would be sent as an object, which the API refuses).
function M.body(spec, args)
  local body = {}
  for k, v in pairs(args) do body[k] = v end
  for _, a in ipairs(M.parse(spec)) do
    local v = body[a.name]
    if a.type == "list" and type(v) == "table" and next(v) == nil then body[a.name] = json.array() end
  end
  return body
end

-- GET: a query table with lists joined by commas and tables as JSON text.
function M.query(args)
  local q = {}
  for k, v in pairs(args or {}) do
    if type(k) ~= "string" then errors.raise { kind = "argument", message = "argument names must be strings" } end
    if type(v) == "table" then
      if is_list(v) then
        local parts = {}
        for i, x in ipairs(v) do parts[i] = tostring(x) end
        q[k] = table.concat(parts, ",")
      else
        q[k] = json.encode(v)
      end
    elseif v ~= json.null then
      q[k] = v
    end
  end
  return q
end

return M
