-- autolua job: list, show, forget, their --json, and usage errors (exit 2).
local S = require "support"

describe("autolua job", function()
  it("tells its usage, and refuses what it does not know with exit 2", function()
    local r = S.run({ "job", "--help" })
    assert.equal(0, r.code)
    assert.matches("autolua job list", r.out, 1, true)
    for _, args in ipairs { { "job" }, { "job", "frob" }, { "job", "show" }, { "job", "list", "--bogus" },
                            { "job", "forget", "x", "--key" } } do
      r = S.run(args)
      assert.equal(2, r.code, table.concat(args, " "))
      assert.matches("^autolua job: ", r.err)
    end
  end)

  it("shows a job nobody ran as all zeros, and a store it cannot open as one line, exit 1", function()
    local dir = S.tmpdir()
    local r = S.run({ "job", "show", "nothing", "--json", "--store", "sqlite:" .. dir .. "/s.db" })
    assert.equal(0, r.code, r.err)
    assert.matches('"done":0', r.out, 1, true)
    r = S.run({ "job", "list", "--store", "sqlite:/dev/null/s.db" })
    assert.equal(1, r.code)
    assert.matches("^autolua job: .*/dev/null/s.db", r.err)
    os.execute("rm -rf " .. S.quote(dir))
  end)
end)
