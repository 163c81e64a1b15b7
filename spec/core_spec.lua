-- The core under stress: many transfers cancelled or abandoned in every state, errors that
-- cannot be printed, deadlines, descriptors, malformed answers.
local http = require "autolua.http"
local task = require "autolua.task"
local S = require "support"

local function url(path) return S.url("misc", path) end

-- A TCP port that takes one connection into its backlog and never accepts: every later
-- connection stays in the connecting state. Returns the base URL and a function that stops it.
local function blackhole()
  local dir = S.tmpdir()
  os.execute(("python3 -c %s %s >/dev/null 2>&1 & echo $! > %s/pid"):format(S.quote([[
import socket, sys, time
s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen(0)
open(sys.argv[1] + "/port.tmp", "w").write(str(s.getsockname()[1]))
import os; os.rename(sys.argv[1] + "/port.tmp", sys.argv[1] + "/port")
time.sleep(120)
]]), dir, dir))
  local port
  for _ = 1, 100 do
    local f = io.open(dir .. "/port")
    if f then port = f:read("l"); f:close(); break end
    os.execute("sleep 0.1")
  end
  assert(port, "the blackhole listener did not start")
  return "http://127.0.0.1:" .. port, function()
    os.execute("kill " .. S.slurp(dir .. "/pid"):match("%d+") .. " 2>/dev/null")
    os.execute("rm -rf " .. S.quote(dir))
  end
end

-- A script with transfers in flight in every state, each group in a task.each that swallows
-- each failure as dexi-download does (so a cancelled task goes on to start its next request):
-- waiting for headers, streaming a body into a file, queued on a limiter, connecting. Once
-- they are under way it prints "in flight" and runs 'finale'.
local function inflight_script(finale)
  return [[
    local http = require "autolua.http"
    local task = require "autolua.task"
    local limiter = require "autolua.limiter"
    local out, misc, hole = ...
    local function range(n) local t = {} for i = 1, n do t[i] = i end return t end
    local function group(name, n, opts)
      return task.spawn(function()
        task.each(range(n), function(i)
          local o = { sink = out .. "/" .. name .. i, url = opts.url .. "&i=" .. i, limiter = opts.limiter }
          pcall(http.request, o)
        end, { concurrency = 8 })
      end)
    end
    local lim = limiter.rate { rate = 1, per = 600 }
    local groups = {
      group("headers", 200, { url = misc .. "/delay?s=30" }),
      group("body", 50, { url = misc .. "/slow_body?chunks=1000&interval=0.2" }),
      group("limited", 50, { url = misc .. "/delay?s=30", limiter = lim }),
      group("connecting", 50, { url = hole .. "/?" }),
    }
    task.sleep(1.5)
    io.stdout:write("in flight\n"); io.stdout:flush()
  ]] .. finale
end

-- Runs 'code' with (out, misc, hole) as arguments; 'signal' is sent once it printed its first
-- line. Returns {code, out, err, left = files left in out/}.
local function run_inflight(code, signal)
  local hole, stop = blackhole()
  local dir = S.tmpdir()
  os.execute("mkdir " .. dir .. "/out")
  S.spit(dir .. "/s.lua", code)
  local cmd = ("%s %s %s %s %s >%s/stdout 2>%s/stderr & pid=$!; "):format(S.quote(S.bin),
    S.quote(dir .. "/s.lua"), S.quote(dir .. "/out"), S.quote(url("")), S.quote(hole), dir, dir)
  if signal then
    cmd = cmd .. ("for i in $(seq 300); do [ -s %s/stdout ] && break; sleep 0.1; done; kill -%s $pid; ")
      :format(dir, signal)
  end
  cmd = cmd .. ("wait $pid; echo $? > %s/code"):format(dir)
  os.execute("sh -c " .. S.quote(cmd))
  stop()
  local r = { code = tonumber(S.slurp(dir .. "/code"):match("%d+")), out = S.slurp(dir .. "/stdout"),
              err = S.slurp(dir .. "/stderr"), left = S.ls(dir .. "/out") }
  os.execute("rm -rf " .. S.quote(dir))
  return r
end

describe("many transfers in flight", function()
  it("SIGINT aborts them all in every state, removes partial files and exits 130", function()
    local r = run_inflight(inflight_script("task.sleep(60)"), "INT")
    assert.equal("in flight\n", r.out)
    assert.same({}, r.left)
    assert.not_matches("AddressSanitizer", r.err)
    assert.equal(130, r.code)
  end)

  it("task:cancel() ends them all; the script goes on and exits 0", function()
    local r = run_inflight(inflight_script([[
      for _, g in ipairs(groups) do g:cancel() end
      for _, g in ipairs(groups) do assert(not pcall(g.wait, g)) end
      for _, g in ipairs(groups) do assert(g:status() == "cancelled", g:status()) end
      io.stdout:write("cancelled\n")
    ]]))
    assert.equal("in flight\ncancelled\n", r.out)
    assert.same({}, r.left)
    assert.equal("", r.err)
    assert.equal(0, r.code)
  end)

  it("os.exit with them in flight removes partial files and exits with its status", function()
    local r = run_inflight(inflight_script("os.exit(7)"))
    assert.equal("in flight\n", r.out)
    assert.same({}, r.left)
    assert.equal("", r.err)
    assert.equal(7, r.code)
  end)

  it("an error in the main task cancels them, reports, and exits 1", function()
    local r = run_inflight(inflight_script("error('boom')"))
    assert.equal("in flight\n", r.out)
    assert.same({}, r.left)
    assert.matches("boom", r.err)
    assert.not_matches("AddressSanitizer", r.err)
    assert.equal(1, r.code)
  end)
end)

describe("a value whose __tostring raises", function()
  local bad = [[local bad = setmetatable({}, { __tostring = function() error("nope") end })
  ]]

  it("as the main task's error: a report and exit 1, no panic", function()
    local r = S.run_script(bad .. "error(bad)")
    assert.equal(1, r.code)
    assert.not_matches("PANIC", r.err)
    assert.matches("table error value whose __tostring failed: .*nope", r.err)
  end)

  it("as the error of a task nobody waited for, or a __tostring giving no string", function()
    local r = S.run_script(bad .. [[
      require("autolua.task").spawn(function() error(bad) end)
      require("autolua.task").sleep(0.05)
      error(setmetatable({}, { __tostring = function() return {} end, __index = function() error("x") end }))
    ]])
    assert.equal(1, r.code)
    assert.not_matches("PANIC", r.err)
    assert.matches("error in a task nobody waited for: %(a table error value whose __tostring failed", r.err)
    assert.matches("error object is a table value", r.err)
  end)

  it("printed by -e and by the REPL", function()
    local r = S.run { "-e", bad .. "return bad, 1" }
    assert.equal(0, r.code)
    assert.equal("<table whose __tostring failed>\n1\n", r.out)
    r = S.run({ "repl" }, { stdin = bad:gsub("^local ", "") .. "\nerror(bad)\nbad\n1 + 1\n" })
    assert.equal(0, r.code)
    assert.matches("<table whose __tostring failed>\n.*2\n", r.out)
    assert.matches("table error value whose __tostring failed", r.err)
  end)
end)
