local S = require "support"

local ENV = ("DEXI_ACCOUNT=acc-test DEXI_API_KEY=key-test DEXI_BASE_URL=%s DX_TOKEN=dx-test-token DX_BASE_URL=%s")
  :format(S.fake.dexi, S.fake.dx)

local function example(name, args, dir)
  local a = { S.source .. "/examples/" .. name }
  for _, x in ipairs(args or {}) do a[#a + 1] = x end
  return S.run(a, { env = ("cd %s && %s"):format(S.quote(dir), ENV) })
end

describe("examples", function()
  local dir
  before_each(function()
    S.reset("dexi"); S.reset("dx")
    S.config("dexi", { polls_per_state = 0 })
    S.config("dx", { workflow_polls = 1, query_polls = 1 })
    dir = S.tmpdir()
  end)
  after_each(function() os.execute("rm -rf " .. S.quote(dir)) end)

  it("concurrent_fetch overlaps its requests", function()
    local r = example("concurrent_fetch.lua", { S.fake.misc }, dir)
    assert.equal(0, r.code, r.err)
    assert.matches("^40 of 40 pages fetched in", r.out)
    local secs = tonumber(r.out:match("in ([%d.]+) s"))
    assert.is_true(secs < 10)
  end)

  it("dexi_download_latest fetches the newest execution's files", function()
    local r = example("dexi_download_latest.lua", { "20000000-0000-4000-8000-000000000003", "out" }, dir)
    assert.equal(0, r.code, r.err)
    assert.matches("5 files downloaded", r.out)
    assert.equal(6, #S.ls(dir .. "/out"))           -- the files and the record of where each came from
  end)

  it("dexi_run_and_export writes the result", function()
    local r = example("dexi_run_and_export.lua", { "27c719bb-f28f-49f5-aedf-dba2f8e60ba3", "r.jsonl" }, dir)
    assert.equal(0, r.code, r.err)
    assert.matches("2 rows written to r.jsonl", r.out)
  end)

  it("dx_trigger_and_wait follows the run", function()
    local r = example("dx_trigger_and_wait.lua", { "deploy-service", "payments-api", "3.1.0" }, dir)
    assert.equal(0, r.code, r.err)
    assert.matches("ended SUCCEEDED", r.out)
  end)

  it("dx_query_to_csv writes a CSV", function()
    local r = example("dx_query_to_csv.lua", { "SELECT name FROM teams", "t.csv" }, dir)
    assert.equal(0, r.code, r.err)
    assert.matches("rows, %d+ columns %-> t.csv", r.out)
  end)

  it("dexi_to_dx reports a Dexi run on a DX workflow run", function()
    local dx = require("dx").client { token = "dx-test-token", base_url = S.fake.dx }
    local run = dx.workflowRuns.trigger { workflow_identifier = "manual-migration", data = { ticket = "OPS-1" } }.workflow_run
    local r = example("dexi_to_dx.lua", { "20000000-0000-4000-8000-000000000003", run.id, "files" }, dir)
    assert.equal(0, r.code, r.err)
    assert.matches("reported to DX run " .. run.id, r.out)
    local info = dx.workflowRuns.info { id = run.id }.workflow_run
    local messages, links = 0, 0
    for _, e in ipairs(info.events or {}) do
      if e.type == "POST_MESSAGE" then messages = messages + 1 end
    end
    for _, l in ipairs(info.links or {}) do if l.label == "Dexi execution" then links = links + 1 end end
    assert.equal(2, messages)
    assert.equal(1, links)
  end)
end)
