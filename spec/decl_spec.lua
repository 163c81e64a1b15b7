-- autolua.decl: the declaration language ("name!:type"), names checked against it with the
-- closest one named, and the one edit distance behind every "did you mean".
local decl = require "autolua.decl"
local errors = require "autolua.error"
local S = require "support"

describe("autolua.decl", function()
  it("parses names, types, required marks and choices", function()
    local p = decl.parse("id! limit:int format:enum(json|csv)")
    assert.equal(3, #p)
    assert.same({ "id", "str", true }, { p[1].name, p[1].type, p[1].required })
    assert.same({ "limit", "int", false }, { p[2].name, p[2].type, p[2].required })
    assert.equal("format", p[3].name)
    assert.is_truthy(p[3].choices)
  end)

  it("names the closest declared name for an unknown one, and refuses a missing required one", function()
    local e = S.fails(decl.check_names, "f", "id! limit:int", { id = "x", limt = 5 })
    assert.is_true(errors.is(e, "argument"))
    assert.equal("limt", e.argument)
    assert.equal("limit", e.closest)
    assert.matches("did you mean 'limit'", e.message, 1, true)
    e = S.fails(decl.check_names, "f", "id! limit:int", { limit = 5 })
    assert.matches("missing required argument 'id'", e.message, 1, true)
    assert.has_no.errors(function() decl.check_names("f", "id! limit:int", { id = "x" }) end)
  end)

  it("closest: nearest first, at most three, ignoring case", function()
    assert.same({ "list", "lost" }, decl.closest("lst", { "list", "lost", "unrelated" }))
    assert.same({ "Limit" }, decl.closest("limit", { "Limit" }))
    assert.same({}, decl.closest("zzzzzzzz", { "list", "info" }))
    assert.equal(3, #decl.closest("a", { "ab", "ac", "ad", "ae" }))
  end)

  it("closest(..., exact): case counts, and a short candidate inside the word does not", function()
    assert.same({ "Limit" }, decl.closest("limit", { "Limit" }, true))        -- one edit away
    assert.same({ "abcdef" }, decl.closest("ABCDEF", { "abcdef" }))
    assert.same({}, decl.closest("ABCDEF", { "abcdef" }, true))
    assert.same({ "a" }, decl.closest("abcdefgh", { "a" }))
    assert.same({}, decl.closest("abcdefgh", { "a" }, true))
    assert.same({ "users.list" }, decl.closest("users.lst", { "users.list", "teams.list" }, true))
  end)
end)
