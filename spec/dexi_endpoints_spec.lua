-- dexi.endpoints: every declared Dexi function exists on a client and nothing else does, each
-- is described from its declaration, ids are checked before anything is sent, and the groups
-- send with the client they were attached to.
local endpoints = require "dexi.endpoints"
local DECL = require "dexi.declarations"
local dexi = require "dexi"
local errors = require "autolua.error"
local S = require "support"

local RUN_STAGS = "27c719bb-f28f-49f5-aedf-dba2f8e60ba3"
local GROUPS = { "robots", "runs", "executions", "datasets", "files" }

local function client(o)
  o = o or {}
  return dexi.client { account = o.account or "acc-test", api_key = "key-test", base_url = S.fake.dexi }
end

describe("dexi.endpoints", function()
  before_each(function() S.reset("dexi") end)

  it("gives a client one function per declaration, and no undeclared one", function()
    local c = client()
    for name in pairs(DECL) do
      if not name:find("^client:") then
        local g, f = name:match("^(%a+)%.([%w_]+)$")
        assert.equal("function", type(c[g][f]), name)
      end
    end
    for _, g in ipairs(GROUPS) do
      for f in pairs(c[g]) do assert.is_truthy(DECL[g .. "." .. f], g .. "." .. f) end
    end
  end)

  it("describes a function from its declaration, and nothing for an unknown name", function()
    assert.equal("dexi client.runs.list(opts): GET runs\n  one page of runs\n  options (opts):",
                 endpoints.describe("runs.list"):match("^[^\n]*\n[^\n]*\n[^\n]*"))
    assert.matches("^dexi client:download%(value, dest, opts%)", endpoints.describe("client:download"))
    assert.is_nil(endpoints.describe("runs.nope"))
  end)

  it("check_id refuses what is not a non-empty string, naming the call and the value", function()
    assert.equal("x", endpoints.check_id("runs.get", "x"))
    local e = S.fails(endpoints.check_id, "runs.get", "", "run id")
    assert.is_true(errors.is(e, "argument"))
    assert.equal("runs.get: run id must be a non-empty string, got an empty string", e.message)
    e = S.fails(endpoints.check_id, "runs.get", nil)
    assert.equal("runs.get: the id must be a non-empty string, got nil", e.message)
    assert.same({}, S.requests("dexi"))
  end)

  it("sends with the client it was attached to: its account, decoded JSON or a result's text", function()
    local a, b = client(), client { account = "acc-other" }
    local run = a.runs.get(RUN_STAGS)
    assert.equal(RUN_STAGS, run._id)
    assert.equal("string", type(a.runs.latest_result(RUN_STAGS, { format = "csv" })))
    pcall(b.runs.get, RUN_STAGS)
    local seen = {}
    for _, r in ipairs(S.requests("dexi")) do seen[#seen + 1] = r.headers["x-dexiio-account"] end
    assert.same({ "acc-test", "acc-test", "acc-other" }, seen)
  end)
end)
