-- autolua.json: whole numbers stay integers, empty lists made with json.array() stay lists,
-- null has one value both ways, and what JSON cannot hold is refused.
local json = require "autolua.json"
local errors = require "autolua.error"
local S = require "support"

describe("autolua.json", function()
  it("decodes whole numbers as integers and keeps the others floats", function()
    local v = json.decode('{"id": 30, "n": -2, "x": 1.5, "big": 9007199254740993}')
    assert.equal("integer", math.type(v.id))
    assert.equal("integer", math.type(v.n))
    assert.equal("float", math.type(v.x))
    assert.equal("30", tostring(v.id))
  end)

  it("round-trips null, lists and objects", function()
    local v = json.decode('{"a": null, "l": [1, null, 3], "o": {}}')
    assert.equal(json.null, v.a)
    assert.equal(json.null, v.l[2])
    assert.equal(3, v.l[3])
    assert.equal('[1,null,3]', json.encode(v.l))
    assert.equal('null', json.encode(json.null))
  end)

  it("encodes json.array() as [] even when empty, and an empty table as {}", function()
    assert.equal("[]", json.encode(json.array()))
    assert.equal("[]", json.encode(json.array {}))
    assert.equal("{}", json.encode({}))
    assert.equal('{"k":[]}', json.encode({ k = json.array() }))
    assert.equal(json.array_mt, getmetatable(json.array()))
  end)

  it("returns nil and the parser's reason for text that is not JSON", function()
    local v, why = json.decode("{not json")
    assert.is_nil(v)
    assert.equal("string", type(why))
  end)

  it("refuses a cycle and NaN with kind = argument", function()
    local t = {}
    t.self = t
    assert.is_true(errors.is(S.fails(json.encode, t), "argument"))
    assert.is_true(errors.is(S.fails(json.encode, { x = 0 / 0 }), "argument"))
  end)
end)
