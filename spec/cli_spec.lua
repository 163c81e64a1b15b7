local S = require "support"

describe("the command line", function()
  it("prints versions of autolua, Lua, libcurl and libev", function()
    local r = S.run { "--version" }
    assert.equal(0, r.code)
    assert.matches("^autolua %d+%.%d+%.%d+\n", r.out)
    assert.matches("Lua 5%.4", r.out)
    assert.matches("libcurl %d", r.out)
    assert.matches("libev %d", r.out)
  end)

  it("prints usage with --help and exits 0", function()
    local r = S.run { "--help" }
    assert.equal(0, r.code)
    assert.matches("usage: autolua", r.out)
    assert.matches("eval CODE", r.out)
  end)

  it("refuses a log level or format it does not know, running nothing", function()
    local r = S.run({ "-e", "print('ran')" }, { env = "AUTOLUA_LOG=verbose" })
    assert.equal(2, r.code)
    assert.equal("", r.out)
    assert.matches("AUTOLUA_LOG=verbose is not one of error, warn, info, debug", r.err)
    r = S.run({ "-e", "print('ran')" }, { env = "AUTOLUA_LOG_FORMAT=xml" })
    assert.equal(2, r.code)
    assert.matches("AUTOLUA_LOG_FORMAT=xml is not one of text, json", r.err)
    r = S.run({ "-e", "print('ran')" }, { env = "AUTOLUA_LOG=Debug AUTOLUA_LOG_FORMAT=" })
    assert.equal(0, r.code, r.err)
    assert.equal("ran\n", r.out)
  end)

  it("runs a script with arg like lua does", function()
    local r = S.run_script("print(arg[0]:match('script.lua$'), ...)\nprint(#arg, arg[1], arg[2])", { "a", "b c" })
    assert.equal(0, r.code)
    assert.equal("script.lua\ta\tb c\n2\ta\tb c\n", r.out)
  end)

  it("runs 'run FILE' the same way", function()
    local dir = S.tmpdir()
    S.spit(dir .. "/x.lua", "print('ran', ...)")
    local r = S.run { "run", dir .. "/x.lua", "1" }
    assert.equal(0, r.code)
    assert.equal("ran\t1\n", r.out)
  end)

  it("reads the script from stdin with -", function()
    local r = S.run({ "-" }, { stdin = "print(1 + 1)" })
    assert.equal(0, r.code)
    assert.equal("2\n", r.out)
  end)

  it("eval and -e print the returned values: strings as they are, the rest pretty", function()
    local r = S.run { "eval", "1 + 1, 'x', {a = 1, s = 'y'}" }
    assert.equal(0, r.code)
    assert.equal('2\nx\n{ a = 1, s = "y" }\n', r.out)
    r = S.run { "-e", "local t = require 'autolua.task'; t.sleep(0.01); return 'slept'" }
    assert.equal(0, r.code)
    assert.equal('slept\n', r.out)
    -- what a shell's $(...) captures is the bare text, line breaks and all
    r = S.run { "-e", "return 'MTAx', 'two\\nlines'" }
    assert.equal("MTAx\ntwo\nlines\n", r.out)
  end)

  it("eval --json prints each returned value as one line of JSON", function()
    for _, cmd in ipairs { "eval", "-e" } do
      local r = S.run { cmd, "--json", "return 'MTAx', {a = 1, list = {1, 2}, n = require('autolua.json').null}, nil, 2.5" }
      assert.equal(0, r.code, r.err)
      assert.equal('"MTAx"\n{"a":1,"list":[1,2],"n":null}\nnull\n2.5\n', r.out)
    end
    local r = S.run { "eval", "--json", "return print" }
    assert.equal(1, r.code)
    assert.equal("", r.out)
    assert.matches("argument: eval %-%-json: value #1 cannot be written as JSON", r.err)
    r = S.run { "eval", "--json" }
    assert.equal(2, r.code)
    assert.matches("eval needs a chunk of Lua code", r.err)
  end)

  it("prints JSON null as null, not as a userdata", function()
    local r = S.run { "-e", "local json = require 'autolua.json'; return json.null, {a = json.null, json.null}, json.decode('[null]')" }
    assert.equal(0, r.code, r.err)
    assert.equal("null\n{ null, a = null }\n{ null }\n", r.out)
  end)

  it("exits 1 with the message and a traceback on an uncaught error", function()
    local r = S.run_script("local function f() error('boom') end\nf()")
    assert.equal(1, r.code)
    assert.matches("script.lua:1: boom", r.err)
    assert.matches("stack traceback:", r.err)
    assert.matches("in local 'f'", r.err)
  end)

  it("names file and line of a syntax error", function()
    local r = S.run_script("local x = 1\nlocal = 2\n")
    assert.equal(1, r.code)
    assert.matches("script.lua:2: .*near '='", r.err)
  end)

  it("names a missing script file", function()
    local r = S.run { "/nonexistent/thing.lua" }
    assert.equal(1, r.code)
    assert.matches("cannot open /nonexistent/thing.lua", r.err)
  end)

  it("exits 2 on an unknown option or command", function()
    local r = S.run { "--frobnicate" }
    assert.equal(2, r.code)
    assert.matches("unrecognized option '%-%-frobnicate'", r.err)
    r = S.run { "frobnicate" }
    assert.equal(2, r.code)
    assert.matches("unknown command or missing file 'frobnicate'", r.err)
    r = S.run { "eval" }
    assert.equal(2, r.code)
  end)

  it("waits for every task before exiting", function()
    local r = S.run_script([[
      local task = require "autolua.task"
      task.spawn(function() task.sleep(0.2); print("late task done") end)
      print("main done")
    ]])
    assert.equal(0, r.code)
    assert.equal("main done\nlate task done\n", r.out)
  end)

  it("reports an error in a task nobody waited for and exits 1", function()
    local r = S.run_script([[
      local task = require "autolua.task"
      task.spawn(function() task.sleep(0.01); error("lost in a task") end)
      print("main done")
    ]])
    assert.equal(1, r.code)
    assert.equal("main done\n", r.out)
    assert.matches("error in a task nobody waited for: .*lost in a task", r.err)
    assert.matches("stack traceback", r.err)
  end)

  it("reports a deadlock instead of hanging", function()
    local r = S.run_script([[
      local task = require "autolua.task"
      local a
      local b = task.spawn(function() task.sleep(0.01); a:wait() end)
      a = task.spawn(function() b:wait() end)
      a:wait()
    ]])
    assert.equal(1, r.code)
    assert.matches("deadlock", r.err)
  end)

  it("os.exit ends at once with its status", function()
    local r = S.run_script("io.write('x'); os.exit(3)")
    assert.equal(3, r.code)
    assert.equal("x", r.out)
    assert.equal(5, S.run_script("os.exit(5, true)").code)
  end)

  it("exits 130 on SIGINT, aborting transfers and removing partial files", function()
    local dir = S.tmpdir()
    local script = dir .. "/s.lua"
    S.spit(script, ([[
      local http = require "autolua.http"
      io.stdout:write("started\n"); io.stdout:flush()
      http.request { url = %q, sink = %q }
    ]]):format(S.url("misc", "/slow_body?chunks=100&interval=0.1"), dir .. "/partial.bin"))
    local cmd = ("%s %s >%s/out 2>%s/err & pid=$!; sleep 1; kill -INT $pid; wait $pid; echo $? > %s/code")
      :format(S.quote(S.bin), S.quote(script), dir, dir, dir)
    os.execute("sh -c " .. S.quote(cmd))
    assert.equal("130", S.slurp(dir .. "/code"):match("%d+"))
    assert.equal("started\n", S.slurp(dir .. "/out"))
    assert.same({ "code", "err", "out", "s.lua" }, (function() local t = S.ls(dir); table.sort(t); return t end)())
    os.execute("rm -rf " .. S.quote(dir))
  end)

  for _, case in ipairs { { "TERM", 143, "SIGTERM" }, { "HUP", 129, "SIGHUP" } } do
    it(("exits %d on SIG%s like SIGINT, aborting transfers and removing partial files"):format(case[2], case[1]), function()
      local dir = S.tmpdir()
      local script = dir .. "/s.lua"
      S.spit(script, ([[
        local http, task = require "autolua.http", require "autolua.task"
        io.stdout:write("started\n"); io.stdout:flush()
        task.map({ 1, 2, 3 }, function(i)
          http.request { url = %q, sink = %q .. i .. ".bin" }
        end)
      ]]):format(S.url("misc", "/slow_body?chunks=100&interval=0.1"), dir .. "/partial"))
      local cmd = ("%s %s >%s/out 2>%s/err & pid=$!; sleep 1; ls -A %s > %s/during; kill -%s $pid; wait $pid; echo $? > %s/code")
        :format(S.quote(S.bin), S.quote(script), dir, dir, dir, dir, case[1], dir)
      os.execute("sh -c " .. S.quote(cmd))
      assert.equal(tostring(case[2]), S.slurp(dir .. "/code"):match("%d+"))
      assert.equal("started\n", S.slurp(dir .. "/out"))
      assert.matches(case[3], S.slurp(dir .. "/err"))
      assert.matches("%.partial1%.bin%.part%-", S.slurp(dir .. "/during"))   -- there were partial files
      assert.same({ "code", "during", "err", "out", "s.lua" }, (function() local t = S.ls(dir); table.sort(t); return t end)())
      os.execute("rm -rf " .. S.quote(dir))
    end)
  end

  it("keeps the system package paths so Debian's Lua modules load", function()
    local r = S.run { "-e", "return require('cjson').encode({1}), package.path:find('/usr/share/lua/5.4', 1, true) ~= nil" }
    assert.equal(0, r.code)
    assert.equal('[1]\ntrue\n', r.out)
  end)

  it("loads its Lua modules from AUTOLUA_PATH when set", function()
    local dir = S.tmpdir()
    os.execute("mkdir -p " .. dir .. "/autolua")
    S.spit(dir .. "/autolua/pretty.lua", "return { format = function() return 'overridden' end }")
    local r = S.run({ "eval", "1" }, { env = "AUTOLUA_PATH=" .. dir })
    assert.equal("overridden\n", r.out)
    os.execute("rm -rf " .. S.quote(dir))
  end)

  it("runs a plain REPL on standard input", function()
    local r = S.run({ "repl" }, { stdin = "x = 20\nx + 22\nfor i = 1, 2 do\nprint(i)\nend\nerror('oops')\n1 +\n" })
    assert.equal(0, r.code)
    assert.matches("42\n", r.out)
    assert.matches("1\n2\n", r.out)
    assert.matches("oops", r.err)
  end)
end)
