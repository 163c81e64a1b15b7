-- The tests mirror the code: every Lua module under lua/ has a spec named after it
-- (autolua.json -> json_spec.lua, dexi.files -> dexi_files_spec.lua, dexi -> dexi_spec.lua,
-- the recipe dx-query -> dx_query_spec.lua).
local S = require "support"

local function lines(cmd)
  local out = {}
  local p = io.popen(cmd)
  for l in p:lines() do out[#out + 1] = l end
  p:close()
  return out
end

-- The spec a module's file should have: lua/autolua/json.lua -> json_spec.lua.
local function spec_name(rel)
  local mod = rel:gsub("%.lua$", ""):gsub("/init$", ""):gsub("^autolua/", ""):gsub("^recipes/", "")
  return (mod:gsub("[/%-]", "_")) .. "_spec.lua"
end

describe("the layout", function()
  it("names the spec of a module after it", function()
    assert.equal("json_spec.lua", spec_name("autolua/json.lua"))
    assert.equal("dexi_spec.lua", spec_name("dexi/init.lua"))
    assert.equal("dexi_files_spec.lua", spec_name("dexi/files.lua"))
    assert.equal("dx_query_spec.lua", spec_name("recipes/dx-query.lua"))
  end)

  it("has a spec for every Lua module", function()
    local src = S.quote(S.source)
    local specs = {}
    for _, f in ipairs(lines("cd " .. src .. "/spec && ls")) do specs[f] = true end
    local modules, missing = lines("cd " .. src .. "/lua && find . -name '*.lua' | sed 's|^./||' | sort"), {}
    assert.is_true(#modules > 30)
    for _, rel in ipairs(modules) do
      if not specs[spec_name(rel)] then missing[#missing + 1] = rel .. " (" .. spec_name(rel) .. ")" end
    end
    assert.same({}, missing)
  end)
end)
