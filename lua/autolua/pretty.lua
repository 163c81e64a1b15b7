-- Pretty printer for values shown to a person (eval results, the REPL): tables are laid out
-- with nesting and width limits, cycles are marked, and secrets print as ***.
local M = {}

local secret = require "autolua.secret"
local json = require "autolua.json"
local null = json.null

-- Fields whose value is a secret whatever it is (compared in lower case: header names too).
local SECRET_KEYS = { api_key = true, token = true, access = true, password = true, secret = true,
                      authorization = true, ["proxy-authorization"] = true, ["x-dexiio-access"] = true,
                      cookie = true, ["set-cookie"] = true }

local function is_identifier(k)
  return type(k) == "string" and k:match("^[%a_][%w_]*$") ~= nil
end

local function is_secret_key(k)
  return type(k) == "string" and SECRET_KEYS[k:lower()] ~= nil
end

-- The secrets in the environment (and the Dexi access hash made from them) join the ones
-- clients register, so printing os.getenv("DEXI_API_KEY") shows *** too.
local registered = false
local function register_environment()
  if registered then return end
  registered = true
  for _, name in ipairs { "DEXI_API_KEY", "DX_TOKEN", "DX_API_TOKEN" } do
    local v = os.getenv(name)
    if v then secret.add(v) end
  end
  local account, key = os.getenv("DEXI_ACCOUNT"), os.getenv("DEXI_API_KEY")
  if account and key then secret.add(require("autolua.digest").md5(account .. key)) end
end

-- pretty.mask(text) -> text with every known secret shown as ***
function M.mask(s)
  register_environment()
  return secret.mask(s)
end
local mask = M.mask

-- pretty.masked(value) -> a copy for output as data (eval --json): every string with the known
-- secrets as ***, and the fields named like secrets as "***", as format shows them.
function M.masked(v, seen)
  if type(v) == "string" then return mask(v) end
  if type(v) ~= "table" then return v end
  seen = seen or {}
  if seen[v] then return seen[v] end
  local copy = {}
  seen[v] = copy
  for k, x in pairs(v) do
    copy[M.masked(k, seen)] = is_secret_key(k) and "***" or M.masked(x, seen)
  end
  if getmetatable(v) == json.array_mt then setmetatable(copy, json.array_mt) end
  return copy
end

local function scalar(v, opts)
  local t = type(v)
  if t == "string" then
    if opts and opts.secrets then v = mask(v) end
    return ("%q"):format(v):gsub("\\\n", "\\n")
  end
  if t == "number" or t == "boolean" or t == "nil" then return tostring(v) end
  if v == null then return "null" end
  local mt = getmetatable(v)
  if mt and mt.__tostring then
    local ok, text = pcall(tostring, v)   -- a value's own __tostring may raise
    if not ok then return ("<%s whose __tostring failed>"):format(type(v)) end
    return opts and opts.secrets and mask(text) or text
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
  if type(v) == "function" then   -- a documented one (a Dexi function) shows its declaration
    local docs = package.loaded["autolua.doc"]
    local doc = docs and docs.doc(v)
    if doc then return depth == 0 and doc or doc:match("^[^\n]*") end
  end
  if type(v) ~= "table" then return tostring(v) end
  if seen[v] then return "<cycle>" end
  if depth >= opts.depth then return "{...}" end
  seen[v] = true
  local keys, n = sorted_keys(v)
  local parts, inner = {}, indent .. "  "
  for i = 1, n do parts[#parts + 1] = format(v[i], opts, depth + 1, seen, inner) end
  for _, k in ipairs(keys) do
    local shown = opts.secrets and is_secret_key(k) and v[k] ~= nil and "***"
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
