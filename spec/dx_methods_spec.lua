-- dx.methods, the DX declarations: every entry well formed (a verb, arguments in the
-- declaration language, scopes, one_of naming declared arguments), and dx.methods() lists them.
local METHODS = require "dx.methods"
local decl = require "autolua.decl"
local dx = require "dx"

describe("dx.methods", function()
  it("declares each method with a verb, parseable arguments and scopes", function()
    local n = 0
    for name, spec in pairs(METHODS) do
      n = n + 1
      assert.matches("^[%a]+%.[%w.]+$", name)
      assert.is_truthy(spec[1] == "GET" or spec[1] == "POST", name)
      assert.equal("string", type(spec[3]), name)
      local declared = {}
      for _, a in ipairs(decl.parse(spec[2])) do declared[a.name] = true end
      for a in (spec.one_of or ""):gmatch("%S+") do assert.is_true(declared[a], name .. ": one_of " .. a) end
      assert.is_truthy(spec.host == nil or spec.host == "datacloud", name)
    end
    assert.is_true(n > 50)
    assert.equal(n, #dx.methods())
  end)

  it("dx.methods() is sorted", function()
    local list = dx.methods()
    for i = 2, #list do assert.is_true(list[i - 1] < list[i], list[i]) end
  end)
end)
