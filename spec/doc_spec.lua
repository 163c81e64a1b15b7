-- autolua.doc: the registry of functions that know their documentation, read by help() and
-- by the pretty printer.
local doc = require "autolua.doc"
local S = require "support"

describe("autolua.doc", function()
  it("gives back a registered text, or the text a registered function makes, and nil otherwise", function()
    local f, g, h = function() end, function() end, function() end
    doc.register(f, "f(x): does f")
    local calls = 0
    doc.register(g, function() calls = calls + 1; return "g(): made on demand" end)
    assert.equal("f(x): does f", doc.doc(f))
    assert.equal(0, calls)
    assert.equal("g(): made on demand", doc.doc(g))
    assert.equal(1, calls)
    assert.is_nil(doc.doc(h))
  end)

  it("is what help() and the pretty printer show for a Dexi function", function()
    local c = require("dexi").client { account = "a", api_key = "k", base_url = S.fake.dexi }
    local text = doc.doc(c.runs.list)
    assert.matches("^dexi client%.runs%.list%(opts%)", text)
    assert.equal(text .. "\n", require("autolua.help").text(c.runs.list))
    assert.equal(text, require("autolua.pretty").format(c.runs.list))
  end)
end)
