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
