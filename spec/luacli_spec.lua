-- autolua.luacli, the lua-compatible command line (autolua [options] [script [args]]): the
-- script from stdin, warnings under -W, and a failing chunk. The options lua shares with it
-- (-e, -l, -E, LUA_INIT) are in lua_compat_spec.lua.
local S = require "support"

describe("autolua.luacli", function()
  it("runs the script on stdin for '-', with the arguments after it", function()
    local r = S.run({ "-", "a", "b c" }, { stdin = "print(#arg, ...)" })
    assert.same({ 0, "2\ta\tb c\n", "" }, { r.code, r.out, r.err })
  end)

  it("turns warnings on with -W, and leaves them off without it", function()
    local r = S.run { "-W", "-e", "warn('careful')" }
    assert.same({ 0, "Lua warning: careful\n" }, { r.code, r.err })
    r = S.run { "-e", "warn('careful')" }
    assert.same({ 0, "" }, { r.code, r.err })
  end)

  it("a chunk that raises exits 1 with the message and a traceback on stderr", function()
    local r = S.run { "-e", "error('boom')" }
    assert.equal(1, r.code)
    assert.matches("autolua: %(command line%):1: boom\nstack traceback:\n", r.err)
    assert.equal("", r.out)
  end)
end)
