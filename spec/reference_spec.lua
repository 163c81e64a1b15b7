-- autolua.reference: the API reference's topics, and the tables built from the clients'
-- declarations, one row per declared function or method.
local reference = require "autolua.reference"
local DECL = require "dexi.declarations"
local METHODS = require "dx.methods"
local args = require "dx.args"

local function count(t)
  local n = 0
  for _ in pairs(t) do n = n + 1 end
  return n
end

describe("autolua.reference", function()
  it("orders every topic once, and each has a summary and blocks of known kinds", function()
    assert.equal(count(reference.topics), #reference.order)
    local KINDS = { p = true, h = true, t = true, pre = true }
    for _, name in ipairs(reference.order) do
      local t = reference.topics[name]
      assert.equal("string", type(t.summary), name)
      for _, b in ipairs(t.blocks()) do assert.is_true(KINDS[b[1]], name .. ": " .. tostring(b[1])) end
    end
  end)

  it("has one Dexi row per declaration, grouped robots, runs, executions, datasets, files, client", function()
    local t = reference.dexi_table()
    assert.equal("t", t[1])
    assert.equal(count(DECL), #t[3])
    local last = 0
    local GROUP = { robots = 1, runs = 2, executions = 3, datasets = 4, files = 5, client = 6 }
    for _, row in ipairs(t[3]) do
      local g = GROUP[row[1]:match("^client[.:](%a+)")] or GROUP.client
      assert.is_true(g >= last, row[1])
      last = g
    end
    assert.is_truthy(table.concat(t[3][1], " "):find("client.robots.", 1, true))
  end)

  it("has one DX row per method, its scopes in words", function()
    local t = reference.dx_methods_table()
    assert.equal(count(METHODS), #t[3])
    for _, row in ipairs(t[3]) do
      local name = row[1]:gsub(" %(Data Cloud%)$", "")
      assert.equal(METHODS[name][1], row[2])
      assert.equal(args.scope_text(METHODS[name][3]), row[5])
    end
    assert.equal("any valid token", args.scope_text(""))
    assert.equal("a and b or c", args.scope_text("a b|c"))
  end)
end)
