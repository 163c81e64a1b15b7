-- Checks a DX call's arguments against the method's declared spec (dx/methods.lua) before
-- anything is sent, and encodes them: GET arguments go into the query string (lists joined
-- with commas, as the API reads them), POST arguments into a JSON body.
local errors = require "autolua.error"
local json = require "autolua.json"
local decl = require "autolua.decl"

local M = {}

-- "id! limit:int format:enum(json|csv)" -> {{name =, type =, required =, choices =}, ...}
M.parse = decl.parse

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
  objlist = function(v)
    if not is_list(v) then return false end
    for _, x in ipairs(v) do if type(x) ~= "table" then return false end end
    return true
  end,
  any = function() return true end,
}

local WANT = { str = "a string", int = "an integer", strint = "a string or an integer", bool = "a boolean",
               obj = "a table of named fields", list = "a list", objlist = "a list of tables", any = "a value" }

local function fail(method, fmt, ...)
  errors.raise { kind = "argument", method = method, message = fmt:format(...) }
end

-- check(method, spec, args, one_of): raises kind = "argument" naming the first problem: an
-- argument the declaration does not know (with the closest declared name), a missing required
-- one, a wrong type.
function M.check(method, spec, args, one_of)
  if args ~= nil and type(args) ~= "table" then fail(method, "arguments must be a table, got %s", type(args)) end
  args = args or {}
  local present = {}
  for k, v in pairs(args) do if v ~= json.null then present[k] = v end end
  decl.check_names(method, spec, present, "argument", one_of)
  M.check_types(method, spec, args)
  return args
end

-- check_types(method, spec, args): the declared arguments that are there have their types
-- (the escape c:call(..., {unchecked = true}) still checks these, and passes unknown names on).
function M.check_types(method, spec, args)
  for _, a in ipairs(M.parse(spec)) do
    local v = args[a.name]
    if v == nil or v == json.null then
      -- absent: check_names has already refused a missing required one
    elseif a.type == "enum" then
      local ok = false
      for _, c in ipairs(a.choices) do if c == v then ok = true end end
      if not ok then fail(method, "argument '%s' must be one of %s, got %s", a.name, table.concat(a.choices, ", "), tostring(v)) end
    elseif not CHECK[a.type](v) then
      fail(method, "argument '%s' must be %s, got %s", a.name, WANT[a.type], type(v))
    end
  end
end

-- POST: the JSON body, a copy of the arguments in which an empty table given for a list
-- argument goes out as [] (a plain {} would be sent as an object, which the API refuses).
function M.body(spec, args)
  local body = {}
  for k, v in pairs(args) do body[k] = v end
  for _, a in ipairs(M.parse(spec)) do
    local v = body[a.name]
    if (a.type == "list" or a.type == "objlist") and type(v) == "table" and next(v) == nil then body[a.name] = json.array() end
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

-- A method's declared scopes as words: "a b|c" needs a and (b or c); "" needs none.
function M.scope_text(scopes)
  if scopes == "" then return "any valid token" end
  return (scopes:gsub(" ", " and "):gsub("|", " or "))
end

return M
