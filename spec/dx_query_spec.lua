-- recipes/dx-query.lua: a Data Studio query to CSV or JSON: its options and usage errors.
-- Its runs against the fake are in recipes_spec.lua.
local S = require "support"

local function usage(args) return S.recipe_usage("dx-query", args) end

describe("recipes.dx-query", function()
  it("declares its options: --help lists them and the examples", function()
    S.assert_recipe_help("dx-query", { "sql", "file", "out", "format", "timeout", "json", "help" })
  end)

  it("refuses a call it cannot run with exit 2, naming the cause, before anything is sent", function()
    for _, case in ipairs {
      { {}, "dx-query: give --sql SQL or --file F.sql (one of them)" },
      { { "--sql", "x", "--file", "y" }, "dx-query: give --sql SQL or --file F.sql (one of them)" },
      { { "--sql", "x", "--format", "xml" }, "--format must be one of csv, json, got 'xml'" },
    } do
      local r = usage(case[1])
      assert.equal(2, r.code, table.concat(case[1], " "))
      assert.equal("autolua recipe: " .. case[2] .. "\n", r.err)
    end
  end)
end)
