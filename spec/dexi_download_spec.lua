-- recipes/dexi-download.lua: download every file of an execution (or a run's newest one): its options and usage errors.
-- Its runs against the fake are in recipes_spec.lua.
local S = require "support"

local function usage(args)
  local a = { "recipe", "dexi-download" }
  for _, x in ipairs(args) do a[#a + 1] = x end
  return S.run(a, { env = "env -u DEXI_ACCOUNT -u DEXI_API_KEY -u DX_TOKEN -u DX_API_TOKEN" })
end

describe("recipes.dexi-download", function()
  it("declares its options: --help lists them and the examples", function()
    local r = usage { "--help" }
    assert.equal(0, r.code)
    for _, o in ipairs { "execution", "run", "out", "concurrency", "json", "help" } do
      assert.matches("\n  %-%-" .. o .. "[ \n]", r.out)
    end
    assert.matches("\nexamples:\n  autolua recipe dexi-download ", r.out, 1, true)
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
