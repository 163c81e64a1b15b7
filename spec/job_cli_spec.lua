-- autolua job: list, show, forget, their --json, and usage errors (exit 2).
local S = require "support"
local store_support = require "store_support"

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

  it("over redis: a job nobody ran is all zeros; a server that is not there is one line, exit 1", function()
    local redis = store_support.redis_start()
    finally(function() store_support.redis_stop(redis) end)
    local r = S.run({ "job", "show", "nothing", "--json", "--store", redis.url })
    assert.equal(0, r.code, r.err)
    assert.matches('"done":0', r.out, 1, true)
    r = S.run({ "job", "list", "--store", redis.url })
    assert.equal(0, r.code, r.err)
    local gone = store_support.redis_start()
    store_support.redis_stop(gone)
    r = S.run({ "job", "list", "--store", gone.url })
    assert.equal(1, r.code)
    assert.matches("^autolua job: .*unreachable", r.err)
    local _, lines = r.err:gsub("\n", "")
    assert.equal(1, lines, r.err)
  end)
end)
