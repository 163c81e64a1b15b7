-- autolua.apidoc: the reference's topics as plain text, roff (autolua-api(3)) and the README's
-- Markdown tables, all from autolua/reference.lua.
local apidoc = require "autolua.apidoc"
local reference = require "autolua.reference"

describe("autolua.apidoc", function()
  it("lists every topic with its summary, in the reference's order", function()
    local list = apidoc.topic_list()
    local at = 0
    for _, name in ipairs(reference.order) do
      local i = list:find("\n  " .. name .. " ", 1, true)
      assert.is_truthy(i, name)
      assert.is_true(i > at, name .. " out of order")
      assert.is_truthy(list:find(reference.topics[name].summary, 1, true), name)
      at = i
    end
  end)

  it("a topic's text starts with its summary and wraps at 78 columns; an unknown topic is nil", function()
    for _, name in ipairs(reference.order) do
      local text = apidoc.text(name)
      assert.equal(name .. ": " .. reference.topics[name].summary, text:match("^[^\n]*"))
      for line in text:gmatch("[^\n]+") do
        if not line:find("^%s") and not line:find("  ", 1, true) then
          assert.is_true(#line <= 78, name .. ": " .. line)
        end
      end
    end
    assert.is_nil(apidoc.text("nope"))
  end)

  it("the man page has a section for each of its topics and escapes roff's specials", function()
    local man = apidoc.man("9.9.9")
    assert.matches('^%.TH AUTOLUA%-API 3 "[^"]*" "autolua 9%.9%.9"', man)
    for _, name in ipairs(apidoc.man_topics) do
      assert.is_truthy(man:find("\n.SH " .. name:upper(), 1, true) or man:find("\n.SH \"" .. name:upper(), 1, true), name)
    end
    assert.is_falsy(man:find("\n'", 1, true))
  end)
end)
