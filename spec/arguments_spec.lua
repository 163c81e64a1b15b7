-- Every public function refuses an argument of the wrong type with an error object of
-- kind = "argument", never a bare Lua error. The functions are found by walking the modules'
-- tables, the clients' methods and groups, and the objects' metatables, so a function added
-- later is probed too. Each is called with a coroutine (a type no public function takes) as
-- its object, then in each of its parameters in turn; the parameters before the probed one get
-- a plausible value chosen by their name, and a name the spec does not know ends the probing of
-- that function (a Lua function's parameter names come from the debug library). A parameter
-- whose plausible value is known is also probed with a value of another everyday type (a
-- string where a table goes, a table where a string goes), which indexing does not catch.
local S = require "support"
local errors = require "autolua.error"

local BAD = coroutine.create(function() end)

-- Functions that take any value by design.
local ACCEPTS_ANY = {
  ["error.is"] = "a predicate",
  ["dexi.is_file_pointer"] = "a predicate",
  ["dexi.file_pointer"] = "answers nil and a reason for anything that is not a pointer (documented)",
}

-- C functions (whose parameters the debug library cannot see) that take nothing but their object.
local NO_ARGS = {
  ["task.now"] = true, ["task.yield"] = true, ["task.current"] = true,
  ["task:wait"] = true, ["task:cancel"] = true, ["task:status"] = true, ["limiter:stats"] = true,
}

-- Parameters that take a value of any type by design.
local ANY_TYPE = { ["json.encode"] = { value = true }, ["log.write"] = { msg = true } }

-- A value of another everyday type than 'v'.
local function other_type(v)
  local t = type(v)
  if t == "table" then return "x" end
  if t == "string" then return {} end
  if t == "function" then return 5 end
  return nil
end

-- A plausible value for a parameter, by its name; nil for a name not known here.
local function sample(name, owner)
  if name == "method" then return owner == "dx" and "teams.list" or "GET" end
  if name == "a" or name == "args" then return {} end
  local samples = {
    id = "x1", run_id = "x1", execution_id = "x1", robot_id = "x1", file = "x1", file_id = "x1",
    value = "x1", sql = "SELECT 1", path = "executions/x1", dest = "/nonexistent-dir/x",
    o = {}, opts = {}, options = {}, def = { _id = "x1" }, inputs = {}, list = {}, rows = {},
    items = {}, fn = function() end, fns = {}, level = "info", msg = "m", fields = {},
    text = "[]", t = {}, n = 1, values = {}, s = "x", url = "http://127.0.0.1:1/", field = "items",
  }
  return samples[name]
end

local function params(f)
  local info = debug.getinfo(f, "u")
  if info.what == "C" or (info.nparams == 0 and info.isvararg) then return nil end
  local names = {}
  for i = 1, info.nparams do names[i] = debug.getlocal(f, i) end
  return names
end

local function describe_error(err)
  if type(err) == "table" then return ("a %s error: %s"):format(tostring(err.kind), tostring(err)) end
  return ("a bare %s: %s"):format(type(err), tostring(err))
end

-- Probes 'f' (named 'name'; 'self' its object for a method, or nil) and adds every wrong
-- answer to 'bad'.
local function probe(bad, name, f, self, owner)
  if ACCEPTS_ANY[name] then return end
  local function expect(args, what)
    local ok, err = pcall(f, table.unpack(args, 1, args.n))
    if ok then
      bad[#bad + 1] = ("%s with %s: returned instead of raising"):format(name, what)
    elseif not (errors.is(err, "argument")) then
      bad[#bad + 1] = ("%s with %s: %s"):format(name, what, describe_error(err))
    end
  end
  if self ~= nil then expect(table.pack(BAD), "a coroutine for its object") end
  local names = params(f)
  local first = self ~= nil and 2 or 1
  if names == nil then   -- a C function: its first parameter only
    if not NO_ARGS[name] then
      local args = self ~= nil and { self, BAD, n = 2 } or { BAD, n = 1 }
      expect(args, "a coroutine as argument #1")
    end
    return
  end
  local args = { n = 0 }
  if self ~= nil then args = { self, n = 1 } end
  for i = first, #names do
    local probe_args = table.pack(table.unpack(args, 1, args.n))
    probe_args[i], probe_args.n = BAD, i
    expect(probe_args, ("a coroutine as '%s'"):format(names[i]))
    local v = sample(names[i], owner)
    local other = other_type(v)
    if other ~= nil and not (ANY_TYPE[name] and ANY_TYPE[name][names[i]]) then
      probe_args[i] = other
      expect(probe_args, ("a %s as '%s'"):format(type(other), names[i]))
    end
    if v == nil then break end
    args[i], args.n = v, i
  end
end

-- Every function in 't' (sorted by name), probed as 'prefix.name'.
local function probe_table(bad, prefix, t, owner)
  local keys = {}
  for k, v in pairs(t) do
    if type(k) == "string" and type(v) == "function" and not k:find("^_") then keys[#keys + 1] = k end
  end
  table.sort(keys)
  for _, k in ipairs(keys) do probe(bad, prefix .. "." .. k, t[k], nil, owner) end
  return #keys
end

-- The names an object may answer: its metatable's, its __index table's, or (for an __index
-- function) those of the tables that function keeps in its upvalues.
local function candidate_names(obj)
  local mt, names = getmetatable(obj), {}
  local function add(t) for k in pairs(t) do names[k] = true end end
  add(mt)
  local index = mt.__index
  if type(index) == "table" then add(index) end
  if type(index) == "function" then
    for i = 1, math.huge do
      local name, v = debug.getupvalue(index, i)
      if name == nil then break end
      if type(v) == "table" then add(v) end
    end
  end
  return names
end

-- Every method of an object: each name it answers with a function (a helper it hides is none).
local function probe_methods(bad, prefix, obj, owner)
  local keys = {}
  for k in pairs(candidate_names(obj)) do
    if type(k) == "string" and not k:find("^_") and type(obj[k]) == "function" then keys[#keys + 1] = k end
  end
  table.sort(keys)
  for _, k in ipairs(keys) do probe(bad, prefix .. ":" .. k, obj[k], obj, owner) end
  return #keys
end

local function report(bad, count)
  assert(count > 0, "nothing was probed")
  assert(#bad == 0, ("%d of the probes escaped as something else than kind = \"argument\":\n  %s"):format(
    #bad, table.concat(bad, "\n  ")))
end

local PUBLIC = { "autolua.task", "autolua.http", "autolua.limiter", "autolua.log", "autolua.json",
                 "autolua.error", "autolua.csv", "autolua.secret", "dexi", "dx" }

describe("every public function", function()
  it("refuses wrong types with kind = \"argument\" in the modules", function()
    local bad, count = {}, 0
    for _, name in ipairs(PUBLIC) do
      local ok, mod = pcall(require, name)
      if ok then count = count + probe_table(bad, (name:gsub("^autolua%.", "")), mod, name) end
    end
    report(bad, count)
  end)

  it("refuses wrong types with kind = \"argument\" in the objects: limiters, tasks, responses", function()
    local bad, count = {}, 0
    local limiter, task, http = require "autolua.limiter", require "autolua.task", require "autolua.http"
    count = count + probe_methods(bad, "limiter", limiter.rate { rate = 1000 })
    count = count + probe_methods(bad, "limiter", limiter.window { limit = 1000, window = 1 })
    local t = task.spawn(function() end)
    t:wait()
    count = count + probe_methods(bad, "task", t)
    count = count + probe_methods(bad, "response", http.request { url = S.url("misc", "/echo") })
    report(bad, count)
  end)

  it("refuses wrong types with kind = \"argument\" in the Dexi client and its groups", function()
    local bad = {}
    local c = require("dexi").client { account = "a", api_key = "k", base_url = "http://127.0.0.1:1/", retries = 0, timeout = 2 }
    local count = probe_methods(bad, "client", c, "dexi")
    for _, group in ipairs { "robots", "runs", "executions", "datasets", "files" } do
      count = count + probe_table(bad, "client." .. group, c[group], "dexi")
    end
    report(bad, count)
  end)

  it("refuses wrong types with kind = \"argument\" in the DX client and every method", function()
    local bad = {}
    local dx = require "dx"
    local c = dx.client { token = "t", base_url = "http://127.0.0.1:1", retries = 0, timeout = 2 }
    local count = probe_methods(bad, "c", c, "dx")
    for _, m in ipairs(dx.methods()) do
      local f = c
      for seg in m:gmatch("[^.]+") do f = f[seg] end
      local ok, err = pcall(f, BAD)
      if ok or not errors.is(err, "argument") then
        bad[#bad + 1] = ("c.%s with a coroutine: %s"):format(m, ok and "returned" or describe_error(err))
      end
      count = count + 1
    end
    report(bad, count)
  end)

  it("client objects show their methods, not their modules' helpers, and Tab lists them", function()
    local complete = require "autolua.complete"
    local c = require("dexi").client { account = "a", api_key = "k", base_url = "http://127.0.0.1:1/" }
    for _, k in ipairs { "decode", "pages", "failure", "file_name", "check_id" } do assert.is_nil(c[k], k) end
    local names = table.concat(complete.members(c), " ")
    for _, k in ipairs { "request", "download", "wait_execution", "headers", "runs" } do assert.matches(k, names, 1, true) end
    assert.not_matches("decode", names)
    local d = require("dx").client { token = "t", base_url = "http://127.0.0.1:1" }
    assert.is_nil(d.failure)          -- a helper of the module, and no method family either
    assert.equal("function", type(d.call))
  end)

  it("raises the examples of issue 12 as argument errors that name the call", function()
    local limiter = require "autolua.limiter"
    local lim = limiter.rate { rate = 5 }
    local cases = {
      { function() require("dexi").client { account = "a", api_key = "k", limits = 5 } end, "dexi.client" },
      { function() require("dx").client { token = "t", base_url = "http://127.0.0.1:1" }:query("SELECT 1", 5) end, "c:query" },
      { function() limiter.rate(5) end, "limiter.rate" },
      { function() limiter.rate { key = {} } end, "limiter.rate" },
      { function() lim:pause_until("x") end, "limiter:pause_until" },
      { function() lim.acquire(5) end, "limiter:acquire" },
      { function() lim:acquire(1, "x") end, "limiter:acquire: argument #2 must be a table" },
      -- fields of option tables
      { function() require("dx").client { token = "t", retries = "3" } end, "dx.client" },
      { function() require("dx").client { token = 5 } end, "dx.client: token must be a string" },
      { function() require("dexi").client { account = "a", api_key = {} } end, "dexi.client: api_key must be a string" },
      { function() require("dx").client { token = "t", base_url = "http://127.0.0.1:1" }:query("SELECT 1", { timeout = "1" }) end, "c:query" },
      { function() require("dx").client { token = "t", base_url = "http://127.0.0.1:1" }:wait_workflow_run("r1", { on_status = 5 }) end, "c:wait_workflow_run" },
      { function() require("dexi").client { account = "a", api_key = "k", limits = { get = "5" } } end, "dexi.client" },
      { function() require("autolua.task").map({}, print, { concurrency = "2" }) end, "task.map" },
      { function() require("autolua.http").request { url = "http://127.0.0.1:1/", timeout = "1" } end, "http.request" },
    }
    for i, case in ipairs(cases) do
      local err = S.fails(case[1])
      assert.equal("argument", err.kind, ("case %d: %s"):format(i, tostring(err)))
      assert.matches(case[2], err.message, 1, true)
    end
  end)
end)
