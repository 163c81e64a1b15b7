-- Every Lua sample in README.md runs, against the fake APIs, so the README cannot go stale.
local S = require "support"

local ENV = ("DEXI_ACCOUNT=acc-test DEXI_API_KEY=key-test DEXI_BASE_URL=%s DX_TOKEN=dx-test-token DX_BASE_URL=%s")
  :format(S.fake.dexi, S.fake.dx)

local function samples()
  local text = S.slurp(S.source .. "/README.md")
  local list = {}
  for code in text:gmatch("```lua\n(.-)```") do list[#list + 1] = code end
  return list
end

describe("README.md", function()
  before_each(function()
    S.reset("dexi"); S.reset("dx")
    S.config("dexi", { polls_per_state = 0 })
    S.config("dx", { workflow_polls = 1, query_polls = 1 })
  end)

  it("has Lua samples", function()
    assert.is_true(#samples() >= 5)
  end)

  it("the first script shows a finished execution, with its state and rows", function()
    local dir = S.tmpdir()
    S.spit(dir .. "/latest.lua", samples()[1])
    local r = S.run({ dir .. "/latest.lua" }, { env = ENV })
    os.execute("rm -rf " .. S.quote(dir))
    assert.equal(0, r.code, r.err)
    assert.matches("^%S+\tOK\t[1-9]%d* rows\n$", r.out)
  end)

  for i, code in ipairs(samples()) do
    local first = code:match("^[^\n]*")
    it(("sample %d runs (%s)"):format(i, first), function()
      local dir = S.tmpdir()
      -- sample URLs point at example.com; here they go to the fake's echo service
      code = code:gsub("https://example%.com", S.fake.misc)
      local r
      if code:match("^return {") and code:match("run = function") then
        S.spit(dir .. "/readme-recipe.lua", code)          -- a recipe: run it as one
        r = S.run({ "recipe", "readme-recipe", "--json" }, { env = ("cd %s && %s AUTOLUA_RECIPES_PATH=%s"):format(dir, ENV, dir) })
      else
        S.spit(dir .. "/sample.lua", code)
        r = S.run({ dir .. "/sample.lua" }, { env = ("cd %s && %s"):format(dir, ENV) })
      end
      os.execute("rm -rf " .. S.quote(dir))
      assert.equal(0, r.code, r.err)
      assert.is_true(#r.out > 0, "the sample printed nothing")
    end)
  end
end)
