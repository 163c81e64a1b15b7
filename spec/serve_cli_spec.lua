-- autolua.serve_cli: `autolua serve FILE.lua [options]`, the command line around http.serve:
-- its options (and the help that lists them), the script's handler, the token from the
-- environment, and the drain of the tasks handlers spawned. Child processes and curl.
local S = require "support"
local serve = require "autolua.serve"
local child = require "serve_support"

local q = S.quote
local curl = child.curl

local function serve_child(...)
  local c = child.serve_child(...)
  finally(function() c:cleanup() end)
  return c
end

local function serve_run(args, opts)
  local a = { "serve" }
  for _, x in ipairs(args) do a[#a + 1] = x end
  return S.run(a, opts)
end

-- The defaults the server really has (al_serve_defaults in src/io/serve.c).
local function c_defaults()
  local src = S.slurp(S.source .. "/src/io/serve.c")
  local body = src:match("void al_serve_defaults%(al_serve_opts %*o%) {(.-)\n}")
  local d = {}
  for k, v in body:gmatch("o%->([%w_]+) = ([^;]+);") do
    local a, b = v:match("^(%d+) << (%d+)$")
    d[k] = a and math.tointeger(tonumber(a) << tonumber(b)) or tonumber(v) or v:match('^"(.*)"$')
  end
  return d
end

describe("autolua serve's command line", function()
  it("--help lists every option it takes, with the defaults the server really has", function()
    local r = serve_run { "--help" }
    assert.equal(0, r.code)
    assert.equal("", r.err)
    assert.matches("^usage: autolua serve FILE%.lua %[options%]\n", r.out)
    assert.equal(r.out, serve_run({ "-h" }).out)
    local d, help = c_defaults(), {}
    local flag
    for line in r.out:gmatch("[^\n]+") do   -- an option's text goes on in the lines indented further
      flag = line:match("^  (%-%-[%w-]+)") or (line:match("^   ") and flag) or nil
      local default = flag and line:match("default ([%w.:]+)")
      if default then help[flag] = tonumber(default) or default end
    end
    assert.same({
      ["--listen"] = serve.DEFAULT_LISTEN, ["--grace"] = serve.DEFAULT_GRACE, ["--max-body"] = d.max_body,
      ["--max-header"] = d.max_header, ["--read-timeout"] = d.read_timeout,
      ["--handler-timeout"] = d.handler_timeout, ["--max-handlers"] = d.max_handlers,
      ["--max-queue"] = d.max_queue, ["--queue-timeout"] = d.queue_timeout,
    }, help)
    assert.equal(("%s:%d"):format(d.host, d.port), serve.DEFAULT_LISTEN)
    -- each option the help lists is one the parser knows
    for flag in r.out:gmatch("\n  (%-%-[%w-]+)") do
      local e = serve_run({ "app.lua", flag }).err
      assert.equal("autolua serve: " .. flag .. " needs a value\nTry 'autolua serve --help'.\n", e)
    end
  end)

  it("refuses a usage mistake with exit 2, the cause and where to look, before reading the script", function()
    for _, case in ipairs {
      { { "app.lua", "--grace", "soon" }, '--grace needs a number, got "soon"' },
      { { "app.lua", "--max-body=lots" }, '--max-body needs a number, got "lots"' },
      { { "app.lua", "--bogus" }, "unknown option '--bogus'" },
      { { "app.lua", "-x" }, "unknown option '-x'" },
      { { "a.lua", "b.lua" }, "one script only (got 'a.lua' and 'b.lua')" },
      { {}, "needs a script file: autolua serve FILE.lua" },
      { { "app.lua", "--listen", "nowhere" }, '--listen "nowhere" is not HOST:PORT' },
    } do
      local r = serve_run(case[1])
      assert.equal(2, r.code, r.err)
      assert.equal("autolua serve: " .. case[2] .. "\nTry 'autolua serve --help'.\n", r.err)
      assert.equal("", r.out)
    end
  end)

  it("exits 1 with one line when the script cannot be loaded or returns no handler", function()
    local dir = S.tmpdir()
    S.spit(dir .. "/syntax.lua", "return function(")
    S.spit(dir .. "/number.lua", "return 42")
    S.spit(dir .. "/nothing.lua", "local x = 1")
    local r = serve_run { dir .. "/missing.lua" }
    assert.equal(1, r.code)
    assert.matches("^autolua serve: cannot open .*missing%.lua: No such file or directory\n$", r.err)
    r = serve_run { dir .. "/syntax.lua" }
    assert.equal(1, r.code)
    assert.matches("^autolua serve: .*syntax%.lua:1: .*\n$", r.err)
    r = serve_run { dir .. "/number.lua" }
    assert.equal(1, r.code)
    assert.equal(("autolua serve: %s/number.lua must return a handler function or a table of routes (it returned number)\n")
                 :format(dir), r.err)
    r = serve_run { dir .. "/nothing.lua" }
    assert.equal(1, r.code)
    assert.matches("%(it returned nil%)\n$", r.err)
    os.execute("rm -rf " .. q(dir))
  end)

  it("passes its limits to the server, given as --opt value or --opt=value", function()
    local c = serve_child([[
      local task = require "autolua.task"
      return { ["POST /in"] = function(req) return { body = "got " .. #req.body } end,
               ["GET /slow"] = function() task.sleep(30) end }
    ]], { "--max-body=10", "--handler-timeout", "0.3" })
    assert.equal("got 10", curl("-d 0123456789 " .. q(c.url .. "/in")))
    assert.equal("413", curl("-o /dev/null -w '%{http_code}' -d 0123456789A " .. q(c.url .. "/in")))
    assert.equal("504", curl("-o /dev/null -w '%{http_code}' " .. q(c.url .. "/slow")))
  end)

  it("takes the token from AUTOLUA_SERVE_TOKEN, and --token over it", function()
    local app = "return function() return { body = 'in' } end"
    local c = serve_child(app, {}, "AUTOLUA_SERVE_TOKEN=from-env")
    assert.matches("listening on http://127%.0%.0%.1:%d+ %(token required%)\n", c:stderr())
    assert.equal("401", curl("-o /dev/null -w '%{http_code}' " .. q(c.url .. "/")))
    assert.equal("in", curl("-H 'Authorization: Bearer from-env' " .. q(c.url .. "/")))
    c:stop()
    assert.not_matches("from%-env", c.err)
    c = serve_child(app, { "--token", "from-flag" }, "AUTOLUA_SERVE_TOKEN=from-env")
    assert.equal("401", curl("-o /dev/null -w '%{http_code}' -H 'Authorization: Bearer from-env' " .. q(c.url .. "/")))
    assert.equal("in", curl("-H 'Authorization: Bearer from-flag' " .. q(c.url .. "/")))
    c:stop()
    c = serve_child(app, {}, "env -u AUTOLUA_SERVE_TOKEN")
    assert.matches("listening on http://127%.0%.0%.1:%d+\n", c:stderr())
    assert.equal("in", curl(q(c.url .. "/")))
  end)

  it("lets tasks a handler spawned finish within --grace before it stops, exit 0", function()
    local dir = S.tmpdir()
    local c = serve_child(([[
      local task = require "autolua.task"
      return function()
        task.spawn(function()
          task.sleep(0.6)
          local f = assert(io.open(%q, "w")); f:write("done"); f:close()
        end)
        return { body = "started" }
      end
    ]]):format(dir .. "/done"), { "--grace", "5" })
    assert.equal("started", curl(q(c.url .. "/")))
    c:signal("TERM")
    assert.equal(0, c:exit_code())
    assert.equal("done", S.slurp(dir .. "/done"))
    local err = c:stderr()
    assert.matches("SIGTERM: draining %(grace 5 s%)\n", err)
    assert.matches("autolua serve: stopped\n$", err)
    os.execute("rm -rf " .. q(dir))
  end)

  it("cancels the spawned tasks still running after --grace, says how many, exit 1", function()
    local c = serve_child([[
      local task = require "autolua.task"
      return function()
        task.spawn(function() task.sleep(60) end)
        task.spawn(function() task.sleep(60) end)
        return { body = "started" }
      end
    ]], { "--grace", "0.3" })
    assert.equal("started", curl(q(c.url .. "/")))
    c:signal("INT")
    assert.equal(1, c:exit_code())
    local err = c:stderr()
    assert.matches("SIGINT: draining %(grace 0%.3 s%)\n", err)
    assert.matches("cancelled 2 handler%(s%) or task%(s%) still running after the grace period\n$", err)
  end)
end)
