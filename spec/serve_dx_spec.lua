-- End to end: the DX fake triggers an EVENT_DRIVEN workflow, which calls the example backend
-- (examples/dx_backend.lua under `autolua serve`), which drives the Dexi fake and ends the run
-- through changeStatus; `dx-trigger --wait` sees the end.
local json = require "autolua.json"
local dx = require "dx"
local S = require "support"
local child = require "serve_support"

local q = S.quote
local ENV = ("DEXI_ACCOUNT=acc-test DEXI_API_KEY=key-test DEXI_BASE_URL=%s DX_TOKEN=dx-test-token DX_BASE_URL=%s")
  :format(S.fake.dexi, S.fake.dx)
local RUN_FILES = "20000000-0000-4000-8000-000000000003"   -- its results point at files
local RUN_FAIL = "20000000-0000-4000-8000-000000000004"    -- its executions end FAILED

describe("examples/dx_backend.lua behind an EVENT_DRIVEN DX workflow", function()
  local backend, dir, c

  setup(function()
    S.reset("dexi"); S.reset("dx")
    S.config("dexi", { polls_per_state = 1 })
    dir = S.tmpdir()
    backend = child.serve_child({ file = S.source .. "/examples/dx_backend.lua" }, {},
                                ENV .. " DX_BACKEND_DIR=" .. q(dir) .. " AUTOLUA_LOG=info")
    c = dx.client { token = "dx-test-token", base_url = S.fake.dx }
    c.workflows.create {
      identifier = "dexi-backend", name = "Dexi via autolua", scope = "GLOBAL", execution_type = "EVENT_DRIVEN",
      entity_filter_type = "ENTITY_TYPES",
      http_request = { method = "POST", url = backend.url .. "/dx/run",
                       body = { run_id = "{{run.id}}", workflow = "{{workflow.identifier}}",
                                dexi_run = "{{data.dexi_run}}", input = { url = "{{data.url}}" } } },
      parameters = { { identifier = "dexi_run", type = "STRING", is_required = true },
                     { identifier = "url", type = "STRING" } },
    }
  end)

  teardown(function()
    backend:signal("TERM")
    local code = backend:exit_code()
    backend:cleanup()
    os.execute("rm -rf " .. q(dir))
    assert.equal(0, code)
  end)

  local function trigger(data)
    return S.run({ "recipe", "dx-trigger", "--workflow", "dexi-backend", "--data", json.encode(data),
                   "--wait", "--interval", "0.2", "--json" }, { env = ENV })
  end

  local function events(run_id)
    local run = c.workflowRuns.info { id = run_id }.workflow_run
    local by = {}
    for _, e in ipairs(run.events) do by[#by + 1] = e end
    return run, by
  end

  it("ends the run SUCCEEDED after the Dexi execution, with a message, a link and the files", function()
    local r = trigger { dexi_run = RUN_FILES, url = "https://example.com/a" }
    assert.equal(0, r.code, r.err .. backend:stderr())
    local summary = json.decode(r.out)
    assert.equal("SUCCEEDED", summary.status)
    local run, evs = events(summary.run)
    local types = {}
    for _, e in ipairs(evs) do types[#types + 1] = e.type end
    local seen = table.concat(types, " ")
    assert.truthy(seen:find("HTTP_REQUEST_COMPLETED", 1, true), seen)
    -- in this order, though the fake may log its own HTTP_REQUEST_COMPLETED between them: the
    -- backend answers 202 while its task is already posting
    local msg, link = seen:find("POST_MESSAGE", 1, true), seen:find("ADD_LINK", 1, true)
    assert.truthy(msg and link and msg < link, seen)
    assert.truthy(seen:find("CHANGE_STATUS WORKFLOW_SUCCEEDED", 1, true), seen)
    for _, e in ipairs(evs) do
      if e.type == "HTTP_REQUEST_COMPLETED" then
        assert.equal(202, e.data.response.status)
        assert.equal(backend.url .. "/dx/run", e.data.request.url)
      elseif e.type == "CHANGE_STATUS" then
        assert.equal("SUCCEEDED", e.data.status)
      end
    end
    assert.truthy(run.links[1].url:find("/executions/", 1, true))
    local last = evs[#evs - 2]
    assert.equal("POST_MESSAGE", last.type)
    local n = tonumber(last.message:match("ended OK: (%d+) files"))
    assert.truthy(n and n > 0, last.message)
    local files = 0
    for _, name in ipairs(S.ls(dir .. "/" .. summary.run)) do
      if name ~= ".autolua-downloads.json" then files = files + 1 end   -- the record of the ids
    end
    assert.equal(n, files)
    -- Dexi got the workflow's data as the execution's input
    local sent
    for _, rec in ipairs(S.requests("dexi")) do
      if rec.method == "POST" and rec.path:find(RUN_FILES .. "/execute/inputs", 1, true) then sent = rec.body end
    end
    assert.truthy(sent and sent:find("https://example.com/a", 1, true), sent)
  end)

  it("ends the run FAILED with the reason when the Dexi execution fails", function()
    local r = trigger { dexi_run = RUN_FAIL }
    assert.equal(1, r.code)
    local summary = json.decode(r.out)
    assert.equal("FAILED", summary.status)
    local _, evs = events(summary.run)
    local reason
    for _, e in ipairs(evs) do
      if e.type == "POST_MESSAGE" and e.message:find("^failed") then reason = e.message end
    end
    assert.truthy(reason and reason:find("ended FAILED", 1, true), reason)
    assert.equal("FAILED", evs[#evs - 1].data.status)
  end)

  it("answers 400 to a body without a run", function()
    local out = child.curl("-s -o /dev/null -w '%{http_code}' -X POST -d '{}' " .. q(backend.url .. "/dx/run"))
    assert.equal("400", out)
  end)
end)
