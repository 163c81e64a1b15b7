-- Pretty printer for values shown to a person (eval results, the REPL): tables are laid out
-- with nesting and width limits, cycles are marked, and secrets print as ***.
local M = {}

local SECRET_KEYS = { api_key = true, token = true, access = true, password = true, secret = true }

local function is_identifier(k)
  return type(k) == "string" and k:match("^[%a_][%w_]*$") ~= nil
end

-- Secret values from the environment (and the Dexi access hash made from them), masked
-- wherever they show up in a printed string.
local secret_values
local function secrets()
  if secret_values then return secret_values end
  secret_values = {}
  for _, name in ipairs { "DEXI_API_KEY", "DX_TOKEN", "DX_API_TOKEN" } do
    local v = os.getenv(name)
    if v and #v >= 4 then secret_values[#secret_values + 1] = v end
  end
  local account, key = os.getenv("DEXI_ACCOUNT"), os.getenv("DEXI_API_KEY")
  if account and key then secret_values[#secret_values + 1] = require("autolua.digest").md5(account .. key) end
  return secret_values
end

local function mask(s)
  for _, secret in ipairs(secrets()) do
    local i = s:find(secret, 1, true)
    while i do
      s = s:sub(1, i - 1) .. "***" .. s:sub(i + #secret)
      i = s:find(secret, i + 3, true)
    end
  end
  return s
end

local function scalar(v, opts)
  local t = type(v)
  if t == "string" then
    if opts and opts.secrets then v = mask(v) end
    return ("%q"):format(v):gsub("\\\n", "\\n")
  end
  if t == "number" or t == "boolean" or t == "nil" then return tostring(v) end
  local mt = getmetatable(v)
  if mt and mt.__tostring then
    local ok, text = pcall(tostring, v)   -- a value's own __tostring may raise
    return ok and text or ("<%s whose __tostring failed>"):format(type(v))
  end
  return nil
end

local function sorted_keys(t)
  local keys, n = {}, #t
  for k in pairs(t) do
    if not (math.type(k) == "integer" and k >= 1 and k <= n) then keys[#keys + 1] = k end
  end
  table.sort(keys, function(a, b)
    local ta, tb = type(a), type(b)
    if ta ~= tb then return ta < tb end
    if ta == "number" or ta == "string" then return a < b end
    local oka, sa = pcall(tostring, a)   -- a key's own __tostring may raise
    local okb, sb = pcall(tostring, b)
    return (oka and sa or "") < (okb and sb or "")
  end)
  return keys, n
end

local function format(v, opts, depth, seen, indent)
  local s = scalar(v, opts)
  if s then return s end
  if type(v) ~= "table" then return tostring(v) end
  if seen[v] then return "<cycle>" end
  if depth >= opts.depth then return "{...}" end
  seen[v] = true
  local keys, n = sorted_keys(v)
  local parts, inner = {}, indent .. "  "
  for i = 1, n do parts[#parts + 1] = format(v[i], opts, depth + 1, seen, inner) end
  for _, k in ipairs(keys) do
    local shown = opts.secrets and SECRET_KEYS[k] and v[k] ~= nil and "***"
      or format(v[k], opts, depth + 1, seen, inner)
    local key = is_identifier(k) and k or "[" .. format(k, opts, depth + 1, seen, inner) .. "]"
    parts[#parts + 1] = key .. " = " .. shown
  end
  seen[v] = nil
  if #parts == 0 then return "{}" end
  local flat = "{ " .. table.concat(parts, ", ") .. " }"
  if #flat + #indent <= opts.width and not flat:find("\n") then return flat end
  return "{\n" .. inner .. table.concat(parts, ",\n" .. inner) .. "\n" .. indent .. "}"
end

-- pretty.format(value, {depth = 6, width = 100, secrets = true}) -> string
function M.format(v, opts)
  opts = opts or {}
  local o = { depth = opts.depth or 6, width = opts.width or 100, secrets = opts.secrets ~= false }
  return format(v, o, 0, {}, "")
end

return M
