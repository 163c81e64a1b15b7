-- The REPL driven through a pseudo-terminal, keystroke by keystroke.
local S = require "support"
local json = require "autolua.json"
local task = require "autolua.task"

local TAB, CTRL_C, CTRL_D = "\t", "\3", "\4"

-- Runs the REPL with 'steps' (see spec/pty_drive.py: expectations are Python regular
-- expressions); returns the driver's report.
local function session(steps, env)
  local dir = S.tmpdir()
  S.spit(dir .. "/steps.json", json.encode(steps))
  local cmd = ("cd %s && env -u XDG_STATE_HOME HOME=%s %s python3 %s/spec/pty_drive.py steps.json -- %s repl"):format(
    S.quote(dir), S.quote(dir), env or "", S.quote(S.source), S.quote(S.bin))
  local p = io.popen(cmd)
  local report = json.decode(p:read("a"))
  p:close()
  report.dir = dir
  return report
end

local function ok(report)
  local f = type(report.failed) == "table" and report.failed or {}
  assert(report.ok, ("step %s did not show %s; the screen:\n%s"):format(f.step, f.expect, report.transcript))
end

local function cleanup(report) os.execute("rm -rf " .. S.quote(report.dir)) end

describe("the REPL on a terminal", function()
  it("evaluates, continues incomplete chunks, prints tables and errors, and exits on Ctrl-D", function()
    local r = session {
      { expect = "> $" }, { send = "1 + 1\r" }, { expect = "\n2\n> $" },
      { send = "for i = 1, 2 do\r" }, { expect = ">> $" }, { send = "print(i * 10)\rend\r" }, { expect = "10\n20\n> $" },
      { send = "{ a = 1, list = { 1, 2 } }\r" }, { expect = "{ a = 1, list = { 1, 2 } }" },
      { send = "error('boom')\r" }, { expect = "boom\nstack traceback:.*> $" },
      { send = "x = = 1\r" }, { expect = "unexpected symbol.*> $" },
      { send = CTRL_D },
    }
    ok(r)
    assert.equal(0, r.code)
    cleanup(r)
  end)

  it("completes globals, table fields, dx methods and module names with Tab", function()
    local r = session {
      { expect = "> $" }, { send = "things = { alpha = 1, beta = 2 }\r" }, { expect = "> $" },
      { send = "things.al" .. TAB .. "\r" }, { expect = "things\\.alpha\n1\n> $" },
      { send = "c = require('dx').client { token = 'x', base_url = 'http://127.0.0.1:1' }\r" }, { expect = "> $" },
      { send = "c.workflowRuns.tri" .. TAB }, { expect = "c\\.workflowRuns\\.trigger$" }, { send = "\21" },
      { send = "c.catalog.entit" .. TAB }, { expect = "c\\.catalog\\.entit" }, { send = "\21" },
      { send = "require 'autolua.lim" .. TAB }, { expect = "autolua\\.limiter" }, { send = "\21" },
      { send = "prin" .. TAB .. "('done')\r" }, { expect = "done\n> $" },
      { send = CTRL_D },
    }
    ok(r)
    cleanup(r)
  end)

  it("keeps the loop running between prompts and answers HTTP in place", function()
    local r = session {
      { expect = "> $" },
      { send = "task = require 'autolua.task'; n = 0; task.spawn(function() for i = 1, 10 do task.sleep(0.05); n = n + 1 end end)\r" },
      { expect = "> $" }, { sleep = 1.2 }, { send = "n\r" }, { expect = "\n10\n> $" },
      { send = ("require('autolua.http').request { url = %q }.status\r"):format(S.url("misc", "/echo")) },
      { expect = "\n200\n> $" },
      { send = CTRL_D },
    }
    ok(r)
    cleanup(r)
  end)

  it("cancels the running line on Ctrl-C and returns to the prompt", function()
    local r = session {
      { expect = "> $" },
      { send = ("require('autolua.http').request { url = %q }\r"):format(S.url("misc", "/delay?s=30")) },
      { sleep = 0.5 }, { send = CTRL_C }, { expect = "interrupted.*> $", timeout = 5 },
      { send = "while true do end\r" }, { sleep = 0.5 }, { send = CTRL_C }, { expect = "interrupted.*> $", timeout = 5 },
      -- a person's next keys come after the fresh prompt; the prompt is redrawn by the loop
      { send = "half typed" }, { sleep = 0.3 }, { send = CTRL_C }, { sleep = 0.3 },
      { send = "3 + 4\r" }, { expect = "\n7\n> $" },
      { send = CTRL_D },
    }
    ok(r)
    assert.equal(0, r.code)
    cleanup(r)
  end)

  it("prints secrets as ***", function()
    local r = session({
      { expect = "> $" }, { send = "os.getenv('DX_TOKEN')\r" }, { expect = '"\\*\\*\\*"\n> $' },
      { send = "'token is ' .. os.getenv('DX_TOKEN')\r" }, { expect = '"token is \\*\\*\\*"' },
      { send = CTRL_D },
    }, "DX_TOKEN=sekrit-token-123")
    ok(r)
    assert.not_matches("sekrit%-token%-123\n", r.transcript:gsub("os%.getenv%('DX_TOKEN'%)", ""))
    cleanup(r)
  end)

  it("keeps a history file, and warns once when it cannot be written", function()
    local r = session { { expect = "> $" }, { send = "40 + 2\r" }, { expect = "42" }, { send = CTRL_D } }
    ok(r)
    assert.matches("40 %+ 2", S.slurp(r.dir .. "/.local/state/autolua/history"))
    cleanup(r)
    r = session({
      { expect = "> $" }, { send = "1\r" }, { expect = "cannot write the history file" },
      { send = "2\r" }, { expect = "\n2\n> $" }, { send = CTRL_D },
    }, "XDG_STATE_HOME=/proc/no-such-place")
    ok(r)
    local _, warnings = r.transcript:gsub("cannot write the history file", "")
    assert.equal(1, warnings)
    cleanup(r)
  end)
  it("offers dexi, dx, task, http, limiter and json as globals, loaded on first use", function()
    local r = session {
      { expect = "> $" }, { send = "package.loaded.dx == nil and package.loaded.dexi == nil\r" }, { expect = "\ntrue\n> $" },
      { send = "c = dx.client { token = 'x', base_url = 'http://127.0.0.1:1' }\r" }, { expect = "> $" },
      { send = "c.workflowRuns.tri" .. TAB }, { expect = "c\\.workflowRuns\\.trigger$" }, { send = "\21" },
      { send = "lim" .. TAB }, { expect = "limiter$" }, { send = "\21" },
      { send = "json.encode { 1, 2 }\r" }, { expect = "\\[1,2\\]" },
      { send = "type(dexi.client), type(task.spawn), type(http.request), type(limiter.new)\r" },
      { expect = "function\tfunction\tfunction\tfunction|\"function\"" },
      { send = "nosuchthing\r" }, { expect = "\nnil\n> $" },
      { send = CTRL_D },
    }
    ok(r)
    assert.equal(0, r.code)
    cleanup(r)
  end)

  it("drops a half-typed multi-line block on Ctrl-C", function()
    local r = session {
      { expect = "> $" }, { send = "if true then\r" }, { expect = ">> $" }, { send = "x = 1\r" }, { expect = ">> $" },
      { send = CTRL_C }, { sleep = 0.3 },
      { send = "print('fresh')\r" }, { expect = "\nfresh\n> $" },
      { send = "x\r" }, { expect = "\nnil\n> $" },
      { send = CTRL_D },
    }
    ok(r)
    assert.equal(0, r.code)
    cleanup(r)
  end)

  it("survives Ctrl-C that lands while the REPL itself runs (between two chunks)", function()
    -- Reading a pipe, the REPL's own loop runs most of the time, so most interrupts land in it:
    -- they must not end it (an interrupt is for the running chunk, or the line being typed).
    local dir = S.tmpdir()
    S.spit(dir .. "/in", ("x = (x or 0) + 1\n"):rep(300000) .. "print('done', x > 0)\n")
    os.execute(("cd %s && sh -c '%s repl <in >out 2>err & echo $! >pid; wait $!; echo $? >rc' &")
      :format(S.quote(dir), S.bin))
    local pid
    for _ = 1, 50 do
      local f = io.open(dir .. "/pid")
      pid = f and f:read("n")
      if f then f:close() end
      if pid then break end
      task.sleep(0.05)
    end
    task.sleep(0.3)
    for _ = 1, 20 do os.execute("kill -INT " .. pid .. " 2>/dev/null"); task.sleep(0.01) end
    local rc
    for _ = 1, 600 do
      local f = io.open(dir .. "/rc")
      rc = f and f:read("n")
      if f then f:close() end
      if rc then break end
      task.sleep(0.1)
    end
    local out, err = S.slurp(dir .. "/out"), S.slurp(dir .. "/err")
    os.execute("rm -rf " .. S.quote(dir))
    assert.equal(0, rc, err)
    assert.matches("done\ttrue\n", out)
    assert.not_matches("traceback", err)
  end)

  it("reports an error in a background task at the prompt, and still exits 0", function()
    local r = session {
      { expect = "> $" }, { send = "task.spawn(function() task.sleep(0.3); error('late boom') end)\r" }, { expect = "> $" },
      { send = "half" },
      { expect = "error in a background task: .*late boom.*stack traceback.*> half$", timeout = 5 },
      { send = "\21" }, { send = "1 + 1\r" }, { expect = "\n2\n> $" },
      { send = CTRL_D },
    }
    ok(r)
    assert.equal(0, r.code)
    local _, reports = r.transcript:gsub("error in a background task", "")
    assert.equal(1, reports)
    cleanup(r)
  end)

  it("says which tasks still run at Ctrl-D, waits for them, and cancels them on a second Ctrl-D or Ctrl-C", function()
    local r = session {
      { expect = "> $" }, { send = "task.spawn(function() task.sleep(0.8); print('finished') end)\r" }, { expect = "> $" },
      { send = CTRL_D }, { expect = "1 background task\\(s\\) still running.*stdin:1.*sleep" },
      { expect = "finished", timeout = 5 },
    }
    ok(r)
    assert.equal(0, r.code)
    cleanup(r)
    for _, key in ipairs { CTRL_D, CTRL_C } do
      r = session {
        { expect = "> $" }, { send = "task.spawn(function() task.sleep(60) end)\r" }, { expect = "> $" },
        { send = CTRL_D }, { expect = "still running.*stdin:1" }, { sleep = 0.3 },
        { send = key }, { expect = "cancelled 1 background task", timeout = 5 },
      }
      ok(r)
      assert.equal(0, r.code)
      cleanup(r)
    end
  end)
end)
