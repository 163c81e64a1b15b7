-- Named profiles: several accounts without juggling the environment. The config file is
-- $XDG_CONFIG_HOME/autolua/config.lua (~/.config/autolua/config.lua), a Lua chunk run with no
-- access to anything, that sets 'profiles' (and may set 'default'):
--
--   profiles = {
--     work = {
--       dexi = { account = "acme", api_key = { env = "WORK_DEXI_KEY" } },
--       dx = { token = { file = "~/.config/autolua/work-dx.token" }, base_url = "https://..." },
--     },
--   }
--
-- A secret is never written in the file itself: it comes from an environment variable or from
-- a file only its owner can read (a group- or world-readable one is refused). The profile is
-- chosen by the client's 'profile =' option, then --profile NAME (a recipe's option, or before
-- the command, which sets AUTOLUA_PROFILE), then AUTOLUA_PROFILE, then 'default'. The clients take each setting from their arguments,
-- then the environment, then the profile.
local sys = require "autolua.sys"
local errors = require "autolua.error"

local M = {}

local SECRETS = { dexi = { api_key = true }, dx = { token = true } }
local FIELDS = { dexi = { account = true, api_key = true, base_url = true },
                 dx = { token = true, base_url = true } }

local function fail(fmt, ...)
  errors.raise { kind = "argument", code = "profile", message = fmt:format(...) }
end

local function home() return os.getenv("HOME") or "" end

function M.path()
  local dir = os.getenv("XDG_CONFIG_HOME")
  if not dir or dir == "" then dir = home() .. "/.config" end
  return dir .. "/autolua/config.lua"
end

local function expand(p)
  return (p:gsub("^~/", home() .. "/"))
end

local cache = {}

-- The config file's 'profiles' and 'default', read once per path; nil when there is no file.
local function load_config(path)
  if cache[path] then return cache[path] end
  local f = io.open(path, "r")
  if not f then return nil end
  local text = f:read("a")
  f:close()
  local env = {}
  local fn, err = load(text, "@" .. path, "t", env)
  if not fn then fail("cannot read %s: %s", path, err) end
  local ok, why = pcall(fn)
  if not ok then fail("cannot read %s: %s", path, tostring(why)) end
  if type(env.profiles) ~= "table" then fail("%s sets no 'profiles' table", path) end
  cache[path] = env
  return env
end

local function names(profiles)
  local list = {}
  for k in pairs(profiles) do list[#list + 1] = tostring(k) end
  table.sort(list)
  return #list > 0 and table.concat(list, ", ") or "none"
end

-- The selected profile's table for 'service' ("dexi" or "dx") and its name, or nil when none
-- is selected and the config names no default.
function M.section(service, wanted)
  local path = M.path()
  local name = wanted or M.selected
  if name == nil or name == "" then name = os.getenv("AUTOLUA_PROFILE") end
  if name == "" then name = nil end
  local cfg = load_config(path)
  if not cfg then
    if name then fail("profile '%s' is selected but there is no config file %s", name, path) end
    return nil
  end
  name = name or cfg.default
  if name == nil then return nil end
  local p = cfg.profiles[name]
  if type(p) ~= "table" then fail("no profile '%s' in %s (profiles: %s)", tostring(name), path, names(cfg.profiles)) end
  local s = p[service]
  if s == nil then return {}, name end
  if type(s) ~= "table" then fail("%s: profile '%s': '%s' must be a table", path, name, service) end
  for k in pairs(s) do
    if not FIELDS[service][k] then fail("%s: profile '%s': unknown %s setting '%s'", path, name, service, tostring(k)) end
  end
  return s, name
end

-- A secret's value from where the profile says it lives: {env = NAME} or {file = PATH}.
local function secret(where, service, field, pname)
  local path = M.path()
  if type(where) ~= "table" then
    fail("%s: profile '%s': %s.%s must say where the secret comes from ({env = NAME} or {file = PATH}), not hold it",
      path, pname, service, field)
  end
  if where.env then
    local v = os.getenv(where.env)
    if not v or v == "" then fail("profile '%s': %s.%s comes from $%s, which is not set", pname, service, field, where.env) end
    return v
  end
  if type(where.file) ~= "string" then fail("%s: profile '%s': %s.%s needs env = or file =", path, pname, service, field) end
  local file = expand(where.file)
  local st = sys.stat(file)
  if not st then fail("profile '%s': %s.%s: cannot read %s", pname, service, field, file) end
  if st.mode & 0x3f ~= 0 then
    fail("profile '%s': %s.%s: %s is readable by others (mode %03o); make it private: chmod 600 %s",
      pname, service, field, file, st.mode, file)
  end
  local f, err = io.open(file, "r")
  if not f then fail("profile '%s': %s.%s: %s", pname, service, field, err) end
  local v = f:read("a"):gsub("%s+$", "")
  f:close()
  if v == "" then fail("profile '%s': %s.%s: %s is empty", pname, service, field, file) end
  return v
end

-- resolve(service, opts, {field = ENV_NAMES...}) -> a table of the settings: each from opts,
-- then the first set environment variable, then the profile (secrets read only when needed).
function M.resolve(service, opts, env_names)
  local out, section, pname, looked = {}, nil, nil, false
  local chosen = opts.profile or M.selected or os.getenv("AUTOLUA_PROFILE")
  if chosen and chosen ~= "" then      -- a profile asked for by name must exist
    section, pname = M.section(service, opts.profile)
    looked = true
  end
  for field in pairs(FIELDS[service]) do
    local v = opts[field]
    for _, e in ipairs(v == nil and env_names[field] or {}) do
      local ev = os.getenv(e)
      if ev and ev ~= "" then v = ev; break end
    end
    if v == nil then
      if not looked then section, pname = M.section(service, opts.profile); looked = true end
      local pv = section and section[field]
      if pv ~= nil then
        if SECRETS[service][field] then v = secret(pv, service, field, pname)
        elseif type(pv) ~= "string" then fail("%s: profile '%s': %s.%s must be a string", M.path(), pname, service, field)
        else v = pv end
      end
    end
    out[field] = v
  end
  return out
end

return M
