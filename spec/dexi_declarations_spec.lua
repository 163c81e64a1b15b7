-- dexi.declarations, the one source of the Dexi functions' option checks, help and reference:
-- every entry well formed, a function's path placeholders among its parameters, "opts" where it
-- declares options, and each client: entry a method of the client.
local DECL = require "dexi.declarations"
local Client = require "dexi.client"
local decl = require "autolua.decl"

local VERBS = { GET = true, POST = true, PUT = true, DELETE = true, ANY = true }
local PLACEHOLDER = { id = { "id", "execution_id" }, file = { "file", "value" }, path = { "path" } }

describe("dexi.declarations", function()
  it("declares each function with a verb, a path, parameters and a doc line", function()
    for name, d in pairs(DECL) do
      assert.matches("^[%a]+[.:][%w_]+$", name)
      assert.is_true(VERBS[d[1]], name)
      assert.equal("string", type(d[2]), name)
      assert.equal("string", type(d.doc), name)
      local params = {}
      for p in d.args:gmatch("%S+") do params[p] = true end
      for ph in (name:find("^client:") and "" or d[2]):gmatch("{(%w+)}") do   -- a method's path is prose
        local ok = false
        for _, p in ipairs(PLACEHOLDER[ph] or {}) do ok = ok or params[p] end
        assert.is_true(ok, name .. ": {" .. ph .. "} has no parameter")
      end
      if d.options then
        assert.is_true(params.opts, name .. " declares options but takes no opts")
        assert.is_true(#decl.parse(d.options) > 0, name)
      end
    end
  end)

  it("names only methods the client has", function()
    for name in pairs(DECL) do
      local m = name:match("^client:(.+)$")
      if m then assert.equal("function", type(Client[m]), name) end
    end
  end)
end)
