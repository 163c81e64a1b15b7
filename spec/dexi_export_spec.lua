-- recipes/dexi-export.lua: an execution's result or a data set's rows to a file: its options and usage errors.
-- Its runs against the fake are in recipes_spec.lua.
local S = require "support"

local function usage(args)
  local a = { "recipe", "dexi-export" }
  for _, x in ipairs(args) do a[#a + 1] = x end
  return S.run(a, { env = "env -u DEXI_ACCOUNT -u DEXI_API_KEY -u DX_TOKEN -u DX_API_TOKEN" })
end

describe("recipes.dexi-export", function()
  it("declares its options: --help lists them and the examples", function()
    local r = usage { "--help" }
    assert.equal(0, r.code)
    for _, o in ipairs { "execution", "dataset", "out", "format", "json", "help" } do
      assert.matches("\n  %-%-" .. o .. "[ \n]", r.out)
    end
    assert.matches("\nexamples:\n  autolua recipe dexi-export ", r.out, 1, true)
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
