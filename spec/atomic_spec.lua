-- autolua.atomic: a file is written whole or not at all.
local atomic = require "autolua.atomic"
local S = require "support"

describe("autolua.atomic", function()
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
