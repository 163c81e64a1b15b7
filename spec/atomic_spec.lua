-- autolua.atomic and the temporary files behind it (sys.tmpfile, sys.commit): made so no
-- planted link can redirect them, given the user's umask, removed on every way out.
local S = require "support"
local atomic = require "autolua.atomic"
local sys = require "autolua.sys"

local function mode(path)
  local p = io.popen("stat -c %a " .. S.quote(path))
  local m = p:read("l")
  p:close()
  return m
end

local function sorted_ls(dir)
  local t = S.ls(dir)
  table.sort(t)
  return t
end

describe("atomic.write", function()
  local dir
  before_each(function() dir = S.tmpdir() end)
  after_each(function() os.execute("rm -rf " .. S.quote(dir)) end)

  it("writes through a temporary file beside the target, never through a planted link", function()
    -- Links at every name a time-and-random scheme could pick now and in the next seconds.
    local victim = dir .. "/victim"
    S.spit(victim, "precious")
    local t = os.time()
    os.execute(("python3 -c 'import os\nfor s in range(%d, %d):\n for r in range(10000): os.symlink(\"victim\", \"%s/out.csv.part-%%d%%04d\" %% (s, r))'")
      :format(t, t + 3, dir))
    local seen
    atomic.write(dir .. "/out.csv", function(f)
      for _, name in ipairs(S.ls(dir)) do
        if name:match("^%.out%.csv%.part%-") then seen = name end
      end
      f:write("a,b\n")
    end)
    assert.equal("precious", S.slurp(victim))
    assert.equal("a,b\n", S.slurp(dir .. "/out.csv"))
    assert.matches("^%.out%.csv%.part%-%w%w%w%w%w%w$", seen)
  end)

  it("leaves nothing when the writer fails, and raises its error", function()
    local ok, err = pcall(atomic.write, dir .. "/out.csv", function(f)
      f:write("half")
      error({ kind = "api", message = "boom" })
    end)
    assert.is_false(ok)
    assert.equal("boom", err.message)
    assert.same({}, S.ls(dir))
  end)

  it("raises a structured error when the directory is missing", function()
    local err = S.fails(atomic.write, dir .. "/no/such/out.csv", function() end)
    assert.equal("argument", err.kind)
  end)

  it("gives the finished file 0666 & ~umask, as cp and curl -o do", function()
    for _, case in ipairs { { "022", "644" }, { "027", "640" }, { "077", "600" } } do
      local out = dir .. "/m" .. case[1]
      local r = S.run_script(("require('autolua.atomic').write(%q, function(f) f:write('x') end)"):format(out),
        {}, { env = "umask " .. case[1] .. ";" })
      assert.equal(0, r.code, r.err)
      assert.equal(case[2], mode(out))
    end
  end)

  it("removes its temporary file when the script calls os.exit while writing", function()
    local r = S.run_script(("require('autolua.atomic').write(%q, function(f) f:write('x'); os.exit(3) end)")
      :format(dir .. "/out.csv"))
    assert.equal(3, r.code)
    assert.same({}, S.ls(dir))
  end)

  it("removes its temporary file when a task writing it is cancelled", function()
    local task = require "autolua.task"
    local t = task.spawn(function()
      atomic.write(dir .. "/out.csv", function(f) f:write("x"); task.sleep(10) end)
    end)
    task.sleep(0.05)
    assert.equal(1, #S.ls(dir))
    t:cancel()
    pcall(t.wait, t)
    assert.same({}, S.ls(dir))
  end)
end)

describe("sys.tmpfile and sys.commit", function()
  local dir
  before_each(function() dir = S.tmpdir() end)
  after_each(function() os.execute("rm -rf " .. S.quote(dir)) end)

  it("refuse bad arguments with kind = argument, as sys.exec does", function()
    local f = sys.tmpfile(dir .. "/a.txt")
    for _, call in ipairs {
      function() return sys.tmpfile({}) end,
      function() return sys.commit("not a file", dir .. "/a.txt") end,
      function() return sys.commit(f, {}) end,
      function() return sys.exec("ls") end,
      function() return sys.exec({ "ls", {} }) end,
    } do
      local err = S.fails(call)
      assert.equal("argument", err.kind, tostring(err))
    end
    f:close()
    -- more arguments than a Lua stack holds, in a process of its own (a large table)
    local r = S.run_script([[
      local argv = {}
      for i = 1, 1000000 do argv[i] = "x" end
      local ok, err = pcall(require("autolua.sys").exec, argv)
      print(type(err) == "table" and err.kind, type(err) == "table" and err.message or err)
    ]])
    assert.equal(0, r.code, r.err)
    assert.matches("^argument\tsys.exec: too many arguments", r.out)
  end)

  it("give an io file whose close removes it, and commit only once", function()
    local f, tmp = sys.tmpfile(dir .. "/a.txt")
    assert.equal("600", mode(tmp))
    f:write("hello")
    assert.is_true(sys.commit(f, dir .. "/a.txt"))
    assert.equal("hello", S.slurp(dir .. "/a.txt"))
    assert.is_nil((sys.commit(f, dir .. "/a.txt")))
    local g = sys.tmpfile(dir .. "/b.txt")
    g:close()
    assert.same({ "a.txt" }, sorted_ls(dir))
    assert.is_nil((sys.commit(io.stdout, dir .. "/c.txt")))
    local n, why = sys.tmpfile(dir .. "/missing/x")
    assert.is_nil(n)
    assert.matches("No such file", why)
  end)
end)
describe("autolua.atomic, whole or not at all", function()
  it("writes the file and leaves nothing else beside it", function()
    local dir = S.tmpdir()
    assert.is_true(atomic.write(dir .. "/out.txt", function(f) f:write("one\n", "two\n") end))
    assert.equal("one\ntwo\n", S.slurp(dir .. "/out.txt"))
    assert.same({ "out.txt" }, S.ls(dir))
    os.execute("rm -rf " .. S.quote(dir))
  end)

  it("an error while filling raises it and leaves neither the file nor a temporary one", function()
    local dir = S.tmpdir()
    local ok, err = pcall(atomic.write, dir .. "/out.txt", function(f) f:write("half"); error("stopped", 0) end)
    assert.is_false(ok)
    assert.equal("stopped", err)
    assert.same({}, S.ls(dir))
    os.execute("rm -rf " .. S.quote(dir))
  end)

  it("keeps the old file when the new one fails", function()
    local dir = S.tmpdir()
    S.spit(dir .. "/out.txt", "old")
    assert.is_false(pcall(atomic.write, dir .. "/out.txt", function() error("no", 0) end))
    assert.equal("old", S.slurp(dir .. "/out.txt"))
    os.execute("rm -rf " .. S.quote(dir))
  end)

  it("a directory that does not exist is kind = argument", function()
    local e = S.fails(atomic.write, "/nonexistent-dir-15lua/out.txt", function() end)
    assert.equal("argument", e.kind)
    assert.matches("cannot write /nonexistent-dir-15lua/out.txt", e.message, 1, true)
  end)
end)
