-- recipes/dx-trigger.lua: trigger a workflow run and follow it: its options and usage errors.
-- Its runs against the fake are in recipes_spec.lua.
local S = require "support"

local function usage(args) return S.recipe_usage("dx-trigger", args) end

describe("recipes.dx-trigger", function()
  it("declares its options: --help lists them and the examples", function()
    S.assert_recipe_help("dx-trigger", { "workflow", "entity", "data", "wait", "timeout", "interval", "json", "help" })
  end)

  it("refuses a call it cannot run with exit 2, naming the cause, before anything is sent", function()
    for _, case in ipairs {
      { { "--wait" }, "dx-trigger: missing required option --workflow" },
      { { "--workflow", "w", "--data", "[1]" }, "dx-trigger: --data must be a JSON object" },
      { { "--workflow", "w", "--wat" }, "dx-trigger: unknown option '--wat' (did you mean --wait, --data?)" },
    } do
      local r = usage(case[1])
      assert.equal(2, r.code, table.concat(case[1], " "))
      assert.equal("autolua recipe: " .. case[2] .. "\n", r.err)
    end
  end)
end)
