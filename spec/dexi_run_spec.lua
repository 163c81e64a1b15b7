-- recipes/dexi-run.lua: start a run, wait for it, download its files: its options and usage errors.
-- Its runs against the fake are in recipes_spec.lua.
local S = require "support"

local function usage(args) return S.recipe_usage("dexi-run", args) end

describe("recipes.dexi-run", function()
  it("declares its options: --help lists them and the examples", function()
    S.assert_recipe_help("dexi-run", { "run", "input", "wait", "download", "timeout", "interval", "concurrency", "json", "help" })
  end)

  it("refuses a call it cannot run with exit 2, naming the cause, before anything is sent", function()
    for _, case in ipairs {
      { { "--input", "{}" }, "dexi-run: missing required option --run" },
      { { "--run", "r", "--input", "5" }, "dexi-run: --input must be a JSON object or array" },
      { { "--run", "r", "--timeout", "soon" }, "--timeout expects a number, got 'soon'" },
    } do
      local r = usage(case[1])
      assert.equal(2, r.code, table.concat(case[1], " "))
      assert.equal("autolua recipe: " .. case[2] .. "\n", r.err)
    end
  end)
end)
