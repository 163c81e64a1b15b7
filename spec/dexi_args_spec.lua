-- The Dexi functions against their declarations (dexi/declarations.lua): option names checked
-- before anything is sent, dot and colon mistakes named, help() showing each declaration.
local dexi = require "dexi"
local S = require "support"

local fails = S.fails
local RUN_STAGS = "27c719bb-f28f-49f5-aedf-dba2f8e60ba3"
local EXEC_STAGS = "3a8ea1f2-6781-4371-841f-66f6210a27b9"
local ROBOT_STAGS = "10000000-0000-4000-8000-000000000001"

local function client()
  return dexi.client { account = "acc-test", api_key = "key-test", base_url = S.fake.dexi,
                       backoff = { base = 0.01, cap = 0.05 } }
end

before_each(function() S.reset("dexi") end)

describe("dexi option names", function()
  it("an unknown option is kind = argument naming the closest declared one, and nothing is sent", function()
    local c = client()
    local e = fails(c.runs.list, { robotid = ROBOT_STAGS })
    assert.equal("argument", e.kind)
    assert.equal("runs.list", e.method)
    assert.equal("robotid", e.argument)
    assert.matches("unknown option 'robotid' (did you mean 'robot_id'?)", e.message, 1, true)
    e = fails(c.executions.result, EXEC_STAGS, { fromat = "csv" })
    assert.matches("did you mean 'format'", e.message, 1, true)
    e = fails(c.runs.execute_sync, RUN_STAGS, { deleteAfter = true })
    assert.matches("did you mean 'delete_after'", e.message, 1, true)
    e = fails(c.datasets.each_row, "40000000-0000-4000-8000-000000000001", { limit = 5 })
    assert.matches("unknown option 'limit' (it takes: query)", e.message, 1, true)
    e = fails(c.download, c, "FILE:image/png;5;abc", S.tmpdir(), { exection = EXEC_STAGS })
    assert.matches("did you mean 'execution'", e.message, 1, true)
    e = fails(c.wait_execution, c, EXEC_STAGS, { intervall = 1 })
    assert.matches("did you mean 'interval'", e.message, 1, true)
    e = fails(c.request, c, "GET", "runs", { params = {} })
    assert.equal("argument", e.kind)
    assert.same({}, S.requests("dexi"))
  end)

  it("declared options still work, and every declared function exists", function()
    local c = client()
    assert.is_table(c.runs.list { robot_id = ROBOT_STAGS, limit = 1 })
    assert.is_table(c:wait_execution(EXEC_STAGS, { timeout = 5, interval = 0 }))
    for name in pairs(require "dexi.declarations") do
      local g, f = name:match("^(%w+)%.([%w_]+)$")
      if g then
        assert.is_function(c[g][f], name)
      else
        assert.is_function(c[name:match("^client:(.+)$")], name)
      end
    end
  end)
end)

describe("dexi dot and colon", function()
  it("client.runs:list{} is named as a colon call, with the right form, and nothing is sent", function()
    local c = client()
    local e = fails(function() return c.runs:list { robot_id = ROBOT_STAGS } end)
    assert.equal("argument", e.kind)
    assert.matches("called with a colon", e.message, 1, true)
    assert.matches("write client.runs.list(...)", e.message, 1, true)
    e = fails(function() return c.executions:get(EXEC_STAGS) end)
    assert.matches("write client.executions.get(...)", e.message, 1, true)
    e = fails(function() return c.runs.get(c, RUN_STAGS) end)
    assert.matches("write client.runs.get(...)", e.message, 1, true)
    assert.same({}, S.requests("dexi"))
  end)

  it("client.download(...) with a dot names the colon form", function()
    local c = client()
    local e = fails(c.download, "FILE:image/png;5;abc", S.tmpdir())
    assert.matches("write client:download(...)", e.message, 1, true)
    e = fails(c.wait_execution, EXEC_STAGS)
    assert.matches("write client:wait_execution(...)", e.message, 1, true)
    e = fails(c.request, "GET", "runs")
    assert.matches("write client:request(...)", e.message, 1, true)
    assert.same({}, S.requests("dexi"))
  end)
end)

describe("dexi help", function()
  it("help() on a Dexi function shows its request, parameters and options", function()
    local c = client()
    local text = require("autolua.help").text(c.executions.result)
    assert.matches("dexi client.executions.result(id, opts): GET executions/{id}/result", text, 1, true)
    assert.matches("format%s+json|csv|xml|scsv", text)
    assert.matches("offset%s+integer", text)
    text = require("autolua.help").text(c.download)
    assert.matches("dexi client:download(value, dest, opts)", text, 1, true)
    assert.matches("execution", text, 1, true)
    assert.matches("dexi client.runs.list(opts)", require("autolua.help").text("runs.list"), 1, true)
    -- printed (the REPL and -e print with autolua.pretty): the declaration, one line when nested
    local pretty = require "autolua.pretty"
    local shown = pretty.format(c.runs.list)
    assert.matches("^dexi client.runs.list%(opts%): GET runs\n", shown)
    assert.matches("robot_id", shown, 1, true)
    assert.equal("{ f = dexi client.runs.get(id): GET runs/{id} }", pretty.format({ f = c.runs.get }))
    assert.matches("^function", pretty.format(print))
    local none, why = require("autolua.help").text(print)
    assert.is_nil(none)
    assert.matches("no help on this function", why, 1, true)
  end)
end)
