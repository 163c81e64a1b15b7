-- autolua.pretty: values laid out for a person, nested within width and depth limits, cycles
-- marked, and secrets (known values and fields named like secrets) shown as ***.
local pretty = require "autolua.pretty"
local json = require "autolua.json"
local secret = require "autolua.secret"

describe("autolua.pretty", function()
  it("prints scalars as Lua would read them back, and null as null", function()
    assert.equal('"a\\nb"', pretty.format("a\nb"))
    assert.equal("42", pretty.format(42))
    assert.equal("null", pretty.format(json.null))
    assert.equal("{}", pretty.format({}))
  end)

  it("lists first, then keys sorted; one line when it fits, else one field a line", function()
    assert.equal('{ 1, 2, a = "x", ["b c"] = true }', pretty.format({ 1, 2, a = "x", ["b c"] = true }))
    local wide = pretty.format({ alpha = ("x"):rep(40), beta = ("y"):rep(40) }, { width = 60 })
    assert.equal('{\n  alpha = "' .. ("x"):rep(40) .. '",\n  beta = "' .. ("y"):rep(40) .. '"\n}', wide)
  end)

  it("marks a cycle and stops at the depth limit", function()
    local t = { name = "t" }
    t.self = t
    assert.equal('{ name = "t", self = <cycle> }', pretty.format(t))
    assert.equal("{ a = { b = {...} } }", pretty.format({ a = { b = { c = 1 } } }, { depth = 2 }))
  end)

  it("shows secrets as ***, unless asked not to", function()
    secret.add("pretty-spec-s3cret")
    assert.equal('"token ***"', pretty.format("token pretty-spec-s3cret"))
    assert.equal('{ password = *** }', pretty.format({ password = "hunter2" }))
    assert.equal('{ password = "hunter2" }', pretty.format({ password = "hunter2" }, { secrets = false }))
    assert.equal("the key is ***", pretty.mask("the key is pretty-spec-s3cret"))
  end)
end)
