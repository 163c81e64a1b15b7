-- Shared helpers for the specs: where the fake APIs listen, and how to run autolua itself.
local json = require "autolua.json"
local http = require "autolua.http"

local M = {}

local function slurp(path)
  local f = assert(io.open(path, "rb"))
  local s = f:read("a")
  f:close()
  return s
end
M.slurp = slurp

function M.spit(path, data)
  local f = assert(io.open(path, "wb"))
  f:write(data)
  f:close()
end

local state = os.getenv("AUTOLUA_FAKE_STATE")
assert(state, "AUTOLUA_FAKE_STATE is not set: run the specs through scripts/test")
M.fake = json.decode(slurp(state))
M.bin = os.getenv("AUTOLUA_BIN") or "build/autolua"
M.source = os.getenv("AUTOLUA_SOURCE") or "."

local function q(s) return "'" .. tostring(s):gsub("'", "'\\''") .. "'" end
M.quote = q

-- A fresh temporary directory.
function M.tmpdir()
  local p = io.popen("mktemp -d")
  local d = p:read("l")
  p:close()
  return d
end

function M.ls(dir)
  local p = io.popen("ls -A " .. q(dir))
  local names = {}
  for l in p:lines() do names[#names + 1] = l end
  p:close()
  return names
end

-- Runs autolua with 'args' (a list) and optional {stdin = text, env = "K=V ..."}; returns
-- {code =, out =, err =}.
function M.run(args, opts)
  opts = opts or {}
  local dir = M.tmpdir()
  local parts = {}
  for i, a in ipairs(args) do parts[i] = q(a) end
  local cmd = ("%s %s %s >%s/out 2>%s/err"):format(opts.env or "", q(M.bin), table.concat(parts, " "), dir, dir)
  if opts.stdin then
    M.spit(dir .. "/in", opts.stdin)
    cmd = cmd .. " <" .. dir .. "/in"
  else
    cmd = cmd .. " </dev/null"
  end
  local _, _, code = os.execute(cmd)
  local r = { code = code, out = slurp(dir .. "/out"), err = slurp(dir .. "/err") }
  os.execute("rm -rf " .. q(dir))
  return r
end

-- Runs `autolua recipe NAME ARGS...` with no credentials in the environment, as a recipe's usage
-- errors must come before it looks for any.
function M.recipe_usage(name, args)
  local a = { "recipe", name }
  for _, x in ipairs(args) do a[#a + 1] = x end
  return M.run(a, { env = "env -u DEXI_ACCOUNT -u DEXI_API_KEY -u DX_TOKEN -u DX_API_TOKEN" })
end

-- Asserts that `autolua recipe NAME --help` lists each of 'options' and the recipe's examples.
function M.assert_recipe_help(name, options)
  local r = M.recipe_usage(name, { "--help" })
  assert(r.code == 0, r.err)
  for _, o in ipairs(options) do
    assert(r.out:find("\n  %-%-" .. o .. "[ \n]"), "--help does not list --" .. o .. ":\n" .. r.out)
  end
  assert(r.out:find("\nexamples:\n  autolua recipe " .. name .. " ", 1, true), "no examples:\n" .. r.out)
end

-- Runs a Lua snippet as a script file through autolua.
function M.run_script(code, args, opts)
  local dir = M.tmpdir()
  local path = dir .. "/script.lua"
  M.spit(path, code)
  local a = { path }
  for _, x in ipairs(args or {}) do a[#a + 1] = x end
  local r = M.run(a, opts)
  os.execute("rm -rf " .. q(dir))
  return r
end

function M.sha256(path)
  local p = io.popen("sha256sum " .. q(path))
  local line = p:read("l")
  p:close()
  return line and line:match("^(%x+)")
end

-- Control endpoints of a fake service ("misc", "dexi", "dx", "dx_files").
local function base(service) return (M.fake[service]:gsub("/$", "")) end

function M.reset(service)
  http.request { method = "POST", url = base(service) .. "/_reset" }
end

function M.config(service, cfg)
  local res = http.request { method = "POST", url = base(service) .. "/_config", json = cfg }
  assert(res.status == 200, "config failed: " .. tostring(res.body))
end

function M.requests(service)
  return http.request { url = base(service) .. "/_requests" }:json()
end

-- Runs fn and returns the error object it raised (failing the spec if it did not raise one).
function M.fails(fn, ...)
  local ok, err = pcall(fn, ...)
  assert(not ok, "expected an error")
  assert(type(err) == "table", "errors are objects, not strings: " .. tostring(err))
  return err
end

function M.url(service, path)
  return base(service) .. path
end

return M
