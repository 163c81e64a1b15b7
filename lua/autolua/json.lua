-- autolua's JSON codec. Decoding uses lua-cjson's C parser; Debian's lua-cjson (2.1.0) turns
-- every number into a float, so whole numbers are made integers again (ids, offsets and
-- counts print as 30, not 30.0). Encoding is done here: it keeps integers exact, writes an
-- empty list made with json.array() as [], and refuses cycles and NaN.
local cjson = require "cjson"
local errors = require "autolua.error"

local M = { null = cjson.null }

-- One metatable for the whole process, kept in the registry: a second copy of this module
-- (busted reloads modules between spec files) must still recognise arrays made by the first.
local registry = debug.getregistry()
local array_mt = registry["autolua.json.array_mt"] or { __name = "json.array" }
registry["autolua.json.array_mt"] = array_mt
M.array_mt = array_mt

-- A list that encodes as a JSON array even when empty.
function M.array(t)
  if t ~= nil and type(t) ~= "table" then
    errors.raise { kind = "argument", message = "json.array: expects a table or nothing, got " .. type(t) }
  end
  return setmetatable(t or {}, array_mt)
end

local tointeger, mtype = math.tointeger, math.type

local function normalize(v)
  if type(v) == "table" then
    for k, x in pairs(v) do
      if type(x) == "number" then
        if mtype(x) == "float" and x == x // 1 and x > -2^53 and x < 2^53 then v[k] = tointeger(x) end
      elseif type(x) == "table" then
        normalize(x)
      end
    end
  elseif type(v) == "number" and v == v // 1 and v > -2^53 and v < 2^53 then
    return tointeger(v)
  end
  return v
end

-- decode(text) -> value, or nil and the parser's message
function M.decode(text)
  if type(text) ~= "string" then
    errors.raise { kind = "argument", message = "json.decode: expects a string, got " .. type(text) }
  end
  local ok, value = pcall(cjson.decode, text)
  if not ok then return nil, (tostring(value):gsub("^.-: ", "")) end
  return normalize(value)
end

local escapes = {
  ['"'] = '\\"', ["\\"] = "\\\\", ["\b"] = "\\b", ["\f"] = "\\f",
  ["\n"] = "\\n", ["\r"] = "\\r", ["\t"] = "\\t",
}
local function escape_char(c)
  return escapes[c] or ("\\u%04x"):format(c:byte())
end

local function encode_string(s)
  return '"' .. s:gsub('[%c"\\]', escape_char) .. '"'
end

local function is_array(t)
  if getmetatable(t) == array_mt then return true end
  local n = #t
  if n == 0 then return false end
  local count = 0
  for k in pairs(t) do
    if mtype(k) ~= "integer" or k < 1 or k > n then return false end
    count = count + 1
  end
  return count == n
end

local encode_value

local function encode_table(t, out, seen)
  if seen[t] then error("cannot encode a table that contains itself", 0) end
  seen[t] = true
  if is_array(t) then
    out[#out + 1] = "["
    for i = 1, #t do
      if i > 1 then out[#out + 1] = "," end
      encode_value(t[i], out, seen)
    end
    out[#out + 1] = "]"
  else
    local keys = {}
    for k in pairs(t) do
      local tk = type(k)
      if tk ~= "string" and tk ~= "number" then error("cannot encode a " .. tk .. " key", 0) end
      keys[#keys + 1] = k
    end
    table.sort(keys, function(a, b) return tostring(a) < tostring(b) end)
    out[#out + 1] = "{"
    for i, k in ipairs(keys) do
      if i > 1 then out[#out + 1] = "," end
      out[#out + 1] = encode_string(tostring(k))
      out[#out + 1] = ":"
      encode_value(t[k], out, seen)
    end
    out[#out + 1] = "}"
  end
  seen[t] = nil
end

function encode_value(v, out, seen)
  local t = type(v)
  if v == nil or v == cjson.null then out[#out + 1] = "null"
  elseif t == "boolean" then out[#out + 1] = v and "true" or "false"
  elseif t == "number" then
    if v ~= v or v == math.huge or v == -math.huge then error("cannot encode NaN or infinity", 0) end
    out[#out + 1] = mtype(v) == "integer" and ("%d"):format(v) or ("%.17g"):format(v)
  elseif t == "string" then out[#out + 1] = encode_string(v)
  elseif t == "table" then encode_table(v, out, seen)
  else error("cannot encode a " .. t, 0) end
end

-- encode(value) -> text; what JSON cannot hold raises kind = "argument".
function M.encode(value)
  local out = {}
  local ok, why = pcall(encode_value, value, out, {})
  if not ok then errors.raise { kind = "argument", message = "json.encode: " .. tostring(why) } end
  return table.concat(out)
end

return M
