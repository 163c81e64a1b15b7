-- autolua.complete, the REPL's Tab: globals and keywords, fields and methods through __index
-- tables, what an object lists in __complete, and module names inside require "...".
local complete = require "autolua.complete"
local S = require "support"

describe("autolua.complete", function()
  it("completes globals and keywords", function()
    local got = complete.complete("pri", "")
    assert.same({ "print" }, got)
    assert.is_truthy(table.concat(complete.complete("fun", ""), " "):find("function", 1, true))
  end)

  it("lists fields, methods behind __index tables and an object's __complete", function()
    local methods = { greet = function() end }
    local obj = setmetatable({ name = "x" }, { __index = methods })
    assert.same({ "greet", "name" }, complete.members(obj))
    local listed = setmetatable({}, { __complete = function() return { "alpha", "beta" } end })
    assert.same({ "alpha", "beta" }, complete.members(listed))
    assert.is_truthy(table.concat(complete.members("s"), " "):find("upper", 1, true))
  end)

  it("completes a dotted path from the globals, and a method after a colon", function()
    assert.same({ "string.upper" }, complete.complete("string.upp", ""))
    _G.spec_complete_obj = setmetatable({}, { __index = { frobnicate = function() end } })
    assert.same({ "spec_complete_obj:frobnicate" }, complete.complete("spec_complete_obj:frob", ""))
    _G.spec_complete_obj = nil
    assert.same({}, complete.complete("no_such_global.x", ""))
  end)

  it("completes module names inside require", function()
    local got = complete.complete("autolua.js", 'local json = require "')
    assert.same({ "autolua.json" }, got)
    assert.same({ "dexi.files", "dexi.finished" }, complete.complete("dexi.fi", "require('"))
  end)

  it("a client lists its methods, and a DX client its method families", function()
    local d = require("dx").client { token = "t", base_url = "http://127.0.0.1:1" }
    local names = table.concat(complete.members(d), " ")
    assert.is_truthy(names:find("workflowRuns", 1, true))
    assert.is_truthy(names:find("call", 1, true))
    local c = require("dexi").client { account = "a", api_key = "k", base_url = S.fake.dexi }
    names = table.concat(complete.members(c), " ")
    assert.is_truthy(names:find("download", 1, true))
    assert.is_falsy(names:find("decode", 1, true))
  end)
end)
