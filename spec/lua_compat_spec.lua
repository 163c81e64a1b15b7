-- Lua stays Lua (issue 13): what a script sees of the coroutine library, require and os.exit
-- is what lua5.4 shows it. Each case runs in its own autolua process, so a crash is a failure
-- of that case and not of busted.
local S = require "support"

local CLOSE = "local function closer(f) return setmetatable({}, {__close = f}) end\n"

local function run(code, args, opts)
  return S.run_script(CLOSE .. code, args, opts)
end

describe("coroutine.wrap, as lcorolib does it", function()
  it("does not reset a coroutine it could not resume because it is running (defect 1)", function()
    local r = run [[
      local A, closed
      A = coroutine.wrap(function()
        local _ <close> = closer(function() closed = true end)
        local ok, err = pcall(A, 1)
        print(ok, err, closed)
        return "body done"
      end)
      print(A(), closed)
    ]]
    assert.equal("", r.err)
    assert.equal(0, r.code)
    assert.equal("false\tcannot resume non-suspended coroutine\tnil\nbody done\ttrue\n", r.out)
  end)

  it("gives the standard error when a wrapper resumes its own resumer (defect 1)", function()
    local r = run [[
      local w1, w2
      w1 = coroutine.wrap(function() return w2() end)
      w2 = coroutine.wrap(function() local ok, err = pcall(w1); print(ok, err); return 7 end)
      print(w1())
      print(pcall(w1))
    ]]
    assert.equal("", r.err)
    assert.equal(0, r.code)
    assert.equal("false\tcannot resume non-suspended coroutine\n7\n"
      .. "false\tcannot resume dead coroutine\n", r.out)
  end)

  it("finds a coroutine that died of an error dead on the next call (defect 2)", function()
    local r = run [[
      local co = coroutine.wrap(function() error("boom", 0) end)
      print(pcall(co))
      print(pcall(co))
      local ran = false
      co = coroutine.wrap(function() error(function() ran = true end) end)
      print((pcall(co)))
      print(pcall(co))
      print(ran)
    ]]
    assert.equal("", r.err)
    assert.equal("false\tboom\nfalse\tcannot resume dead coroutine\n"
      .. "false\nfalse\tcannot resume dead coroutine\nfalse\n", r.out:gsub("[^\n\t]*:%d+: ", ""))
  end)

  it("raises the last error of a __close handler, not the body's (defect 3)", function()
    local r = run [[
      local co = coroutine.wrap(function()
        local a <close> = closer(function(_, e) print("a sees", e); error("from a", 0) end)
        local b <close> = closer(function(_, e) print("b sees", e); error("from b", 0) end)
        error("body", 0)
      end)
      print(pcall(co))
      co = coroutine.wrap(function()
        local a <close> = closer(function() error("on close", 0) end)
        coroutine.yield(1)
        return 2
      end)
      print(co())
      print(pcall(co))
    ]]
    assert.equal("", r.err)
    assert.equal("b sees\tbody\na sees\tfrom b\nfalse\tfrom a\n1\nfalse\ton close\n", r.out)
  end)
end)

describe("a task's own thread, to the coroutine library", function()
  it("is the main thread: running() says so, it cannot yield, nothing can resume it", function()
    local r = run [[
      local main, ismain = coroutine.running()
      print(type(main), ismain, coroutine.isyieldable(), coroutine.status(main))
      print(pcall(coroutine.yield, 1))
      print(coroutine.resume(main))
      print(pcall(coroutine.close, main))
      local task = require "autolua.task"
      local other = task.spawn(function() return coroutine.running() end)
      local th, im = other:wait()
      print(coroutine.status(th) == "normal" or coroutine.status(th), im)
      print(coroutine.wrap(function() return coroutine.isyieldable(), select(2, coroutine.running()) end)())
    ]]
    assert.equal("", r.err)
    assert.equal(0, r.code)
    assert.equal("thread\ttrue\tfalse\trunning\n"
      .. "false\tattempt to yield from outside a coroutine\n"
      .. "false\tcannot resume non-suspended coroutine\n", r.out:match("^[^\n]*\n[^\n]*\n[^\n]*\n"))
    assert.matches("\nfalse\t[^\n]*cannot close a running coroutine\n", r.out)
    assert.matches("\ntrue\ttrue\ntrue\tfalse\n$", r.out)
  end)
end)

describe("require", function()
  it("says what Lua's searchers say, with no line of autolua's own (defect 4)", function()
    local r = run [[
      package.path = "?.lua;?/?"
      package.cpath = "?.so;?/init"
      local ok, msg = pcall(require, "XXX")
      io.write(msg)
    ]]
    assert.equal("module 'XXX' not found:\n\tno field package.preload['XXX']\n\tno file 'XXX.lua'\n"
      .. "\tno file 'XXX/XXX'\n\tno file 'XXX.so'\n\tno file 'XXX/init'", r.out)
  end)

  it("names the files it tried under AUTOLUA_PATH", function()
    local dir = S.tmpdir()
    local r = run([[package.path = "?.x" package.cpath = "?.y"
      io.write(select(2, pcall(require, "no.such")))]], nil, { env = "AUTOLUA_PATH=" .. dir })
    os.execute("rm -rf " .. S.quote(dir))
    assert.equal(("module 'no.such' not found:\n\tno field package.preload['no.such']\n"
      .. "\tno file '%s/no/such.lua'\n\tno file '%s/no/such/init.lua'\n"
      .. "\tno file 'no/such.x'\n\tno file 'no/such.y'\n\tno file 'no.y'"):format(dir, dir), r.out)
  end)
end)

describe("os.exit", function()
  it("closes the state when its second argument is true (defect 5)", function()
    local r = run [[
      setmetatable({}, {__gc = function() print("finalized") end})
      local x <close> = closer(function(_, e) print("closed", e) end)
      local y <close> = closer(function() print(120) end)
      io.stdout:setvbuf("full")
      os.exit(3, true)
    ]]
    assert.equal(3, r.code)
    assert.equal("", r.err)
    assert.equal("120\nclosed\tnil\nfinalized\n", r.out)
  end)

  it("ends at once without closing the state otherwise", function()
    local r = run [[
      setmetatable({}, {__gc = function() print("finalized") end})
      local x <close> = closer(function() print("closed") end)
      os.exit(true)
    ]]
    assert.equal(0, r.code)
    assert.equal("", r.out)
  end)
end)

describe("the lua command line (defect 6)", function()
  local function quiet(args, opts) return S.run(args, opts) end

  it("runs -e, -l name and -l g=mod in order before the script, with arg as lua sets it", function()
    local dir = S.tmpdir()
    S.spit(dir .. "/mod1.lua", "print('loading mod1'); return {x = 15}")
    S.spit(dir .. "/prog.lua", "print(mod1.x, m.max(1, 2), str.upper'a', #arg, arg[0] == ..., arg[-1], ...)")
    local r = quiet({ "-l", "mod1", "-lm=math", "-e", "print('e')", "-l", "str=string", "--",
      dir .. "/prog.lua", dir .. "/prog.lua" }, { env = "LUA_PATH=" .. S.quote(dir .. "/?.lua") })
    os.execute("rm -rf " .. S.quote(dir))
    assert.equal("", r.err)
    assert.equal("loading mod1\ne\n15\t2\tA\t1\ttrue\t--\t" .. dir .. "/prog.lua\n", r.out)
  end)

  it("prints what an -e chunk returns, and compiles it as a chunk, not an expression", function()
    local r = quiet { "-e", "x = 1", "-eprint(x)", "-e", "return x + 1, 'y'" }
    assert.equal(0, r.code)
    assert.equal('1\n2\ny\n', r.out)   -- a string as it is, as eval prints it
    r = quiet { "-e", "a" }
    assert.equal(1, r.code)
    assert.matches("^[^\n]*autolua: %(command line%):1: syntax error", r.err)
  end)

  it("rejects bad options as lua does", function()
    for _, case in ipairs { { "-h", "unrecognized option '%-h'" }, { "-Ex", "unrecognized option '%-Ex'" }, { "---", "unrecognized option '%-%-%-'" },
        { "-vv", "unrecognized option '%-vv'" }, { "-iv", "unrecognized option '%-iv'" },
        { "-e", "'%-e' needs argument" }, { "-l", "'%-l' needs argument" } } do
      local r = quiet { case[1] }
      assert.equal(2, r.code)
      assert.matches(case[2], r.err)
    end
  end)

  it("runs LUA_INIT_5_4, else LUA_INIT (a chunk or @file) first, and not under -E", function()
    local r = run("print(X, Y)", { "a" }, { env = "LUA_INIT_5_4='X = arg[1]' LUA_INIT='Y = 1'" })
    assert.equal("a\tnil\n", r.out)
    local dir = S.tmpdir()
    S.spit(dir .. "/init.lua", "Y = 2")
    r = quiet({ "-e", "print(Y)" }, { env = "LUA_INIT=@" .. S.quote(dir .. "/init.lua") })
    os.execute("rm -rf " .. S.quote(dir))
    assert.equal("2\n", r.out)
    r = quiet({ "-e", "print(1)" }, { env = "LUA_INIT=\"error('msg')\"" })
    assert.equal(1, r.code)
    assert.equal("", r.out)
    assert.matches("LUA_INIT:1: msg", r.err)
    r = quiet({ "-E", "-e", "print(package.path:find('xxx'))" }, { env = "LUA_INIT=\"error('msg')\" LUA_PATH=xxx" })
    assert.equal(0, r.code)
    assert.equal("nil\n", r.out)
  end)

  it("turns warnings on with -W, and prints Lua's version line with -v", function()
    local r = quiet { "-W", "-e", "warn('hello')" }
    assert.equal("Lua warning: hello\n", r.err)
    r = quiet { "-e", "warn('hello')" }
    assert.equal("", r.err)
    r = quiet { "-v", "-e", "print'hello'" }
    assert.matches("^Lua 5%.4[^\n]*PUC%-Rio\nhello\n$", r.out)
  end)

  it("reads stdin with - (after --, a file named -) and runs stdin with no arguments", function()
    local r = quiet({ "-e", "arg[1] = 100", "-", "x" }, { stdin = "print(...)" })
    assert.equal("100\n", r.out)
    r = quiet({}, { stdin = "print(10)\nprint(2)\n" })
    assert.equal("10\n2\n", r.out)
    r = quiet({ "-e", "arg = 1", "-" }, { stdin = "" })
    assert.equal(1, r.code)
    assert.matches("'arg' is not a table", r.err)
  end)

  it("-i without a terminal reads lines as lua's prompt does", function()
    local r = quiet({ "-e", "_PROMPT='P ' _PROMPT2='Q '", "-i" }, { stdin = "1 + 1\nfor i = 1, 2 do\nprint(i)\nend\n=3\nerror('x')\n" })
    assert.equal(0, r.code)
    assert.matches("^Lua 5%.4[^\n]*\nP 1 %+ 1\n2\nP for i = 1, 2 do\nQ print%(i%)\nQ end\n1\n2\nP =3\n3\nP error%('x'%)\nP \n$", r.out)
    assert.matches("autolua: stdin:1: x", r.err)
    r = quiet({ "-e", "print = nil", "-i" }, { stdin = "10\n" })
    assert.matches("error calling 'print'", r.err)
  end)

  it("reports an error after the program name, a table with __tostring by that, as lua does", function()
    local r = run "error(setmetatable({}, {__tostring = function() return 'custom' end}))"
    assert.equal(1, r.code)
    assert.matches("^" .. S.bin:gsub("%p", "%%%0") .. ": custom\nstack traceback:", r.err)
    r = run "error({})"
    assert.matches(": %(error object is a table value%)", r.err)
  end)
end)

-- The one setting that differs from lua5.4's: the collector starts generational (runtime.c says
-- why), and collectgarbage switches it as in Lua.
describe("the garbage collector", function()
  it("starts generational and switches back to incremental on request", function()
    local r = run [[
      print(collectgarbage("incremental"), collectgarbage("incremental"), collectgarbage("generational"))
      local t = {}
      for i = 1, 200000 do t[i % 100] = { i } end   -- collects as it goes in either mode
      print(collectgarbage("count") < 4096)
    ]]
    assert.equal("", r.err)
    assert.equal("generational\tincremental\tincremental\ntrue\n", r.out)
  end)
end)
