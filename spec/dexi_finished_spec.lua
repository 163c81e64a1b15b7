-- dexi.finished: which execution the Dexi recipes work on (--execution, or the newest finished
-- one of --run), waiting for one still running with --wait, refusing it without, and the
-- refusal of one that did not end OK unless --any-state. Against the fake Dexi API.
local S = require "support"
local dexi = require "dexi"
local finished = require "dexi.finished"

local RUN_STAGS = "27c719bb-f28f-49f5-aedf-dba2f8e60ba3"      -- OK, then STOPPED, then RUNNING
local RUN_FAIL = "20000000-0000-4000-8000-000000000004"
local EXEC_STAGS = "3a8ea1f2-6781-4371-841f-66f6210a27b9"     -- OK
local EXEC_FAILED = "30000000-0000-4000-8000-000000000001"
local EXEC_STOPPED = "30000000-0000-4000-8000-000000000002"
local EXEC_RUNNING = "30000000-0000-4000-8000-000000000003"   -- OK after a few polls

local function client() return dexi.client { account = "acc-test", api_key = "key-test", base_url = S.fake.dexi } end

-- The recipes' defaults, as their option parser fills them in.
local function opts(o)
  o.timeout = o.timeout or finished.options.timeout.default
  o.interval = o.interval or 0.02
  return o
end

local function gets(id)
  local n = 0
  for _, r in ipairs(S.requests("dexi")) do
    if r.method == "GET" and r.path == "/executions/" .. id then n = n + 1 end
  end
  return n
end

describe("dexi.finished", function()
  before_each(function() S.reset("dexi") end)

  it("declares the options the recipes share, with their defaults", function()
    local o = finished.options
    assert.same({ "any-state", "interval", "timeout", "wait" },
                { o.any_state.name, o.interval.name, o.timeout.name, o.wait.name })
    assert.equal("boolean", o.wait.type)
    assert.equal("boolean", o.any_state.type)
    assert.equal(3600, o.timeout.default)
    assert.is_true(o.timeout.positive)
    assert.equal(5, o.interval.default)
    assert.equal(0, o.interval.min)
    for _, name in ipairs { "dexi-download", "dexi-export" } do
      local r = S.run { "recipe", name, "--help" }
      assert.equal(0, r.code, r.err)
      for _, flag in ipairs { "--wait", "--timeout", "--interval", "--any-state" } do
        assert.truthy(r.out:find(flag, 1, true), name .. " " .. flag)
      end
    end
  end)

  it("returns the execution named by --execution when it has finished, in any final state", function()
    local c = client()
    assert.equal("OK", finished.execution(c, opts { execution = EXEC_STAGS }).state)
    local e = finished.execution(c, opts { execution = EXEC_FAILED })
    assert.equal(EXEC_FAILED, e._id)
    assert.equal("FAILED", e.state)
    assert.equal("STOPPED", finished.execution(c, opts { execution = EXEC_STOPPED }).state)
  end)

  it("refuses one still running without --wait, naming it and its state, after one look", function()
    local err = S.fails(finished.execution, client(), opts { execution = EXEC_RUNNING })
    assert.equal("api", err.kind)
    assert.equal("not_finished", err.code)
    assert.equal(EXEC_RUNNING, err.execution)
    assert.matches("execution " .. EXEC_RUNNING:gsub("%-", "%%-") .. " is RUNNING, not finished", err.message)
    assert.matches("%-%-wait", err.hint)
    assert.equal(1, gets(EXEC_RUNNING))
  end)

  it("waits with --wait for one still running, polling every --interval", function()
    local e = finished.execution(client(), opts { execution = EXEC_RUNNING, wait = true })
    assert.equal(EXEC_RUNNING, e._id)
    assert.equal("OK", e.state)
    assert.is_true(gets(EXEC_RUNNING) > 2)
  end)

  it("gives up waiting after --timeout", function()
    S.config("dexi", { polls_per_state = 100000 })
    local err = S.fails(finished.execution, client(), opts { execution = EXEC_RUNNING, wait = true, timeout = 0.2, interval = 0.05 })
    assert.equal("timeout", err.kind)
    assert.matches("still RUNNING after 0%.2 s", err.message)
  end)

  it("takes the newest finished execution of --run, passing over one still running", function()
    local e = finished.execution(client(), opts { run = RUN_STAGS })
    assert.equal(EXEC_STOPPED, e._id)
    assert.equal(0, gets(EXEC_RUNNING))
    e = finished.execution(client(), opts { run = RUN_FAIL })
    assert.equal("FAILED", e.state)
  end)

  it("names a --run that has no execution at all", function()
    local c = client()
    local fresh = c.runs.save { name = "empty run", robotId = "10000000-0000-4000-8000-000000000001" }
    local err = S.fails(finished.execution, c, opts { run = fresh._id, wait = true })
    assert.same({ "api", "not_found", fresh._id }, { err.kind, err.code, err.run })
    assert.matches("has no finished execution$", err.message)
  end)

  it("waits for the newest execution of --run with --wait", function()
    local e = finished.execution(client(), opts { run = RUN_STAGS, wait = true })
    assert.equal(EXEC_RUNNING, e._id)
    assert.equal("OK", e.state)
  end)

  it("refuses an execution that did not end OK, unless --any-state", function()
    assert.is_nil(finished.refuse({ _id = EXEC_STAGS, state = "OK" }, {}))
    for _, state in ipairs { "FAILED", "STOPPED" } do
      local s = finished.refuse({ _id = "x-1", state = state }, {})
      assert.same({ execution = "x-1", state = state,
                    line = ("execution x-1 ended %s: nothing done (--any-state uses it anyway)"):format(state) }, s)
      assert.is_nil(finished.refuse({ _id = "x-1", state = state }, { ["any-state"] = true }))
    end
  end)

  it("makes a recipe exit 1 for a FAILED execution and 0 with --any-state", function()
    local dir = S.tmpdir()
    local env = ("DEXI_ACCOUNT=acc-test DEXI_API_KEY=key-test DEXI_BASE_URL=%s")
      :format(S.quote(S.fake.dexi))
    local r = S.run({ "recipe", "dexi-download", "--execution", EXEC_FAILED, "--out", dir .. "/dl" }, { env = env })
    assert.equal(1, r.code, r.out .. r.err)
    assert.matches("ended FAILED: nothing done", r.out .. r.err)
    assert.same({}, S.ls(dir))
    r = S.run({ "recipe", "dexi-download", "--execution", EXEC_FAILED, "--out", dir .. "/dl", "--any-state" }, { env = env })
    assert.equal(0, r.code, r.out .. r.err)
    os.execute("rm -rf " .. S.quote(dir))
  end)
end)
