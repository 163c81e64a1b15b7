-- recipes/dexi-download.lua: download every file of an execution (or a run's newest one): its options and usage errors.
-- Its runs against the fake are in recipes_spec.lua.
local S = require "support"

local function usage(args) return S.recipe_usage("dexi-download", args) end

describe("recipes.dexi-download", function()
  it("declares its options: --help lists them and the examples", function()
    S.assert_recipe_help("dexi-download", { "execution", "run", "out", "concurrency", "json", "help" })
  end)

  it("refuses a call it cannot run with exit 2, naming the cause, before anything is sent", function()
    for _, case in ipairs {
      { { "--out", "d" }, "dexi-download: give --execution ID or --run ID (one of them)" },
      { { "--out", "d", "--execution", "a", "--run", "b" }, "dexi-download: give --execution ID or --run ID (one of them)" },
      { { "--out", "d", "--execution", "a", "--concurrency", "0" }, "--concurrency must be at least 1" },
      { { "--execution", "a" }, "dexi-download: missing required option --out" },
    } do
      local r = usage(case[1])
      assert.equal(2, r.code, table.concat(case[1], " "))
      assert.equal("autolua recipe: " .. case[2] .. "\n", r.err)
    end
  end)
end)
