-- recipes/dexi-export.lua: an execution's result or a data set's rows to a file: its options and usage errors.
-- Its runs against the fake are in recipes_spec.lua.
local S = require "support"

local function usage(args) return S.recipe_usage("dexi-export", args) end

describe("recipes.dexi-export", function()
  it("declares its options: --help lists them and the examples", function()
    S.assert_recipe_help("dexi-export", { "execution", "dataset", "out", "format", "json", "help" })
  end)

  it("refuses a call it cannot run with exit 2, naming the cause, before anything is sent", function()
    for _, case in ipairs {
      { { "--out", "f" }, "dexi-export: give --execution ID or --dataset ID (one of them)" },
      { { "--out", "f", "--execution", "a", "--dataset", "b" }, "dexi-export: give --execution ID or --dataset ID (one of them)" },
      { { "--out", "f", "--execution", "a", "--format", "xml" }, "--format must be one of jsonl, csv, got 'xml'" },
    } do
      local r = usage(case[1])
      assert.equal(2, r.code, table.concat(case[1], " "))
      assert.equal("autolua recipe: " .. case[2] .. "\n", r.err)
    end
  end)
end)
